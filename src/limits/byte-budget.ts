// Bytes held in memory, per key (a client address) and in all: a request's
// headers and body while it arrives count until it is answered, so that
// unfinished requests cannot add up past a fixed share of memory.

export interface ByteBudgetOptions {
  /** Bytes held in all. */
  readonly max: number;
  /** Bytes held per key. */
  readonly maxPerKey: number;
}

export interface ByteBudget {
  /**
   * Takes `bytes` more for `key`: "ok", or which limit it would pass (then
   * nothing is taken).
   */
  take(key: string, bytes: number): "ok" | "key" | "total";
  /** Gives back `bytes` that `take` took for `key` (at most what it holds). */
  give(key: string, bytes: number): void;
  /** Bytes held in all. */
  readonly total: number;
  /** The limits it was made with. */
  readonly options: ByteBudgetOptions;
  /** Bytes held for `key`. */
  held(key: string): number;
}

/** The byte budget (see the top of this file). */
export function createByteBudget(options: ByteBudgetOptions): ByteBudget {
  const { max, maxPerKey } = options;
  const perKey = new Map<string, number>();
  let total = 0;
  return {
    take(key, bytes) {
      if (total + bytes > max) return "total";
      const held = perKey.get(key) ?? 0;
      if (held + bytes > maxPerKey) return "key";
      perKey.set(key, held + bytes);
      total += bytes;
      return "ok";
    },
    give(key, bytes) {
      // Never more than the key holds, so a stray give cannot make room for others.
      const held = perKey.get(key);
      if (held === undefined || bytes <= 0) return;
      const given = Math.min(bytes, held);
      total -= given;
      if (given === held) perKey.delete(key);
      else perKey.set(key, held - given);
    },
    get total() {
      return total;
    },
    options,
    held: (key) => perKey.get(key) ?? 0,
  };
}
