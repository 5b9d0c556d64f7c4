// Who may call AdminService: a bearer token compared in constant time, with
// budgets of its own (apart from the public RPCs'): calls per address, and
// failed authentications per address, checked before any comparison.
import { createHash, timingSafeEqual } from "node:crypto";
import { Code, ConnectError } from "@connectrpc/connect";
import { createRateLimiter, type Rate } from "../limits/rate-limiter.js";
import { addressKey } from "../net/address.js";
import type { Step } from "./call.js";

/** Admin calls per address: 10 per second, bursts of 20. */
export const ADMIN_CALL_RATE: Rate = { perSecond: 10, burst: 20 };
/** Failed authentications per address: 5 at once, then one every 5 seconds. */
export const ADMIN_FAILURE_RATE: Rate = { perSecond: 0.2, burst: 5 };

/** What the guard logs: refused authentications, at warn (never the token). */
export interface AdminAuthLogger {
  warn(obj: object, msg: string): void;
}

export interface AdminGuardOptions {
  /** The configured token (`--admin-token-file`, `ADMIN_TOKEN`); undefined disables the admin service. */
  readonly token: string | undefined;
  readonly now: () => number;
  readonly log: AdminAuthLogger;
  /** Default ADMIN_CALL_RATE. */
  readonly calls?: Rate;
  /** Default ADMIN_FAILURE_RATE. */
  readonly failures?: Rate;
  /** How a presented token is compared with the configured one. Default tokensEqual (constant time). */
  readonly equal?: (presented: string, configured: string) => boolean;
}

export interface AdminGuard {
  /** The step every admin call passes before its handler. */
  readonly step: Step;
  /** Drops idle buckets (called by the sweeper); returns how many. */
  prune(nowMs: number): number;
}

const sha256 = (text: string) => createHash("sha256").update(text, "utf8").digest();

/**
 * Whether two tokens are equal, in time independent of where they differ and
 * of their lengths: their SHA-256 digests (always 32 bytes) are compared with
 * crypto.timingSafeEqual.
 */
export function tokensEqual(presented: string, configured: string): boolean {
  return timingSafeEqual(sha256(presented), sha256(configured));
}

/** The token of an `Authorization: Bearer <token>` header (scheme case-insensitive); undefined when there is none. */
export function bearerToken(header: string | undefined): string | undefined {
  const match = /^bearer[ \t]+(.*)$/is.exec(header ?? "");
  const token = match?.[1]?.trim();
  return token === undefined || token === "" ? undefined : token;
}

export const ADMIN_DISABLED_MESSAGE = "the admin service is disabled: start with --admin-token-file";

function exhausted(message: string, waitMs: number): ConnectError {
  const seconds = Math.max(1, Math.ceil(waitMs / 1000));
  return new ConnectError(`${message}; retry in ${seconds}s`, Code.ResourceExhausted, { "retry-after": String(seconds) });
}

/**
 * The admin guard. Without a token every call is `unimplemented`. With one,
 * in order: over the call budget is `resource_exhausted`; an address that
 * used up its failed-authentication budget is `resource_exhausted` before
 * its token is looked at (so guessing is throttled even when a guess would be
 * right); a missing or wrong token is `unauthenticated` and takes from that
 * budget.
 */
export function createAdminGuard(options: AdminGuardOptions): AdminGuard {
  const { token, now, log } = options;
  const equal = options.equal ?? tokensEqual;
  const callRate = options.calls ?? ADMIN_CALL_RATE;
  const failureRate = options.failures ?? ADMIN_FAILURE_RATE;
  const calls = createRateLimiter(callRate);
  const failures = createRateLimiter(failureRate);

  const step: Step = async (call, next) => {
    if (token === undefined) throw new ConnectError(ADMIN_DISABLED_MESSAGE, Code.Unimplemented);
    const key = addressKey(call.ctx.clientIp);
    const nowMs = now();
    const callWaitMs = calls.take(key, nowMs);
    if (callWaitMs > 0) {
      throw exhausted(`admin rate limit exceeded: at most ${callRate.perSecond} admin calls per second (bursts of ${callRate.burst}) from one address`, callWaitMs);
    }
    const failureWaitMs = failures.wait(key, nowMs);
    if (failureWaitMs > 0) {
      throw exhausted(`too many failed admin authentications from your address (at most ${failureRate.burst}, then one per ${1 / failureRate.perSecond}s)`, failureWaitMs);
    }
    const presented = bearerToken(call.ctx.requestHeader("authorization"));
    if (presented === undefined || !equal(presented, token)) {
      failures.take(key, nowMs);
      const reason = presented === undefined ? "no bearer token" : "wrong token";
      log.warn({ rpc: call.rpc, clientIp: call.ctx.clientIp, reason }, "admin call refused");
      throw new ConnectError(
        presented === undefined
          ? "admin calls need the admin token: send the header Authorization: Bearer <token>"
          : "the admin token is wrong",
        Code.Unauthenticated,
      );
    }
    return next(call);
  };
  return { step, prune: (nowMs) => calls.prune(nowMs) + failures.prune(nowMs) };
}
