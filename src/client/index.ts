/**
 * coral-discovery/client: a Node client for the Coral discovery service.
 *
 * ```ts
 * const discovery = createDiscoveryClient({ baseUrl: "https://discovery.coral.io" });
 * // colony side: heartbeat every 60 s until stopped
 * const registration = discovery.startColonyRegistration({ meshId, pubkey, endpoints });
 * registration.on("error", (err) => log.warn({ err }, "discovery registration failed"));
 * // agent side: cached, retried lookup
 * const colony = await discovery.findColony(meshId);
 * ```
 */
import { createClient, type Transport } from "@connectrpc/connect";
import { DiscoveryService, type LookupColonyResponse } from "../../gen/coral/discovery/v1/discovery_pb.js";
import { createColonyFinder, type FindColonyOptions } from "./colony-finder.js";
import { startColonyRegistration, type ColonyRegistration, type ColonyRegistrationOptions } from "./colony-registration.js";
import { createDiscoveryRpc, type DiscoveryRpc, type RpcOptions } from "./rpc.js";
import { withRegistrationProofs } from "./proof.js";
import { realTimers, type Timers } from "../timers.js";
import { createDiscoveryTransport, type TransportOptions } from "./transport.js";
import { timeoutMs as checkTimeoutMs } from "./validate.js";

export interface DiscoveryClientOptions extends TransportOptions {
  /** Deadline of every RPC attempt in ms, unless a call names its own. Default 10_000. */
  timeoutMs?: number;
  /** A ready transport (tests: createRouterTransport); when given, baseUrl, protocol, binary and httpVersion are ignored. */
  transport?: Transport;
  /** Unix time in ms. Default Date.now. */
  now?: () => number;
  /** Timers for retry waits and heartbeats. Default Node's setTimeout/clearTimeout. */
  timers?: Timers;
  /** Uniform in [0, 1), for backoff jitter. Default Math.random. */
  random?: () => number;
  /**
   * A WireGuard private key (base64 as `wg genkey` writes it, or a
   * `PrivateKey = ...` text): every RegisterColony and RegisterAgent then
   * carries a registration proof for its public key (an empty `pubkey` is
   * filled in with it), so nobody without the key can change the entry.
   */
  wireguardPrivateKey?: string;
  /** The service's public key (base64) for proofs; default: read once from `<baseUrl>/.well-known/coral-discovery.json`. */
  servicePublicKey?: string;
}

/**
 * The raw RPCs (one call each, no retries, see DiscoveryRpc) plus the two
 * behaviours colonies and agents need. `lookupColony(request)` is the raw RPC;
 * `lookupColony(meshId)` and `findColony(meshId)` are the cached and retried lookup.
 */
export interface DiscoveryClient extends Omit<DiscoveryRpc, "lookupColony"> {
  /**
   * With a mesh id: the cached, retried lookup (same as `findColony`, RFD 001's
   * agent behaviour). With a request object: one raw LookupColony call.
   */
  lookupColony(meshId: string, options?: FindColonyOptions): Promise<LookupColonyResponse>;
  lookupColony(request: Parameters<DiscoveryRpc["lookupColony"]>[0], options?: RpcOptions): Promise<LookupColonyResponse>;
  /** Colony side: starts the registration heartbeat loop; see ColonyRegistrationOptions. */
  startColonyRegistration(options: ColonyRegistrationOptions): ColonyRegistration;
  /** Agent side: the mesh's colony, cached per meshId and retried; see FindColonyOptions. */
  findColony(meshId: string, options?: FindColonyOptions): Promise<LookupColonyResponse>;
  /** Drops findColony's cached answer for `meshId` (after its endpoints failed). */
  invalidate(meshId: string): void;
}

export function createDiscoveryClient(options: DiscoveryClientOptions): DiscoveryClient {
  const timeoutMs = checkTimeoutMs("timeoutMs", options.timeoutMs ?? 10_000, 1);
  const transport = options.transport ?? createDiscoveryTransport(options);
  const now = options.now ?? Date.now;
  const timers = options.timers ?? realTimers;
  const random = options.random ?? Math.random;
  const plain = createDiscoveryRpc(createClient(DiscoveryService, transport), timeoutMs);
  const rpc =
    options.wireguardPrivateKey === undefined
      ? plain
      : withRegistrationProofs(plain, {
          wireguardPrivateKey: options.wireguardPrivateKey,
          servicePublicKey: options.servicePublicKey,
          baseUrl: options.transport === undefined ? options.baseUrl : undefined,
          timeoutMs,
          now,
        });
  const finder = createColonyFinder({ lookupColony: rpc.lookupColony, now, timers, random });
  function lookupColony(meshId: string, options?: FindColonyOptions): Promise<LookupColonyResponse>;
  function lookupColony(request: Parameters<DiscoveryRpc["lookupColony"]>[0], options?: RpcOptions): Promise<LookupColonyResponse>;
  function lookupColony(arg: string | Parameters<DiscoveryRpc["lookupColony"]>[0], options?: FindColonyOptions | RpcOptions) {
    return typeof arg === "string" ? finder.find(arg, options as FindColonyOptions) : rpc.lookupColony(arg, options as RpcOptions);
  }
  return {
    ...rpc,
    lookupColony,
    startColonyRegistration: (registration) =>
      startColonyRegistration({ registerColony: rpc.registerColony, now, timers }, registration),
    findColony: finder.find,
    invalidate: finder.invalidate,
  };
}

export { Code, ConnectError } from "@connectrpc/connect";
export type {
  AckBootstrapRendezvousResponse,
  BootstrapRendezvousRecord,
  CreateBootstrapTokenResponse,
  HealthResponse,
  LookupAgentResponse,
  LookupColonyResponse,
  PollBootstrapRendezvousResponse,
  PublishBootstrapRendezvousResponse,
  RegisterAgentResponse,
  RegisterColonyResponse,
  ReleaseRelayResponse,
  RequestRelayResponse,
} from "../../gen/coral/discovery/v1/discovery_pb.js";
export { backoffDelayMs, scheduledDelayMs, defaultBackoffPolicy, type BackoffPolicy } from "./backoff.js";
export type { FindColonyOptions, LookupRetry } from "./colony-finder.js";
export type {
  ColonyRegistration,
  ColonyRegistrationEvents,
  ColonyRegistrationOptions,
  ColonyRegistrationStatus,
  RegistrationRetry,
} from "./colony-registration.js";
export type { Emitter } from "./emitter.js";
export { isRetryableLookupError, isFinalRegistrationError } from "./errors.js";
export type { DiscoveryRpc, RpcOptions } from "./rpc.js";
export type { Timers } from "../timers.js";
export type { TransportOptions } from "./transport.js";
