import { Code, ConnectError } from "@connectrpc/connect";
import type { DescMethodUnary, MessageInitShape, MessageShape } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import {
  type DiscoveryService,
  type Endpoint,
  type EndpointSchema,
  NatHint,
  type PublicEndpointInfo,
  type PublicEndpointInfoSchema,
  type RelayOptionSchema,
} from "../../gen/coral/discovery/v1/discovery_pb.js";
import { addressKey, isPublicIp } from "../net/address.js";
import { parseHostPort } from "../net/host-port.js";
import type { Registry, Store } from "../registry/index.js";
import type { TokenSigner } from "../tokens/index.js";
import type { CallContext } from "./call.js";
import type { RendezvousHandlers } from "./rendezvous.js";
import * as check from "./validate.js";

/** An Endpoint as stored: a copy of the client's, or one the service built. */
export type EndpointInit = MessageInitShape<typeof EndpointSchema>;
export type PublicEndpointInit = MessageInitShape<typeof PublicEndpointInfoSchema>;

/** What a colony registration stores besides its key and pubkey. */
export interface ColonyData {
  readonly endpoints: string[];
  readonly meshIpv4: string;
  readonly meshIpv6: string;
  readonly connectPort: number;
  readonly metadata: Record<string, string>;
  readonly observedEndpoint: EndpointInit | undefined;
  readonly publicPort: number;
  readonly publicEndpoint: PublicEndpointInit | undefined;
}

/** What an agent registration stores besides its keys and pubkey. */
export interface AgentData {
  readonly endpoints: string[];
  readonly metadata: Record<string, string>;
  readonly observedEndpoint: EndpointInit | undefined;
}

/** A relay offered to clients (`--relay host:port`). */
export interface RelayConfig {
  /** Stable id reported as `relay_id`: the `host:port` text. */
  readonly id: string;
  readonly host: string;
  readonly port: number;
}

/** Relays from their `host:port` texts (validated by the configuration); throws on one that is not. */
export function parseRelays(texts: readonly string[]): RelayConfig[] {
  return texts.map((text) => {
    const parsed = parseHostPort(text);
    if (parsed === undefined) throw new RangeError(`relay ${JSON.stringify(text)} is not host:port`);
    return { id: text, host: parsed.host, port: parsed.port };
  });
}

/** A relay session's allocation. */
export interface RelayData {
  readonly relay: RelayConfig;
  readonly agentPubkey: string;
  readonly colonyPubkey: string;
}

export type DiscoveryRegistry = Registry<ColonyData, AgentData, RelayData>;
export type DiscoveryStore = Store<ColonyData, AgentData, RelayData>;

/** Told of every stored registration: whether it renewed an active lease or created one. */
export type RegistrationObserver = (kind: "colony" | "agent", ids: { meshId: string; agentId?: string }, renewed: boolean) => void;

export interface DiscoveryServiceOptions {
  readonly store: DiscoveryStore;
  /** Lease length reported to clients, seconds (the registry enforces it). */
  readonly ttlSeconds: number;
  /** Handed to registering clients. */
  readonly stunServers: readonly string[];
  /** Configured relays; none makes the relay RPCs `unimplemented`. */
  readonly relays: readonly RelayConfig[];
  /** Reported by Health. */
  readonly version: string;
  /** Unix ms the service started, for `uptime_seconds`. */
  readonly startedAtMs: number;
  /** The clock, Unix ms. */
  readonly now: () => number;
  /** A fresh unguessable id (relay sessions). */
  readonly randomId: () => string;
  /** Mints bootstrap tokens; without one CreateBootstrapToken answers `unimplemented`. */
  readonly tokens?: TokenSigner;
  /** Require WireGuard-shaped pubkeys (base64 of 32 bytes). Default true; `--pubkey-check off` clears it. */
  readonly strictPubkeys?: boolean;
  /** The bootstrap rendezvous RPCs; without them they answer `unimplemented` (`--rendezvous off`). */
  readonly rendezvous?: RendezvousHandlers;
  /** Told of every stored registration (lease events: metrics and logs). */
  readonly onRegistered?: RegistrationObserver;
}

type Methods = (typeof DiscoveryService)["method"];

/**
 * One function per RPC, independent of how the request arrived: the decoded
 * request and the call's context in, the response (or a thrown error) out.
 * Registry refusals are thrown as they are: the error-mapping step turns
 * them into Connect errors.
 */
export type DiscoveryHandlers = {
  [K in keyof Methods]: Methods[K] extends DescMethodUnary<infer I, infer O>
    ? (req: MessageShape<I>, ctx: CallContext) => MessageInitShape<O> | Promise<MessageInitShape<O>>
    : never;
};

/**
 * The DiscoveryService handlers: validate at the edge, call the registry, map
 * its errors, shape responses. Holds no state of its own but the round-robin
 * relay cursor.
 */
