// Writing an answer in each protocol, with connect-es's helpers for the
// parts the protocols define (status codes, error JSON, trailer status,
// gRPC-Web trailer blocks), so that the bytes are the ones connect-es sends.
import { ConnectError } from "@connectrpc/connect";
import { codeToHttpStatus, errorToJson } from "@connectrpc/connect/protocol-connect";
import { setTrailerStatus } from "@connectrpc/connect/protocol-grpc";
import { trailerSerialize } from "@connectrpc/connect/protocol-grpc-web";
import type { OutgoingHttpHeaders, ServerResponse } from "node:http";
import type { Http2ServerResponse } from "node:http2";
import { COMPRESS_MIN_BYTES, type SyncCompression } from "./compression.js";
import { responseContentType, type Encoding } from "./encodings.js";
import { COMPRESSED_FLAG, encodeEnvelope, TRAILER_FLAG } from "./envelope.js";

export type RawResponse = ServerResponse | Http2ServerResponse;

export interface Answer {
  readonly encoding: Encoding;
  /** The negotiated response compression, if any. */
  readonly compression: SyncCompression | null;
  /** Headers the handler set. */
  readonly headers: Record<string, string> | undefined;
}

/**
 * Whether the client is gone (HTTP/1.1: its socket closed; HTTP/2: its
 * stream reset or closed): nothing may be written, nobody would read it.
 */
export function peerGone(res: RawResponse): boolean {
  return "stream" in res ? res.stream.destroyed : res.destroyed;
}

function headersOf(answer: Answer, contentType: string): OutgoingHttpHeaders {
  const headers: OutgoingHttpHeaders = { ...answer.headers, "content-type": contentType };
  return headers;
}

/** Writes a success: `message` is the encoded response message. */
export function writeMessage(res: RawResponse, answer: Answer, message: Uint8Array): void {
  const { encoding, compression } = answer;
  const headers = headersOf(answer, responseContentType(encoding));
  if (encoding.protocol === "connect") {
    let body = message;
    if (compression !== null && body.byteLength >= COMPRESS_MIN_BYTES) {
      body = compression.compressSync(body);
      headers["content-encoding"] = compression.name;
    }
    headers["content-length"] = String(body.byteLength);
    res.writeHead(200, headers);
    res.end(body);
    return;
  }
  if (compression !== null) headers["grpc-encoding"] = compression.name;
  const envelope = envelopeFor(message, compression);
  if (encoding.protocol === "grpc") {
    res.writeHead(200, headers);
    res.addTrailers({ "grpc-status": "0" });
    res.end(envelope);
    return;
  }
  res.writeHead(200, headers);
  res.end(Buffer.concat([envelope, envelopeFor(trailerSerialize(new Headers({ "grpc-status": "0" })), compression, TRAILER_FLAG)]));
}

/** Writes an error. */
export function writeError(res: RawResponse, answer: Answer, error: ConnectError): void {
  const { encoding, compression } = answer;
  if (encoding.protocol === "connect") {
    const headers = headersOf(answer, "application/json");
    error.metadata.forEach((value, key) => {
      headers[key] = value;
    });
    let body: Uint8Array = Buffer.from(JSON.stringify(errorToJson(error, undefined)));
    if (compression !== null && body.byteLength >= COMPRESS_MIN_BYTES) {
      body = compression.compressSync(body);
      headers["content-encoding"] = compression.name;
    }
    headers["content-length"] = String(body.byteLength);
    res.writeHead(codeToHttpStatus(error.code), headers);
    res.end(body);
    return;
  }
  const headers = headersOf(answer, responseContentType(encoding));
  if (compression !== null) headers["grpc-encoding"] = compression.name;
  const trailer = setTrailerStatus(new Headers(), error);
  if (encoding.protocol === "grpc") {
    res.writeHead(200, headers);
    const trailers: Record<string, string> = {};
    trailer.forEach((value, key) => {
      trailers[key] = value;
    });
    res.addTrailers(trailers);
    res.end();
    return;
  }
  res.writeHead(200, headers);
  res.end(envelopeFor(trailerSerialize(trailer), compression, TRAILER_FLAG));
}

function envelopeFor(data: Uint8Array, compression: SyncCompression | null, flags = 0): Buffer {
  if (compression !== null && data.byteLength >= COMPRESS_MIN_BYTES) {
    return encodeEnvelope(flags | COMPRESSED_FLAG, compression.compressSync(data));
  }
  return encodeEnvelope(flags, data);
}

/** An HTTP status without a body (405, 415), as connect-es's router answers protocol mismatches. */
export function writeStatus(res: RawResponse, status: number): void {
  res.writeHead(status);
  res.end();
}

/**
 * The answer to an RPC path no method lives at, as connect-go and grpc-go
 * give it: Connect gets a plain 404 (which Connect clients read as
 * `unimplemented`, never as a `not_found` error of the method), gRPC and
 * gRPC-Web get status 12 (unimplemented) in a trailers-only response.
 */
export function writeUnknownMethod(res: RawResponse, protocol: "connect" | "grpc" | "grpc-web", message: string): void {
  if (protocol === "connect") {
    const body = "404 page not found\n";
    res.writeHead(404, { "content-type": "text/plain; charset=utf-8", "content-length": String(Buffer.byteLength(body)) });
    res.end(body);
    return;
  }
  res.writeHead(200, {
    "content-type": protocol === "grpc" ? "application/grpc" : "application/grpc-web+proto",
    "grpc-status": "12",
    "grpc-message": encodeURIComponent(message),
  });
  res.end();
}
