import { Code, ConnectError } from "@connectrpc/connect";
import { isNetworkError } from "../client/errors.js";

/** Exit codes of the client commands, so scripts can tell outcomes apart. */
export const EXIT = {
  ok: 0,
  /** Anything not listed below. */
  failed: 1,
  /** Bad command line or `invalid_argument` from the server. */
  invalid: 2,
  /** `not_found`. */
  notFound: 3,
  /** The service could not be reached in time (`unavailable`, network errors, `deadline_exceeded`, `wait` timing out). */
  unreachable: 4,
  /** The service refused: `already_exists` (split-brain), `resource_exhausted`, `unimplemented`, `unauthenticated` (admin token), ... */
  refused: 5,
} as const;

export function exitCodeFor(error: ConnectError): number {
  switch (error.code) {
    case Code.InvalidArgument:
      return EXIT.invalid;
    case Code.NotFound:
      return EXIT.notFound;
    case Code.Unavailable:
    case Code.DeadlineExceeded:
      return EXIT.unreachable;
    case Code.AlreadyExists:
    case Code.ResourceExhausted:
    case Code.PermissionDenied:
    case Code.Unauthenticated:
    case Code.FailedPrecondition:
    case Code.Unimplemented:
      return EXIT.refused;
    default:
      // connect-node reports refused or reset connections as unavailable,
      // internal or aborted with a Node network error as the cause.
      return isNetworkError(error) ? EXIT.unreachable : EXIT.failed;
  }
}

/** The one-line message a command prints for a failed RPC: code and message, never a stack. */
export function describe(error: ConnectError): string {
  return `${Code[error.code] === undefined ? "unknown" : codeName(error.code)}: ${error.rawMessage}`;
}

function codeName(code: Code): string {
  return (Code[code] as string).replace(/[A-Z]/g, (c, i: number) => (i === 0 ? c.toLowerCase() : `_${c.toLowerCase()}`));
}

/** A bad command line: printed with the command's usage, exit 2. */
export class UsageError extends Error {}

/** Where a command's failure is reported: stderr, the usage to show for a bad command line, the URL it used. */
export interface FailureReport {
  readonly stderr: (text: string) => void;
  readonly usage: string;
  readonly target?: { readonly url: string; readonly from: string } | undefined;
}

/**
 * Prints why a command failed, one line and never a stack (usage errors with
 * the usage, RPC failures as code and message, with a hint when nothing
 * answered at the URL), and returns its exit code.
 */
export function reportFailure(error: unknown, report: FailureReport): number {
  if (error instanceof UsageError || isParseArgsError(error)) {
    report.stderr(`coral-discovery: ${(error as Error).message}\n\n${report.usage}\n`);
    return EXIT.invalid;
  }
  if (error instanceof ConnectError) {
    report.stderr(`coral-discovery: ${describe(error)}\n`);
    if (report.target !== undefined && isNetworkError(error)) {
      report.stderr(`  no service answered at ${report.target.url} (${report.target.from}); point to it with --url <url> or CORAL_DISCOVERY_URL\n`);
    }
    return exitCodeFor(error);
  }
  report.stderr(`coral-discovery: ${error instanceof Error ? error.message : String(error)}\n`);
  return EXIT.failed;
}

function isParseArgsError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" && code.startsWith("ERR_PARSE_ARGS");
}