export function createDiscoveryService(options: DiscoveryServiceOptions): DiscoveryHandlers {
  const { store, ttlSeconds, version, startedAtMs, now, randomId, tokens, rendezvous } = options;
  const onRegistered = options.onRegistered ?? (() => {});
  const strict = options.strictPubkeys ?? true;
  const stunServers = [...options.stunServers];
  const relays = options.relays;
  const relayOptions: MessageInitShape<typeof RelayOptionSchema>[] = relays.map((relay) => ({
    endpoint: { ip: relay.host, port: relay.port, protocol: "udp" },
    relayId: relay.id,
  }));
  let nextRelay = 0;

  return {
    async registerColony(req, { observedIp }) {
      check.id(req.meshId, "mesh_id");
      check.pubkey(req.pubkey, "pubkey", strict);
      check.endpoints(req.endpoints, "endpoints", true);
      check.address(req.meshIpv4, 4, "mesh_ipv4");
      check.address(req.meshIpv6, 6, "mesh_ipv6");
      check.port(req.connectPort, "connect_port");
      check.port(req.publicPort, "public_port");
      check.metadata(req.metadata, "metadata");
      check.observedEndpoint(req.observedEndpoint, "observed_endpoint");
      check.publicEndpoint(req.publicEndpoint, "public_endpoint");
      const seen = seenEndpoint(observedIp);
      const data: ColonyData = {
        endpoints: req.endpoints,
        meshIpv4: req.meshIpv4,
        meshIpv6: req.meshIpv6,
        connectPort: req.connectPort,
        metadata: req.metadata,
        observedEndpoint: clientEndpoint(req.observedEndpoint) ?? seen,
        publicPort: req.publicPort,
        publicEndpoint: copyPublicEndpoint(req.publicEndpoint),
      };
      const { lease, renewed } = await store.registerColony(req.meshId, req.pubkey, data);
      onRegistered("colony", { meshId: req.meshId }, renewed);
      return {
        success: true,
        ttl: ttlSeconds,
        expiresAt: timestampFromMs(lease.expiresAtMs),
        observedEndpoint: seen,
        stunServers,
      };
    },

    async lookupColony(req) {
      check.id(req.meshId, "mesh_id");
      const lease = await store.lookupColony(req.meshId);
      if (lease === undefined) throw new ConnectError(`colony ${req.meshId} not found`, Code.NotFound);
      const { data } = lease;
      return {
        meshId: lease.meshId,
        pubkey: lease.pubkey,
        endpoints: data.endpoints,
        meshIpv4: data.meshIpv4,
        meshIpv6: data.meshIpv6,
        connectPort: data.connectPort,
        metadata: data.metadata,
        lastSeen: timestampFromMs(lease.lastSeenMs),
        observedEndpoints: data.observedEndpoint === undefined ? [] : [data.observedEndpoint],
        nat: data.observedEndpoint === undefined ? NatHint.NAT_UNKNOWN : NatHint.NAT_CONE,
        relays: relayOptions,
        publicPort: data.publicPort,
        publicEndpoint: data.publicEndpoint,
      };
    },

    async registerAgent(req, { clientIp, observedIp }) {
      check.id(req.agentId, "agent_id");
      check.id(req.meshId, "mesh_id");
      check.pubkey(req.pubkey, "pubkey", strict);
      check.endpoints(req.endpoints, "endpoints", false);
      check.observedEndpoint(req.observedEndpoint, "observed_endpoint");
      check.metadata(req.metadata, "metadata");
      const observed = clientEndpoint(req.observedEndpoint) ?? seenEndpoint(observedIp);
      if (req.endpoints.length === 0 && (observed === undefined || !observed.port)) {
        throw new ConnectError(
          "an agent without endpoints needs an observed_endpoint with a non-zero port: " +
            "discover your public address and port with STUN (see stun_servers) and send it as observed_endpoint",
          Code.InvalidArgument,
        );
      }
      const { lease, renewed } = await store.registerAgent(
        req.meshId,
        req.agentId,
        req.pubkey,
        { endpoints: req.endpoints, metadata: req.metadata, observedEndpoint: observed },
        addressKey(clientIp),
      );
      onRegistered("agent", { meshId: req.meshId, agentId: req.agentId }, renewed);
      return {
        success: true,
        ttl: ttlSeconds,
        expiresAt: timestampFromMs(lease.expiresAtMs),
        observedEndpoint: observed,
        stunServers,
      };
    },

    async lookupAgent(req) {
      check.id(req.agentId, "agent_id");
      check.id(req.meshId, "mesh_id");
      const lease = await store.lookupAgent(req.meshId, req.agentId);
      if (lease === undefined) throw new ConnectError(`agent ${req.agentId} not found`, Code.NotFound);
      const { data } = lease;
      return {
        agentId: lease.agentId,
        meshId: lease.meshId,
        pubkey: lease.pubkey,
        endpoints: data.endpoints,
        observedEndpoints: data.observedEndpoint === undefined ? [] : [data.observedEndpoint],
        nat: data.observedEndpoint === undefined ? NatHint.NAT_UNKNOWN : NatHint.NAT_CONE,
        metadata: data.metadata,
        lastSeen: timestampFromMs(lease.lastSeenMs),
      };
    },

    async requestRelay(req, { clientIp }) {
      const relay = relays[nextRelay % Math.max(relays.length, 1)];
      if (relay === undefined) throw noRelay();
      check.id(req.meshId, "mesh_id");
      check.pubkey(req.agentPubkey, "agent_pubkey", strict);
      check.pubkey(req.colonyPubkey, "colony_pubkey", strict);
      nextRelay = (nextRelay + 1) % relays.length;
      const session = await store.createRelaySession(
        randomId(),
        req.meshId,
        { relay, agentPubkey: req.agentPubkey, colonyPubkey: req.colonyPubkey },
        addressKey(clientIp),
      );
      return {
        relayEndpoint: { ip: relay.host, port: relay.port, protocol: "udp" },
        sessionId: session.sessionId,
        expiresAt: timestampFromMs(session.expiresAtMs),
        relayId: relay.id,
      };
    },

    async releaseRelay(req) {
      if (relays.length === 0) throw noRelay();
      check.opaqueId(req.sessionId, "session_id");
      if (req.meshId !== "") check.id(req.meshId, "mesh_id");
      await store.releaseRelaySession(req.sessionId, req.meshId);
      return { success: true };
    },

    async health() {
      const counts = await store.counts();
      return {
        status: "ok",
        version,
        uptimeSeconds: BigInt(Math.max(0, Math.floor((now() - startedAtMs) / 1000))),
        registeredColonies: counts.colonies,
      };
    },

    createBootstrapToken(req) {
      if (tokens === undefined) {
        throw new ConnectError("CreateBootstrapToken is not enabled on this server", Code.Unimplemented);
      }
      check.id(req.agentId, "agent_id");
      check.id(req.colonyId, "colony_id");
      check.shortText(req.reefId, "reef_id");
      check.shortText(req.intent, "intent");
      const token = tokens.sign({ agentId: req.agentId, colonyId: req.colonyId, reefId: req.reefId, intent: req.intent });
      return { jwt: token.jwt, expiresAt: BigInt(token.expiresAt) };
    },
    publishBootstrapRendezvous(req, ctx) {
      if (rendezvous === undefined) throw rendezvousUnimplemented("PublishBootstrapRendezvous");
      return rendezvous.publishBootstrapRendezvous(req, ctx);
    },
    pollBootstrapRendezvous(req, ctx) {
      if (rendezvous === undefined) throw rendezvousUnimplemented("PollBootstrapRendezvous");
      return rendezvous.pollBootstrapRendezvous(req, ctx);
    },
    ackBootstrapRendezvous(req, ctx) {
      if (rendezvous === undefined) throw rendezvousUnimplemented("AckBootstrapRendezvous");
      return rendezvous.ackBootstrapRendezvous(req, ctx);
    },
  };
}

