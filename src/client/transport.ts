import type { Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { httpUrl } from "./validate.js";

/** How the client talks to the discovery service. */
export interface TransportOptions {
  /** Base URL of the service, e.g. `https://discovery.coral.io` or `http://127.0.0.1:8080`. Required. */
  baseUrl: string;
  /** RPC protocol. Default "connect" (what the Coral Go client speaks). */
  protocol?: "connect" | "grpc" | "grpc-web";
  /**
   * Protobuf binary instead of JSON. Default: false for "connect" (Connect JSON,
   * like the Coral Go client), true for "grpc" and "grpc-web" (what peers of
   * those protocols expect; the service accepts either).
   */
  binary?: boolean;
  /** HTTP version. Default "1.1"; "2" uses h2c for http:// URLs. "grpc" always uses "2". */
  httpVersion?: "1.1" | "2";
}

const protocols = ["connect", "grpc", "grpc-web"] as const;

/** A connect-node transport for the options above (after checking them). */
export function createDiscoveryTransport(options: TransportOptions): Transport {
  const baseUrl = httpUrl("baseUrl", options.baseUrl);
  const protocol = options.protocol ?? "connect";
  const httpVersion = options.httpVersion ?? "1.1";
  if (!protocols.includes(protocol)) {
    throw new RangeError(`protocol must be one of ${protocols.join(", ")}, got ${JSON.stringify(protocol)}`);
  }
  if (httpVersion !== "1.1" && httpVersion !== "2") {
    throw new RangeError(`httpVersion must be "1.1" or "2", got ${JSON.stringify(httpVersion)}`);
  }
  switch (protocol) {
    case "connect":
      return createConnectTransport({ baseUrl, httpVersion, useBinaryFormat: options.binary ?? false });
    case "grpc":
      return createGrpcTransport({ baseUrl, useBinaryFormat: options.binary ?? true });
    case "grpc-web":
      return createGrpcWebTransport({ baseUrl, httpVersion, useBinaryFormat: options.binary ?? true });
  }
}
