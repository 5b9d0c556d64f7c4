// buildApp as a unit: the plain HTTP routes (with inject: they are not RPCs),
// the registry it builds from the configuration, and the sweeper it owns.
// RPCs over real sockets are the end-to-end suites' business.
import t, { type Test } from "tap";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { DiscoveryService } from "../gen/coral/discovery/v1/discovery_pb.js";
import { ServerReflection } from "../gen/grpc/reflection/v1/reflection_pb.js";
import { buildApp, createConfiguredRegistry } from "../src/app.js";
import { memoryStore, RegistryError, type Store } from "../src/registry/index.js";
import { resolveConfig, type ConfigInput } from "../src/config/index.js";
import { createDrain } from "../src/server/probes.js";
import { VERSION } from "../src/version.js";
import { createFakeClock } from "./fixtures/clock.js";
import { KEY_1, KEY_2, OWNER } from "./fixtures/keys.js";
import { createManualTimers } from "./fixtures/manual-timers.js";
import { parseExposition } from "./fixtures/prometheus.js";
import { until } from "./fixtures/wait.js";
import { freePort } from "./fixtures/redis.js";

const VECTOR = '{"id":"01H7X0X7X0X7X0X7X0X7X0X7X0","privateKey":"hXIqNNX5M2H9WuNmTPcAYgwRSWpJMqONpL3HPPoxsdo="}';

function colonyData(endpoint: string) {
  return {
    endpoints: [endpoint],
    meshIpv4: "",
    meshIpv6: "",
    connectPort: 0,
    metadata: {},
    observedEndpoint: undefined,
    publicPort: 0,
    publicEndpoint: undefined,
  };
}

async function setup(options: ConfigInput = {}, deps: { readiness?: Parameters<typeof buildApp>[0]["readiness"]; store?: Parameters<typeof buildApp>[0]["store"] } = {}) {
  const clock = createFakeClock();
  const timers = createManualTimers(clock);
  const config = resolveConfig({ logLevel: "silent", rateLimit: false, ...options });
  const registry = createConfiguredRegistry(config, clock.now);
  const app = await buildApp({ config, registry, now: clock.now, timers, ...deps });
  return { app, clock, timers, registry, config };
}

t.test("GET /health answers exactly application/json with active counts and uptime", async (t) => {
  const { app, clock, registry } = await setup({ ttlSeconds: 60 });
  t.teardown(() => app.close());
  await registry.registerColony("m1", KEY_1, colonyData(":1"));
  await registry.registerAgent("m1", "a1", KEY_2, { endpoints: [":2"], metadata: {}, observedEndpoint: undefined }, "198.51.100.1");
  clock.advance(30_500);
  const res = await app.inject({ method: "GET", url: "/health" });
  t.equal(res.statusCode, 200);
  t.equal(res.headers["content-type"], "application/json");
  t.same(res.json(), { status: "ok", version: VERSION, uptime_seconds: 30, colonies: 1, agents: 1, rendezvous_records: 0, rendezvous_polls_waiting: 0 });
  clock.advance(30_000);
  t.same(res.json().colonies, 1, "an earlier answer is not changed");
  t.match((await app.inject({ method: "GET", url: "/health" })).json(), { colonies: 0, agents: 0 }, "expired entries are not counted");
});

t.test("GET /.well-known/jwks.json publishes the configured key, cacheable for 5 minutes, with an ETag", async (t) => {
  const { app } = await setup({ signingKey: VECTOR });
  t.teardown(() => app.close());
  const res = await app.inject({ method: "GET", url: "/.well-known/jwks.json" });
  t.equal(res.statusCode, 200);
  t.equal(res.headers["content-type"], "application/json");
  t.equal(res.headers["cache-control"], "public, max-age=300");
  t.match(res.headers.etag, /^"[A-Za-z0-9_-]{43}"$/);
  t.same(res.json(), {
    keys: [{ kid: "01H7X0X7X0X7X0X7X0X7X0X7X0", kty: "OKP", crv: "Ed25519", x: "IrW6Ziy-x9gK01yVdGF4_PW8X23j49BkyqhAfjfYPEg", use: "sig", alg: "EdDSA" }],
  });
});

