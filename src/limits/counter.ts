/** Counts per key, forgetting a key whose count drops to zero (so idle keys cost nothing). */
export interface Counter {
  get(key: string): number;
  add(key: string, delta: number): void;
}

export function createCounter(): Counter {
  const counts = new Map<string, number>();
  return {
    get: (key) => counts.get(key) ?? 0,
    add(key, delta) {
      const next = (counts.get(key) ?? 0) + delta;
      if (next <= 0) counts.delete(key);
      else counts.set(key, next);
    },
  };
}
