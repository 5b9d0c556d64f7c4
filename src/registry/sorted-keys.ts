// A sorted view of a table's keys for paged listing, kept off the hot path:
// a new key costs an array push; the order is restored when someone lists.

/**
 * The keys of a table in code-unit order (what `<` compares), for listing a
 * page at a time. Removed keys are not tracked: `isLive` drops them at the
 * next merge, and readers check each key against the table anyway.
 */
export interface SortedKeys {
  /** Notes a key that may be new (a key already known is harmless). O(1) amortised. */
  add(key: string): void;
  /**
   * The index of the first key after `after` (exclusive) or at `from`
   * (inclusive), whichever is later, in `keys()`. Merges pending keys first.
   */
  seek(from: string, after?: string): number;
  /** The sorted keys as of the last `seek` (some may have been removed since). */
  keys(): readonly string[];
}

/** Below this many pending keys a merge is left to the next reader. */
const MIN_PENDING = 1_024;

export function createSortedKeys(isLive: (key: string) => boolean): SortedKeys {
  let sorted: string[] = [];
  let pending: string[] = [];

  /** Sorts the pending keys and merges them in, dropping dead and repeated keys: O(n + k log k). */
  function merge(): void {
    if (pending.length === 0) return;
    pending.sort();
    const merged: string[] = [];
    let i = 0;
    let j = 0;
    while (i < sorted.length || j < pending.length) {
      const a = sorted[i];
      const b = pending[j];
      let key: string;
      if (b === undefined || (a !== undefined && a <= b)) {
        key = a as string;
        i++;
      } else {
        key = b;
        j++;
      }
      if (key !== merged[merged.length - 1] && isLive(key)) merged.push(key);
    }
    sorted = merged;
    pending = [];
  }

  /** The first index whose key is >= `key` (or > `key` when `strict`). */
  function lowerBound(key: string, strict: boolean): number {
    let lo = 0;
    let hi = sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const k = sorted[mid] as string;
      if (k < key || (strict && k === key)) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  return {
    add(key) {
      pending.push(key);
      // Without readers the pending list would grow with every registration: merge once it is as long as the sorted one.
      if (pending.length > Math.max(MIN_PENDING, sorted.length)) merge();
    },
    seek(from, after) {
      merge();
      return after !== undefined && after >= from ? lowerBound(after, true) : lowerBound(from, false);
    },
    keys: () => sorted,
  };
}
