import { toJson, type DescMessage, type Message } from "@bufbuild/protobuf";
import type { CallOptions, Client } from "@connectrpc/connect";
import { DiscoveryService } from "../../gen/coral/discovery/v1/discovery_pb.js";

/** Options for one RPC. */
export interface RpcOptions {
  /** Cancels the call; it then rejects with ConnectError `canceled`. */
  signal?: AbortSignal;
  /** Deadline of this call in milliseconds (sent as `Connect-Timeout-Ms` / `grpc-timeout`). Default: the client's `timeoutMs`. */
  timeoutMs?: number;
  /** Extra request headers. */
  headers?: CallOptions["headers"];
}

type Generated = Client<typeof DiscoveryService>;

type Rpc<M extends keyof Generated> = (request: Parameters<Generated[M]>[0], options?: RpcOptions) => ReturnType<Generated[M]>;

/**
 * The DiscoveryService RPCs, one call each, no retries. Every call has a
 * deadline (the client's `timeoutMs` unless the call names its own) and
 * rejects with a ConnectError.
 */
export interface DiscoveryRpc {
  /** Register or renew a colony's lease (one heartbeat). */
  registerColony: Rpc<"registerColony">;
  /** Look up the active colony of a mesh; `not_found` when there is none. */
  lookupColony: Rpc<"lookupColony">;
  /** Register or replace an agent's lease. */
  registerAgent: Rpc<"registerAgent">;
  /** Look up an agent of a mesh. */
  lookupAgent: Rpc<"lookupAgent">;
  /** Allocate a relay session (`unimplemented` when the service has no relay). */
  requestRelay: Rpc<"requestRelay">;
  /** Release a relay session. */
  releaseRelay: Rpc<"releaseRelay">;
  /** Service health. */
  health: Rpc<"health">;
  /** Mint a short-lived bootstrap token (JWT). */
  createBootstrapToken: Rpc<"createBootstrapToken">;
  /** Publish (or, with `recordId` and its write token, republish) an encrypted bootstrap rendezvous record. */
  publishBootstrapRendezvous: Rpc<"publishBootstrapRendezvous">;
  /**
   * A mesh's rendezvous records, waiting up to `waitSeconds` (at most 25) for
   * one. Its default deadline covers the wait: the client's `timeoutMs` plus
   * the wait.
   */
  pollBootstrapRendezvous: Rpc<"pollBootstrapRendezvous">;
  /** Acknowledge (delete) a rendezvous record with its write token. */
  ackBootstrapRendezvous: Rpc<"ackBootstrapRendezvous">;
}

/** The longest wait the service grants a rendezvous poll, seconds. */
const MAX_POLL_WAIT_SECONDS = 25;

/**
 * Gives a response a (non-enumerable) `toJSON`, so that `JSON.stringify(response)`
 * prints its proto3 JSON form (int64 as strings, Timestamps as RFC 3339, enums
 * by name), as the CLI's `--json` does, instead of throwing on a BigInt.
 */
export function jsonSafe<T extends Message>(schema: DescMessage, message: T): T {
  Object.defineProperty(message, "toJSON", { value: () => toJson(schema, message), configurable: true, writable: true });
  return message;
}

/**
 * Wraps the generated client so every call gets `defaultTimeoutMs` unless it
 * names its own, and every response is safe to JSON.stringify (see jsonSafe).
 */
export function createDiscoveryRpc(client: Generated, defaultTimeoutMs: number): DiscoveryRpc {
  const call = (options: RpcOptions | undefined, extraMs = 0): CallOptions => ({
    timeoutMs: options?.timeoutMs ?? defaultTimeoutMs + extraMs,
    ...(options?.signal === undefined ? {} : { signal: options.signal }),
    ...(options?.headers === undefined ? {} : { headers: options.headers }),
  });
  const { method } = DiscoveryService;
  return {
    registerColony: async (request, options) => jsonSafe(method.registerColony.output, await client.registerColony(request, call(options))),
    lookupColony: async (request, options) => jsonSafe(method.lookupColony.output, await client.lookupColony(request, call(options))),
    registerAgent: async (request, options) => jsonSafe(method.registerAgent.output, await client.registerAgent(request, call(options))),
    lookupAgent: async (request, options) => jsonSafe(method.lookupAgent.output, await client.lookupAgent(request, call(options))),
    requestRelay: async (request, options) => jsonSafe(method.requestRelay.output, await client.requestRelay(request, call(options))),
    releaseRelay: async (request, options) => jsonSafe(method.releaseRelay.output, await client.releaseRelay(request, call(options))),
    health: async (request, options) => jsonSafe(method.health.output, await client.health(request, call(options))),
    createBootstrapToken: async (request, options) =>
      jsonSafe(method.createBootstrapToken.output, await client.createBootstrapToken(request, call(options))),
    publishBootstrapRendezvous: async (request, options) =>
      jsonSafe(method.publishBootstrapRendezvous.output, await client.publishBootstrapRendezvous(request, call(options))),
    pollBootstrapRendezvous: async (request, options) => {
      const waitMs = Math.min(Math.max(request.waitSeconds ?? 0, 0), MAX_POLL_WAIT_SECONDS) * 1000;
      return jsonSafe(method.pollBootstrapRendezvous.output, await client.pollBootstrapRendezvous(request, call(options, waitMs)));
    },
    ackBootstrapRendezvous: async (request, options) =>
      jsonSafe(method.ackBootstrapRendezvous.output, await client.ackBootstrapRendezvous(request, call(options))),
  };
}