t.test("with a generated key (none configured, even when handed in as main does), the JWKS is no-cache and revalidates with 304", async (t) => {
  const clock = createFakeClock();
  const config = resolveConfig({ logLevel: "silent", rateLimit: false });
  for (const app of [await buildApp({ config, now: clock.now, timers: createManualTimers(clock) }), await buildApp({ config, signingKey: resolveConfig({ signingKey: VECTOR }).signingKey, now: clock.now, timers: createManualTimers(clock) })]) {
    t.teardown(() => app.close());
    const res = await app.inject({ method: "GET", url: "/.well-known/jwks.json" });
    t.equal(res.statusCode, 200);
    t.equal(res.headers["content-type"], "application/json");
    t.equal(res.headers["cache-control"], "no-cache");
    const etag = String(res.headers.etag);
    const again = await app.inject({ method: "GET", url: "/.well-known/jwks.json", headers: { "if-none-match": etag } });
    t.equal(again.statusCode, 304);
    t.equal(again.body, "");
  }
});

t.test("GET /.well-known/coral-discovery.json: the service key derived from the signing key, or the configured one; cacheable only when stable", async (t) => {
  const derived = await setup({ signingKey: VECTOR, proofMaxSkewSeconds: 60, requireProof: "colonies" });
  t.teardown(() => derived.app.close());
  const res = await derived.app.inject({ method: "GET", url: "/.well-known/coral-discovery.json" });
  t.equal(res.statusCode, 200);
  t.equal(res.headers["content-type"], "application/json");
  t.equal(res.headers["cache-control"], "public, max-age=300");
  t.same(res.json(), {
    service: "coral-discovery",
    version: VERSION,
    jwks_url: "/.well-known/jwks.json",
    proof_versions: ["v1"],
    proof_header: "Coral-Registration-Proof",
    service_public_key: "Vok7Gju/M07tvRrKfKS3J3Xz7httyRjzkrrLhRKlxx4=",
    proof_max_skew_seconds: 60,
    require_proof: "colonies",
  });
  const configured = await setup({ serviceKey: OWNER.private });
  t.teardown(() => configured.app.close());
  const doc = await configured.app.inject({ method: "GET", url: "/.well-known/coral-discovery.json" });
  t.equal(doc.json().service_public_key, OWNER.public, "the configured key's public half");
  t.equal(doc.headers["cache-control"], "public, max-age=300", "a configured service key is stable");
  const generated = await setup();
  t.teardown(() => generated.app.close());
  const fresh = await generated.app.inject({ method: "GET", url: "/.well-known/coral-discovery.json" });
  t.equal(fresh.headers["cache-control"], "no-cache", "derived from a generated signing key: lasts as long as the process");
  t.equal(fresh.json().require_proof, "off");
  t.equal(fresh.json().proof_max_skew_seconds, 120);
});

t.test("without a configured key, a fresh one is generated per app", async (t) => {
  const a = await setup();
  const b = await setup();
  t.teardown(() => Promise.all([a.app.close(), b.app.close()]));
  const kid = async (app: typeof a.app) => (await app.inject({ method: "GET", url: "/.well-known/jwks.json" })).json().keys[0].kid as string;
  t.match(await kid(a.app), /^[0-9A-HJKMNP-TV-Z]{26}$/);
  t.not(await kid(a.app), await kid(b.app));
});

t.test("an unknown path is a 404 with a Connect-style envelope naming the route", async (t) => {
  const { app } = await setup();
  t.teardown(() => app.close());
  const res = await app.inject({ method: "GET", url: "/nope?x=1" });
  t.equal(res.statusCode, 404);
  t.same(res.json(), { code: "not_found", message: "no route for GET /nope?x=1" });
});

t.test("the registry follows the configured TTL, relay session lifetime and caps", async (t) => {
  const clock = createFakeClock();
  const config = resolveConfig({ ttlSeconds: 10, relaySessionTtlSeconds: 120, maxColonies: 1, maxAgentsPerMesh: 1, maxAgents: 5, maxRelaySessions: 1 });
  const registry = createConfiguredRegistry(config, clock.now);
  const lease = await registry.registerColony("m", KEY_1, colonyData(":1"));
  t.equal(lease.expiresAtMs - clock.now(), 10_000);
  await t.rejects(Promise.resolve().then(() => registry.registerColony("other", KEY_1, colonyData(":1"))), /--max-colonies/);
  await registry.registerAgent("m", "a1", KEY_2, { endpoints: [":2"], metadata: {}, observedEndpoint: undefined }, "198.51.100.1");
  await t.rejects(
    Promise.resolve().then(() => registry.registerAgent("m", "a2", KEY_2, { endpoints: [":2"], metadata: {}, observedEndpoint: undefined }, "198.51.100.1")),
    /--max-agents-per-mesh/,
  );
  const relay = { id: "r:1", host: "r", port: 1 };
  const session = await registry.createRelaySession("s1", "m", { relay, agentPubkey: KEY_1, colonyPubkey: KEY_2 }, "198.51.100.1");
  t.equal(session.expiresAtMs - clock.now(), 120_000);
  await t.rejects(Promise.resolve().then(() => registry.createRelaySession("s2", "m", { relay, agentPubkey: KEY_1, colonyPubkey: KEY_2 }, "198.51.100.1")), /--max-relay-sessions/);
});

