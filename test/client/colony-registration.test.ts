import t from "tap";
import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { RegisterColonyResponseSchema, type RegisterColonyRequest } from "../../gen/coral/discovery/v1/discovery_pb.js";
import { startColonyRegistration } from "../../src/client/colony-registration.js";
import { createDiscoveryClient, type ColonyRegistration, type ColonyRegistrationEvents } from "../../src/client/index.js";
import { createFakeClock } from "../fixtures/clock.js";
import { createManualTimers } from "../fixtures/manual-timers.js";
import { aborted, createStubTransport } from "../fixtures/stub-discovery.js";

const colony = { meshId: "my-app-prod", pubkey: "colony-key", endpoints: ["203.0.113.42:41820"] };
const unavailable = () => new ConnectError("discovery is down", Code.Unavailable);

/**
 * A client whose RegisterColony is `answer(n)` for call number n (1-based):
 * returning a TTL in seconds means success, throwing means failure.
 */
function setup(answer: (n: number, signal: AbortSignal) => Promise<number> | number, timeoutMs?: number) {
  const clock = createFakeClock();
  const timers = createManualTimers(clock);
  const calls: { atMs: number; request: RegisterColonyRequest }[] = [];
  const transport = createStubTransport({
    async registerColony(request, ctx) {
      calls.push({ atMs: clock.now(), request });
      const ttl = await answer(calls.length, ctx.signal);
      return { success: true, ttl, expiresAt: timestampFromMs(clock.now() + ttl * 1000) };
    },
  });
  const client = createDiscoveryClient({ baseUrl: "http://discovery.test", transport, now: clock.now, timers, ...(timeoutMs === undefined ? {} : { timeoutMs }) });
  return { clock, timers, calls, client, startMs: clock.now() };
}

function record(handle: ColonyRegistration) {
  const log = { registered: [] as ColonyRegistrationEvents["registered"][], error: [] as ConnectError[], retry: [] as ColonyRegistrationEvents["retry"][] };
  handle.on("registered", (res) => log.registered.push(res));
  handle.on("error", (err) => log.error.push(err));
  handle.on("retry", (info) => log.retry.push(info));
  return log;
}

t.test("a round retries unavailable 1 s, 2 s, 4 s, 8 s apart, registers, and renews intervalMs after it started", async (t) => {
  const { timers, calls, client, startMs } = setup((n) => {
    if (n <= 4) throw unavailable();
    return 300;
  });
  const handle = client.startColonyRegistration({ ...colony, metadata: { region: "eu" } });
  const log = record(handle);
  t.teardown(() => handle.stop());

  await timers.settle();
  t.equal(calls.length, 1, "the first attempt runs at once");
  const waits = [await timers.next(), await timers.next(), await timers.next(), await timers.next()];
  t.same(waits, [1000, 2000, 4000, 8000], "backoff between attempts");
  t.same(calls.map((c) => c.atMs - startMs), [0, 1000, 3000, 7000, 15_000], "attempt times");
  t.same(log.retry.map((r) => [r.attempt, r.delayMs, r.error.code]), [
    [1, 1000, Code.Unavailable],
    [2, 2000, Code.Unavailable],
    [3, 4000, Code.Unavailable],
    [4, 8000, Code.Unavailable],
  ]);
  t.equal(log.registered.length, 1);
  t.equal(log.error.length, 0, "a round that succeeds in the end is no error");
  t.same(handle.status(), { registered: true, expiresAt: new Date(startMs + 15_000 + 300_000), lastError: undefined, rounds: 1 });

  t.equal(await timers.next(), 45_000, "the next round is due 60 s after the previous round started");
  t.equal(calls.length, 6);
  t.equal(calls[5]?.atMs, startMs + 60_000);
  t.same(calls[5]?.request.metadata, { region: "eu" }, "every round sends the whole request again");
  t.equal(calls[5]?.request.pubkey, colony.pubkey);
  t.equal(handle.status().rounds, 2);
});

