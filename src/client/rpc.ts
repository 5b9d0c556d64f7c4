import type { CallOptions, Client } from "@connectrpc/connect";
import type { DiscoveryService } from "../../gen/coral/discovery/v1/discovery_pb.js";

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
 * rejects with a ConnectError. The rendezvous RPCs are left out: the service
 * answers them `unimplemented`.
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
}

/** Wraps the generated client so every call gets `defaultTimeoutMs` unless it names its own. */
export function createDiscoveryRpc(client: Generated, defaultTimeoutMs: number): DiscoveryRpc {
  const call = (options: RpcOptions | undefined): CallOptions => ({
    timeoutMs: options?.timeoutMs ?? defaultTimeoutMs,
    ...(options?.signal === undefined ? {} : { signal: options.signal }),
    ...(options?.headers === undefined ? {} : { headers: options.headers }),
  });
  return {
    registerColony: (request, options) => client.registerColony(request, call(options)),
    lookupColony: (request, options) => client.lookupColony(request, call(options)),
    registerAgent: (request, options) => client.registerAgent(request, call(options)),
    lookupAgent: (request, options) => client.lookupAgent(request, call(options)),
    requestRelay: (request, options) => client.requestRelay(request, call(options)),
    releaseRelay: (request, options) => client.releaseRelay(request, call(options)),
    health: (request, options) => client.health(request, call(options)),
    createBootstrapToken: (request, options) => client.createBootstrapToken(request, call(options)),
  };
}
