import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";

/** The part of a pino logger the interceptor uses. */
export interface RpcLogger {
  error(obj: object, msg: string): void;
  debug(obj: object, msg: string): void;
}

/**
 * Logs RPC failures: expected Connect errors at debug, anything else at error
 * level with the RPC name and stack. Unexpected errors are answered as
 * `internal` with a generic message, so no internal detail reaches clients.
 */
export function createLoggingInterceptor(log: RpcLogger): Interceptor {
  return (next) => async (req) => {
    try {
      return await next(req);
    } catch (error) {
      const rpc = `${req.service.typeName}/${req.method.name}`;
      if (error instanceof ConnectError) {
        log.debug({ rpc, code: Code[error.code], msg: error.rawMessage }, "rpc refused");
        throw error;
      }
      log.error({ rpc, err: error }, "rpc failed unexpectedly");
      throw new ConnectError("internal error", Code.Internal);
    }
  };
}
