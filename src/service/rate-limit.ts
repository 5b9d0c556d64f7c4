import { Code, ConnectError } from "@connectrpc/connect";
import { createRateLimiter, type Rate, type RateLimiter } from "../limits/rate-limiter.js";
import { addressKey } from "../net/address.js";
import type { Step } from "./call.js";

/** Budgets per client address for each kind of call (`--rate-register`, `--rate-lookup`, `--rate-token`). */
export interface RateLimits {
  /** RegisterColony, RegisterAgent, RequestRelay, ReleaseRelay and the rendezvous writes. */
  readonly register: Rate;
  /** LookupColony, LookupAgent, Health, PollBootstrapRendezvous, and each request message of gRPC reflection. */
  readonly lookup: Rate;
  /** CreateBootstrapToken. */
  readonly token: Rate;
}

type Kind = keyof RateLimits;

const KIND: ReadonlyMap<string, Kind> = new Map(Object.entries({
  RegisterColony: "register",
  RegisterAgent: "register",
  RequestRelay: "register",
  ReleaseRelay: "register",
  PublishBootstrapRendezvous: "register",
  AckBootstrapRendezvous: "register",
  LookupColony: "lookup",
  LookupAgent: "lookup",
  Health: "lookup",
  PollBootstrapRendezvous: "lookup",
  CreateBootstrapToken: "token",
  // gRPC server reflection (v1 and v1alpha), charged per request message on its
  // bidi stream: each answer is ~150 times the size of its question.
  ServerReflectionInfo: "lookup",
} satisfies Record<string, Kind>));

const NOUN: Record<Kind, string> = { register: "registrations", lookup: "lookups", token: "token requests" };

export interface RateLimit {
  /** The error to answer when a `method` call from `clientIp` is over budget; undefined when allowed (a token is taken). */
  check(method: string, clientIp: string | undefined): ConnectError | undefined;
  /** The rate-limit step: applies `check` to every call before it reaches the handler. */
  readonly step: Step;
  /** Drops idle buckets (called by the sweeper); returns how many. */
  prune(nowMs: number): number;
}

/**
 * Throttles DiscoveryService calls and reflection requests per client address (the trusted-proxy
 * derived one), except from addresses `isExempt` accepts
 * (`--rate-limit-exempt`). Over budget: `resource_exhausted` with a
 * `Retry-After` header (seconds; a trailer over gRPC) and a message saying
 * the budget.
 */
export function createRateLimit(limits: RateLimits, now: () => number, isExempt: (ip: string) => boolean): RateLimit {
  const limiters: Record<Kind, RateLimiter> = {
    register: createRateLimiter(limits.register),
    lookup: createRateLimiter(limits.lookup),
    token: createRateLimiter(limits.token),
  };
  const check = (method: string, clientIp: string | undefined): ConnectError | undefined => {
    const kind = KIND.get(method);
    if (kind === undefined || (clientIp !== undefined && isExempt(clientIp))) return undefined;
    const waitMs = limiters[kind].take(addressKey(clientIp), now());
    if (waitMs === 0) return undefined;
    const rate = limits[kind];
    const retrySeconds = Math.max(1, Math.ceil(waitMs / 1000));
    return new ConnectError(
      `rate limit exceeded: at most ${rate.perSecond} ${NOUN[kind]} per second (bursts of ${rate.burst}) ` +
        `from one address; retry in ${retrySeconds}s`,
      Code.ResourceExhausted,
      { "retry-after": String(retrySeconds) },
    );
  };
  const step: Step = (call, next) => {
    const refused = check(call.method.name, call.ctx.clientIp);
    return refused === undefined ? next(call) : Promise.reject(refused);
  };
  return {
    check,
    step,
    prune: (nowMs) => limiters.register.prune(nowMs) + limiters.lookup.prune(nowMs) + limiters.token.prune(nowMs),
  };
}
