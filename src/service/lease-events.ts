// The lease lifecycle as operators see it: which registrations created a
// lease and which renewed one (the store says, with each registration), which
// were refused and why (a step around RegisterColony and RegisterAgent reads
// the errors). Both log and report to a sink (the metrics) that gets only
// bounded values, never ids.
import { Code, ConnectError } from "@connectrpc/connect";
import { RegistryError } from "../registry/index.js";
import type { Step } from "./call.js";

export type RegistrationKind = "colony" | "agent";
export type LeaseKind = RegistrationKind | "relay_session";
/** `new`: no active lease held the key; `renewal`: one did (same pubkey, or an agent's last-writer-wins replacement). */
export type RegistrationOutcome = "new" | "renewal";
/**
 * Why a registration was refused: `split_brain` (another colony pubkey holds
 * the mesh), `capacity` (a count cap or a per-address quota), `budget`
 * (`--max-registry-bytes`), `rate_limit`. Invalid requests are not
 * refusals: they show as `invalid_argument` among the RPC codes.
 */
export type RefusalReason = "split_brain" | "capacity" | "budget" | "rate_limit";

/** Where lifecycle events go (the metrics). Only bounded values: kinds, outcomes, reasons. */
export interface LeaseEvents {
  registered(kind: RegistrationKind, outcome: RegistrationOutcome): void;
  refused(kind: RegistrationKind, reason: RefusalReason): void;
  /** `count` leases of `kind` were removed by an operator before they expired (default 1). */
  evicted(kind: LeaseKind, count?: number): void;
}

/** Drops every event (metrics off). */
export const NO_LEASE_EVENTS: LeaseEvents = {
  registered() {},
  refused() {},
  evicted() {},
};

/** The part of a pino logger the step uses. */
export interface LeaseLogger {
  info(obj: object, msg: string): void;
  debug(obj: object, msg: string): void;
}

/**
 * Why a registration failed, when it was a refusal: read from the error as
 * the error-mapping and rate-limit steps leave it (a ConnectError whose cause
 * is the registry's RegistryError; the rate limiter's resource_exhausted
 * carries none). Undefined for anything else.
 */
export function refusalReason(error: unknown): RefusalReason | undefined {
  if (!(error instanceof ConnectError)) return undefined;
  const cause = error.cause;
  if (cause instanceof RegistryError) {
    if (cause.code === "split_brain") return "split_brain";
    if (cause.code !== "capacity_exceeded") return undefined;
    // The registry says which limit in its message; the byte budget's names its flag.
    return cause.message.includes("--max-registry-bytes") ? "budget" : "capacity";
  }
  return error.code === Code.ResourceExhausted ? "rate_limit" : undefined;
}

/**
 * The lease-events step: around RegisterColony and RegisterAgent, counts and
 * logs refusals (split-brain at info, the others at debug; never keys or
 * tokens). Place it outside the error-mapping and rate-limit steps, so it
 * sees their errors. Stored registrations are reported by the service
 * through `registrationObserver`, since only the store knows whether one
 * renewed a lease.
 */
export function leaseEventsStep(events: LeaseEvents, log: LeaseLogger): Step {
  return async (call, next) => {
    const name = call.method.name;
    if (name !== "RegisterColony" && name !== "RegisterAgent") return next(call);
    try {
      return await next(call);
    } catch (error) {
      const reason = refusalReason(error);
      if (reason !== undefined) {
        const kind: RegistrationKind = name === "RegisterColony" ? "colony" : "agent";
        const { meshId, agentId } = call.input as { meshId: string; agentId: string };
        const ids = kind === "colony" ? { meshId } : { meshId, agentId };
        events.refused(kind, reason);
        if (reason === "split_brain") log.info({ kind, ...ids, reason }, "registration refused");
        else log.debug({ kind, ...ids, reason }, "registration refused");
      }
      throw error;
    }
  };
}

/** Counts and logs each stored registration: new leases at info, renewals at debug. */
export function registrationObserver(events: LeaseEvents, log: LeaseLogger) {
  return (kind: RegistrationKind, ids: { meshId: string; agentId?: string }, renewed: boolean): void => {
    if (renewed) {
      events.registered(kind, "renewal");
      log.debug({ kind, ...ids }, "lease renewed");
    } else {
      events.registered(kind, "new");
      log.info({ kind, ...ids }, "lease created");
    }
  };
}
