import t from "tap";
import { createSweeper, type Sweepable, type SweepCounts } from "../src/sweeper.js";
import { createFakeClock } from "./fixtures/clock.js";
import { createManualTimers } from "./fixtures/manual-timers.js";
import { until } from "./fixtures/wait.js";

/** A store with `backlog` expired entries of each kind, freed `budget` at a time; records each sweep call. */
function fakeStore(backlog: { colonies: number; agents: number; relaySessions: number }) {
  const calls: { nowMs: number; budget: number }[] = [];
  const left = { ...backlog };
  const store: Sweepable = {
    sweep(nowMs, budget) {
      calls.push({ nowMs, budget });
      const take = (kind: keyof typeof left) => {
        const n = Math.min(budget, left[kind]);
        left[kind] -= n;
        return n;
      };
      const colonies = take("colonies");
      const agents = take("agents");
      const relaySessions = take("relaySessions");
      return { colonies, agents, relaySessions, complete: colonies < budget && agents < budget && relaySessions < budget };
    },
  };
  return { store, calls, left, refill: (more: Partial<typeof left>) => Object.assign(left, { ...left, ...more }) };
}

function setup(backlog = { colonies: 0, agents: 0, relaySessions: 0 }, budget = 10, realElapsed = false) {
  const clock = createFakeClock();
  const timers = createManualTimers(clock);
  const store = fakeStore(backlog);
  const logged: { obj: object; msg: string }[] = [];
  const swept: { removed: SweepCounts; turns: number; durationMs: number }[] = [];
  let intervals = 0;
  // Each reading of the duration clock is 5 ms after the previous one.
  let readings = 0;
  const sweeper = createSweeper({
    store: store.store,
    now: clock.now,
    intervalMs: 60_000,
    budget,
    timers,
    log: { info: (obj, msg) => logged.push({ obj, msg }), warn: (obj, msg) => logged.push({ obj, msg }) },
    onInterval: () => intervals++,
    onSwept: (removed, turns, durationMs) => swept.push({ removed: { ...removed }, turns, durationMs }),
    ...(realElapsed ? {} : { elapsedNow: () => 5 * readings++ }),
  });
  return { clock, timers, store, logged, swept, sweeper, intervals: () => intervals };
}

t.test("nothing happens before the first interval; then a sweep runs every intervalMs", async (t) => {
  const { timers, store, clock, sweeper, intervals } = setup();
  t.equal(store.calls.length, 0, "no sweep at start");
  t.same(timers.scheduled, [60_000]);
  await timers.advance(59_999);
  t.equal(store.calls.length, 0);
  await timers.advance(1);
  t.equal(store.calls.length, 1, "first sweep at intervalMs");
  t.equal(store.calls[0]?.nowMs, clock.now(), "the sweep reads the clock");
  t.equal(intervals(), 1, "onInterval runs with each tick");
  await timers.advance(60_000 * 3);
  t.equal(store.calls.length, 4, "one per interval");
  t.equal(intervals(), 4);
  sweeper.stop();
});

t.test("a backlog is freed budget entries per kind per turn, across turns, and logged once", async (t) => {
  const { timers, store, logged, swept, sweeper } = setup({ colonies: 25, agents: 3, relaySessions: 0 }, 10);
  t.equal(await timers.next(), 60_000, "the tick");
  t.equal(store.calls.length, 1, "the first turn runs at the tick");
  t.ok(store.calls.every((c) => c.budget === 10));
  t.equal(timers.pending(), 2, "the next turn and the next tick are scheduled");
  t.equal(await timers.next(), 0, "the next turn is due at once (another event-loop turn)");
  t.equal(await timers.next(), 0);
  t.equal(store.calls.length, 3, "25 colonies take three turns of 10");
  t.same(store.left, { colonies: 0, agents: 0, relaySessions: 0 });
  t.same(logged, [{ obj: { colonies: 25, agents: 3, relaySessions: 0, turns: 3, durationMs: 5 }, msg: "swept expired leases" }]);
  t.same(swept, [{ removed: { colonies: 25, agents: 3, relaySessions: 0 }, turns: 3, durationMs: 5 }]);
  t.equal(timers.pending(), 1, "only the next tick is left");
  sweeper.stop();
});

t.test("a sweep that removes nothing logs nothing but still reports", async (t) => {
  const { timers, logged, swept, sweeper } = setup();
  await timers.advance(60_000);
  t.same(logged, []);
  t.same(swept, [{ removed: { colonies: 0, agents: 0, relaySessions: 0 }, turns: 1, durationMs: 5 }]);
  sweeper.stop();
});

