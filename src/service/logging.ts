import { Code, ConnectError } from "@connectrpc/connect";
import type { LineBudget } from "../limits/line-budget.js";
import type { Step } from "./call.js";

/** The part of a pino logger the logging step uses. */
export interface RpcLogger {
  error(obj: object, msg: string): void;
  debug(obj: object, msg: string): void;
}

/**
 * Node's codes for a socket or stream the peer closed or reset: seen when
 * reading a body or writing an answer after the client went away.
 */
const PEER_GONE = new Set([
  "ECONNRESET",
  "ECONNABORTED",
  "EPIPE",
  "ERR_STREAM_PREMATURE_CLOSE",
  "ERR_STREAM_DESTROYED",
  "ERR_HTTP2_INVALID_STREAM",
  "ERR_HTTP2_STREAM_CANCEL",
]);

/**
 * Whether `error` says the client went away: a ConnectError `canceled`, or
 * a Node error (anywhere in its `cause` chain) of a closed socket or stream.
 */
export function isClientGone(error: unknown): boolean {
  if (error instanceof ConnectError && error.code === Code.Canceled) return true;
  for (let e = error, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string" && PEER_GONE.has(code)) return true;
  }
  return false;
}

/**
 * What to answer for an RPC failure, logged: a client that went away at
 * debug, without a stack (`canceled`; the caller should not answer it);
 * expected Connect errors at debug, answered as they are; anything else at
 * error level with its stack, answered as a generic `internal error` so that
 * no internal detail reaches clients.
 */
export function logRpcError(log: RpcLogger, rpc: string, error: unknown): ConnectError {
  if (isClientGone(error)) {
    // isClientGone holds only for Errors.
    const reason = error instanceof ConnectError ? error.rawMessage : (error as Error).message;
    log.debug({ rpc, code: Code[Code.Canceled], reason }, "rpc canceled");
    return error instanceof ConnectError && error.code === Code.Canceled ? error : new ConnectError("the client went away", Code.Canceled);
  }
  if (error instanceof ConnectError) {
    log.debug({ rpc, code: Code[error.code], reason: error.rawMessage }, "rpc refused");
    return error;
  }
  log.error({ rpc, err: error }, "rpc failed unexpectedly");
  // No cause: nothing of the failure may reach the client.
  return new ConnectError("internal error", Code.Internal);
}

/**
 * `log` with its error lines held to `budget`: a flood of failures (a bug
 * every request hits, a client that found one) writes a few lines a second,
 * and the next line through says in `suppressed` how many were dropped.
 * Debug lines pass as they are (they are off in production).
 */
export function limitErrorLines(log: RpcLogger, budget: LineBudget): RpcLogger {
  return {
    error(obj, msg) {
      const suppressed = budget.take();
      if (suppressed === undefined) return;
      log.error(suppressed === 0 ? obj : { ...obj, suppressed }, msg);
    },
    debug: (obj, msg) => log.debug(obj, msg),
  };
}

/** The logging step: every failure of the steps inside it and the handler goes through logRpcError. */
export function loggingStep(log: RpcLogger): Step {
  return async (call, next) => {
    try {
      return await next(call);
    } catch (error) {
      throw logRpcError(log, call.rpc, error);
    }
  };
}
