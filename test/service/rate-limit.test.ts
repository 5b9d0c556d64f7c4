import t from "tap";
import { Code, ConnectError } from "@connectrpc/connect";
import { DiscoveryService } from "../../gen/coral/discovery/v1/discovery_pb.js";
import { ServerReflection } from "../../gen/grpc/reflection/v1/reflection_pb.js";
import { chain, type Call } from "../../src/service/call.js";
import { contextOf } from "../fixtures/call.js";
import { createRateLimit, type RateLimits } from "../../src/service/rate-limit.js";
import { createFakeClock } from "../fixtures/clock.js";

const NOBODY_EXEMPT = () => false;

const KINDS = {
  register: ["RegisterColony", "RegisterAgent", "RequestRelay", "ReleaseRelay", "PublishBootstrapRendezvous", "AckBootstrapRendezvous"],
  lookup: ["LookupColony", "LookupAgent", "Health", "PollBootstrapRendezvous", "ServerReflectionInfo"],
  token: ["CreateBootstrapToken"],
} as const;

const IP = "198.51.100.7";

/** The refusal `check` returned; throws (failing the test) when the call was allowed. */
function refusal(error: ConnectError | undefined): ConnectError {
  if (error === undefined) throw new Error("expected a refusal, but the call was allowed");
  return error;
}

t.test("every DiscoveryService RPC and the reflection stream are counted under one of three budgets", async (t) => {
  const all = [...KINDS.register, ...KINDS.lookup, ...KINDS.token].sort();
  const methods = [...DiscoveryService.methods, ...ServerReflection.methods].map((m) => m.name).sort();
  t.same(all, methods, "the three lists cover the services exactly");
});

t.test("each gRPC reflection request message takes a lookup token, from the budget lookups and Health share", async (t) => {
  const limit = createRateLimit({ register: { perSecond: 1, burst: 5 }, lookup: { perSecond: 0.001, burst: 3 }, token: { perSecond: 1, burst: 5 } }, createFakeClock().now, NOBODY_EXEMPT);
  t.equal(limit.check("ServerReflectionInfo", IP), undefined);
  t.equal(limit.check("ServerReflectionInfo", IP), undefined);
  t.equal(limit.check("Health", IP), undefined, "the third lookup token");
  const refused = refusal(limit.check("ServerReflectionInfo", IP));
  t.equal(refused.code, Code.ResourceExhausted);
  t.match(refused.rawMessage, /^rate limit exceeded: at most 0.001 lookups per second \(bursts of 3\)/);
  t.ok(refused.metadata.get("retry-after"), "with Retry-After");
  t.equal(limit.check("RegisterColony", IP), undefined, "the other budgets are untouched");
});

t.test("the RPCs of one kind share its budget and leave the other kinds' alone", async (t) => {
  const clock = createFakeClock();
  // Bursts equal to the number of RPCs of each kind, and no refill to speak of.
  const slow = (burst: number) => ({ perSecond: 0.001, burst });
  const limit = createRateLimit({ register: slow(6), lookup: slow(5), token: slow(1) }, clock.now, NOBODY_EXEMPT);
  for (const [kind, methods] of Object.entries(KINDS)) {
    for (const method of methods) t.equal(limit.check(method, IP), undefined, `${method} takes one of the ${kind} tokens`);
  }
  for (const [kind, methods] of Object.entries(KINDS)) {
    for (const method of methods) t.equal(limit.check(method, IP)?.code, Code.ResourceExhausted, `${method}: the ${kind} budget is spent`);
  }
});

t.test("a method outside the service's list is never limited and takes no token", async (t) => {
  const limit = createRateLimit({ register: { perSecond: 1, burst: 1 }, lookup: { perSecond: 1, burst: 1 }, token: { perSecond: 1, burst: 1 } }, createFakeClock().now, NOBODY_EXEMPT);
  for (let i = 0; i < 5; i++) {
    for (const method of ["Check", "serverReflectionInfo", "registerColony", ""]) t.equal(limit.check(method, IP), undefined, `${JSON.stringify(method)} #${i + 1}`);
  }
  t.equal(limit.check("Health", IP), undefined, "the lookup budget is untouched");
});

t.test("a refusal is resource_exhausted, says the budget and when to retry, and carries Retry-After in seconds", async (t) => {
  const clock = createFakeClock();
  const limits: RateLimits = {
    register: { perSecond: 2, burst: 3 },
    lookup: { perSecond: 0.1, burst: 1 },
    token: { perSecond: 0.25, burst: 2 },
  };
  const limit = createRateLimit(limits, clock.now, NOBODY_EXEMPT);
  for (let i = 0; i < 3; i++) limit.check("RegisterColony", IP);
  const register = refusal(limit.check("RegisterAgent", IP));
  t.equal(register.code, Code.ResourceExhausted);
  t.equal(register.rawMessage, "rate limit exceeded: at most 2 registrations per second (bursts of 3) from one address; retry in 1s");
  t.equal(register.metadata.get("retry-after"), "1", "a 500 ms wait rounds up to the 1 s minimum");

  limit.check("LookupColony", IP);
  const lookup = refusal(limit.check("LookupColony", IP));
  t.equal(lookup.rawMessage, "rate limit exceeded: at most 0.1 lookups per second (bursts of 1) from one address; retry in 10s");
  t.equal(lookup.metadata.get("retry-after"), "10");
  clock.advance(2_500);
  const later = refusal(limit.check("Health", IP));
  t.equal(later.metadata.get("retry-after"), "8", "7.5 s left, rounded up");
  t.match(later.rawMessage, /retry in 8s$/);

  limit.check("CreateBootstrapToken", IP);
  limit.check("CreateBootstrapToken", IP);
  const token = refusal(limit.check("CreateBootstrapToken", IP));
  t.equal(token.rawMessage, "rate limit exceeded: at most 0.25 token requests per second (bursts of 2) from one address; retry in 4s");
  t.equal(token.metadata.get("retry-after"), "4");
});

