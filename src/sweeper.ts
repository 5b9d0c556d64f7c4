// The only timer-driven state of the daemon: every `intervalMs` it frees
// expired leases, `budget` entries per kind per event-loop turn, so a large
// backlog never stalls requests (reads never return expired entries anyway;
// sweeping only frees memory).
import { performance } from "node:perf_hooks";
import type { Timers } from "./timers.js";

/** What one sweep of the store removed, by kind. */
export interface SweepCounts {
  colonies: number;
  agents: number;
  relaySessions: number;
}

/** The part of the lease store the sweeper drives. */
export interface Sweepable {
  /** Frees at most `budget` expired entries of each kind at `nowMs`; `complete` is false when more are left. */
  sweep(nowMs: number, budget: number): SweepCounts & { readonly complete: boolean } | Promise<SweepCounts & { readonly complete: boolean }>;
}

export interface SweeperOptions {
  readonly store: Sweepable;
  /** The clock, Unix ms. */
  readonly now: () => number;
  /** Time between sweeps, ms (`--cleanup-interval`). */
  readonly intervalMs: number;
  /** Entries of each kind freed per event-loop turn. */
  readonly budget: number;
  readonly timers: Timers;
  /** Receives one info line per sweep that removed something, with the counts. */
  readonly log: { info(obj: object, msg: string): void; warn(obj: object, msg: string): void };
  /** Runs at every interval before the sweep (housekeeping that shares the timer, e.g. pruning rate-limit buckets). */
  readonly onInterval?: () => void;
  /** Called after each sweep with what it removed, how many turns it took, and how long, ms (first turn to last). */
  readonly onSwept?: (removed: SweepCounts, turns: number, durationMs: number) => void;
  /** A monotonic clock in ms for sweep durations. Default `performance.now`. */
  readonly elapsedNow?: () => number;
}

export interface Sweeper {
  /** Sweeps now (unless a sweep is running); resolves with what was removed once the sweep is complete or stopped. */
  sweepNow(): Promise<SweepCounts>;
  /** Stops the timer and any sweep in progress (between turns). */
  stop(): void;
}

/** Starts sweeping every `intervalMs`; `stop()` it when the app closes. */
export function createSweeper(options: SweeperOptions): Sweeper {
  const { store, now, intervalMs, budget, timers, log } = options;
  const elapsedNow = options.elapsedNow ?? (() => performance.now());
  let stopped = false;
  let timer: unknown;
  /** The sweep in progress: its promise, the timer of its next turn, and how to end it early. */
  let current: { done: Promise<SweepCounts>; turnTimer: unknown; finish: () => void } | undefined;

  function sweep(): Promise<SweepCounts> {
    if (current !== undefined) return current.done;
    if (stopped) return Promise.resolve({ colonies: 0, agents: 0, relaySessions: 0 });
    const totals: SweepCounts = { colonies: 0, agents: 0, relaySessions: 0 };
    let turns = 0;
    const startedMs = elapsedNow();
    let resolveDone!: (counts: SweepCounts) => void;
    const sweepState = {
      done: new Promise<SweepCounts>((resolve) => {
        resolveDone = resolve;
      }),
      turnTimer: undefined as unknown,
      finish() {
        current = undefined;
        const durationMs = elapsedNow() - startedMs;
        if (totals.colonies + totals.agents + totals.relaySessions > 0) log.info({ ...totals, turns, durationMs }, "swept expired leases");
        options.onSwept?.(totals, turns, durationMs);
        resolveDone(totals);
      },
    };
    current = sweepState;
    const turn = async () => {
      turns++;
      let removed: SweepCounts & { readonly complete: boolean };
      try {
        removed = await store.sweep(now(), budget);
      } catch (error) {
        // A store out of reach (Redis down): nothing freed this time; the next interval tries again.
        log.warn({ err: error }, "sweep failed");
        if (current === sweepState) sweepState.finish();
        return;
      }
      if (current !== sweepState) return; // stopped while the store answered
      totals.colonies += removed.colonies;
      totals.agents += removed.agents;
      totals.relaySessions += removed.relaySessions;
      if (removed.complete) sweepState.finish();
      else sweepState.turnTimer = timers.setTimeout(() => void turn(), 0);
    };
    void turn();
    return sweepState.done;
  }

  const tick = () => {
    timer = timers.setTimeout(tick, intervalMs);
    options.onInterval?.();
    void sweep();
  };
  timer = timers.setTimeout(tick, intervalMs);

  return {
    sweepNow: sweep,
    stop() {
      if (stopped) return;
      stopped = true;
      timers.clearTimeout(timer);
      if (current !== undefined) {
        timers.clearTimeout(current.turnTimer);
        current.finish();
      }
    },
  };
}