t.test("a round that fails 5 times emits error; the next round runs at the interval and clears it", async (t) => {
  const { timers, calls, client, startMs } = setup((n) => {
    if (n <= 5) throw unavailable();
    return 300;
  });
  const handle = client.startColonyRegistration(colony);
  const log = record(handle);
  t.teardown(() => handle.stop());

  for (let i = 0; i < 4; i++) await timers.next();
  t.equal(calls.length, 5, "5 attempts in the round");
  t.equal(log.retry.length, 4, "4 waits: no wait after the last attempt");
  t.equal(log.error.length, 1, "one error event for the failed round");
  t.equal(log.error[0]?.code, Code.Unavailable);
  t.match(log.error[0]?.rawMessage, /discovery is down/);
  const failed = handle.status();
  t.equal(failed.registered, false);
  t.equal(failed.lastError, log.error[0]);
  t.equal(failed.rounds, 1);

  t.equal(await timers.next(), 45_000);
  t.equal(calls.length, 6, "the loop goes on after a failed round");
  t.equal(calls[5]?.atMs, startMs + 60_000);
  t.equal(log.registered.length, 1);
  t.equal(handle.status().lastError, undefined, "success clears lastError");
  t.equal(handle.status().registered, true);
});

t.test("invalid_argument and already_exists end the round at once, and the loop goes on", async (t) => {
  const { timers, calls, client, startMs } = setup((n) => {
    if (n === 1) throw new ConnectError("at least one endpoint is required", Code.InvalidArgument);
    if (n === 2) throw new ConnectError("colony my-app-prod already registered with another pubkey (split-brain)", Code.AlreadyExists);
    return 300;
  });
  const handle = client.startColonyRegistration({ ...colony, intervalMs: 30_000 });
  const log = record(handle);
  t.teardown(() => handle.stop());

  await timers.settle();
  t.equal(calls.length, 1);
  t.same(log.error.map((e) => e.code), [Code.InvalidArgument]);
  t.equal(log.retry.length, 0, "invalid_argument is not retried");
  t.equal(await timers.next(), 30_000, "the next round waits for the interval, not 1 s");

  t.equal(calls.length, 2);
  t.same(log.error.map((e) => e.code), [Code.InvalidArgument, Code.AlreadyExists]);
  t.match(handle.status().lastError?.rawMessage, /already registered/);
  t.equal(log.retry.length, 0, "already_exists is not retried");
  t.equal(await timers.next(), 30_000);

  t.equal(calls.length, 3);
  t.same(calls.map((c) => c.atMs - startMs), [0, 30_000, 60_000]);
  t.equal(log.registered.length, 1);
  t.same(handle.status().rounds, 3);
});

t.test("already_exists after a success means the lease is no longer ours", async (t) => {
  const { timers, client } = setup((n) => {
    if (n === 2) throw new ConnectError("already registered (split-brain)", Code.AlreadyExists);
    return 300;
  });
  const handle = client.startColonyRegistration(colony);
  t.teardown(() => handle.stop());
  await timers.settle();
  t.equal(handle.status().registered, true);
  await timers.next();
  t.equal(handle.status().registered, false);
  t.equal(handle.status().lastError?.code, Code.AlreadyExists);
});

t.test("registered turns false when the lease runs out without a renewal", async (t) => {
  const { clock, timers, client } = setup((n) => {
    if (n > 1) throw unavailable();
    return 90;
  });
  const handle = client.startColonyRegistration({ ...colony, intervalMs: 60_000, retry: { attempts: 1 } });
  t.teardown(() => handle.stop());
  await timers.settle();
  t.equal(handle.status().registered, true);
  await timers.next(); // second round fails at 60 s
  t.equal(handle.status().registered, true, "the 90 s lease from the first round still runs");
  clock.advance(30_000);
  t.equal(handle.status().registered, false, "90 s after the first round the lease is over");
});

t.test("an answer without ttl leases until its expires_at; one with neither never counts as registered", async (t) => {
  const clock = createFakeClock();
  const timers = createManualTimers(clock);
  const answers = [
    create(RegisterColonyResponseSchema, { success: true, ttl: 0, expiresAt: timestampFromMs(clock.now() + 90_000) }),
    create(RegisterColonyResponseSchema, { success: true, ttl: 0 }),
  ];
  const handle = startColonyRegistration(
    { registerColony: async () => answers.shift() as (typeof answers)[number], now: clock.now, timers },
    { ...colony, intervalMs: 120_000 },
  );
  t.teardown(() => handle.stop());
  await timers.settle();
  t.same(handle.status(), { registered: true, expiresAt: new Date(clock.now() + 90_000), lastError: undefined, rounds: 1 });
  clock.advance(89_999);
  t.equal(handle.status().registered, true, "still before expires_at");
  clock.advance(1);
  t.equal(handle.status().registered, false, "the lease ended at expires_at");
  await timers.next();
  t.same(handle.status(), { registered: false, expiresAt: undefined, lastError: undefined, rounds: 2 }, "nothing tells when a lease without either would end");
});

