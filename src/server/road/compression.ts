// Request decompression and response compression for the road: gzip and
// brotli, as connect-es's Fastify plugin accepts them. Decompression is
// synchronous but bounded (the output may not exceed the message limit, so a
// bomb stops at once); anything that does not decompress is the client's
// fault: invalid_argument, never internal.
import { brotliCompressSync, brotliDecompressSync, gunzipSync, gzipSync } from "node:zlib";
import { Code, ConnectError } from "@connectrpc/connect";
/** Responses smaller than this are sent uncompressed (connect-es's default). */
export const COMPRESS_MIN_BYTES = 1024;

/** A compression the road uses synchronously (small messages, bounded output). */
export interface SyncCompression {
  /** The name in `Content-Encoding` / `Grpc-Encoding`. */
  readonly name: string;
  compressSync(bytes: Uint8Array): Uint8Array;
  /** Throws resource_exhausted past `readMaxBytes`, invalid_argument for anything that does not decompress. */
  decompressSync(bytes: Uint8Array, readMaxBytes: number): Uint8Array;
}

function named(name: string, compress: (b: Uint8Array) => Uint8Array, decompress: (b: Uint8Array, max: number) => Uint8Array): SyncCompression {
  const decompressSync = (bytes: Uint8Array, readMaxBytes: number): Uint8Array => {
    if (bytes.length === 0) return bytes;
    try {
      return decompress(bytes, readMaxBytes);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ERR_BUFFER_TOO_LARGE") {
        throw new ConnectError(`message is larger than configured readMaxBytes ${readMaxBytes} after decompression`, Code.ResourceExhausted);
      }
      // connect-es's message; it answers some of these internal, but a body that does not decompress is the client's.
      throw new ConnectError("decompression failed", Code.InvalidArgument, undefined, undefined, error);
    }
  };
  return { name, compressSync: compress, decompressSync };
}

export const GZIP = named(
  "gzip",
  (bytes) => gzipSync(bytes),
  (bytes, max) => gunzipSync(bytes, { maxOutputLength: max }),
);

export const BROTLI = named(
  "br",
  (bytes) => brotliCompressSync(bytes),
  (bytes, max) => brotliDecompressSync(bytes, { maxOutputLength: max }),
);

/** What the road accepts and offers, in preference order (as connect-es: gzip, then br). */
export const ACCEPTED: readonly SyncCompression[] = [GZIP, BROTLI];
