import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";

/** The part of a pino logger the interceptor uses. */
export interface RpcLogger {
  error(obj: object, msg: string): void;
  debug(obj: object, msg: string): void;
}

/**
 * Logs an RPC failure and returns what to answer: expected Connect errors are
 * logged at debug and answered as they are; anything else is logged at error
 * level with its stack and answered as a generic `internal error`, so no
 * internal detail reaches clients.
 */
export function logRpcError(log: RpcLogger, rpc: string, error: unknown): ConnectError {
  if (error instanceof ConnectError) {
    log.debug({ rpc, code: Code[error.code], reason: error.rawMessage }, "rpc refused");
    return error;
  }
  log.error({ rpc, err: error }, "rpc failed unexpectedly");
  return new ConnectError("internal error", Code.Internal);
}

/** Applies `logRpcError` to every RPC served through connect-es. */
export function createLoggingInterceptor(log: RpcLogger): Interceptor {
  return (next) => async (req) => {
    try {
      return await next(req);
    } catch (error) {
      throw logRpcError(log, `${req.service.typeName}/${req.method.name}`, error);
    }
  };
}
