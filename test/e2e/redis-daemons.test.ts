// Two real daemons (child processes) on one real redis-server behave as one
// service: what one acknowledges the other serves, split-brain holds across
// them under concurrent registrations, tokens minted by one verify against
// the other's JWKS, and killing one loses nothing. Then Redis itself dies
// under load and comes back: calls answer `unavailable` (never `internal`),
// /health and /readyz say why, nothing crashes, and service resumes.
import t from "tap";
import { createPublicKey, verify } from "node:crypto";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { Redis } from "ioredis";
import { DiscoveryService } from "../../gen/coral/discovery/v1/discovery_pb.js";
import { formatSigningKey, generateSigningKey } from "../../src/tokens/index.js";
import { KEY_1, KEY_2, KEY_3 } from "../fixtures/keys.js";
import { hasRedis, REDIS_MISSING, startRedis } from "../fixtures/redis.js";
import { spawnDaemon, type Daemon } from "../fixtures/spawn.js";
import { until } from "../fixtures/wait.js";

const BANNER_END = /^Ready to accept registrations\n/m;

async function portOf(daemon: Daemon): Promise<number> {
  await daemon.waitForStdout(BANNER_END);
  return Number(/^gRPC server listening on :(\d+)$/m.exec(daemon.stdout())?.[1]);
}

const client = (port: number, grpc = false) =>
  createClient(
    DiscoveryService,
    grpc ? createGrpcTransport({ baseUrl: `http://127.0.0.1:${port}` }) : createConnectTransport({ baseUrl: `http://127.0.0.1:${port}`, httpVersion: "1.1" }),
  );

async function failure(call: Promise<unknown>): Promise<ConnectError | undefined> {
  try {
    await call;
    return undefined;
  } catch (error) {
    return ConnectError.from(error);
  }
}

