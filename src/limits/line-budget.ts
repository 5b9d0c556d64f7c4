import { createRateLimiter, type Rate } from "./rate-limiter.js";

export interface LineBudgetOptions extends Rate {
  /** Clock in ms (any origin). */
  readonly now: () => number;
}

/**
 * A rate limit for log lines: `perSecond` sustained, `burst` at once.
 * Lines over it are counted, not written, and the count is reported by the
 * next line that gets through, so a flood shows as a few lines that say how
 * much they stand for.
 */
export interface LineBudget {
  /**
   * Takes the budget of one line: undefined when the line must be dropped
   * (it is counted), else how many lines were dropped since the last one
   * that got through (0 when none).
   */
  take(): number | undefined;
}

export function createLineBudget(options: LineBudgetOptions): LineBudget {
  const { now } = options;
  const bucket = createRateLimiter({ perSecond: options.perSecond, burst: options.burst, maxKeys: 1 });
  let suppressed = 0;
  return {
    take() {
      if (bucket.take("", now()) > 0) {
        suppressed++;
        return undefined;
      }
      const reported = suppressed;
      suppressed = 0;
      return reported;
    },
  };
}
