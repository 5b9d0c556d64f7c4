// The bootstrap rendezvous as configured: the record store (memory, or the
// shared Redis one with --redis-url), the waiting polls and the RPC handlers
// over them.
import type { Config } from "./config/index.js";
import { createAddressMatcher } from "./net/address.js";
import { tcpDialer, type Dialer } from "./net/probe.js";
import { createProbeQuota } from "./service/probe-quota.js";
import { createMemoryRendezvousStore, type MemoryRendezvousStore, type RendezvousStore, type SharedBudget } from "./registry/rendezvous.js";
import { createRendezvous, RENDEZVOUS_LIMITS, type RendezvousHandlers } from "./service/rendezvous.js";
import { createWaiterSet, type WaiterSet } from "./service/rendezvous-waiters.js";
import { realTimers, type Timers } from "./timers.js";

/** Expired records freed per sweep call. */
const SWEEP_BATCH = 1_000;

export interface ConfiguredRendezvous {
  readonly handlers: RendezvousHandlers;
  readonly store: RendezvousStore;
  readonly waiters: WaiterSet;
  /** Frees expired records and idle per-mesh buckets (the sweeper's interval). */
  sweep(nowMs: number): Promise<void>;
  /** What the records in this process are charged against the registry's byte budget (0 when they are in Redis, which counts them itself). */
  charged(): number;
  /** What /health reports: records held (unswept expired ones included) and polls waiting on this instance. */
  health(): Promise<{ rendezvous_records: number; rendezvous_polls_waiting: number }>;
}

/** A record store shared by several instances, and how to hear of publishes made on the others. */
export interface SharedRendezvous {
  readonly store: RendezvousStore;
  /** Calls `wake(meshId)` for every publish on any instance. */
  subscribe(wake: (meshId: string) => void): void;
}

/** Records in this process, counted in the registry's byte budget. */
export interface LocalRendezvous {
  readonly budget: SharedBudget;
}

/**
 * The rendezvous of `config`, on the clock `now`; waits on `timers` (default
 * Node's); probes with `dial` (default TCP) when `--rendezvous-probe on`;
 * records in `where`: a shared store (Redis), or this process, within the
 * registry's byte budget when one is given.
 */
export function createConfiguredRendezvous(
  config: Config,
  now: () => number,
  timers: Timers = realTimers,
  dial: Dialer = tcpDialer,
  where?: SharedRendezvous | LocalRendezvous,
): ConfiguredRendezvous {
  const shared = where !== undefined && "store" in where ? where : undefined;
  const caps = { recordsPerMesh: config.rendezvousMaxRecordsPerMesh, records: config.rendezvousMaxRecords, bytes: config.rendezvousMaxBytes };
  const local: MemoryRendezvousStore | undefined = shared === undefined ? createMemoryRendezvousStore(caps, where === undefined ? undefined : (where as LocalRendezvous).budget) : undefined;
  const store: RendezvousStore = shared === undefined ? (local as MemoryRendezvousStore) : shared.store;
  const waiters = createWaiterSet({ perMesh: config.rendezvousMaxPollsPerMesh, total: config.rendezvousMaxPolls }, timers);
  shared?.subscribe((meshId) => waiters.wake(meshId));
  const probe = config.rendezvousProbe
    ? { dial, isAllowed: createAddressMatcher(config.rendezvousProbeAllow), quota: createProbeQuota(), timeoutMs: RENDEZVOUS_LIMITS.probeTimeoutMs }
    : undefined;
  const handlers = createRendezvous({
    store,
    waiters,
    caps,
    now,
    publishRate: config.rendezvousPublishRate,
    pollRate: config.rendezvousPollRate,
    ...(probe === undefined ? {} : { probe }),
    // A publish on another instance may land between a poll's first look and its wait: look again once waiting.
    recheck: shared !== undefined,
  });
  return {
    handlers,
    store,
    waiters,
    async sweep(nowMs) {
      handlers.prune(nowMs);
      // In batches, a turn each: a shared store is never held for long by one call.
      while ((await store.sweep(nowMs, SWEEP_BATCH)) === SWEEP_BATCH) await new Promise((resolve) => setImmediate(resolve));
    },
    charged: () => local?.size.charged ?? 0,
    async health() {
      const { records } = await store.stats(now());
      return { rendezvous_records: records, rendezvous_polls_waiting: waiters.size };
    },
  };
}
