import t from "tap";
import { execFileSync } from "node:child_process";
import { createHash, createHmac, createPrivateKey, createPublicKey, diffieHellman, hkdfSync } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import { PublicEndpointInfoSchema, RegisterAgentRequestSchema, RegisterColonyRequestSchema } from "../../gen/coral/discovery/v1/discovery_pb.js";
import {
  createProofKeyCache,
  createRegistrationProof,
  PROOF_HEADER,
  PROOF_LABEL,
  PROOF_VERSIONS,
  PROVEN_HEADER,
  proofInput,
  proofKey,
  verifyRegistrationProof,
} from "../../src/tokens/registration-proof.js";
import { deriveServiceKey, x25519PrivateKey } from "../../src/tokens/x25519.js";
import { fromRoot } from "../fixtures/paths.js";

// ---- the vector, computed here with node:crypto alone ----------------------
const b64 = (text: string) => new Uint8Array(Buffer.from(text, "base64"));
const SEED = b64("hXIqNNX5M2H9WuNmTPcAYgwRSWpJMqONpL3HPPoxsdo=");
const COLONY_PRIVATE = b64("IDS3tCCC8Guzux943C01KxSBZAmI4CVaSijO06CtmHI=");
const TIMESTAMP = 1_767_225_600;

function nodePrivate(raw: Uint8Array) {
  return createPrivateKey({ key: Buffer.concat([Buffer.from("302e020100300506032b656e04220420", "hex"), raw]), format: "der", type: "pkcs8" });
}
function nodePublicRaw(raw: Uint8Array): Buffer {
  return Buffer.from(createPublicKey(nodePrivate(raw)).export({ format: "jwk" }).x as string, "base64url");
}
function nodeServicePrivate(): Buffer {
  const key = Buffer.from(hkdfSync("sha256", SEED, Buffer.alloc(0), "coral-discovery service key v1", 32));
  key[0] = (key[0] as number) & 248;
  key[31] = ((key[31] as number) & 127) | 64;
  return key;
}
/** The whole construction with node:crypto, given the canonical bytes (written by hand below). */
function nodeProof(path: string, meshId: string, agentId: string, pubkey: string, canonical: Buffer, timestamp: number): string {
  const servicePublic = nodePublicRaw(nodeServicePrivate());
  const shared = diffieHellman({
    privateKey: nodePrivate(COLONY_PRIVATE),
    publicKey: createPublicKey({ key: Buffer.concat([Buffer.from("302a300506032b656e032100", "hex"), servicePublic]), format: "der", type: "spki" }),
  });
  const key = Buffer.from(hkdfSync("sha256", shared, Buffer.alloc(0), "coral-discovery registration v1", 32));
  const digest = createHash("sha256").update(canonical).digest("hex");
  const input = `coral-discovery registration v1\n${path}\n${meshId}\n${agentId}\n${pubkey}\n${timestamp}\n${digest}`;
  return `v1.${timestamp}.${createHmac("sha256", key).update(input).digest("base64url")}`;
}

const COLONY_PUBKEY = nodePublicRaw(COLONY_PRIVATE).toString("base64");
const colonyRequest = () =>
  create(RegisterColonyRequestSchema, {
    meshId: "prod-mesh",
    pubkey: COLONY_PUBKEY,
    endpoints: ["203.0.113.7:41820", "[2001:db8::7]:41820"],
    meshIpv4: "10.42.0.1",
    connectPort: 9000,
    metadata: { zone: "eu-west", "9": "nine", "10": "ten" },
  });
// By hand: mesh_id, pubkey, endpoints x2, mesh_ipv4, connect_port, metadata "10" < "9" < "zone".
const COLONY_CANONICAL = Buffer.from(
  "0a0970726f642d6d657368122c74475a79344c324c4a4379634a70796170747272526f57694e724459634e486764364a55347533613730383d1a113230332e302e3131332e373a34313832301a135b323030313a6462383a3a375d3a3431383230220931302e34322e302e3130a8463a090a023130120374656e3a090a013912046e696e653a0f0a047a6f6e65120765752d77657374",
  "hex",
);

