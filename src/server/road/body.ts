import { Code, ConnectError } from "@connectrpc/connect";
import type { IncomingMessage } from "node:http";
import type { Http2ServerRequest } from "node:http2";

export type RawRequest = IncomingMessage | Http2ServerRequest;

/** connect-es's message for a message over the limit; `size` when the length was declared. */
export function tooLarge(maxBytes: number, size?: number): ConnectError {
  const message =
    size === undefined
      ? `message size is larger than configured readMaxBytes ${maxBytes}`
      : `message size ${size} is larger than configured readMaxBytes ${maxBytes}`;
  return new ConnectError(message, Code.ResourceExhausted);
}

function closed(): ConnectError {
  return new ConnectError("the client closed the request", Code.Canceled);
}

export interface ReadLimits {
  /** Most bytes the body may have. */
  readonly maxBytes: number;
  /** The error for a body longer than `maxBytes` (default: connect-es's "larger than readMaxBytes"). */
  readonly overflow?: () => unknown;
  /** A declared Content-Length to hold the body to (Connect unary). */
  readonly declaredLength?: string | undefined;
  /** Sees the bytes so far after every chunk and may refuse early by throwing (an envelope's declared length). */
  readonly check?: (received: readonly Buffer[], size: number) => void;
  /** Charges every chunk, before it is kept, to a memory budget; throws to refuse it (see RequestCharge). */
  readonly charge?: ((bytes: number) => void) | undefined;
}

/**
 * Reads a whole request body within `limits`. A declared Content-Length is
 * held to (a lie is invalid_argument) and refused at once when over the
 * limit. A client that goes away ends it with `canceled`, also when it went
 * before the read began (the request's events are over by then).
 */
export function readBody(req: RawRequest, limits: ReadLimits): Promise<Buffer> {
  const { maxBytes, declaredLength, check, charge } = limits;
  const overflow = limits.overflow ?? (() => tooLarge(maxBytes));
  const hint = declaredLength === undefined || !/^\d+$/.test(declaredLength) ? undefined : Number(declaredLength);
  if (hint !== undefined && hint > maxBytes) return Promise.reject(tooLarge(maxBytes, hint));
  if (req.aborted || req.destroyed) return Promise.reject(closed());
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const done = (error?: unknown) => {
      req.off("data", onData);
      req.off("end", onEnd);
      req.off("error", onError);
      req.off("aborted", onAborted);
      req.off("close", onAborted);
      if (error !== undefined) {
        reject(error);
        return;
      }
      if (hint !== undefined && size < hint) {
        reject(new ConnectError(`protocol error: promised ${hint} bytes, received ${size}`, Code.InvalidArgument));
        return;
      }
      resolve(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size));
    };
    const onData = (chunk: Buffer) => {
      size += chunk.byteLength;
      if (hint !== undefined && size > hint) {
        done(new ConnectError(`protocol error: promised ${hint} bytes, received ${size}`, Code.InvalidArgument));
        return;
      }
      if (charge !== undefined) {
        try {
          charge(chunk.byteLength);
        } catch (error) {
          done(error);
          return;
        }
      }
      chunks.push(chunk);
      if (check !== undefined) {
        try {
          check(chunks, size);
        } catch (error) {
          done(error);
          return;
        }
      }
      if (size > maxBytes) done(overflow());
    };
    const onEnd = () => done();
    const onError = (error: Error) => done(new ConnectError("the request body could not be read", Code.Canceled, undefined, undefined, error));
    // 'close' before 'end': a stream destroyed without 'aborted' (an HTTP/2 stream reset by a limit).
    const onAborted = () => done(closed());
    req.on("data", onData);
    req.on("end", onEnd);
    req.on("error", onError);
    req.on("aborted", onAborted);
    req.on("close", onAborted);
  });
}
