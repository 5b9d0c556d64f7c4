// buildApp as a unit: the plain HTTP routes (with inject: they are not RPCs),
// the registry it builds from the configuration, and the sweeper it owns.
// RPCs over real sockets are the end-to-end suites' business.
import t from "tap";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { DiscoveryService } from "../gen/coral/discovery/v1/discovery_pb.js";
import { buildApp, createConfiguredRegistry } from "../src/app.js";
import { resolveConfig, type ConfigInput } from "../src/config/index.js";
import { VERSION } from "../src/version.js";
import { createFakeClock } from "./fixtures/clock.js";
import { KEY_1, KEY_2 } from "./fixtures/keys.js";
import { createManualTimers } from "./fixtures/manual-timers.js";
import { until } from "./fixtures/wait.js";

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

async function setup(options: ConfigInput = {}) {
  const clock = createFakeClock();
  const timers = createManualTimers(clock);
  const config = resolveConfig({ logLevel: "silent", rateLimit: false, ...options });
  const registry = createConfiguredRegistry(config, clock.now);
  const app = await buildApp({ config, registry, now: clock.now, timers });
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

t.test("GET /.well-known/jwks.json publishes the configured key, cacheable for 5 minutes", async (t) => {
  const { app } = await setup({ signingKey: VECTOR });
  t.teardown(() => app.close());
  const res = await app.inject({ method: "GET", url: "/.well-known/jwks.json" });
  t.equal(res.statusCode, 200);
  t.equal(res.headers["content-type"], "application/json");
  t.equal(res.headers["cache-control"], "public, max-age=300");
  t.same(res.json(), {
    keys: [{ kid: "01H7X0X7X0X7X0X7X0X7X0X7X0", kty: "OKP", crv: "Ed25519", x: "IrW6Ziy-x9gK01yVdGF4_PW8X23j49BkyqhAfjfYPEg", use: "sig", alg: "EdDSA" }],
  });
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

t.test("without an injected clock and ids the app uses the real ones", async (t) => {
  const app = await buildApp({ config: resolveConfig({ logLevel: "silent" }) });
  t.teardown(() => app.close());
  const before = Date.now();
  const res = await app.inject({ method: "GET", url: "/health" });
  t.equal(res.json().uptime_seconds, 0);
  t.ok(Date.now() - before < 60_000);
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
