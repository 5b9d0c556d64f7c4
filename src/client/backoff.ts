/**
 * Exponential backoff with jitter, as a pure function: no clock, no timers,
 * randomness passed in.
 */

/** How long to wait between lookup attempts. All durations in milliseconds. */
export interface BackoffPolicy {
  /** Base wait after the first failed attempt. Default 2_000 ms. */
  initialDelayMs: number;
  /** Growth of the base wait per further attempt. Default 2. */
  factor: number;
  /** Upper bound of any wait, jitter included. Default 120_000 ms. */
  maxDelayMs: number;
  /**
   * Relative spread around the base wait: 0.2 draws the wait uniformly from
   * [0.8 × base, 1.2 × base] (then caps it at `maxDelayMs`). Default 0.2; 0 disables.
   */
  jitter: number;
}

export const defaultBackoffPolicy: Readonly<BackoffPolicy> = Object.freeze({
  initialDelayMs: 2_000,
  factor: 2,
  maxDelayMs: 120_000,
  jitter: 0.2,
});

/**
 * The wait in whole milliseconds after failed attempt number `attempt` (1-based):
 * `min(maxDelayMs, initialDelayMs × factor^(attempt-1))`, spread by ±`jitter`
 * with `random()` in [0, 1), and capped at `maxDelayMs` again.
 */
export function backoffDelayMs(attempt: number, policy: BackoffPolicy, random: () => number): number {
  const base = Math.min(policy.maxDelayMs, policy.initialDelayMs * policy.factor ** Math.max(0, attempt - 1));
  const spread = 1 + policy.jitter * (2 * random() - 1);
  return Math.round(Math.min(policy.maxDelayMs, base * spread));
}

/**
 * The wait after failed attempt number `attempt` (1-based) from a fixed schedule:
 * `delaysMs[attempt-1]`, repeating the last entry when the schedule is shorter
 * than the attempts; 0 for an empty schedule.
 */
export function scheduledDelayMs(attempt: number, delaysMs: readonly number[]): number {
  return delaysMs[Math.min(Math.max(0, attempt - 1), delaysMs.length - 1)] ?? 0;
}
