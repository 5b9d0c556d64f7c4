// The 5-byte envelope of gRPC and gRPC-Web messages (1 flag byte, 4 bytes of
// big-endian length). A unary request holds exactly one; anything else is a
// malformed request: invalid_argument.
import { Code, ConnectError } from "@connectrpc/connect";
import { tooLarge } from "./body.js";

export const ENVELOPE_HEADER_BYTES = 5;
export const COMPRESSED_FLAG = 0b0000_0001;
/** gRPC-Web: the envelope holds trailers, not a message. */
export const TRAILER_FLAG = 0b1000_0000;

export interface Envelope {
  readonly flags: number;
  readonly data: Uint8Array;
}

/** The declared length of the envelope starting the received bytes, refused when over `maxBytes`; undefined until 5 bytes arrived. */
export function checkEnvelopeHeader(received: readonly Buffer[], size: number, maxBytes: number): void {
  if (size < ENVELOPE_HEADER_BYTES) return;
  const first = received[0] as Buffer;
  const head = first.length >= ENVELOPE_HEADER_BYTES ? first : Buffer.concat(received as Buffer[], size);
  const length = head.readUInt32BE(1);
  if (length > maxBytes) throw tooLarge(maxBytes, length);
}

/** The one envelope of a unary request body. */
export function singleEnvelope(body: Buffer, maxBytes: number): Envelope {
  if (body.length === 0) {
    throw new ConnectError("protocol error: missing input message for unary method", Code.InvalidArgument);
  }
  if (body.length < ENVELOPE_HEADER_BYTES) throw incomplete();
  const flags = body.readUInt8(0);
  const length = body.readUInt32BE(1);
  if (length > maxBytes) throw tooLarge(maxBytes, length);
  const end = ENVELOPE_HEADER_BYTES + length;
  if (body.length < end) throw incomplete();
  if (body.length > end) {
    throw new ConnectError("protocol error: received extra input message for unary method", Code.InvalidArgument);
  }
  if ((flags & ~COMPRESSED_FLAG) !== 0) {
    throw new ConnectError(`protocol error: unexpected envelope flags 0b${flags.toString(2).padStart(8, "0")}`, Code.InvalidArgument);
  }
  return { flags, data: body.subarray(ENVELOPE_HEADER_BYTES, end) };
}

function incomplete(): ConnectError {
  return new ConnectError("protocol error: incomplete envelope", Code.InvalidArgument);
}

/** One envelope as bytes. */
export function encodeEnvelope(flags: number, data: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(ENVELOPE_HEADER_BYTES + data.byteLength);
  out.writeUInt8(flags, 0);
  out.writeUInt32BE(data.byteLength, 1);
  out.set(data, ENVELOPE_HEADER_BYTES);
  return out;
}