t.test("a tick while a sweep is still in progress does not start a second one; stop ends it between turns", async (t) => {
  const { timers, store, clock, sweeper, swept, intervals } = setup({ colonies: 1_000, agents: 0, relaySessions: 0 }, 1);
  // Each turn costs a second of (fake) time, so the sweep outlasts the interval.
  const sweep = store.store.sweep.bind(store.store);
  store.store.sweep = (nowMs, budget) => {
    clock.advance(1_000);
    return sweep(nowMs, budget);
  };
  t.equal(await timers.next(), 60_000, "the first tick starts a sweep");
  const first = sweeper.sweepNow();
  t.equal(sweeper.sweepNow(), first, "sweepNow joins the sweep in progress");
  while (intervals() < 2) await timers.next();
  t.equal(intervals(), 2, "the second tick came");
  t.same(swept, [], "the first sweep is still running");
  t.equal(timers.pending(), 2, "one chain of turns and the next tick: no second sweep");
  const calls = store.calls.length;
  await timers.next();
  t.equal(store.calls.length, calls + 1, "one turn at a time");
  sweeper.stop();
  const counts = await first;
  t.equal(counts.colonies, calls + 1, "stop ends the sweep with what it removed");
  t.equal(swept.length, 1, "and reports it");
  await timers.settle();
  t.equal(timers.pending(), 0, "stop clears the tick and the next turn");
  t.equal(store.calls.length, calls + 1, "no turn runs after stop");
});

t.test("sweepNow sweeps at once and resolves with what it removed", async (t) => {
  const { sweeper, store } = setup({ colonies: 2, agents: 1, relaySessions: 4 });
  const counts = await sweeper.sweepNow();
  t.same(counts, { colonies: 2, agents: 1, relaySessions: 4 });
  t.equal(store.calls.length, 1);
  sweeper.stop();
  t.same(await sweeper.sweepNow(), { colonies: 0, agents: 0, relaySessions: 0 }, "a stopped sweeper sweeps no more");
  t.equal(store.calls.length, 1);
});

t.test("stop clears the timer; calling it twice is harmless", async (t) => {
  const { timers, store, sweeper } = setup();
  sweeper.stop();
  sweeper.stop();
  t.equal(timers.pending(), 0);
  await timers.advance(600_000);
  t.equal(store.calls.length, 0);
});

t.test("without an injected clock, a sweep's duration is measured with performance.now", async (t) => {
  const { timers, swept, sweeper } = setup({ colonies: 1, agents: 0, relaySessions: 0 }, 10, true);
  await timers.next();
  t.equal(swept.length, 1);
  const duration = swept[0]?.durationMs ?? -1;
  t.ok(duration >= 0 && duration < 1_000, `a real, small duration (${duration} ms)`);
  sweeper.stop();
});

t.test("a store that fails to sweep (out of reach) is logged and tried again at the next interval", async (t) => {
  const clock = createFakeClock();
  const timers = createManualTimers(clock);
  const warned: string[] = [];
  let fail = true;
  let calls = 0;
  const sweeper = createSweeper({
    store: {
      async sweep() {
        calls++;
        if (fail) throw new Error("the state store is unreachable");
        return { colonies: 1, agents: 0, relaySessions: 0, complete: true };
      },
    },
    now: clock.now,
    intervalMs: 1_000,
    budget: 10,
    timers,
    log: { info: () => {}, warn: (obj, msg) => warned.push(`${msg}: ${String((obj as { err: Error }).err.message)}`) },
  });
  t.same(await sweeper.sweepNow(), { colonies: 0, agents: 0, relaySessions: 0 }, "nothing freed");
  t.same(warned, ["sweep failed: the state store is unreachable"]);
  fail = false;
  await timers.advance(1_000);
  await until(() => calls === 2, "the next sweep");
  t.same(await sweeper.sweepNow(), { colonies: 1, agents: 0, relaySessions: 0 }, "the next sweep works");
  sweeper.stop();
});

t.test("stopping while the store is answering a turn ends the sweep there", async (t) => {
  const clock = createFakeClock();
  const timers = createManualTimers(clock);
  let answer!: (value: { colonies: number; agents: number; relaySessions: number; complete: boolean }) => void;
  const sweeper = createSweeper({
    store: { sweep: () => new Promise((resolve) => (answer = resolve)) },
    now: clock.now,
    intervalMs: 1_000,
    budget: 10,
    timers,
    log: { info: () => {}, warn: () => {} },
  });
  const done = sweeper.sweepNow();
  sweeper.stop();
  t.same(await done, { colonies: 0, agents: 0, relaySessions: 0 }, "resolved at stop");
  answer({ colonies: 5, agents: 0, relaySessions: 0, complete: false });
  await new Promise((resolve) => setImmediate(resolve));
  t.equal(timers.pending(), 0, "no further turn (nor interval) is scheduled");
});
