// Quotas of the rendezvous reachability probe, as the upstream server has
// them: per client address a bucket of 5 refilled 20 per hour and at most 10
// distinct targets per rolling hour; at most 20 probes in flight in all.
import { createRateLimiter } from "../limits/rate-limiter.js";

export interface ProbeQuotaLimits {
  readonly perAddressBurst: number;
  readonly perAddressPerHour: number;
  readonly targetsPerAddressPerHour: number;
  readonly inFlight: number;
  /** Client addresses whose distinct targets are remembered at once (least recently seen dropped). */
  readonly maxAddresses: number;
}

export const PROBE_QUOTA_DEFAULTS: ProbeQuotaLimits = {
  perAddressBurst: 5,
  perAddressPerHour: 20,
  targetsPerAddressPerHour: 10,
  inFlight: 20,
  maxAddresses: 10_000,
};

const HOUR_MS = 3_600_000;

export interface ProbeQuota {
  /** Takes a probe slot for `key` (a client address key) and `target`: a release function, or why not. */
  take(key: string, target: string, nowMs: number): (() => void) | "in_flight" | "rate" | "targets";
  /** Probes in flight. */
  readonly inFlight: number;
}

export function createProbeQuota(limits: ProbeQuotaLimits = PROBE_QUOTA_DEFAULTS): ProbeQuota {
  const buckets = createRateLimiter({ perSecond: limits.perAddressPerHour / 3600, burst: limits.perAddressBurst, maxKeys: limits.maxAddresses });
  /** Targets per address, each with the last time it was probed; addresses least recently seen first. */
  const targets = new Map<string, Map<string, number>>();
  let inFlight = 0;

  function recentTargets(key: string, nowMs: number): Map<string, number> {
    const seen = targets.get(key) ?? new Map<string, number>();
    targets.delete(key);
    for (const [target, atMs] of seen) if (nowMs - atMs >= HOUR_MS) seen.delete(target);
    targets.set(key, seen);
    if (targets.size > limits.maxAddresses) targets.delete(targets.keys().next().value as string);
    return seen;
  }

  return {
    take(key, target, nowMs) {
      if (inFlight >= limits.inFlight) return "in_flight";
      const seen = recentTargets(key, nowMs);
      if (!seen.has(target) && seen.size >= limits.targetsPerAddressPerHour) return "targets";
      if (buckets.take(key, nowMs) !== 0) return "rate";
      seen.set(target, nowMs);
      inFlight++;
      let released = false;
      return () => {
        if (released) return;
        released = true;
        inFlight--;
      };
    },
    get inFlight() {
      return inFlight;
    },
  };
}