t.test("the sweeper runs every --cleanup-interval on the app's timers and stops when the app closes", async (t) => {
  const { app, clock, timers, registry } = await setup({ ttlSeconds: 60, cleanupIntervalMs: 30_000 });
  await registry.registerColony("old", KEY_1, colonyData(":1"));
  clock.advance(61_000);
  t.equal(registry.counts().colonies, 0, "expired, not yet swept");
  t.equal(registry.sweep(clock.now(), 0).complete, false, "still stored before the sweeper runs");
  t.equal(await timers.next(), 30_000, "the sweeper's interval");
  t.same(registry.sweep(clock.now()).colonies, [], "the sweeper freed it");
  await app.close();
  t.equal(timers.pending(), 0, "closing the app stops the sweeper");
});

t.test("--state-file: restored before serving, written every --state-interval on the app's timers and once more on close", async (t) => {
  const path = join(t.testdir(), "state.ndjson");
  const first = await setup({ stateFile: path, stateIntervalMs: 10_000, cleanupIntervalMs: 60_000 });
  await first.registry.registerColony("m", KEY_1, colonyData(":1"));
  t.equal(await first.timers.next(), 10_000, "the state interval");
  await until(() => readFileSync(path, "utf8").includes('"meshId":"m"'), "the interval's write");
  await first.registry.registerColony("n", KEY_1, colonyData(":2"));
  await first.app.close();
  t.equal(first.timers.pending(), 0, "closing stops its timer");
  const second = await setup({ stateFile: path });
  t.ok(second.registry.lookupColony("n"), "the last write, on close, kept what came after the interval's");
  await second.app.close();
  const real = await buildApp({ config: resolveConfig({ logLevel: "silent", stateFile: path }) });
  await real.close(); // on Node's timers (unref'd): nothing left behind to keep the test alive
});

t.test("rate limits, when on, are applied to RPCs on both roads, and idle buckets are pruned at each sweep", async (t) => {
  for (const unaryRoad of [true, false]) {
    const clock = createFakeClock();
    const timers = createManualTimers(clock);
    const config = resolveConfig({ logLevel: "silent", host: "127.0.0.1", port: 0, rateLimit: true, rateLimitExempt: "none", rateLookup: "1:2" });
    const app = await buildApp({ config, now: clock.now, timers, unaryRoad });
    t.teardown(() => app.close());
    await app.listen({ host: "127.0.0.1", port: 0 });
    const { port } = app.server.address() as { port: number };
    const client = createClient(DiscoveryService, createConnectTransport({ baseUrl: `http://127.0.0.1:${port}`, httpVersion: "1.1" }));
    await client.health({});
    await client.health({});
    const refused = await client.health({}).catch((e: unknown) => ConnectError.from(e));
    t.equal((refused as ConnectError).code, Code.ResourceExhausted, `the third lookup in a burst of 2 is refused (road ${unaryRoad})`);
    clock.advance(60_000);
    await timers.next(); // the sweeper's tick prunes idle buckets
    t.ok(await client.health({}), "a minute later the address has its burst back");
  }
});

/** Listens on 127.0.0.1 (the peer address the rate limit sees) with `options` on a fake clock. */
async function listening(t: Test, options: ConfigInput) {
  const clock = createFakeClock();
  const config = resolveConfig({ logLevel: "silent", host: "127.0.0.1", port: 0, ...options });
  const app = await buildApp({ config, now: clock.now, timers: createManualTimers(clock) });
  t.teardown(() => app.close());
  await app.listen({ host: "127.0.0.1", port: 0 });
  const { port } = app.server.address() as { port: number };
  return { clock, baseUrl: `http://127.0.0.1:${port}` };
}

