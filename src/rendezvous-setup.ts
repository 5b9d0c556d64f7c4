// The bootstrap rendezvous as configured: the memory record store, the
// waiting polls and the RPC handlers over them.
import type { Config } from "./config/index.js";
import { createAddressMatcher } from "./net/address.js";
import { tcpDialer, type Dialer } from "./net/probe.js";
import { createProbeQuota } from "./service/probe-quota.js";
import { createMemoryRendezvousStore, type MemoryRendezvousStore } from "./registry/rendezvous.js";
import { createRendezvous, RENDEZVOUS_LIMITS, type RendezvousHandlers } from "./service/rendezvous.js";
import { createWaiterSet, type WaiterSet } from "./service/rendezvous-waiters.js";
import { realTimers, type Timers } from "./timers.js";

export interface ConfiguredRendezvous {
  readonly handlers: RendezvousHandlers;
  readonly store: MemoryRendezvousStore;
  readonly waiters: WaiterSet;
  /** Frees expired records and idle per-mesh buckets (the sweeper's interval). */
  sweep(nowMs: number): void;
  /** What /health reports: records held (unswept expired ones included) and polls waiting. */
  health(): { rendezvous_records: number; rendezvous_polls_waiting: number };
}

/** The rendezvous of `config`, on the clock `now`; waits on `timers` (default Node's); probes with `dial` (default TCP) when `--rendezvous-probe on`. */
export function createConfiguredRendezvous(config: Config, now: () => number, timers: Timers = realTimers, dial: Dialer = tcpDialer): ConfiguredRendezvous {
  const caps = { recordsPerMesh: config.rendezvousMaxRecordsPerMesh, records: config.rendezvousMaxRecords, bytes: config.rendezvousMaxBytes };
  const store = createMemoryRendezvousStore(caps);
  const waiters = createWaiterSet({ perMesh: config.rendezvousMaxPollsPerMesh, total: config.rendezvousMaxPolls }, timers);
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
  });
  return {
    handlers,
    store,
    waiters,
    sweep(nowMs) {
      store.sweep(nowMs);
      handlers.prune(nowMs);
    },
    health: () => ({ rendezvous_records: store.size.records, rendezvous_polls_waiting: waiters.size }),
  };
}
