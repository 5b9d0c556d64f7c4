/**
 * Option checks for the client: each throws a RangeError (TypeError for a bad
 * URL) that quotes the bad value and says what is allowed.
 */

export function finiteAtLeast(name: string, value: number, min: number): number {
  if (typeof value !== "number" || !Number.isFinite(value) || value < min) {
    throw new RangeError(`${name} must be a finite number >= ${min}, got ${String(value)}`);
  }
  return value;
}

/** The longest delay Node's timers can hold (2^31-1 ms, about 24.8 days); a longer one fires after 1 ms. */
export const MAX_TIMER_MS = 2_147_483_647;

/** A timeout in ms: finite, at least `min`, at most what a timer can hold. */
export function timeoutMs(name: string, value: number, min: number): number {
  finiteAtLeast(name, value, min);
  if (value > MAX_TIMER_MS) {
    throw new RangeError(`${name} must be at most ${MAX_TIMER_MS} ms (about 24.8 days), got ${String(value)}`);
  }
  return value;
}

export function integerAtLeast(name: string, value: number, min: number): number {
  if (!Number.isInteger(value) || value < min) {
    throw new RangeError(`${name} must be an integer >= ${min}, got ${String(value)}`);
  }
  return value;
}

export function httpUrl(name: string, value: string): string {
  let url: URL | undefined;
  try {
    url = new URL(value);
  } catch {
    url = undefined;
  }
  if (url === undefined || (url.protocol !== "http:" && url.protocol !== "https:")) {
    throw new TypeError(`${name} must be an absolute http:// or https:// URL, got ${JSON.stringify(value)}`);
  }
  return value;
}
