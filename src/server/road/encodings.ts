// The four encodings of a unary RPC the road serves, told apart by the
// request's content type exactly as connect-es's router does.
import * as connect from "@connectrpc/connect/protocol-connect";
import * as grpc from "@connectrpc/connect/protocol-grpc";
import * as grpcWeb from "@connectrpc/connect/protocol-grpc-web";

export type Protocol = "connect" | "grpc" | "grpc-web";

export interface Encoding {
  readonly protocol: Protocol;
  /** Protobuf binary (else JSON). */
  readonly binary: boolean;
}

/**
 * The encoding of a unary request, or undefined when its content type is not
 * one a unary method accepts (Connect streaming, gRPC-Web text, anything else).
 */
export function unaryEncoding(contentType: string | undefined): Encoding | undefined {
  if (contentType === undefined) return undefined;
  if (connect.contentTypeUnaryRegExp.test(contentType)) {
    return { protocol: "connect", binary: /proto$/i.test(contentType) };
  }
  const g = grpc.parseContentType(contentType);
  if (g !== undefined) return { protocol: "grpc", binary: g.binary };
  const w = grpcWeb.parseContentType(contentType);
  if (w !== undefined && !w.text) return { protocol: "grpc-web", binary: w.binary };
  return undefined;
}

/**
 * The protocol a request to an RPC path speaks, by content type, including
 * the streaming and text variants: how to refuse an unknown method.
 */
export function rpcProtocol(contentType: string | undefined): Protocol | undefined {
  if (contentType === undefined) return undefined;
  if (connect.contentTypeRegExp.test(contentType) || connect.contentTypeUnaryRegExp.test(contentType)) return "connect";
  if (grpc.contentTypeRegExp.test(contentType)) return "grpc";
  if (grpcWeb.contentTypeRegExp.test(contentType)) return "grpc-web";
  return undefined;
}

/** The response content type for an encoding. */
export function responseContentType(encoding: Encoding): string {
  switch (encoding.protocol) {
    case "connect":
      return encoding.binary ? connect.contentTypeUnaryProto : connect.contentTypeUnaryJson;
    case "grpc":
      return encoding.binary ? grpc.contentTypeProto : grpc.contentTypeJson;
    case "grpc-web":
      return encoding.binary ? grpcWeb.contentTypeProto : grpcWeb.contentTypeJson;
  }
}

interface HeaderNames {
  readonly encoding: string;
  readonly acceptEncoding: string;
  readonly timeout: string;
}

const names = (encoding: string, acceptEncoding: string, timeout: string): HeaderNames => ({
  encoding: encoding.toLowerCase(),
  acceptEncoding: acceptEncoding.toLowerCase(),
  timeout: timeout.toLowerCase(),
});

/** Header names per protocol (lower case, as Node reports them): where compression and deadlines are negotiated. */
export const HEADERS: Record<Protocol, HeaderNames> = {
  connect: names(connect.headerUnaryEncoding, connect.headerUnaryAcceptEncoding, connect.headerTimeout),
  grpc: names(grpc.headerEncoding, grpc.headerAcceptEncoding, grpc.headerTimeout),
  "grpc-web": names(grpcWeb.headerEncoding, grpcWeb.headerAcceptEncoding, grpcWeb.headerTimeout),
};

/** The deadline header, parsed as the protocol defines it (connect-es's parsers). */
export function parseTimeout(protocol: Protocol, value: string | undefined): { timeoutMs?: number; error?: unknown } {
  const parse = protocol === "connect" ? connect.parseTimeout : grpc.parseTimeout;
  return parse(value ?? null, Number.MAX_SAFE_INTEGER);
}
