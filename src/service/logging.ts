import { Code, ConnectError } from "@connectrpc/connect";
import type { Step } from "./call.js";

/** The part of a pino logger the logging step uses. */
export interface RpcLogger {
  error(obj: object, msg: string): void;
  debug(obj: object, msg: string): void;
}

/**
 * What to answer for an RPC failure, logged: expected Connect errors at
 * debug, answered as they are; anything else at error level with its stack,
 * answered as a generic `internal error` so that no internal detail reaches
 * clients.
 */
export function logRpcError(log: RpcLogger, rpc: string, error: unknown): ConnectError {
  if (error instanceof ConnectError) {
    log.debug({ rpc, code: Code[error.code], reason: error.rawMessage }, "rpc refused");
    return error;
  }
  log.error({ rpc, err: error }, "rpc failed unexpectedly");
  // No cause: nothing of the failure may reach the client.
  return new ConnectError("internal error", Code.Internal);
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