const serviceKey = x25519PrivateKey(deriveServiceKey(SEED));
const clientKey = x25519PrivateKey(COLONY_PRIVATE);
const verifyAt = (nowSeconds: number, maxSkewSeconds = 120) => ({ serviceKey, nowSeconds, maxSkewSeconds });

t.test("the README's vector: the module's proof is the one node:crypto computes by hand", async (t) => {
  t.equal(COLONY_PUBKEY, "tGZy4L2LJCycJpyaptrrRoWiNrDYcNHgd6JU4u3a708=");
  const expected = nodeProof("/coral.discovery.v1.DiscoveryService/RegisterColony", "prod-mesh", "", COLONY_PUBKEY, COLONY_CANONICAL, TIMESTAMP);
  t.equal(expected, "v1.1767225600.JBqd_FqOuX6K8Fc9iG7wpX4Tp0lcBwQ3KTz27hVcQz8", "node:crypto agrees with the README");
  t.equal(createRegistrationProof(colonyRequest(), clientKey, serviceKey.publicKey, TIMESTAMP), expected);
  t.equal(createRegistrationProof(colonyRequest(), clientKey, serviceKey.publicKey, TIMESTAMP + 0.999), expected, "seconds are floored");
  t.same(verifyRegistrationProof(expected, colonyRequest(), verifyAt(TIMESTAMP)), { ok: true });
});

t.test("an agent's proof covers its agent_id and its path", async (t) => {
  const request = create(RegisterAgentRequestSchema, { agentId: "agent-7", meshId: "prod-mesh", pubkey: COLONY_PUBKEY, endpoints: ["198.51.100.4:51820"] });
  const canonical = Buffer.concat([
    Buffer.from([0x0a, 7]), Buffer.from("agent-7"),
    Buffer.from([0x12, 9]), Buffer.from("prod-mesh"),
    Buffer.from([0x1a, 44]), Buffer.from(COLONY_PUBKEY),
    Buffer.from([0x22, 18]), Buffer.from("198.51.100.4:51820"),
  ]);
  const expected = nodeProof("/coral.discovery.v1.DiscoveryService/RegisterAgent", "prod-mesh", "agent-7", COLONY_PUBKEY, canonical, TIMESTAMP);
  t.equal(createRegistrationProof(request, clientKey, serviceKey.publicKey, TIMESTAMP), expected);
  t.same(verifyRegistrationProof(expected, request, verifyAt(TIMESTAMP + 120)), { ok: true }, "120 s late is still in the window");
  t.same(verifyRegistrationProof(expected, request, verifyAt(TIMESTAMP - 120)), { ok: true }, "120 s early too");
  const other = create(RegisterAgentRequestSchema, { ...request, agentId: "agent-8" });
  t.match(verifyRegistrationProof(expected, other, verifyAt(TIMESTAMP)), { ok: false, problem: /does not match this request/ }, "another agent id");
});

t.test("the MAC input and key, line by line", async (t) => {
  t.equal(PROOF_LABEL, "coral-discovery registration v1");
  t.equal(PROOF_HEADER, "coral-registration-proof");
  t.equal(PROVEN_HEADER, "coral-registration-proven");
  t.same(PROOF_VERSIONS, ["v1"]);
  t.equal(
    proofInput(colonyRequest(), "1767225600").toString(),
    "coral-discovery registration v1\n/coral.discovery.v1.DiscoveryService/RegisterColony\nprod-mesh\n\ntGZy4L2LJCycJpyaptrrRoWiNrDYcNHgd6JU4u3a708=\n1767225600\n58d58cf1eb152b8217ca14b88b5bc4dfc9b23d61ca12dacbafd8cb6219091950",
  );
  const shared = Buffer.from("d8ad77558d42e87692db4568b6ab2e5089240b126b84f484bc58dee51f16a011", "hex");
  t.equal(Buffer.from(clientKey.sharedSecret(serviceKey.publicKey)).toString("hex"), shared.toString("hex"));
  t.equal(proofKey(shared).toString("hex"), "3951475225b08191b9b4abbf63d866ba0b1da4b0b6a09b47fc71f1c693002580");
});

