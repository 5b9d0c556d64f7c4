import t from "tap";
import * as connect from "@connectrpc/connect";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import * as client from "../../src/client/index.js";
import * as backoff from "../../src/client/backoff.js";
import * as errors from "../../src/client/errors.js";
import { Code, ConnectError, createDiscoveryClient } from "../../src/client/index.js";
import { createFakeClock, type FakeClock } from "../fixtures/clock.js";
import { createManualTimers } from "../fixtures/manual-timers.js";
import { KEY_1, OWNER } from "../fixtures/keys.js";
import { startServer } from "../fixtures/server.js";
import { createStubTransport } from "../fixtures/stub-discovery.js";

const colony = { meshId: "mesh-a", pubkey: KEY_1, endpoints: ["203.0.113.42:41820"] };

interface LookupCall {
  meshId: string;
  atMs: number;
  timeoutMs: number | undefined;
  header: string | null;
}

/**
 * A client on a stub whose LookupColony answers `answer(n)` for call n (1-based,
 * an endpoint, or a thrown error) and whose RegisterColony grants a 300 s lease.
 */
function setup(answer: (n: number) => string = (n) => `203.0.113.${n}:41820`, clock: FakeClock = createFakeClock()) {
  const timers = createManualTimers(clock);
  const lookups: LookupCall[] = [];
  const registrations: { atMs: number; timeoutMs: number | undefined }[] = [];
  const transport = createStubTransport({
    lookupColony(request, ctx) {
      lookups.push({ meshId: request.meshId, atMs: clock.now(), timeoutMs: ctx.timeoutMs(), header: ctx.requestHeader.get("x-trace") });
      return { meshId: request.meshId, pubkey: KEY_1, endpoints: [answer(lookups.length)] };
    },
    registerColony(_request, ctx) {
      registrations.push({ atMs: clock.now(), timeoutMs: ctx.timeoutMs() });
      return { success: true, ttl: 300, expiresAt: timestampFromMs(clock.now() + 300_000) };
    },
  });
  return { clock, timers, lookups, registrations, transport };
}

const notFound = () => new ConnectError("colony mesh-a not found", Code.NotFound);

t.test("the client offers the raw RPCs, with lookupColony overloaded, plus registration, findColony and invalidate", async (t) => {
  const { transport } = setup();
  const discovery = createDiscoveryClient({ baseUrl: "http://unused.test", transport });
  t.same(Object.keys(discovery).sort(), [
    "ackBootstrapRendezvous",
    "createBootstrapToken",
    "findColony",
    "health",
    "invalidate",
    "lookupAgent",
    "lookupColony",
    "pollBootstrapRendezvous",
    "publishBootstrapRendezvous",
    "registerAgent",
    "registerColony",
    "releaseRelay",
    "requestRelay",
    "startColonyRegistration",
  ]);
  for (const [name, value] of Object.entries(discovery)) t.type(value, "function", name);
});

