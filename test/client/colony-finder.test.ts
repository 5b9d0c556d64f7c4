import t from "tap";
import { createServer } from "node:net";
import { Code, ConnectError } from "@connectrpc/connect";
import { createColonyFinder } from "../../src/client/colony-finder.js";
import { createDiscoveryClient, type FindColonyOptions } from "../../src/client/index.js";
import { createFakeClock } from "../fixtures/clock.js";
import { createManualTimers } from "../fixtures/manual-timers.js";
import { aborted, createStubTransport } from "../fixtures/stub-discovery.js";

/**
 * A client whose LookupColony is `answer(n, meshId)` for call number n
 * (1-based): it returns the colony's endpoint or throws. `randoms` feeds the jitter.
 */
function setup(answer: (n: number, meshId: string) => string, randoms: number[] = []) {
  const clock = createFakeClock();
  const timers = createManualTimers(clock);
  const calls: { atMs: number; meshId: string }[] = [];
  const transport = createStubTransport({
    lookupColony(request) {
      calls.push({ atMs: clock.now(), meshId: request.meshId });
      const endpoint = answer(calls.length, request.meshId);
      return { meshId: request.meshId, pubkey: "colony-key", endpoints: [endpoint] };
    },
  });
  const random = () => randoms.shift() ?? 0.5;
  const client = createDiscoveryClient({ baseUrl: "http://discovery.test", transport, now: clock.now, timers, random });
  return { clock, timers, calls, client, startMs: clock.now() };
}

const notFound = (meshId: string) => new ConnectError(`colony ${meshId} not found`, Code.NotFound);

async function rejection(promise: Promise<unknown>): Promise<ConnectError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(error instanceof ConnectError)) throw new Error(`expected a ConnectError, got ${String(error)}`);
  return error;
}

t.test("a second lookup within cacheTtlMs makes no RPC; after cacheTtlMs it does", async (t) => {
  const { clock, calls, client } = setup((n) => `203.0.113.${n}:41820`);
  t.same((await client.findColony("m")).endpoints, ["203.0.113.1:41820"]);
  clock.advance(299_999);
  t.same((await client.findColony("m")).endpoints, ["203.0.113.1:41820"], "served from the cache");
  t.equal(calls.length, 1);
  clock.advance(1);
  t.same((await client.findColony("m")).endpoints, ["203.0.113.2:41820"], "stale after 300 s: looked up again");
  t.equal(calls.length, 2);
  clock.advance(10_000);
  t.same((await client.findColony("m", { cacheTtlMs: 5_000 })).endpoints, ["203.0.113.3:41820"], "a shorter cacheTtlMs per call");
  t.same((await client.findColony("m", { cacheTtlMs: 0 })).endpoints, ["203.0.113.4:41820"], "cacheTtlMs 0 always asks");
  t.equal(calls.length, 4);
});

t.test("the cache is per meshId and invalidate drops one entry", async (t) => {
  const { calls, client } = setup((n, meshId) => `${meshId}-${n}:1`);
  await client.findColony("a");
  await client.findColony("b");
  t.equal(calls.length, 2, "another mesh is not served from a's entry");
  client.invalidate("a");
  t.same((await client.findColony("a")).endpoints, ["a-3:1"], "looked up again after invalidate");
  t.same((await client.findColony("b")).endpoints, ["b-2:1"], "b is still cached");
  t.equal(calls.length, 3);
  t.same(calls.map((c) => c.meshId), ["a", "b", "a"]);
});

t.test("failed lookups are not cached", async (t) => {
  const { calls, client } = setup((n, meshId) => {
    if (n === 1) throw new ConnectError("mesh_id is required", Code.InvalidArgument);
    return `${meshId}:1`;
  });
  await rejection(client.findColony("m"));
  await client.findColony("m");
  t.equal(calls.length, 2);
});

t.test("not_found is retried with delays growing by factor 2 within the jitter, then succeeds", async (t) => {
  // random 0 → -20 %, 1 → +20 %, 0.5 → exact, 0.25 → -10 %
  const { timers, calls, client, startMs } = setup((n, meshId) => {
    if (n <= 4) throw notFound(meshId);
    return "203.0.113.42:41820";
  }, [0, 1, 0.5, 0.25]);
  const retries: [number, Code][] = [];
  const found = client.findColony("m", { onRetry: ({ delayMs, error }) => retries.push([delayMs, error.code]) });
  for (let i = 0; i < 4; i++) await timers.next();
  t.same((await found).endpoints, ["203.0.113.42:41820"]);
  t.same(timers.scheduled, [1600, 4800, 8000, 14_400], "2 s, 4 s, 8 s, 16 s, each within ±20 %");
  t.same(retries, timers.scheduled.map((d) => [d, Code.NotFound]), "onRetry sees each wait and its error");
  t.same(calls.map((c) => c.atMs - startMs), [0, 1600, 6400, 14_400, 28_800]);
  t.equal(timers.pending(), 0);
});