t.test("any change to the request, a field or a metadata entry, breaks the proof", async (t) => {
  const proof = createRegistrationProof(colonyRequest(), clientKey, serviceKey.publicKey, TIMESTAMP);
  const changes: Record<string, (r: ReturnType<typeof colonyRequest>) => void> = {
    endpoints: (r) => void r.endpoints.push("6.6.6.6:6"),
    metadata: (r) => void (r.metadata["9"] = "NINE"),
    publicEndpoint: (r) => void (r.publicEndpoint = create(PublicEndpointInfoSchema, { url: "https://evil" })),
    meshId: (r) => void (r.meshId = "prod-mesh2"),
  };
  for (const [name, change] of Object.entries(changes)) {
    const request = colonyRequest();
    change(request);
    t.match(verifyRegistrationProof(proof, request, verifyAt(TIMESTAMP)), { ok: false, problem: /does not match this request/ }, name);
  }
  const reordered = create(RegisterColonyRequestSchema, { ...colonyRequest(), metadata: { "10": "ten", zone: "eu-west", "9": "nine" } });
  t.same(verifyRegistrationProof(proof, reordered, verifyAt(TIMESTAMP)), { ok: true }, "the metadata's order does not matter");
});

t.test("a third party with only the pubkey, or another key pair, cannot make a valid proof", async (t) => {
  const thief = x25519PrivateKey(b64("kDS3tCCC8Guzux943C01KxSBZAmI4CVaSijO06CtmHI="));
  const forged = createRegistrationProof(colonyRequest(), thief, serviceKey.publicKey, TIMESTAMP);
  t.match(verifyRegistrationProof(forged, colonyRequest(), verifyAt(TIMESTAMP)), { ok: false, problem: /does not match/ });
  const otherService = x25519PrivateKey(deriveServiceKey(new Uint8Array(32)));
  const wrongService = createRegistrationProof(colonyRequest(), clientKey, otherService.publicKey, TIMESTAMP);
  t.match(verifyRegistrationProof(wrongService, colonyRequest(), verifyAt(TIMESTAMP)), { ok: false, problem: /service public key of GET \/\.well-known\/coral-discovery\.json/ });
});

t.test("malformed and stale headers are refused, each saying what was wrong and what is expected", async (t) => {
  const good = createRegistrationProof(colonyRequest(), clientKey, serviceKey.publicKey, TIMESTAMP);
  const mac = good.split(".")[2] as string;
  const cases: [string, RegExp][] = [
    ["garbage", /^is not v1\.<unix-seconds>\.<base64url HMAC-SHA256, 43 characters>$/],
    [`v1.${TIMESTAMP}.${mac}.x`, /^is not v1\./],
    [`v2.${TIMESTAMP}.${mac}`, /^has version "v2"; this service supports v1/],
    [`v1.0${TIMESTAMP}.${mac}`, /^has timestamp "01767225600": give Unix seconds in decimal, without sign or leading zeros/],
    [`v1.-5.${mac}`, /^has timestamp "-5"/],
    [`v1.${TIMESTAMP}.${mac}=`, /^has a MAC that is not 43 characters of unpadded base64url/],
    [`v1.${TIMESTAMP}.${mac.slice(1)}`, /^has a MAC that is not 43/],
    [`v1.${TIMESTAMP - 121}.${mac}`, /^is stale: its timestamp 1767225479 is 121s behind the service clock \(1767225600\); at most 120s either way is accepted \(--proof-max-skew\)/],
    [`v1.${TIMESTAMP + 500}.${mac}`, /^is stale: its timestamp 1767226100 is 500s ahead of the service clock/],
    [`v1.${TIMESTAMP}.${mac.slice(0, -1)}${mac.endsWith("A") ? "Q" : "A"}`, /^does not match this request/],
  ];
  for (const [header, problem] of cases) {
    t.match(verifyRegistrationProof(header, colonyRequest(), verifyAt(TIMESTAMP)), { ok: false, problem }, header);
  }
  t.match(verifyRegistrationProof(good, colonyRequest(), verifyAt(TIMESTAMP + 30, 10)), { ok: false, problem: /at most 10s either way/ }, "the window is the caller's");
});