/** Sends `count` list_services requests on one gRPC reflection stream; how many were answered, and the error it ended with. */
async function reflect(baseUrl: string, count: number) {
  const client = createClient(ServerReflection, createGrpcTransport({ baseUrl }));
  async function* requests() {
    for (let i = 0; i < count; i++) yield { messageRequest: { case: "listServices" as const, value: "" } };
  }
  let answered = 0;
  try {
    for await (const _ of client.serverReflectionInfo(requests())) answered++;
    return { answered, error: undefined };
  } catch (error) {
    return { answered, error: ConnectError.from(error) };
  }
}

t.test("each reflection request message takes a lookup token of the client's address, on the app's clock", async (t) => {
  const { clock, baseUrl } = await listening(t, { rateLimit: true, rateLimitExempt: "none", rateLookup: "1:3" });
  const first = await reflect(baseUrl, 4);
  t.equal(first.answered, 3, "a burst of 3 answers 3 messages");
  t.equal(first.error?.code, Code.ResourceExhausted, "the fourth ends the stream");
  t.equal(first.error?.metadata.get("retry-after"), "1", "with Retry-After (a trailer over gRPC)");
  const health = await createClient(DiscoveryService, createConnectTransport({ baseUrl, httpVersion: "1.1" })).health({}).catch((e: unknown) => ConnectError.from(e));
  t.equal((health as ConnectError).code, Code.ResourceExhausted, "Health shares the spent budget");
  clock.advance(2_000);
  t.same((await reflect(baseUrl, 2)).answered, 2, "two seconds later: two more");
});

t.test("reflection is not metered for an exempt address (loopback by default) or with --rate-limit off", async (t) => {
  for (const options of [{ rateLimit: true, rateLookup: "1:1" }, { rateLimit: false, rateLimitExempt: "none", rateLookup: "1:1" }] as const) {
    const { baseUrl } = await listening(t, options);
    t.same(await reflect(baseUrl, 20), { answered: 20, error: undefined }, JSON.stringify(options));
  }
});

t.test("--reflection off removes the reflection services: a call is unimplemented like any unknown method", async (t) => {
  const { baseUrl } = await listening(t, { reflection: false, rateLimit: false });
  const { answered, error } = await reflect(baseUrl, 1);
  t.equal(answered, 0);
  t.equal(error?.code, Code.Unimplemented);
  const health = await createClient(DiscoveryService, createConnectTransport({ baseUrl, httpVersion: "1.1" })).health({});
  t.equal(health.status, "ok", "the RPCs are still served");
});

t.test("without an injected clock and ids the app uses the real ones", async (t) => {
  const app = await buildApp({ config: resolveConfig({ logLevel: "silent" }) });
  t.teardown(() => app.close());
  const before = Date.now();
  const res = await app.inject({ method: "GET", url: "/health" });
  t.equal(res.json().uptime_seconds, 0);
  t.ok(Date.now() - before < 60_000);
});

t.test("/livez and /readyz; /health keeps its body but answers 503 whenever /readyz does", async (t) => {
  const drain = createDrain();
  const { app } = await setup({}, { readiness: [drain] });
  t.teardown(() => app.close());
  const get = (url: string) => app.inject({ method: "GET", url });
  t.equal((await get("/readyz")).statusCode, 200);
  t.equal((await get("/health")).statusCode, 200);
  drain.start();
  t.equal((await get("/readyz")).statusCode, 503);
  const health = await get("/health");
  t.equal(health.statusCode, 503);
  t.match(health.json(), { status: "ok", version: VERSION, colonies: 0 }, "the same body");
  t.equal((await get("/livez")).statusCode, 200);
});

