import t from "tap";
import { Code, ConnectError } from "@connectrpc/connect";
import { createDiscoveryClient, type DiscoveryClient } from "../../src/client/index.js";
import { aborted, createStubTransport } from "../fixtures/stub-discovery.js";

/** A stub whose every RPC records the deadline it was called with. */
function setup(timeoutMs?: number) {
  const seen: { method: string; timeoutMs: number | undefined; auth: string | null }[] = [];
  let hang = false;
  const note = async (method: string, ctx: { timeoutMs(): number | undefined; requestHeader: Headers; signal: AbortSignal }) => {
    seen.push({ method, timeoutMs: ctx.timeoutMs(), auth: ctx.requestHeader.get("authorization") });
    if (hang) await aborted(ctx.signal);
  };
  const transport = createStubTransport({
    registerColony: async (_r, ctx) => (await note("registerColony", ctx), { success: true }),
    lookupColony: async (r, ctx) => (await note("lookupColony", ctx), { meshId: r.meshId }),
    registerAgent: async (_r, ctx) => (await note("registerAgent", ctx), { success: true }),
    lookupAgent: async (r, ctx) => (await note("lookupAgent", ctx), { agentId: r.agentId }),
    requestRelay: async (_r, ctx) => (await note("requestRelay", ctx), { sessionId: "s1" }),
    releaseRelay: async (_r, ctx) => (await note("releaseRelay", ctx), { success: true }),
    health: async (_r, ctx) => (await note("health", ctx), { status: "ok" }),
    createBootstrapToken: async (_r, ctx) => (await note("createBootstrapToken", ctx), { jwt: "a.b.c" }),
    publishBootstrapRendezvous: async (_r, ctx) => (await note("publishBootstrapRendezvous", ctx), { success: true, recordId: "R" }),
    pollBootstrapRendezvous: async (_r, ctx) => (await note("pollBootstrapRendezvous", ctx), { timedOut: true }),
    ackBootstrapRendezvous: async (_r, ctx) => (await note("ackBootstrapRendezvous", ctx), { success: true }),
  });
  const client = createDiscoveryClient({ baseUrl: "http://discovery.test", transport, ...(timeoutMs === undefined ? {} : { timeoutMs }) });
  return { client, seen, hangNext: () => (hang = true) };
}

async function callAll(client: DiscoveryClient, options?: { timeoutMs?: number }) {
  return [
    (await client.registerColony({ meshId: "m", pubkey: "k", endpoints: ["e:1"] }, options)).success,
    (await client.lookupColony({ meshId: "m" }, options)).meshId,
    (await client.registerAgent({ agentId: "a", meshId: "m", pubkey: "k" }, options)).success,
    (await client.lookupAgent({ agentId: "a", meshId: "m" }, options)).agentId,
    (await client.requestRelay({ meshId: "m" }, options)).sessionId,
    (await client.releaseRelay({ sessionId: "s1" }, options)).success,
    (await client.health({}, options)).status,
    (await client.createBootstrapToken({ agentId: "a", colonyId: "c" }, options)).jwt,
    (await client.publishBootstrapRendezvous({ meshId: "m" }, options)).recordId,
    (await client.pollBootstrapRendezvous({ meshId: "m" }, options)).timedOut,
    (await client.ackBootstrapRendezvous({ meshId: "m", recordId: "R" }, options)).success,
  ];
}

const methods = [
  "registerColony",
  "lookupColony",
  "registerAgent",
  "lookupAgent",
  "requestRelay",
  "releaseRelay",
  "health",
  "createBootstrapToken",
  "publishBootstrapRendezvous",
  "pollBootstrapRendezvous",
  "ackBootstrapRendezvous",
];

t.test("every RPC wrapper answers the typed response and sends the default 10 s deadline", async (t) => {
  const { client, seen } = setup();
  t.same(await callAll(client), [true, "m", true, "a", "s1", true, "ok", "a.b.c", "R", true, true]);
  t.same(seen.map((s) => s.method), methods);
  for (const s of seen) t.ok(s.timeoutMs !== undefined && s.timeoutMs > 9_000 && s.timeoutMs <= 10_000, `${s.method}: deadline ${s.timeoutMs} ms`);
});

t.test("the client's timeoutMs and a call's own timeoutMs set the deadline", async (t) => {
  const { client, seen } = setup(2_500);
  await callAll(client);
  for (const s of seen) t.ok(s.timeoutMs !== undefined && s.timeoutMs > 2_000 && s.timeoutMs <= 2_500, `${s.method}: ${s.timeoutMs} ms`);
  seen.length = 0;
  await callAll(client, { timeoutMs: 700 });
  for (const s of seen) t.ok(s.timeoutMs !== undefined && s.timeoutMs > 200 && s.timeoutMs <= 700, `${s.method}: ${s.timeoutMs} ms`);
});