t.test("timeoutMs defaults to 10 s and must be a finite number of at least 1 ms, transport or not", async (t) => {
  const { transport, lookups } = setup();
  await createDiscoveryClient({ baseUrl: "http://unused.test", transport }).lookupColony({ meshId: "m" });
  const deadline = lookups[0]?.timeoutMs;
  t.ok(deadline !== undefined && deadline > 9_000 && deadline <= 10_000, `the default deadline is 10 s (${deadline} ms left on arrival)`);
  for (const timeoutMs of [0, 0.5, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
    t.throws(
      () => createDiscoveryClient({ baseUrl: "http://unused.test", transport, timeoutMs }),
      new RangeError(`timeoutMs must be a finite number >= 1, got ${String(timeoutMs)}`),
      `timeoutMs ${timeoutMs}`,
    );
  }
  t.ok(createDiscoveryClient({ baseUrl: "http://unused.test", transport, timeoutMs: 1 }), "1 ms is allowed");
});

t.test("a given transport is used as is: the transport options are not even checked", async (t) => {
  const { transport, lookups } = setup();
  // @ts-expect-error: nonsense transport options from untyped configuration
  const discovery = createDiscoveryClient({ baseUrl: "not a url", protocol: "carrier-pigeon", httpVersion: "3", transport });
  t.same((await discovery.lookupColony({ meshId: "m" })).endpoints, ["203.0.113.1:41820"]);
  t.equal(lookups.length, 1, "the call went to the given transport");
});

t.test("without a transport the client builds one from baseUrl, protocol, binary and httpVersion", async (t) => {
  t.throws(() => createDiscoveryClient({ baseUrl: "discovery:8080" }), { name: "TypeError", message: /^baseUrl must be an absolute http/ });
  // @ts-expect-error: an unknown protocol from untyped configuration
  t.throws(() => createDiscoveryClient({ baseUrl: "http://127.0.0.1:1", protocol: "http" }), { name: "RangeError", message: /^protocol must be one of/ });
  const server = await startServer(t);
  for (const options of [{}, { protocol: "grpc" as const }, { protocol: "grpc-web" as const, binary: false, httpVersion: "2" as const }]) {
    const discovery = createDiscoveryClient({ baseUrl: server.url, ...options });
    await discovery.registerColony(colony);
    t.same((await discovery.lookupColony({ meshId: colony.meshId })).endpoints, colony.endpoints, `served over ${JSON.stringify(options)}`);
  }
});

t.test("lookupColony(meshId) is findColony: one cache, filled and dropped by either name", async (t) => {
  const { lookups, transport, clock } = setup();
  const discovery = createDiscoveryClient({ baseUrl: "http://unused.test", transport, now: clock.now });
  const found = await discovery.findColony("mesh-a");
  t.equal(await discovery.lookupColony("mesh-a"), found, "lookupColony(meshId) answers findColony's cached colony");
  t.equal(lookups.length, 1);
  discovery.invalidate("mesh-a");
  const looked = await discovery.lookupColony("mesh-a");
  t.equal(lookups.length, 2, "invalidate dropped the entry for lookupColony(meshId) too");
  t.equal(await discovery.findColony("mesh-a"), looked, "and findColony is served what lookupColony(meshId) cached");
  t.same(await discovery.lookupColony("mesh-a", { cacheTtlMs: 0 }).then((c) => c.endpoints), ["203.0.113.3:41820"], "its FindColonyOptions are honoured");
  t.equal(lookups.length, 3);
});

t.test("lookupColony(meshId) retries with the client's timers and random; lookupColony(request) is one raw call", async (t) => {
  const { lookups, transport, clock, timers } = setup((n) => {
    if (n === 1 || n === 3) throw notFound();
    return "203.0.113.9:41820";
  });
  const discovery = createDiscoveryClient({ baseUrl: "http://unused.test", transport, now: clock.now, timers, random: () => 0 });

  const retries: number[] = [];
  const cached = discovery.lookupColony("mesh-a", { onRetry: ({ delayMs }) => retries.push(delayMs) });
  await timers.next();
  t.same((await cached).endpoints, ["203.0.113.9:41820"]);
  t.same(retries, [1600], "not_found was retried after 2 s - 20 % (random 0), on the client's timers");
  t.equal(lookups.length, 2);

  const raw = await discovery.lookupColony({ meshId: "mesh-a" }).catch((e: unknown) => e);
  t.ok(raw instanceof ConnectError && raw.code === Code.NotFound, "the request form answers the service's not_found");
  t.equal(lookups.length, 3, "with one call");
  await timers.settle();
  t.equal(timers.pending(), 0, "and no retry scheduled");

  await discovery.lookupColony({ meshId: "mesh-a" }, { timeoutMs: 700, headers: { "x-trace": "abc" } });
  t.equal(lookups.length, 4, "the request form skips the cache");
  t.equal(lookups[3]?.header, "abc", "its RpcOptions headers are sent");
  const deadline = lookups[3]?.timeoutMs;
  t.ok(deadline !== undefined && deadline <= 700 && deadline > 200, `and its timeoutMs (${deadline} ms)`);
});

t.test("startColonyRegistration runs on the client's clock, timers and deadline", async (t) => {
  const { registrations, transport, clock, timers } = setup();
  const discovery = createDiscoveryClient({ baseUrl: "http://unused.test", transport, now: clock.now, timers, timeoutMs: 2_500 });
  const registration = discovery.startColonyRegistration({ ...colony, intervalMs: 30_000 });
  t.teardown(() => registration.stop());
  await timers.settle();
  t.equal(registrations.length, 1, "the first round ran at once");
  const deadline = registrations[0]?.timeoutMs;
  t.ok(deadline !== undefined && deadline <= 2_500 && deadline > 2_000, `with the client's timeoutMs (${deadline} ms)`);
  t.same(timers.scheduled, [30_000], "the next round waits on the client's timers");
  t.equal(registration.status().registered, true);
  clock.advance(300_000);
  t.equal(registration.status().registered, false, "the lease is timed by the client's clock");
  await registration.stop();
});

t.test("by default the client takes Date.now and Math.random as they are when it is created", async (t) => {
  const clock = createFakeClock();
  const { lookups, transport, timers } = setup((n) => {
    if (n === 1) throw notFound();
    return `203.0.113.${n}:41820`;
  }, clock);
  const realNow = Date.now;
  const realRandom = Math.random;
  let discovery: client.DiscoveryClient;
  Date.now = clock.now;
  Math.random = () => 0.999_999;
  try {
    discovery = createDiscoveryClient({ baseUrl: "http://unused.test", transport, timers });
  } finally {
    Date.now = realNow;
    Math.random = realRandom;
  }
  const retries: number[] = [];
  const first = discovery.findColony("mesh-a", { onRetry: ({ delayMs }) => retries.push(delayMs) });
  await timers.next();
  await first;
  t.same(retries, [2400], "the jitter came from Math.random (2 s + 20 %)");
  clock.advance(299_999);
  await discovery.findColony("mesh-a");
  t.equal(lookups.length, 2, "still cached by Date.now's clock");
  clock.advance(1);
  await discovery.findColony("mesh-a");
  t.equal(lookups.length, 3, "stale after 300 s by Date.now's clock");
});

t.test("by default retry waits run on Node's timers", async (t) => {
  const { lookups, transport } = setup((n) => {
    if (n === 1) throw notFound();
    return "203.0.113.2:41820";
  });
  const discovery = createDiscoveryClient({ baseUrl: "http://unused.test", transport });
  // A zero wait: Node's setTimeout fires it on the next timers phase, no real sleep.
  const colonyFound = await discovery.findColony("mesh-a", { retry: { initialDelayMs: 0, jitter: 0 } });
  t.same(colonyFound.endpoints, ["203.0.113.2:41820"]);
  t.equal(lookups.length, 2);
});

t.test("the package entry re-exports Connect's error types and the retry rules", async (t) => {
  t.equal(client.Code, connect.Code);
  t.equal(client.ConnectError, connect.ConnectError);
  t.equal(client.backoffDelayMs, backoff.backoffDelayMs);
  t.equal(client.scheduledDelayMs, backoff.scheduledDelayMs);
  t.equal(client.defaultBackoffPolicy, backoff.defaultBackoffPolicy);
  t.equal(client.isRetryableLookupError, errors.isRetryableLookupError);
  t.equal(client.isFinalRegistrationError, errors.isFinalRegistrationError);
  t.same(Object.keys(client).sort(), [
    "Code",
    "ConnectError",
    "backoffDelayMs",
    "createDiscoveryClient",
    "defaultBackoffPolicy",
    "isFinalRegistrationError",
    "isRetryableLookupError",
    "scheduledDelayMs",
  ], "and no other value");
});

t.test("wireguardPrivateKey: every registration is proven, against a real server (key read from its document) or a pinned key", async (t) => {
  const server = await startServer(t);
  const discovery = createDiscoveryClient({ baseUrl: server.url, wireguardPrivateKey: OWNER.private });
  await discovery.registerColony({ meshId: "owned", endpoints: ["203.0.113.42:41820"] });
  t.equal(server.registry.lookupColony("owned")?.proven, true, "proven, with the pubkey filled in");
  t.equal(server.registry.lookupColony("owned")?.pubkey, OWNER.public);
  const plain = createDiscoveryClient({ baseUrl: server.url });
  const refused = await plain.registerColony({ meshId: "owned", pubkey: OWNER.public, endpoints: ["6.6.6.6:6"] }).catch((e: ConnectError) => e);
  t.equal((refused as ConnectError).code, Code.PermissionDenied, "a client without the key cannot renew it");

  const seen: (string | null)[] = [];
  const transport = createStubTransport({
    registerColony(_request, ctx) {
      seen.push(ctx.requestHeader.get("coral-registration-proof"));
      return { success: true };
    },
  });
  const pinned = createDiscoveryClient({ baseUrl: "http://unused.test", transport, wireguardPrivateKey: OWNER.private, servicePublicKey: OWNER.public });
  await pinned.registerColony({ meshId: "m", endpoints: ["203.0.113.42:41820"] });
  t.match(seen, [/^v1\.\d+\.[A-Za-z0-9_-]{43}$/]);
  t.throws(() => createDiscoveryClient({ baseUrl: "http://unused.test", transport, wireguardPrivateKey: OWNER.private }), {
    name: "RangeError",
    message: /needs servicePublicKey, or baseUrl/,
  }, "a custom transport has no URL to read the document from");
});