t.test("budgets refill on the injected clock, without waiting", async (t) => {
  const clock = createFakeClock();
  const limit = createRateLimit({ register: { perSecond: 1, burst: 1 }, lookup: { perSecond: 1, burst: 2 }, token: { perSecond: 1, burst: 1 } }, clock.now, NOBODY_EXEMPT);
  t.equal(limit.check("Health", IP), undefined);
  t.equal(limit.check("Health", IP), undefined);
  t.ok(limit.check("Health", IP), "burst of 2 spent");
  clock.advance(999);
  t.ok(limit.check("Health", IP), "not a whole token after 999 ms");
  clock.advance(1);
  t.equal(limit.check("Health", IP), undefined, "one token after 1 s");
  t.ok(limit.check("Health", IP), "and only one");
  clock.advance(60_000);
  t.equal(limit.check("Health", IP), undefined);
  t.equal(limit.check("Health", IP), undefined);
  t.ok(limit.check("Health", IP), "a long pause refills up to the burst, no more");
});

t.test("each client address has its own budget; unknown callers share one; an IPv6 /64 counts as one address", async (t) => {
  const one = { perSecond: 0.001, burst: 1 };
  const limit = createRateLimit({ register: one, lookup: one, token: one }, createFakeClock().now, NOBODY_EXEMPT);
  t.equal(limit.check("Health", "198.51.100.1"), undefined);
  t.ok(limit.check("Health", "198.51.100.1"));
  t.equal(limit.check("Health", "198.51.100.2"), undefined, "another IPv4 address");
  t.equal(limit.check("Health", undefined), undefined, "an unknown caller");
  t.ok(limit.check("Health", undefined), "another unknown caller shares its budget");
  t.equal(limit.check("Health", "2001:db8:1:2::1"), undefined);
  t.ok(limit.check("Health", "2001:db8:1:2:ffff:ffff:ffff:ffff"), "same /64");
  t.equal(limit.check("Health", "2001:db8:1:3::1"), undefined, "the next /64");
});

t.test("prune drops the idle buckets of all three kinds and says how many", async (t) => {
  const clock = createFakeClock();
  const start = clock.now();
  // Refilled after 1 s, 10 s and 60 s of idleness.
  const limit = createRateLimit(
    { register: { perSecond: 1, burst: 1 }, lookup: { perSecond: 1, burst: 10 }, token: { perSecond: 1 / 60, burst: 1 } },
    clock.now,
    NOBODY_EXEMPT,
  );
  limit.check("RegisterColony", "198.51.100.1");
  limit.check("LookupColony", "198.51.100.2");
  limit.check("Health", "198.51.100.3");
  limit.check("CreateBootstrapToken", "198.51.100.4");
  t.equal(limit.prune(start), 0, "nothing idle yet");
  t.equal(limit.prune(start + 999), 0);
  t.equal(limit.prune(start + 1_000), 1, "the register bucket");
  t.equal(limit.prune(start + 10_000), 2, "the two lookup buckets");
  t.equal(limit.prune(start + 60_000), 1, "the token bucket");
  t.equal(limit.prune(start + 120_000), 0, "nothing left");
});

t.test("the step refuses over-budget calls before the handler, per address, on the injected clock", async (t) => {
  const clock = createFakeClock();
  const one = { perSecond: 1, burst: 1 };
  const limit = createRateLimit({ register: one, lookup: one, token: one }, clock.now, NOBODY_EXEMPT);
  let handled = 0;
  const next = chain([limit.step], () => (handled++, { status: "ok" }));
  const method = DiscoveryService.method.health;
  const call = (ip: string | undefined): Call => ({
    method,
    rpc: "coral.discovery.v1.DiscoveryService/Health",
    input: {},
    ctx: contextOf({ clientIp: ip }),
  });
  t.same(await next(call(IP)), { status: "ok" }, "the first Health is allowed");
  const error = await next(call(IP)).catch((e: unknown) => e);
  t.ok(error instanceof ConnectError, "the second is refused");
  t.equal((error as ConnectError).code, Code.ResourceExhausted);
  t.equal((error as ConnectError).metadata.get("retry-after"), "1", "with Retry-After");
  t.equal(handled, 1, "the refused call never reached the handler");
  t.same(await next(call("198.51.100.8")), { status: "ok" }, "another address has its own budget");
  clock.advance(1_000);
  t.same(await next(call(IP)), { status: "ok" }, "the budget refills on createRateLimit's clock");
  t.equal(handled, 3);
});

t.test("an exempt address is never limited and takes no token; the others still are", async (t) => {
  const one = { perSecond: 0.001, burst: 1 };
  const limit = createRateLimit({ register: one, lookup: one, token: one }, createFakeClock().now, (ip) => ip === "127.0.0.1");
  for (let i = 0; i < 100; i++) t.equal(limit.check("RegisterAgent", "127.0.0.1"), undefined, `exempt call #${i + 1}`);
  t.equal(limit.check("RegisterAgent", "198.51.100.1"), undefined, "another address has its burst");
  t.equal(limit.check("RegisterAgent", "198.51.100.1")?.code, Code.ResourceExhausted, "and is limited after it");
  t.equal(limit.check("RegisterAgent", undefined), undefined, "an unknown address is not exempt: it has the shared budget");
  t.equal(limit.check("RegisterAgent", undefined)?.code, Code.ResourceExhausted);
});