t.test("a store out of reach: /health and /readyz answer 503 with the reason, RPCs unavailable; the app closes the store", async (t) => {
  const registry = createConfiguredRegistry(resolveConfig({}), Date.now);
  const memory = memoryStore(registry);
  let reachable = true;
  let closed = 0;
  const unreachable = "the state store (Redis at 192.0.2.1:6379) is unreachable";
  const guard = <T>(value: () => T) => {
    if (!reachable) throw new RegistryError("unavailable", `${unreachable}: not connected (reconnecting); retry shortly`);
    return value();
  };
  const store: Store<any, any, any> = {
    ...memory,
    kind: "redis",
    counts: () => guard(() => memory.counts()),
    lookupColony: (meshId) => guard(() => memory.lookupColony(meshId)),
    ready: () => (reachable ? true : unreachable),
    close: async () => void closed++,
  };
  const { app } = await setup({}, { store });
  const get = (url: string) => app.inject({ method: "GET", url });
  t.equal((await get("/health")).statusCode, 200);
  reachable = false;
  const health = await get("/health");
  t.equal(health.statusCode, 503);
  t.same(health.json(), { status: "unavailable", reason: unreachable, version: VERSION });
  t.equal(health.headers["content-type"], "application/json");
  const ready = await get("/readyz");
  t.equal(ready.statusCode, 503);
  t.match(ready.json(), { reason: unreachable });
  const rpc = await app.inject({ method: "POST", url: "/coral.discovery.v1.DiscoveryService/LookupColony", headers: { "content-type": "application/json" }, payload: { meshId: "m" } });
  t.equal(rpc.statusCode, 503);
  t.same(rpc.json(), { code: "unavailable", message: `${unreachable}: not connected (reconnecting); retry shortly` });
  // A store that answers counts while its readiness says otherwise (a check racing a reconnect): the body is the usual one, the status 503.
  const flaky: Store<any, any, any> = { ...store, counts: () => memory.counts() };
  const second = await setup({}, { store: flaky });
  const racing = await second.app.inject({ method: "GET", url: "/health" });
  t.equal(racing.statusCode, 503);
  t.match(racing.json(), { status: "ok", colonies: 0 });
  const failing: Store<any, any, any> = { ...store, ready: () => true };
  const third = await setup({}, { store: failing });
  const error = await third.app.inject({ method: "GET", url: "/health" });
  t.same(error.json(), { status: "unavailable", reason: `${unreachable}: not connected (reconnecting); retry shortly`, version: VERSION }, "readiness lagging behind: the error's own words");
  await Promise.all([app.close(), second.app.close(), third.app.close()]);
  t.equal(closed, 3, "each app closed its store");
});

t.test("with --redis-url the app serves from Redis: here one that is not there, so 503 until it is", async (t) => {
  const port = await freePort();
  const config = resolveConfig({ logLevel: "silent", redisUrl: `redis://127.0.0.1:${port}`, redisTimeoutMs: 100 }, { env: { DISCOVERY_SIGNING_KEY: VECTOR } });
  const app = await buildApp({ config });
  t.teardown(() => app.close());
  const health = await app.inject({ method: "GET", url: "/health" });
  t.equal(health.statusCode, 503);
  t.match(health.json(), { status: "unavailable", reason: new RegExp(`state store \\(Redis at 127\\.0\\.0\\.1:${port}\\) is unreachable`) });
});

t.test("rendezvous records share the registry's byte budget: past it records are refused, and leases too", async (t) => {
  const config = resolveConfig({ logLevel: "silent", rateLimit: false, maxRegistryBytes: 1 << 20, rendezvousPublishRate: "100000:1000" });
  const app = await buildApp({ config });
  t.teardown(() => app.close());
  const rpc = (method: string, payload: object) =>
    app.inject({ method: "POST", url: `/coral.discovery.v1.DiscoveryService/${method}`, headers: { "content-type": "application/json" }, payload });
  const record = (i: number) => ({ meshId: `m${i % 16}`, ciphertext: Buffer.alloc(4_096).toString("base64"), gcmNonce: Buffer.alloc(12).toString("base64"), writeToken: "dG9rZW4=" });
  let stored = 0;
  let refusal: { statusCode: number; json(): { message: string } } | undefined;
  for (let i = 0; i < 400 && refusal === undefined; i++) {
    const res = await rpc("PublishBootstrapRendezvous", record(i));
    if (res.statusCode === 200) stored++;
    else refusal = res;
  }
  t.equal(stored, Math.floor((1 << 20) / (4_096 + 12 + 32 + 400)), "as many records as the budget holds (16 MiB of ciphertext would hold far more)");
  t.equal(refusal?.statusCode, 429);
  t.match(refusal?.json().message, /--max-registry-bytes/);
  let colonies = 0;
  let colony: { statusCode: number; json(): { message: string } } | undefined;
  for (let i = 0; i < 10 && colony === undefined; i++) {
    const res = await rpc("RegisterColony", { meshId: `mesh-${i}`, pubkey: KEY_1, endpoints: ["203.0.113.1:51820"] });
    if (res.statusCode === 200) colonies++;
    else colony = res;
  }
  t.ok(colonies < 10, `leases fill what the records left (${colonies} colonies), then`);
  t.match(colony?.json().message, /its entries take \d+ of the 1048576 bytes --max-registry-bytes allows/);
});

