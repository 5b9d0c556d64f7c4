import { ConnectError } from "@connectrpc/connect";
import type { LookupColonyResponse } from "../../gen/coral/discovery/v1/discovery_pb.js";
import { backoffDelayMs, defaultBackoffPolicy, type BackoffPolicy } from "./backoff.js";
import { isRetryableLookupError, toConnectError } from "./errors.js";
import type { DiscoveryRpc } from "./rpc.js";
import { canceledError, sleep, type Timers } from "../timers.js";
import { finiteAtLeast } from "./validate.js";

/** Retries of one findColony call: exponential backoff with jitter, bounded by a deadline. */
export interface LookupRetry extends Partial<BackoffPolicy> {
  /**
   * Time budget for retrying, in ms from the start of the call: a wait that
   * would end past it is not started, the last error is thrown instead. It
   * bounds the waits, not the attempts (each has the client's `timeoutMs`), so
   * the call can end up to one timeout later. Default 60_000; 0 means a single attempt.
   */
  deadlineMs?: number;
}

export interface FindColonyOptions {
  /** How long a successful answer is served from the cache, in ms from when it arrived. Default 300_000; 0 skips the cache. */
  cacheTtlMs?: number;
  /** Default: 2 s, ×2 per attempt, at most 120 s, ±20 % jitter, 60 s deadline. */
  retry?: LookupRetry;
  /** Cancels the lookup, waits included; it then rejects with ConnectError `canceled`. */
  signal?: AbortSignal;
  /** Called before each wait, e.g. to log "colony not found yet, retrying in 4 s". */
  onRetry?: (info: { attempt: number; delayMs: number; error: ConnectError }) => void;
}

/** Agent-side colony lookup with a local cache (per mesh) and retries. */
export interface ColonyFinder {
  /**
   * The mesh's colony: from the cache while fresh, else from LookupColony,
   * retrying `unavailable`, `deadline_exceeded`, `resource_exhausted`,
   * `not_found` (not registered yet) and network errors; never
   * `invalid_argument`. When the deadline would pass, rejects with the last
   * error's code, its message saying how many attempts were made over how long.
   */
  find(meshId: string, options?: FindColonyOptions): Promise<LookupColonyResponse>;
  /** Drops the cached answer for `meshId` ("that endpoint failed, look again"). */
  invalidate(meshId: string): void;
}

export interface ColonyFinderDeps {
  lookupColony: DiscoveryRpc["lookupColony"];
  /** Unix time in ms. */
  now: () => number;
  timers: Timers;
  /** Uniform in [0, 1). */
  random: () => number;
}

export function createColonyFinder(deps: ColonyFinderDeps): ColonyFinder {
  const { now, timers, random } = deps;
  const cache = new Map<string, { colony: LookupColonyResponse; cachedAtMs: number }>();

  async function find(meshId: string, options: FindColonyOptions = {}): Promise<LookupColonyResponse> {
    const { signal, onRetry } = options;
    const cacheTtlMs = finiteAtLeast("cacheTtlMs", options.cacheTtlMs ?? 300_000, 0);
    const { deadlineMs = 60_000, ...backoff } = options.retry ?? {};
    const policy: BackoffPolicy = { ...defaultBackoffPolicy, ...backoff };
    finiteAtLeast("retry.deadlineMs", deadlineMs, 0);
    finiteAtLeast("retry.initialDelayMs", policy.initialDelayMs, 0);
    finiteAtLeast("retry.factor", policy.factor, 1);
    finiteAtLeast("retry.maxDelayMs", policy.maxDelayMs, 0);
    if (!(policy.jitter >= 0 && policy.jitter <= 1)) throw new RangeError(`retry.jitter must be between 0 and 1, got ${policy.jitter}`);
    if (signal?.aborted) throw canceledError(signal);

    const cached = cache.get(meshId);
    if (cached !== undefined && now() - cached.cachedAtMs < cacheTtlMs) return cached.colony;

    const startedAtMs = now();
    const deadlineAtMs = startedAtMs + deadlineMs;
    for (let attempt = 1; ; attempt++) {
      let error: ConnectError;
      try {
        const colony = await deps.lookupColony({ meshId }, signal === undefined ? {} : { signal });
        cache.set(meshId, { colony, cachedAtMs: now() });
        return colony;
      } catch (e) {
        if (signal?.aborted) throw canceledError(signal);
        error = toConnectError(e);
      }
      const delayMs = backoffDelayMs(attempt, policy, random);
      if (!isRetryableLookupError(error) || deadlineMs === 0) throw error;
      if (now() + delayMs > deadlineAtMs) throw gaveUp(error, attempt, now() - startedAtMs, deadlineMs);
      onRetry?.({ attempt, delayMs, error });
      await sleep(delayMs, timers, signal);
    }
  }

  return {
    find,
    invalidate(meshId) {
      cache.delete(meshId);
    },
  };
}

/**
 * The last error, its message saying how long the lookup kept trying and why,
 * so that a caller who waited half a minute learns it was retrying, not hung.
 * The original error is its cause.
 */
function gaveUp(error: ConnectError, attempts: number, elapsedMs: number, deadlineMs: number): ConnectError {
  const message =
    `${error.rawMessage} (gave up after ${attempts} attempt${attempts === 1 ? "" : "s"} in ${seconds(elapsedMs)}: ` +
    `not_found, unavailable, deadline_exceeded, resource_exhausted and network errors are retried for up to ${seconds(deadlineMs)})`;
  return new ConnectError(message, error.code, error.metadata, undefined, error);
}

function seconds(ms: number): string {
  return `${Math.round(ms / 100) / 10} s`;
}