if (!hasRedis) {
  t.test("two daemons on one Redis", { skip: REDIS_MISSING }, async () => {});
} else {
  const redis = await startRedis(t);
  const env = { DISCOVERY_SIGNING_KEY: formatSigningKey(generateSigningKey()) };
  const start = () => spawnDaemon(t, ["--port", "0", "--host", "127.0.0.1", "--redis-url", redis.url, "--rate-limit", "off", "--redis-timeout", "1"], env);

  t.test("two instances behave as one service; killing one loses nothing it acknowledged", async (t) => {
    const a = start();
    const b = start();
    const [portA, portB] = await Promise.all([portOf(a), portOf(b)]);
    const onA = client(portA);
    const onB = client(portB, true);

    await onA.registerColony({ meshId: "shared", pubkey: KEY_1, endpoints: ["203.0.113.5:51820"], metadata: { from: "a" } });
    const found = await onB.lookupColony({ meshId: "shared" });
    t.equal(found.pubkey, KEY_1, "registered on A, found on B");
    t.same(found.metadata, { from: "a" });
    await onB.registerAgent({ meshId: "shared", agentId: "a1", pubkey: KEY_3, endpoints: ["198.51.100.4:41820"] });
    t.equal((await onA.lookupAgent({ meshId: "shared", agentId: "a1" })).pubkey, KEY_3, "and the other way round");
    const clash = await failure(onB.registerColony({ meshId: "shared", pubkey: KEY_2, endpoints: [":1"] }));
    t.equal(clash?.code, Code.AlreadyExists, "split-brain holds across instances");

    // The same mesh, two pubkeys, two instances, at the same moment: exactly one wins, and both agree which.
    for (let i = 0; i < 25; i++) {
      const meshId = `race-${i}`;
      const outcomes = await Promise.allSettled([
        onA.registerColony({ meshId, pubkey: KEY_1, endpoints: [":1"] }),
        onB.registerColony({ meshId, pubkey: KEY_2, endpoints: [":2"] }),
      ]);
      const won = outcomes.filter((o) => o.status === "fulfilled").length;
      const refused = outcomes.filter((o) => o.status === "rejected" && ConnectError.from(o.reason).code === Code.AlreadyExists).length;
      if (won !== 1 || refused !== 1) t.fail(`${meshId}: ${won} accepted, ${refused} refused`);
      const winner = outcomes[0]?.status === "fulfilled" ? KEY_1 : KEY_2;
      const [seenA, seenB] = await Promise.all([onA.lookupColony({ meshId }), onB.lookupColony({ meshId })]);
      if (seenA.pubkey !== winner || seenB.pubkey !== winner) t.fail(`${meshId}: the instances disagree on the winner`);
    }
    t.pass("25 concurrent races across two instances: one winner each, seen by both");

    // A token minted by A verifies against B's JWKS: both sign with the configured key.
    const token = await onA.createBootstrapToken({ agentId: "a1", colonyId: "shared", reefId: "r", intent: "register" });
    const [h, p, s] = token.jwt.split(".") as [string, string, string];
    const header = JSON.parse(Buffer.from(h, "base64url").toString()) as { kid: string };
    const jwks = (await (await fetch(`http://127.0.0.1:${portB}/.well-known/jwks.json`)).json()) as { keys: { kid: string; x: string }[] };
    const jwk = jwks.keys.find((k) => k.kid === header.kid);
    t.ok(jwk, "B publishes the key A signed with");
    const key = createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x: jwk?.x ?? "" }, format: "jwk" });
    t.ok(verify(null, Buffer.from(`${h}.${p}`), key, Buffer.from(s, "base64url")), "and the signature verifies");

    // Kill A outright: everything it acknowledged is still served by B.
    a.child.kill("SIGKILL");
    await a.exited();
    t.equal((await onB.lookupColony({ meshId: "shared" })).pubkey, KEY_1);
    t.equal((await onB.lookupAgent({ meshId: "shared", agentId: "a1" })).pubkey, KEY_3);
    t.equal((await onB.health({})).registeredColonies, 26, "every acknowledged colony, counted from Redis");
    b.child.kill("SIGTERM");
    t.same(await b.exited(), { code: 0, signal: null });
  });

  t.test("the rendezvous across instances: a poll waiting on B wakes for a publish on A; an ack on B is seen by A", async (t) => {
    const a = start();
    const b = start();
    const [portA, portB] = await Promise.all([portOf(a), portOf(b)]);
    const onA = client(portA);
    const onB = client(portB, true);
    // Both daemons' wake-up subscriptions in place, as Redis counts them.
    const probe = new Redis(redis.url);
    t.teardown(() => probe.disconnect());
    await until(async () => ((await probe.pubsub("NUMSUB", "coral-discovery:rv-wake")) as [string, number])[1] === 2, "both subscriptions");
    const started = Date.now();
    const waiting = onB.pollBootstrapRendezvous({ meshId: "rdv", waitSeconds: 20 });
    await until(async () => ((await (await fetch(`http://127.0.0.1:${portB}/health`)).json()) as { rendezvous_polls_waiting: number }).rendezvous_polls_waiting === 1, "B's poll to wait");
    const published = await onA.publishBootstrapRendezvous({ meshId: "rdv", ciphertext: new Uint8Array(64).fill(7), gcmNonce: new Uint8Array(12), writeToken: new Uint8Array(32).fill(1), ttlSeconds: 60 });
    t.equal(published.success, true);
    const answer = await waiting;
    t.equal(answer.timedOut, false, `woken (after ${Date.now() - started} ms of a 20 s wait)`);
    t.same(answer.records.map((r) => r.recordId), [published.recordId]);
    t.same([...(answer.records[0]?.ciphertext ?? [])], new Array(64).fill(7));
    t.equal((await onB.ackBootstrapRendezvous({ meshId: "rdv", recordId: published.recordId, writeToken: new Uint8Array(32).fill(1) })).success, true);
    t.same((await onA.pollBootstrapRendezvous({ meshId: "rdv", waitSeconds: 0 })).records, [], "acked on B, gone on A");
    const health = (await (await fetch(`http://127.0.0.1:${portA}/health`)).json()) as { rendezvous_records: number };
    t.equal(health.rendezvous_records, 0);
    a.child.kill("SIGTERM");
    b.child.kill("SIGTERM");
    t.same(await a.exited(), { code: 0, signal: null });
    t.same(await b.exited(), { code: 0, signal: null });
  });

  t.test("Redis killed and restarted under load: unavailable, never internal; health says why; service resumes", async (t) => {
    const d = start();
    const port = await portOf(d);
    const c = client(port);
    await c.registerColony({ meshId: "before", pubkey: KEY_1, endpoints: [":1"] });

    // Load: a steady stream of registrations and lookups, each outcome recorded.
    const codes = new Map<string, number>();
    const messages = new Set<string>();
    let running = true;
    let n = 0;
    const worker = async () => {
      while (running) {
        const i = n++;
        const error = await failure(i % 2 === 0 ? c.registerColony({ meshId: `load-${i}`, pubkey: KEY_1, endpoints: [":1"] }) : c.lookupColony({ meshId: "before" }));
        const name = error === undefined ? "ok" : Code[error.code];
        codes.set(name, (codes.get(name) ?? 0) + 1);
        if (error !== undefined && error.code === Code.Unavailable) messages.add(error.rawMessage.replace(/: .*/, ""));
        if (error !== undefined) await new Promise((resolve) => setImmediate(resolve));
      }
    };
    const workers = Array.from({ length: 8 }, worker);
    await until(() => (codes.get("ok") ?? 0) > 50, "some successful calls");

    await redis.kill();
    await until(() => (codes.get("Unavailable") ?? 0) > 50, "calls to fail while Redis is down");
    const health = await fetch(`http://127.0.0.1:${port}/health`);
    t.equal(health.status, 503, "/health answers 503");
    const body = (await health.json()) as { status: string; reason: string };
    t.equal(body.status, "unavailable");
    t.match(body.reason, /state store \(Redis at 127\.0\.0\.1:\d+\) is unreachable/);
    const ready = await fetch(`http://127.0.0.1:${port}/readyz`);
    t.equal(ready.status, 503, "/readyz too");
    t.match(await ready.text(), /state store/);

    await redis.restart();
    const okBefore = codes.get("ok") ?? 0;
    await until(() => (codes.get("ok") ?? 0) > okBefore + 50, "calls to succeed again once Redis is back");
    running = false;
    await Promise.all(workers);

    t.same([...codes.keys()].filter((k) => k !== "ok" && k !== "Unavailable" && k !== "NotFound"), [], `only ok, unavailable (and not_found after Redis lost its data) answered: ${JSON.stringify(Object.fromEntries(codes))}`);
    t.same([...messages], ["the state store (Redis at 127.0.0.1:" + redis.port + ") is unreachable"], "every unavailable says the store is unreachable");
    t.equal((await fetch(`http://127.0.0.1:${port}/health`)).status, 200, "healthy again");
    t.equal((await fetch(`http://127.0.0.1:${port}/readyz`)).status, 200);
    t.equal(d.child.exitCode, null, "never crashed");
    const logs = d.stdout().split("\n").filter((line) => line.startsWith("{")).map((line) => JSON.parse(line) as { msg: string });
    t.ok(logs.filter((l) => l.msg.startsWith("state store unreachable")).length >= 1, "the loss is logged");
    t.ok(logs.filter((l) => l.msg === "state store connected").length >= 2, "and the reconnection");
    t.ok(logs.filter((l) => l.msg.startsWith("state store unreachable")).length <= 3, "once per outage, not once per attempt");
    d.child.kill("SIGTERM");
    t.same(await d.exited(), { code: 0, signal: null });
  });
}
