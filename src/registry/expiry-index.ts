/**
 * An index of keys by expiry second, so that finding what expired costs time
 * proportional to what expired rather than to everything stored.
 *
 * Keys live in one bucket per whole second of their expiry time. Buckets are
 * kept in ascending order in a small array (at most one per distinct second
 * inside a TTL window, so a few hundred); renewals move a key between buckets
 * in O(1) (`Set#delete` + `Set#add`).
 *
 * Within a bucket, keys sit in insertion order, which is expiry order as long
 * as the lease length is constant and the clock does not go back (a renewal
 * re-inserts its key at the end). So scanning the current second stops at
 * the first unexpired key, and costs only what expired. Should the clock go
 * back, an expired key may wait behind an unexpired one until its bucket's
 * second has passed: freed a second late, never returned (reads check expiry).
 */
export interface ExpiryIndex {
  /** Files `key` under `expiresAtMs`, moving it from `previousExpiresAtMs` when given. */
  add(key: string, expiresAtMs: number, previousExpiresAtMs?: number): void;
  /** Forgets `key`, filed under `expiresAtMs`. */
  remove(key: string, expiresAtMs: number): void;
  /**
   * Removes and returns up to `limit` keys filed at or before the second of
   * `nowMs`, oldest first. Whole buckets strictly before that second are
   * expired; in the current second `isExpired` decides, stopping at the first
   * key that has not expired (see below). Default limit: all.
   */
  drain(nowMs: number, isExpired: (key: string) => boolean, limit?: number): string[];
  /** Counts the keys that `drain(nowMs)` would remove, without removing them. */
  countExpired(nowMs: number, isExpired: (key: string) => boolean): number;
}

export function createExpiryIndex(): ExpiryIndex {
  const buckets = new Map<number, Set<string>>();
  const order: number[] = []; // bucket seconds, ascending

  function bucketFor(second: number): Set<string> {
    let bucket = buckets.get(second);
    if (bucket === undefined) {
      bucket = new Set();
      buckets.set(second, bucket);
      insertSorted(order, second);
    }
    return bucket;
  }

  return {
    add(key, expiresAtMs, previousExpiresAtMs) {
      if (previousExpiresAtMs !== undefined) {
        buckets.get(toSecond(previousExpiresAtMs))?.delete(key);
      }
      bucketFor(toSecond(expiresAtMs)).add(key);
    },
    remove(key, expiresAtMs) {
      buckets.get(toSecond(expiresAtMs))?.delete(key);
    },
    drain(nowMs, isExpired, limit = Infinity) {
      const nowSecond = toSecond(nowMs);
      const removed: string[] = [];
      let drained = 0;
      for (const second of order) {
        if (second > nowSecond || removed.length >= limit) break;
        const bucket = buckets.get(second);
        if (bucket !== undefined) {
          const current = second === nowSecond;
          for (const key of bucket) {
            if (removed.length >= limit || (current && !isExpired(key))) break;
            bucket.delete(key);
            removed.push(key);
          }
          if (bucket.size > 0) break;
          buckets.delete(second);
        }
        drained++;
      }
      if (drained > 0) order.splice(0, drained);
      return removed;
    },
    countExpired(nowMs, isExpired) {
      const nowSecond = toSecond(nowMs);
      let count = 0;
      for (const second of order) {
        if (second > nowSecond) break;
        const bucket = buckets.get(second);
        if (bucket === undefined) continue;
        if (second < nowSecond) {
          count += bucket.size;
          continue;
        }
        for (const key of bucket) {
          if (!isExpired(key)) break;
          count++;
        }
      }
      return count;
    },
  };
}

function toSecond(ms: number): number {
  return Math.floor(ms / 1000);
}

/** Inserts `value` keeping `sorted` ascending; appending (the usual case) is O(1). */
function insertSorted(sorted: number[], value: number): void {
  let hi = sorted.length;
  if (hi === 0 || (sorted[hi - 1] as number) < value) {
    sorted.push(value);
    return;
  }
  let lo = 0;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((sorted[mid] as number) < value) lo = mid + 1;
    else hi = mid;
  }
  sorted.splice(lo, 0, value);
}