/** The caller's address as the service sees it, when it is public: `{ip, port: 0, protocol: "udp"}`. */
function seenEndpoint(ip: string | undefined): EndpointInit | undefined {
  return ip !== undefined && isPublicIp(ip) ? { ip, port: 0, protocol: "udp" } : undefined;
}

/*
 * Stored values are copies of the known fields only: a decoded message keeps
 * unknown fields (which would bypass the size rules and be echoed to every
 * reader), and a `bytes` field can be a view that pins the request's buffer.
 */

/** The client's own observed endpoint, when it sent one with an address. */
function clientEndpoint(endpoint: Endpoint | undefined): EndpointInit | undefined {
  if (endpoint === undefined || endpoint.ip === "") return undefined;
  return { ip: endpoint.ip, port: endpoint.port, protocol: endpoint.protocol, viaRelay: endpoint.viaRelay };
}

function copyPublicEndpoint(info: PublicEndpointInfo | undefined): PublicEndpointInit | undefined {
  if (info === undefined) return undefined;
  const { caFingerprint: fingerprint, updatedAt } = info;
  return {
    enabled: info.enabled,
    url: info.url,
    caCert: info.caCert,
    caFingerprint: fingerprint && { algorithm: fingerprint.algorithm, value: fingerprint.value.slice() },
    updatedAt: updatedAt && { seconds: updatedAt.seconds, nanos: updatedAt.nanos },
  };
}

function noRelay(): ConnectError {
  return new ConnectError("no relay configured: start the server with --relay host:port", Code.Unimplemented);
}

function rendezvousUnimplemented(method: string): ConnectError {
  return new ConnectError(`${method} is not enabled on this server (--rendezvous off)`, Code.Unimplemented);
}
