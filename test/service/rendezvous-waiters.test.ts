import t from "tap";
import { Code, ConnectError } from "@connectrpc/connect";
import { createWaiterSet } from "../../src/service/rendezvous-waiters.js";
import { createFakeClock } from "../fixtures/clock.js";
import { createManualTimers } from "../fixtures/manual-timers.js";

const LIMITS = { perMesh: 2, total: 3 };

function setup(limits = LIMITS) {
  const clock = createFakeClock();
  const timers = createManualTimers(clock);
  return { clock, timers, waiters: createWaiterSet(limits, timers) };
}

const never = () => new AbortController().signal;

t.test("a wait ends with timed_out after its time, holding one timer until then", async (t) => {
  const { timers, waiters } = setup();
  const ended = waiters.wait("m", 25_000, never());
  t.equal(waiters.size, 1);
  t.equal(waiters.countFor("m"), 1);
  t.equal(timers.pending(), 1, "one timer per waiter");
  t.equal(await timers.next(), 25_000);
  t.equal(await ended, "timed_out");
  t.equal(waiters.size, 0);
  t.equal(waiters.countFor("m"), 0);
});

t.test("wake ends every wait of its mesh at once, and only those", async (t) => {
  const { timers, waiters } = setup();
  const a = waiters.wait("m", 25_000, never());
  const b = waiters.wait("m", 10_000, never());
  const other = waiters.wait("n", 25_000, never());
  t.equal(waiters.wake("m"), 2);
  t.same(await Promise.all([a, b]), ["woken", "woken"]);
  t.equal(timers.pending(), 1, "their timers are cleared");
  t.equal(waiters.countFor("m"), 0);
  t.equal(waiters.countFor("n"), 1);
  t.equal(waiters.wake("m"), 0, "nothing left to wake");
  t.equal(waiters.releaseAll(), 1);
  t.equal(await other, "released");
  t.equal(waiters.size, 0);
  t.equal(timers.pending(), 0);
});

t.test("an abort (deadline, client gone) rejects with its reason and releases the waiter", async (t) => {
  const { timers, waiters } = setup();
  const controller = new AbortController();
  const waiting = waiters.wait("m", 25_000, controller.signal);
  const reason = new ConnectError("the operation timed out", Code.DeadlineExceeded);
  controller.abort(reason);
  await t.rejects(waiting, reason);
  t.equal(waiters.size, 0);
  t.equal(timers.pending(), 0, "its timer is cleared");
  t.equal(waiters.wake("m"), 0);
});

t.test("an already aborted signal is refused without holding anything", async (t) => {
  const { timers, waiters } = setup();
  const controller = new AbortController();
  controller.abort(new ConnectError("the client went away", Code.Canceled));
  await t.rejects(waiters.wait("m", 1_000, controller.signal), { code: Code.Canceled });
  t.equal(waiters.size, 0);
  t.equal(timers.pending(), 0);
});

t.test("caps per mesh and in all: resource_exhausted naming the flag, with Retry-After", async (t) => {
  const { waiters } = setup();
  void waiters.wait("m", 1_000, never());
  void waiters.wait("m", 1_000, never());
  const perMesh = (await waiters.wait("m", 1_000, never()).catch((e: unknown) => e)) as ConnectError;
  t.equal(perMesh.code, Code.ResourceExhausted);
  t.match(perMesh.rawMessage, /too many polls waiting on mesh m: at most 2 \(--rendezvous-max-polls-per-mesh\)/);
  t.equal(perMesh.metadata.get("retry-after"), "2");
  void waiters.wait("n", 1_000, never());
  const total = (await waiters.wait("o", 1_000, never()).catch((e: unknown) => e)) as ConnectError;
  t.equal(total.code, Code.ResourceExhausted);
  t.match(total.rawMessage, /at most 3 \(--rendezvous-max-polls\)/);
  t.equal(waiters.size, 3, "refusals hold nothing");
  waiters.releaseAll();
});

t.test("a wait ended twice (timer and wake in one turn) resolves once", async (t) => {
  const { waiters } = setup();
  const calls: (() => void)[] = [];
  const timers = { setTimeout: (cb: () => void) => (calls.push(cb), calls.length), clearTimeout: () => {} };
  const set = createWaiterSet(LIMITS, timers);
  const waiting = set.wait("m", 1_000, never());
  set.wake("m");
  calls[0]?.();
  t.equal(await waiting, "woken");
  t.equal(set.size, 0);
  t.equal(waiters.size, 0);
});