t.test("the waits are capped at maxDelayMs, jitter included", async (t) => {
  const { timers, client } = setup((n, meshId) => {
    if (n <= 5) throw new ConnectError("overloaded", Code.ResourceExhausted);
    return `${meshId}:1`;
  }, [0.5, 0.5, 1, 1, 0]);
  const found = client.findColony("m", { retry: { initialDelayMs: 1000, maxDelayMs: 5000, deadlineMs: 600_000 } });
  for (let i = 0; i < 5; i++) await timers.next();
  await found;
  t.same(timers.scheduled, [1000, 2000, 4800, 5000, 4000], "1 s, 2 s, 4 s +20 %, 8 s capped to 5 s (+20 % stays capped), 16 s capped to 5 s -20 %");
});

t.test("unavailable and deadline_exceeded are retried too", async (t) => {
  const { timers, calls, client } = setup((n, meshId) => {
    if (n === 1) throw new ConnectError("down", Code.Unavailable);
    if (n === 2) throw new ConnectError("slow", Code.DeadlineExceeded);
    return `${meshId}:1`;
  });
  const found = client.findColony("m");
  await timers.next();
  await timers.next();
  await found;
  t.equal(calls.length, 3);
});

t.test("gives up when the next wait would pass the deadline, with the last error", async (t) => {
  const { timers, calls, client, clock, startMs } = setup((n) => {
    throw new ConnectError(`down (attempt ${n})`, Code.Unavailable);
  });
  const found = rejection(client.findColony("m"));
  for (let i = 0; i < 4; i++) await timers.next();
  const error = await found;
  // Attempts at 0, 2, 6, 14, 30 s; the next wait (32 s) would end at 62 s > 60 s.
  t.same(calls.map((c) => c.atMs - startMs), [0, 2000, 6000, 14_000, 30_000]);
  t.equal(error.code, Code.Unavailable);
  t.equal(
    error.rawMessage,
    "down (attempt 5) (gave up after 5 attempts in 30 s: not_found, unavailable, deadline_exceeded, resource_exhausted and network errors are retried for up to 60 s)",
    "the last error, not the first, saying how long it was retried",
  );
  t.equal((error.cause as ConnectError).rawMessage, "down (attempt 5)", "the last error is its cause");
  t.equal(clock.now() - startMs, 30_000, "did not wait past the last attempt");
  t.equal(timers.pending(), 0);
});

t.test("deadlineMs 0 makes a single attempt", async (t) => {
  const { calls, client, timers } = setup((_n, meshId) => {
    throw notFound(meshId);
  });
  const error = await rejection(client.findColony("m", { retry: { deadlineMs: 0 } }));
  t.equal(error.code, Code.NotFound);
  t.match(error.rawMessage, /not found$/, "the error as it came: nothing was retried");
  t.equal(calls.length, 1);
  t.same(timers.scheduled, []);
});

t.test("a deadline shorter than the first wait gives up after one attempt, saying so", async (t) => {
  const { calls, client } = setup((_n, meshId) => {
    throw notFound(meshId);
  });
  const error = await rejection(client.findColony("m", { retry: { deadlineMs: 1000 } }));
  t.equal(error.code, Code.NotFound);
  t.match(error.rawMessage, /not found \(gave up after 1 attempt in 0 s: .* retried for up to 1 s\)$/);
  t.equal(calls.length, 1);
});

t.test("invalid_argument is never retried", async (t) => {
  const { calls, client, timers } = setup(() => {
    throw new ConnectError("mesh_id is required", Code.InvalidArgument);
  });
  const error = await rejection(client.findColony(""));
  t.equal(error.code, Code.InvalidArgument);
  t.equal(error.rawMessage, "mesh_id is required");
  t.equal(calls.length, 1);
  t.same(timers.scheduled, []);
});

t.test("other codes (permission_denied, internal) are not retried either", async (t) => {
  for (const code of [Code.PermissionDenied, Code.Internal, Code.Unimplemented]) {
    const { calls, client } = setup(() => {
      throw new ConnectError("no", code);
    });
    t.equal((await rejection(client.findColony("m"))).code, code);
    t.equal(calls.length, 1, `${Code[code]}: one attempt`);
  }
});