t.test("a rendezvous poll's default deadline covers its wait (at most 25 s); its own timeoutMs wins", async (t) => {
  const { client, seen } = setup(2_000);
  await client.pollBootstrapRendezvous({ meshId: "m", waitSeconds: 25 });
  await client.pollBootstrapRendezvous({ meshId: "m", waitSeconds: 3600 });
  await client.pollBootstrapRendezvous({ meshId: "m", waitSeconds: -1 });
  await client.pollBootstrapRendezvous({ meshId: "m", waitSeconds: 25 }, { timeoutMs: 500 });
  const deadlines = seen.map((s) => s.timeoutMs as number);
  t.ok(deadlines[0]! > 26_000 && deadlines[0]! <= 27_000, `wait 25 s: ${deadlines[0]} ms`);
  t.ok(deadlines[1]! > 26_000 && deadlines[1]! <= 27_000, `wait capped at 25 s: ${deadlines[1]} ms`);
  t.ok(deadlines[2]! > 1_000 && deadlines[2]! <= 2_000, `no wait: ${deadlines[2]} ms`);
  t.ok(deadlines[3]! > 0 && deadlines[3]! <= 500, `its own: ${deadlines[3]} ms`);
});

t.test("headers pass through", async (t) => {
  const { client, seen } = setup();
  await client.health({}, { headers: { authorization: "Bearer x" } });
  t.equal(seen[0]?.auth, "Bearer x");
});

t.test("a signal cancels a call with canceled", async (t) => {
  const { client, hangNext } = setup();
  hangNext();
  const controller = new AbortController();
  const call = client.lookupColony({ meshId: "m" }, { signal: controller.signal });
  setImmediate(() => controller.abort());
  await t.rejects(call, { code: Code.Canceled });
});

t.test("a call that outlives its timeoutMs fails with deadline_exceeded", async (t) => {
  const { client, hangNext } = setup();
  hangNext();
  const error = await client.health({}, { timeoutMs: 20 }).catch((e: unknown) => e);
  t.ok(error instanceof ConnectError);
  t.equal((error as ConnectError).code, Code.DeadlineExceeded);
});

t.test("createDiscoveryClient refuses bad options with the value", async (t) => {
  t.throws(() => createDiscoveryClient({ baseUrl: "discovery:8080" }), { name: "TypeError", message: 'baseUrl must be an absolute http:// or https:// URL, got "discovery:8080"' });
  t.throws(() => createDiscoveryClient({ baseUrl: "http://x", timeoutMs: 0 }), { name: "RangeError", message: /timeoutMs must be .* got 0/ });
  // @ts-expect-error: an unknown protocol from untyped config
  t.throws(() => createDiscoveryClient({ baseUrl: "http://x", protocol: "http" }), { message: /protocol must be one of connect, grpc, grpc-web, got "http"/ });
  t.ok(createDiscoveryClient({ baseUrl: "https://discovery.coral.io", protocol: "grpc-web", httpVersion: "2" }), "valid options build a client without connecting");
});

t.test("every response is safe to JSON.stringify: its proto3 JSON form, int64 as strings", async (t) => {
  const transport = createStubTransport({
    health: () => ({ status: "ok", version: "1.2.3", uptimeSeconds: 42n, registeredColonies: 2 }),
    registerColony: () => ({ success: true, ttl: 300, expiresAt: { seconds: 1_767_225_600n, nanos: 0 } }),
    lookupColony: (r) => ({ meshId: r.meshId }),
    registerAgent: () => ({ success: true }),
    lookupAgent: (r) => ({ agentId: r.agentId }),
    requestRelay: () => ({ sessionId: "s1" }),
    releaseRelay: () => ({ success: true }),
    createBootstrapToken: () => ({ jwt: "a.b.c", expiresAt: 1n }),
  });
  const client = createDiscoveryClient({ baseUrl: "http://discovery.test", transport });
  const health = await client.health({});
  t.equal(health.uptimeSeconds, 42n, "the typed value stays a BigInt");
  t.equal(JSON.stringify(health), '{"status":"ok","version":"1.2.3","uptimeSeconds":"42","registeredColonies":2}');
  t.notOk(Object.keys(health).includes("toJSON"), "toJSON is not an enumerable field");
  t.same(JSON.parse(JSON.stringify(await client.registerColony({ meshId: "m", pubkey: "k", endpoints: ["e:1"] }))), {
    success: true,
    ttl: 300,
    expiresAt: "2026-01-01T00:00:00Z",
  });
  const all = [
    await client.lookupColony({ meshId: "m" }),
    await client.registerAgent({ agentId: "a", meshId: "m", pubkey: "k" }),
    await client.lookupAgent({ agentId: "a", meshId: "m" }),
    await client.requestRelay({ meshId: "m" }),
    await client.releaseRelay({ sessionId: "s1" }),
    await client.createBootstrapToken({ agentId: "a", colonyId: "c" }),
  ];
  t.same(JSON.parse(JSON.stringify(all)), [{ meshId: "m" }, { success: true }, { agentId: "a" }, { sessionId: "s1" }, { success: true }, { jwt: "a.b.c", expiresAt: "1" }]);
});
