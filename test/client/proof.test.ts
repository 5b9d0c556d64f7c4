import t, { type Test } from "tap";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { DiscoveryService } from "../../gen/coral/discovery/v1/discovery_pb.js";
import { withRegistrationProofs } from "../../src/client/proof.js";
import { createDiscoveryRpc } from "../../src/client/rpc.js";
import { verifyRegistrationProof, x25519PrivateKey } from "../../src/tokens/index.js";
import { OWNER, THIEF } from "../fixtures/keys.js";
import { createStubTransport } from "../fixtures/stub-discovery.js";

const NOW_MS = Date.UTC(2026, 0, 1);
const serviceKey = x25519PrivateKey(new Uint8Array(32).fill(9));
const SERVICE_PUBLIC = Buffer.from(serviceKey.publicKey).toString("base64");

/** A stub service that checks every proof against `serviceKey` and records what it saw. */
function stub(answers: (ConnectError | undefined)[] = []) {
  const seen: { method: string; pubkey: string; proof: string | null; trace: string | null; verdict: string }[] = [];
  const check = (method: string, request: Parameters<typeof verifyRegistrationProof>[1], headers: Headers) => {
    const proof = headers.get("coral-registration-proof");
    const result = proof === null ? { ok: false, problem: "none" } : verifyRegistrationProof(proof, request, { serviceKey, nowSeconds: NOW_MS / 1000, maxSkewSeconds: 120 });
    seen.push({ method, pubkey: request.pubkey, proof, trace: headers.get("x-trace"), verdict: result.ok ? "ok" : result.problem });
    const answer = answers.shift();
    if (answer !== undefined) throw answer;
  };
  const transport = createStubTransport({
    registerColony(request, ctx) {
      check("colony", request, ctx.requestHeader);
      return { success: true, ttl: 300 };
    },
    registerAgent(request, ctx) {
      check("agent", request, ctx.requestHeader);
      return { success: true, ttl: 300 };
    },
    lookupColony(request) {
      return { meshId: request.meshId };
    },
  });
  return { seen, rpc: createDiscoveryRpc(createClient(DiscoveryService, transport), 1_000) };
}

/** A fetch serving the document (or `failures` first), counting calls. */
function documentFetch(keys: string[], failures: (() => Response | never)[] = []) {
  const calls: string[] = [];
  const fetchDocument = (async (url: string | URL | Request) => {
    calls.push(String(url));
    const fail = failures.shift();
    if (fail !== undefined) return fail();
    return new Response(JSON.stringify({ service_public_key: keys.shift() ?? SERVICE_PUBLIC }), { headers: { "content-type": "application/json" } });
  }) as typeof fetch;
  return { calls, fetchDocument };
}

async function refused(t: Test, promise: Promise<unknown>, code: Code, message: RegExp) {
  const error = await promise.then(() => undefined, (e: unknown) => e);
  t.ok(error instanceof ConnectError);
  t.equal(Code[(error as ConnectError).code], Code[code]);
  t.match((error as ConnectError).rawMessage, message);
}

t.test("with a pinned service key every registration carries a valid proof; the pubkey is filled in; other calls are untouched", async (t) => {
  const { seen, rpc } = stub();
  const proving = withRegistrationProofs(rpc, { wireguardPrivateKey: `PrivateKey = ${OWNER.private}\n`, servicePublicKey: SERVICE_PUBLIC, timeoutMs: 1_000, now: () => NOW_MS });
  await proving.registerColony({ meshId: "m", endpoints: ["203.0.113.1:1"] }, { headers: { "x-trace": "t1" } });
  await proving.registerAgent({ agentId: "a", meshId: "m", pubkey: OWNER.public, endpoints: ["203.0.113.1:1"] });
  t.same(
    seen.map(({ method, pubkey, trace, verdict }) => ({ method, pubkey, trace, verdict })),
    [
      { method: "colony", pubkey: OWNER.public, trace: "t1", verdict: "ok" },
      { method: "agent", pubkey: OWNER.public, trace: null, verdict: "ok" },
    ],
  );
  t.match(seen[0]?.proof, /^v1\.1767225600\.[A-Za-z0-9_-]{43}$/);
  t.equal(proving.lookupColony, rpc.lookupColony, "lookups are the plain RPC");
  await refused(t, proving.registerColony({ meshId: "m", pubkey: THIEF.public, endpoints: ["203.0.113.1:1"] }), Code.InvalidArgument, /is not the public key of wireguardPrivateKey \(tGZy4L2L.*\): a proof can only be made for your own key/);
  t.equal(seen.length, 2, "nothing sent for a foreign pubkey");
});

