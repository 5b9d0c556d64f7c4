import { createExpiryIndex } from "./expiry-index.js";

/** Anything held under a lease: it is active while `now < expiresAtMs`. */
export interface Lease {
  /** Unix milliseconds at which the lease ends. */
  readonly expiresAtMs: number;
}

/**
 * A Map of leases with an expiry index. Reads check expiry themselves, so an
 * expired lease is never returned whether or not `sweep` has run; `sweep`
 * only frees memory, at a cost proportional to what expired.
 */
export interface LeaseTable<T extends Lease> {
  /** The active lease under `key`, or undefined when absent or expired at `nowMs`. */
  get(key: string, nowMs: number): T | undefined;
  /** The stored lease under `key`, expired or not. */
  peek(key: string): T | undefined;
  /** Stores `lease` under `key`, replacing any previous one wholesale. */
  set(key: string, lease: T): void;
  /** Removes the lease under `key`; true when there was one. */
  delete(key: string): boolean;
  /** Removes leases expired at `nowMs`, at most `limit` (default all), and returns them. */
  sweep(nowMs: number, limit?: number): T[];
  /**
   * How many leases are active at `nowMs`; costs what has expired and is not
   * yet swept, not what is active. Exact while the clock moves forward (see
   * ExpiryIndex for what a clock going back does).
   */
  activeCount(nowMs: number): number;
  /** Leases stored, expired ones not yet swept included. */
  readonly size: number;
  /**
   * Every stored lease, expired ones included, in a live iteration: leases set
   * after it started are visited, deleted ones are skipped, none is copied.
   */
  values(): IterableIterator<T>;
}

export function createLeaseTable<T extends Lease>(): LeaseTable<T> {
  const leases = new Map<string, T>();
  const index = createExpiryIndex();

  return {
    get(key, nowMs) {
      const lease = leases.get(key);
      return lease !== undefined && nowMs < lease.expiresAtMs ? lease : undefined;
    },
    peek(key) {
      return leases.get(key);
    },
    set(key, lease) {
      const previous = leases.get(key);
      leases.set(key, lease);
      index.add(key, lease.expiresAtMs, previous?.expiresAtMs);
    },
    delete(key) {
      const lease = leases.get(key);
      if (lease === undefined) return false;
      leases.delete(key);
      index.remove(key, lease.expiresAtMs);
      return true;
    },
    sweep(nowMs, limit) {
      const keys = index.drain(nowMs, (key) => isExpired(leases.get(key), nowMs), limit);
      const removed: T[] = [];
      for (const key of keys) {
        const lease = leases.get(key);
        if (lease === undefined) continue;
        leases.delete(key);
        removed.push(lease);
      }
      return removed;
    },
    activeCount(nowMs) {
      return leases.size - index.countExpired(nowMs, (key) => isExpired(leases.get(key), nowMs));
    },
    get size() {
      return leases.size;
    },
    values() {
      return leases.values();
    },
  };
}

function isExpired(lease: Lease | undefined, nowMs: number): boolean {
  return lease === undefined || nowMs >= lease.expiresAtMs;
}
