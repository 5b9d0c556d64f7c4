/** A token bucket rate: `perSecond` sustained, `burst` at once. */
export interface Rate {
  readonly perSecond: number;
  readonly burst: number;
}

export interface RateLimiterOptions extends Rate {
  /** Most keys tracked at once; beyond it the least recently seen is forgotten. Default 100,000. */
  readonly maxKeys?: number;
}

/**
 * Token buckets per key (a client address). State stays bounded: a bucket
 * idle long enough to have refilled is indistinguishable from a new one and
 * is dropped; keys are kept in least-recently-seen order so dropping costs
 * only what is dropped; and `maxKeys` caps the map.
 */
export interface RateLimiter {
  /** Takes one token for `key` at `nowMs`: 0 when allowed, else ms until a token is available. */
  take(key: string, nowMs: number): number;
  /** Ms until `key` has a token at `nowMs` (0: now), without taking one. */
  wait(key: string, nowMs: number): number;
  /** Drops buckets that have refilled by `nowMs`; returns how many. */
  prune(nowMs: number): number;
  readonly size: number;
}

interface Bucket {
  tokens: number;
  updatedMs: number;
}

export function createRateLimiter(options: RateLimiterOptions): RateLimiter {
  const { perSecond, burst } = options;
  const maxKeys = options.maxKeys ?? 100_000;
  const perMs = perSecond / 1000;
  const refillMs = Math.ceil(burst / perMs);
  const buckets = new Map<string, Bucket>(); // least recently seen first

  function prune(nowMs: number, most = Infinity): number {
    let dropped = 0;
    for (const [key, bucket] of buckets) {
      if (dropped >= most || nowMs - bucket.updatedMs < refillMs) break;
      buckets.delete(key);
      dropped++;
    }
    return dropped;
  }

  return {
    take(key, nowMs) {
      let bucket = buckets.get(key);
      if (bucket === undefined) {
        prune(nowMs, 2); // amortized upkeep
        if (buckets.size >= maxKeys) {
          const oldest = buckets.keys().next();
          if (oldest.done !== true) buckets.delete(oldest.value);
        }
        bucket = { tokens: burst, updatedMs: nowMs };
      } else {
        buckets.delete(key); // re-inserted below: most recently seen last
        bucket.tokens = Math.min(burst, bucket.tokens + Math.max(0, nowMs - bucket.updatedMs) * perMs);
        bucket.updatedMs = nowMs;
      }
      buckets.set(key, bucket);
      if (bucket.tokens >= 1) {
        bucket.tokens -= 1;
        return 0;
      }
      return Math.ceil((1 - bucket.tokens) / perMs);
    },
    wait(key, nowMs) {
      const bucket = buckets.get(key);
      if (bucket === undefined) return 0;
      const tokens = Math.min(burst, bucket.tokens + Math.max(0, nowMs - bucket.updatedMs) * perMs);
      return tokens >= 1 ? 0 : Math.ceil((1 - tokens) / perMs);
    },
    prune: (nowMs) => prune(nowMs),
    get size() {
      return buckets.size;
    },
  };
}