t.test("a pubkey that is no X25519 key, or a low-order point, cannot be proven", async (t) => {
  const good = createRegistrationProof(colonyRequest(), clientKey, serviceKey.publicKey, TIMESTAMP);
  const lax = create(RegisterColonyRequestSchema, { ...colonyRequest(), pubkey: "not-a-wireguard-key" });
  t.match(verifyRegistrationProof(good, lax, verifyAt(TIMESTAMP)), { ok: false, problem: /the request's pubkey is not the base64 of a 32-byte X25519/ });
  const zero = create(RegisterColonyRequestSchema, { ...colonyRequest(), pubkey: Buffer.alloc(32).toString("base64") });
  t.match(verifyRegistrationProof(good, zero, verifyAt(TIMESTAMP)), { ok: false, problem: /cannot be checked: the public key is a low-order X25519 point/ });
});

t.test("scripts/verify-proof-vector.mjs (node:crypto alone) checks the README's vector, and notices a wrong line", async (t) => {
  const out = execFileSync(process.execPath, [fromRoot("scripts/verify-proof-vector.mjs")], { encoding: "utf8" });
  t.match(out, /all 14 lines of the README's vector check out with node:crypto alone/);
  const { mkdtempSync, readFileSync, writeFileSync } = await import("node:fs");
  const { join } = await import("node:path");
  const { tmpdir } = await import("node:os");
  const dir = mkdtempSync(join(tmpdir(), "proof-vector-"));
  const broken = join(dir, "README.md");
  writeFileSync(broken, readFileSync(fromRoot("README.md"), "utf8").replace("v1.1767225600.JBqd", "v1.1767225601.JBqd"));
  const failed = t.throws(() => execFileSync(process.execPath, [fromRoot("scripts/verify-proof-vector.mjs"), broken], { encoding: "utf8", stdio: "pipe" }));
  t.match(String((failed as { stderr?: unknown }).stderr), /header: README says .*1767225601.*, node:crypto computes/);
  writeFileSync(broken, "no vector here");
  const missing = t.throws(() => execFileSync(process.execPath, [fromRoot("scripts/verify-proof-vector.mjs"), broken], { encoding: "utf8", stdio: "pipe" }));
  t.match(String((missing as { stderr?: unknown }).stderr), /the README has no <!-- proof-vector --> block/);
});

t.test("a key cache skips the X25519 agreement for pubkeys already proven, and keeps only verified ones", async (t) => {
  let agreements = 0;
  const counting = { publicKey: serviceKey.publicKey, sharedSecret: (peer: Uint8Array) => (agreements++, serviceKey.sharedSecret(peer)) };
  const keyCache = createProofKeyCache(2);
  const options = { serviceKey: counting, nowSeconds: TIMESTAMP, maxSkewSeconds: 120, keyCache };
  const good = createRegistrationProof(colonyRequest(), clientKey, serviceKey.publicKey, TIMESTAMP);
  const bad = `${good.slice(0, -1)}${good.endsWith("A") ? "Q" : "A"}`;
  t.match(verifyRegistrationProof(bad, colonyRequest(), options), { ok: false });
  t.equal(keyCache.size, 0, "a failed proof caches nothing");
  t.same(verifyRegistrationProof(good, colonyRequest(), options), { ok: true });
  t.same(verifyRegistrationProof(good, colonyRequest(), options), { ok: true });
  t.match(verifyRegistrationProof(bad, colonyRequest(), options), { ok: false, problem: /does not match/ }, "a cached key still checks the MAC");
  t.equal(agreements, 2, "the failed proof and the first good one; then the cache");
  t.equal(keyCache.size, 1);
});

t.test("the key cache is bounded, dropping the least recently used pubkey", async (t) => {
  const cache = createProofKeyCache(2);
  const key = (n: number) => Buffer.alloc(32, n);
  cache.set("a", key(1));
  cache.set("b", key(2));
  t.same(cache.get("a"), key(1), "a is now the most recently used");
  cache.set("c", key(3));
  t.equal(cache.size, 2);
  t.equal(cache.get("b"), undefined, "b was dropped");
  t.same([cache.get("a"), cache.get("c")], [key(1), key(3)]);
  cache.set("a", key(4));
  t.same(cache.get("a"), key(4), "set replaces");
  t.equal(cache.size, 2);
});