t.test("without a pinned key the document is read once, again after a failure, and again once when a proof does not match", async (t) => {
  const { seen, rpc } = stub([undefined, new ConnectError("the Coral-Registration-Proof header does not match this request", Code.Unauthenticated)]);
  const otherKey = Buffer.from(x25519PrivateKey(new Uint8Array(32).fill(3)).publicKey).toString("base64");
  const { calls, fetchDocument } = documentFetch([SERVICE_PUBLIC, otherKey], [() => new Response("nope", { status: 503 }), () => { throw new Error("connect ECONNREFUSED"); }]);
  const proving = withRegistrationProofs(rpc, { wireguardPrivateKey: OWNER.private, baseUrl: "http://discovery.test/prefix/", timeoutMs: 1_000, now: () => NOW_MS, fetch: fetchDocument });
  const colony = { meshId: "m", endpoints: ["203.0.113.1:1"] };
  await refused(t, proving.registerColony(colony), Code.Unavailable, /^cannot read the service key from http:\/\/discovery\.test\/prefix\/\.well-known\/coral-discovery\.json \(HTTP 503\); it is needed to prove registrations/);
  await refused(t, proving.registerColony(colony), Code.Unavailable, /\(connect ECONNREFUSED\)/);
  await proving.registerColony(colony);
  t.equal(calls.length, 3, "the third read succeeded");
  // The service now says "does not match": the client reads the document again (another key now) and retries once.
  t.equal((await proving.registerColony(colony)).success, true);
  t.equal(calls.length, 4, "read again once");
  t.same(seen.map((s) => s.verdict.slice(0, 20)), ["ok", "ok", "does not match this "], "the retry's proof was made for the key read again");
});

t.test("a refusal that a new key cannot fix, or a pinned key, is not retried", async (t) => {
  const staleProof = () => new ConnectError("the Coral-Registration-Proof header is stale: ...", Code.Unauthenticated);
  const mismatch = () => new ConnectError("the Coral-Registration-Proof header does not match this request", Code.Unauthenticated);
  const { seen, rpc } = stub([staleProof(), mismatch(), new ConnectError("proof is required", Code.PermissionDenied)]);
  const { calls, fetchDocument } = documentFetch([]);
  const fetched = withRegistrationProofs(rpc, { wireguardPrivateKey: OWNER.private, baseUrl: "http://discovery.test", timeoutMs: 1_000, now: () => NOW_MS, fetch: fetchDocument });
  await refused(t, fetched.registerColony({ meshId: "m", endpoints: ["203.0.113.1:1"] }), Code.Unauthenticated, /stale/);
  const pinned = withRegistrationProofs(rpc, { wireguardPrivateKey: OWNER.private, servicePublicKey: SERVICE_PUBLIC, timeoutMs: 1_000, now: () => NOW_MS });
  await refused(t, pinned.registerColony({ meshId: "m", endpoints: ["203.0.113.1:1"] }), Code.Unauthenticated, /does not match/);
  await refused(t, fetched.registerAgent({ agentId: "a", meshId: "m", endpoints: ["203.0.113.1:1"] }), Code.PermissionDenied, /proof is required/);
  t.equal(seen.length, 3, "one call each");
  t.equal(calls.length, 1);
});

t.test("a document without a usable key is unavailable, naming the URL", async (t) => {
  for (const body of [{}, { service_public_key: "AAAA" }, { service_public_key: 5 }]) {
    const { rpc } = stub();
    const fetchDocument = (async () => new Response(JSON.stringify(body))) as unknown as typeof fetch;
    const proving = withRegistrationProofs(rpc, { wireguardPrivateKey: OWNER.private, baseUrl: "http://discovery.test", timeoutMs: 1_000, now: () => NOW_MS, fetch: fetchDocument });
    await refused(t, proving.registerColony({ meshId: "m", endpoints: ["203.0.113.1:1"] }), Code.Unavailable, /^http:\/\/discovery\.test\/\.well-known\/coral-discovery\.json has no usable service_public_key/);
  }
});

t.test("bad options are refused at once with a RangeError that says what is expected", async (t) => {
  const { rpc } = stub();
  const base = { timeoutMs: 1_000, now: () => NOW_MS, baseUrl: "http://x" };
  t.throws(() => withRegistrationProofs(rpc, { ...base, wireguardPrivateKey: "AAAA" }), { name: "RangeError", message: /^wireguardPrivateKey decodes to 3 bytes, not 32/ });
  t.throws(() => withRegistrationProofs(rpc, { ...base, wireguardPrivateKey: OWNER.private, servicePublicKey: "short" }), { name: "RangeError", message: /^servicePublicKey must be the base64 of a 32-byte X25519 public key, got "short"/ });
  t.throws(() => withRegistrationProofs(rpc, { timeoutMs: 1_000, now: () => NOW_MS, wireguardPrivateKey: OWNER.private }), { name: "RangeError", message: /needs servicePublicKey, or baseUrl/ });
});