t.test("stop() cancels a pending retry: no more calls afterwards", async (t) => {
  const { timers, calls, client } = setup(() => {
    throw unavailable();
  });
  // No listeners at all: an unheard error event must not crash anything.
  const handle = client.startColonyRegistration(colony);
  await timers.settle();
  t.equal(calls.length, 1);
  t.equal(timers.pending(), 1, "a retry is waiting");
  await handle.stop();
  t.equal(timers.pending(), 0, "stop() cleared the retry timer");
  await timers.advance(3_600_000);
  t.equal(calls.length, 1, "no call after stop()");
  t.equal(handle.status().rounds, 0, "the cut-short round does not count");
  await handle.stop(); // idempotent
});

t.test("stop() cancels an in-flight call and resolves when the loop has ended", async (t) => {
  let serverSawAbort = false;
  // A one-hour call deadline: only cancellation can end this call within the test.
  const { timers, calls, client } = setup(async (_n, signal) => {
    await aborted(signal);
    serverSawAbort = true;
    throw new ConnectError("client went away", Code.Canceled);
  }, 3_600_000);
  const handle = client.startColonyRegistration(colony);
  const log = record(handle);
  await timers.settle();
  t.equal(calls.length, 1, "the call is in flight");
  t.equal(timers.pending(), 0);
  const outcome = await Promise.race([handle.stop().then(() => "stopped"), timers.settle().then(() => "still running")]);
  t.equal(outcome, "stopped", "stop() resolves without waiting for the call's deadline");
  await timers.settle();
  t.ok(serverSawAbort, "the in-flight call was cancelled");
  t.same(log, { registered: [], error: [], retry: [] }, "cancellation is neither an error nor a retry");
  await timers.advance(3_600_000);
  t.equal(calls.length, 1, "no call after stop()");
  t.equal(timers.pending(), 0);
});

t.test("stop() during the wait between rounds ends the loop", async (t) => {
  const { timers, calls, client } = setup(() => 300);
  const handle = client.startColonyRegistration(colony);
  await timers.settle();
  await timers.next();
  t.equal(calls.length, 2);
  await handle.stop();
  t.equal(timers.pending(), 0);
  await timers.advance(600_000);
  t.equal(calls.length, 2);
});

t.test("a listener that throws does not stop the loop", async (t) => {
  const { timers, calls, client } = setup(() => 300);
  const handle = client.startColonyRegistration(colony);
  t.teardown(() => handle.stop());
  const uncaught: unknown[] = [];
  const onUncaught = (e: unknown) => uncaught.push(e);
  // tap installs its own handler; ours records the rethrown listener error.
  process.prependListener("uncaughtException", onUncaught);
  const originals = process.listeners("uncaughtException").filter((l) => l !== onUncaught);
  for (const l of originals) process.off("uncaughtException", l);
  try {
    handle.on("registered", () => {
      throw new Error("listener bug");
    });
    await timers.settle();
    await timers.next();
  } finally {
    process.off("uncaughtException", onUncaught);
    for (const l of originals) process.on("uncaughtException", l);
  }
  t.equal(calls.length, 2, "the next round still ran");
  t.match(uncaught, [{ message: "listener bug" }], "the listener's error surfaced, not swallowed");
});

t.test("options are checked before anything starts", async (t) => {
  const { calls, client } = setup(() => 300);
  t.throws(() => client.startColonyRegistration({ ...colony, intervalMs: 0 }), { name: "RangeError", message: /intervalMs must be .* got 0/ });
  t.throws(() => client.startColonyRegistration({ ...colony, retry: { attempts: 0 } }), { message: /retry.attempts must be an integer >= 1, got 0/ });
  t.throws(() => client.startColonyRegistration({ ...colony, retry: { delaysMs: [1000, -1] } }), { message: /retry.delaysMs\[1\]/ });
  t.equal(calls.length, 0);
});
