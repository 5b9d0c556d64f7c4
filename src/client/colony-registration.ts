import type { MessageInitShape } from "@bufbuild/protobuf";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import type {
  RegisterColonyRequest,
  RegisterColonyRequestSchema,
  RegisterColonyResponse,
} from "../../gen/coral/discovery/v1/discovery_pb.js";
import { scheduledDelayMs } from "./backoff.js";
import { createEmitter, type Emitter } from "./emitter.js";
import { isFinalRegistrationError, toConnectError } from "./errors.js";
import type { DiscoveryRpc } from "./rpc.js";
import { canceledError, sleep, type Timers } from "../timers.js";
import { finiteAtLeast, integerAtLeast, timeoutMs } from "./validate.js";

type RegisterColonyFields = Exclude<MessageInitShape<typeof RegisterColonyRequestSchema>, RegisterColonyRequest>;

/** Retries within one registration round. */
export interface RegistrationRetry {
  /** Attempts per round, the first included. Default 5. */
  attempts?: number;
  /** Waits between attempts in ms; the last one repeats if there are more attempts. Default [1000, 2000, 4000, 8000]. */
  delaysMs?: readonly number[];
}

/**
 * What to register (the RegisterColonyRequest fields; sent unchanged every
 * round, since a renewal replaces the stored entry wholesale) and how often.
 */
export interface ColonyRegistrationOptions extends RegisterColonyFields {
  meshId: string;
  pubkey: string;
  endpoints: string[];
  /**
   * Heartbeat period in ms, measured from the start of one round to the start of
   * the next (a fixed rate, like Go's time.Ticker): a round that spends 15 s in
   * retries still leaves the next one 60 s after it began. When a round lasts
   * longer than this, the next starts right after it. Default 60_000.
   */
  intervalMs?: number;
  /** Default: 5 attempts, 1 s, 2 s, 4 s, 8 s apart (as Coral's colony does). */
  retry?: RegistrationRetry;
}

/** Events of a registration loop. */
export interface ColonyRegistrationEvents {
  /** A round succeeded. */
  registered: RegisterColonyResponse;
  /**
   * A round failed: all attempts used up, or at once on `invalid_argument` or
   * `already_exists` (split-brain), or one of the proof refusals (`permission_denied`,
   * `unauthenticated`: see isFinalRegistrationError). The loop goes on with the next round.
   */
  error: ConnectError;
  /** Attempt number `attempt` (1-based) of a round failed; the next one follows in `delayMs`. */
  retry: { attempt: number; delayMs: number; error: ConnectError };
}

export interface ColonyRegistrationStatus {
  /**
   * True while the lease from the last successful round is still running by the
   * local clock (counted from when that request was sent, plus the answered
   * `ttl`, so clock skew with the service does not matter). False before the
   * first success, after the lease ran out, and after a round ended in
   * `already_exists` (another colony holds the mesh). stop() does not change it:
   * the service keeps the lease until it expires.
   */
  registered: boolean;
  /** `expires_at` as answered by the service for the last successful round. */
  expiresAt: Date | undefined;
  /** The error that ended the most recent round; cleared when a round succeeds. */
  lastError: ConnectError | undefined;
  /** Rounds completed, successful or not (a round cut short by stop() does not count). */
  rounds: number;
}

/** A running registration loop. */
export interface ColonyRegistration extends Emitter<ColonyRegistrationEvents> {
  status(): ColonyRegistrationStatus;
  /**
   * Cancels the in-flight call and any pending wait; resolves once the loop has
   * ended. No call is made afterwards. Idempotent.
   */
  stop(): Promise<void>;
}

export interface ColonyRegistrationDeps {
  registerColony: DiscoveryRpc["registerColony"];
  /** Unix time in ms. */
  now: () => number;
  timers: Timers;
}

/** Starts the heartbeat loop: the first round runs at once. */
export function startColonyRegistration(deps: ColonyRegistrationDeps, options: ColonyRegistrationOptions): ColonyRegistration {
  const { intervalMs = 60_000, retry, ...request } = options;
  timeoutMs("intervalMs", intervalMs, 1);
  const attempts = integerAtLeast("retry.attempts", retry?.attempts ?? 5, 1);
  const delaysMs = [...(retry?.delaysMs ?? [1000, 2000, 4000, 8000])];
  delaysMs.forEach((d, i) => finiteAtLeast(`retry.delaysMs[${i}]`, d, 0));

  const { now, timers } = deps;
  const controller = new AbortController();
  const signal = controller.signal;
  const events = createEmitter<ColonyRegistrationEvents>();
  let leaseEndsAtMs: number | undefined;
  let expiresAt: Date | undefined;
  let lastError: ConnectError | undefined;
  let rounds = 0;

  function succeeded(res: RegisterColonyResponse, sentAtMs: number) {
    expiresAt = res.expiresAt === undefined ? undefined : timestampDate(res.expiresAt);
    leaseEndsAtMs = res.ttl > 0 ? sentAtMs + res.ttl * 1000 : expiresAt?.getTime();
    lastError = undefined;
    rounds++;
    events.emit("registered", res);
  }

  function failed(error: ConnectError) {
    if (error.code === Code.AlreadyExists) leaseEndsAtMs = undefined;
    lastError = error;
    rounds++;
    events.emit("error", error);
  }

  async function round(): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const sentAtMs = now();
      let error: ConnectError;
      try {
        succeeded(await deps.registerColony(request, { signal }), sentAtMs);
        return;
      } catch (e) {
        if (signal.aborted) throw canceledError(signal);
        error = toConnectError(e);
      }
      if (attempt >= attempts || isFinalRegistrationError(error)) {
        failed(error);
        return;
      }
      const delayMs = scheduledDelayMs(attempt, delaysMs);
      events.emit("retry", { attempt, delayMs, error });
      await sleep(delayMs, timers, signal);
    }
  }

  async function run(): Promise<void> {
    while (!signal.aborted) {
      const startedAtMs = now();
      await round();
      await sleep(Math.max(0, startedAtMs + intervalMs - now()), timers, signal);
    }
  }

  // The loop only ends by stop(); its cancellation is the normal way out.
  const done = run().catch((e: unknown) => {
    if (!signal.aborted) throw e;
  });

  return {
    on: events.on,
    off: events.off,
    status: () => ({
      registered: leaseEndsAtMs !== undefined && now() < leaseEndsAtMs,
      expiresAt,
      lastError,
      rounds,
    }),
    stop() {
      controller.abort(new ConnectError("colony registration stopped", Code.Canceled));
      return done;
    },
  };
}