t.test("--rendezvous off: nothing shares the byte budget", async (t) => {
  const app = await buildApp({ config: resolveConfig({ logLevel: "silent", rendezvous: false }) });
  t.teardown(() => app.close());
  await app.inject({ method: "POST", url: "/coral.discovery.v1.DiscoveryService/RegisterColony", headers: { "content-type": "application/json" }, payload: { meshId: "m", pubkey: KEY_1, endpoints: [":1"] } });
  const stats = JSON.parse((await app.inject({ method: "GET", url: "/health" })).body) as { colonies: number };
  t.equal(stats.colonies, 1);
});

t.test("GET /metrics reads the registry, its limits and the connections at scrape time, and counts sweeps", async (t) => {
  const { app, clock, timers, registry } = await setup({ ttlSeconds: 60, cleanupIntervalMs: 30_000, maxColonies: 7 });
  t.teardown(() => app.close());
  await registry.registerColony("m1", KEY_1, colonyData(":1"));
  await registry.registerColony("m2", KEY_2, colonyData(":1"));
  const scrape = async () => {
    const res = await app.inject({ method: "GET", url: "/metrics" });
    t.equal(res.statusCode, 200);
    return parseExposition(res.body);
  };
  let m = await scrape();
  t.equal(m.value("coral_discovery_leases", { kind: "colony" }), 2);
  t.equal(m.value("coral_discovery_lease_limit", { kind: "colony" }), 7);
  t.equal(m.value("coral_discovery_registry_bytes"), registry.counts().bytes);
  t.ok(registry.counts().bytes > 0);
  t.equal(m.value("coral_discovery_connections", { state: "active" }), 0, "inject opens no connection");
  clock.advance(61_000);
  await timers.next(); // the sweeper frees both
  m = await scrape();
  t.equal(m.value("coral_discovery_leases", { kind: "colony" }), 0);
  t.equal(m.value("coral_discovery_expirations_total", { kind: "colony" }), 2);
  t.equal(m.value("coral_discovery_sweep_duration_seconds_count"), 1);
  t.equal(m.value("coral_discovery_registry_bytes"), 0);
});

t.test("--metrics off: /metrics is a 404", async (t) => {
  const { app } = await setup({ metrics: false });
  t.teardown(() => app.close());
  const res = await app.inject({ method: "GET", url: "/metrics" });
  t.equal(res.statusCode, 404);
  t.equal((await app.inject({ method: "GET", url: "/readyz" })).statusCode, 200, "the probes stay");
});

t.test("--rendezvous off: /health reports no rendezvous counts, and the sweeper and close work without one", async (t) => {
  const { app, timers } = await setup({ rendezvous: false, cleanupIntervalMs: 30_000 });
  const res = await app.inject({ method: "GET", url: "/health" });
  t.notOk("rendezvous_records" in res.json());
  t.equal(await timers.next(), 30_000, "a sweeper tick");
  await app.close();
  t.equal(timers.pending(), 0);
});

t.test("closing the app answers waiting rendezvous polls at once (timed out, no records)", async (t) => {
  const config = resolveConfig({ logLevel: "silent", host: "127.0.0.1", port: 0, rateLimit: false });
  const app = await buildApp({ config });
  await app.listen({ host: "127.0.0.1", port: 0 });
  const { port } = app.server.address() as { port: number };
  const client = createClient(DiscoveryService, createConnectTransport({ baseUrl: `http://127.0.0.1:${port}`, httpVersion: "1.1" }));
  const waiting = client.pollBootstrapRendezvous({ meshId: "m", waitSeconds: 25 });
  await until(async () => (await app.inject({ method: "GET", url: "/health" })).json().rendezvous_polls_waiting === 1, "the poll to wait");
  const started = Date.now();
  await app.close();
  const res = await waiting;
  t.same({ records: res.records, timedOut: res.timedOut }, { records: [], timedOut: true });
  t.ok(Date.now() - started < 5_000, "well before the 25 s wait");
});
