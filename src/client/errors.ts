import { Code, ConnectError } from "@connectrpc/connect";

// Node system error codes that mean "the network failed", wherever they sit in
// the cause chain. connect-node maps most of them to `unavailable`, but not all
// (ECONNRESET becomes `aborted`).
const networkErrorCodes = new Set([
  "ECONNRESET",
  "ECONNREFUSED",
  "ECONNABORTED",
  "EPIPE",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "EHOSTDOWN",
  "ENETUNREACH",
  "ENETDOWN",
  "ENOTFOUND",
  "EAI_AGAIN",
]);

/** Any thrown value as a ConnectError (network failures keep their Node error as `cause`). */
export function toConnectError(reason: unknown): ConnectError {
  return ConnectError.from(reason);
}

/** True when the error, or anything in its `cause` chain, is a Node network error (ECONNRESET, ENOTFOUND, ...). */
export function isNetworkError(error: unknown): boolean {
  const seen = new Set<unknown>();
  for (let e: unknown = error; e instanceof Error && !seen.has(e); e = e.cause) {
    seen.add(e);
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string" && networkErrorCodes.has(code)) return true;
  }
  return false;
}

// The colony may simply not have registered yet, hence not_found.
const retryableLookupCodes = new Set([Code.Unavailable, Code.DeadlineExceeded, Code.ResourceExhausted, Code.NotFound]);

/**
 * Whether a failed LookupColony is worth trying again: `unavailable`,
 * `deadline_exceeded`, `resource_exhausted`, `not_found`, or a network error.
 * Never `invalid_argument`, `canceled` or anything else.
 */
export function isRetryableLookupError(error: ConnectError): boolean {
  return retryableLookupCodes.has(error.code) || (error.code !== Code.Canceled && error.code !== Code.InvalidArgument && isNetworkError(error));
}

const finalRegistrationCodes = new Set([Code.InvalidArgument, Code.AlreadyExists, Code.PermissionDenied, Code.Unauthenticated]);

/**
 * Whether a failed RegisterColony ends its round at once: `invalid_argument`
 * (the request itself is wrong), `already_exists` (split-brain: another
 * colony holds the mesh until its lease ends), `permission_denied` (a proven
 * entry needs a proof) and `unauthenticated` (a proof is refused or
 * required). Retrying them within a second cannot help; the next round tries again.
 */
export function isFinalRegistrationError(error: ConnectError): boolean {
  return finalRegistrationCodes.has(error.code);
}
