import { Code, ConnectError } from "@connectrpc/connect";

/**
 * The two timer functions the client needs, so tests can drive time by hand.
 * Handles are opaque: whatever `setTimeout` returns is given back to `clearTimeout`.
 */
export interface Timers {
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** Node's global timers. */
export const realTimers: Timers = {
  setTimeout: (callback, ms) => setTimeout(callback, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

/** Node's timers, unref'd: for background upkeep that must never keep the process alive by itself. */
export const backgroundTimers: Timers = {
  setTimeout: (callback, ms) => setTimeout(callback, ms).unref(),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

/** The error a cancelled wait or loop rejects with: Connect's `canceled`, keeping the abort reason as `cause`. */
export function canceledError(signal: AbortSignal): ConnectError {
  if (signal.reason instanceof ConnectError && signal.reason.code === Code.Canceled) return signal.reason;
  return new ConnectError("operation was aborted", Code.Canceled, undefined, undefined, signal.reason);
}

/**
 * Resolves after `ms` milliseconds on `timers`; rejects with `canceledError(signal)`
 * (and clears the timer) as soon as `signal` aborts.
 */
export function sleep(ms: number, timers: Timers, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(canceledError(signal));
      return;
    }
    const onAbort = () => {
      timers.clearTimeout(handle);
      reject(canceledError(signal as AbortSignal));
    };
    const handle = timers.setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