t.test("aborting the signal during a wait rejects with canceled and makes no more calls", async (t) => {
  const { timers, calls, client } = setup((_n, meshId) => {
    throw notFound(meshId);
  });
  const controller = new AbortController();
  const found = rejection(client.findColony("m", { signal: controller.signal }));
  await timers.settle();
  t.equal(timers.pending(), 1, "waiting to retry");
  controller.abort();
  const error = await found;
  t.equal(error.code, Code.Canceled);
  t.equal(timers.pending(), 0, "the wait's timer was cleared");
  await timers.advance(600_000);
  t.equal(calls.length, 1);
  t.equal((await rejection(client.findColony("m", { signal: controller.signal }))).code, Code.Canceled, "an aborted signal fails at once");
  t.equal(calls.length, 1);
});

t.test("an attempt that fails because the signal aborted rejects with canceled, not with its error, and is not retried", async (t) => {
  const timers = createManualTimers(createFakeClock());
  let calls = 0;
  // A transport that reports the hang-up as a network error, which on its own would be retried.
  const finder = createColonyFinder({
    lookupColony: (_request, options) => {
      calls++;
      return aborted(options?.signal as AbortSignal).then(() => {
        throw new ConnectError("connection reset", Code.Unavailable);
      });
    },
    now: () => 0,
    timers,
    random: () => 0.5,
  });
  const controller = new AbortController();
  const retries: number[] = [];
  const found = rejection(finder.find("m", { signal: controller.signal, onRetry: ({ attempt }) => retries.push(attempt) }));
  t.equal(calls, 1, "the attempt is in flight");
  const reason = new Error("agent shutting down");
  controller.abort(reason);
  const error = await found;
  t.equal(error.code, Code.Canceled);
  t.equal(error.cause, reason, "the abort reason is the cause");
  t.same(retries, [], "no retry announced after an abort");
  t.same(timers.scheduled, [], "no wait scheduled");
});

t.test("bad retry options are refused with the value", async (t) => {
  const { client } = setup(() => "x:1");
  const bad: [FindColonyOptions, RegExp][] = [
    [{ retry: { jitter: 2 } }, /retry.jitter must be between 0 and 1, got 2/],
    [{ retry: { factor: 0.5 } }, /retry.factor must be .*>= 1, got 0.5/],
    [{ cacheTtlMs: -1 }, /cacheTtlMs must be .*>= 0, got -1/],
  ];
  for (const [options, message] of bad) await t.rejects(client.findColony("m", options), { name: "RangeError", message });
});

t.test("a refused connection is a network error worth retrying", async (t) => {
  // A port that was just free: connecting to it is refused at once.
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
  const address = probe.address();
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  if (address === null || typeof address === "string") throw new Error("no TCP address");

  const clock = createFakeClock();
  const timers = createManualTimers(clock);
  const client = createDiscoveryClient({ baseUrl: `http://127.0.0.1:${address.port}`, now: clock.now, timers, random: () => 0.5 });
  const controller = new AbortController();
  const errors: ConnectError[] = [];
  const found = rejection(client.findColony("m", { signal: controller.signal, onRetry: ({ error }) => errors.push(error) }));
  for (let i = 0; i < 100 && timers.pending() === 0; i++) await timers.settle();
  t.same(timers.scheduled, [2000], "scheduled a retry after the refused connection");
  t.equal(errors[0]?.code, Code.Unavailable);
  controller.abort();
  t.equal((await found).code, Code.Canceled);
});

t.test("lookupColony(meshId) is the cached lookup; lookupColony({ meshId }) is one raw call", async (t) => {
  const { clock, calls, client } = setup(() => "203.0.113.1:41820");
  const first = await client.lookupColony("mesh-a", { cacheTtlMs: 60_000 });
  const second = await client.lookupColony("mesh-a", { cacheTtlMs: 60_000 });
  t.same(first.endpoints, ["203.0.113.1:41820"]);
  t.equal(second, first, "served from the cache");
  t.equal(calls.length, 1);
  await client.lookupColony({ meshId: "mesh-a" });
  await client.lookupColony({ meshId: "mesh-a" });
  t.equal(calls.length, 3, "the request form always calls the service");
  clock.advance(60_000);
  await client.lookupColony("mesh-a", { cacheTtlMs: 60_000 });
  t.equal(calls.length, 4, "after cacheTtlMs the cached form calls again");
});
