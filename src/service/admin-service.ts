// AdminService's handlers: what operators see of the registry and what they
// may remove. Authentication and budgets are the admin guard's (a step in
// front of these); every eviction is logged here, with what was removed.
import { Code, ConnectError } from "@connectrpc/connect";
import type { DescMethodUnary, MessageInitShape, MessageShape } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import type { AdminService, AgentSummarySchema, ColonySummarySchema } from "../../gen/coral/discovery/admin/v1/admin_pb.js";
import type { AgentLease, ColonyLease } from "../registry/index.js";
import type { CallContext } from "./call.js";
import type { AgentData, ColonyData, DiscoveryStore } from "./discovery-service.js";
import { NO_LEASE_EVENTS, type LeaseEvents } from "./lease-events.js";
import * as check from "./validate.js";

/** Colonies per ListColonies page when the request says 0. */
export const DEFAULT_PAGE_SIZE = 100;
/** Most colonies per page; larger requests get this many (AIP-158). */
export const MAX_PAGE_SIZE = 1000;

/** Where evictions are logged: at info, what was removed and by whom. */
export interface AdminLogger {
  info(obj: object, msg: string): void;
}

export interface AdminServiceOptions {
  readonly store: DiscoveryStore;
  readonly now: () => number;
  /** Unix ms the service started. */
  readonly startedAtMs: number;
  readonly version: string;
  /** The configured caps, reported by GetStats. */
  readonly limits: { readonly colonies: number; readonly agents: number; readonly bytes: number };
  readonly log: AdminLogger;
  /** Told how many leases each eviction removed (the metrics' evictions_total); none by default. */
  readonly events?: Pick<LeaseEvents, "evicted">;
}

type Methods = (typeof AdminService)["method"];

export type AdminHandlers = {
  [K in keyof Methods]: Methods[K] extends DescMethodUnary<infer I, infer O>
    ? (req: MessageShape<I>, ctx: CallContext) => Promise<MessageInitShape<O>>
    : never;
};

type ColonySummary = MessageInitShape<typeof ColonySummarySchema>;
type AgentSummary = MessageInitShape<typeof AgentSummarySchema>;

const TOKEN_VERSION = "v1:";

/** The opaque page token after `meshId`: base64url of a versioned mesh id. */
export function encodePageToken(meshId: string): string {
  return Buffer.from(TOKEN_VERSION + meshId, "utf8").toString("base64url");
}

/** The mesh id a page token continues after; throws invalid_argument for anything this service did not issue. */
export function decodePageToken(token: string): string {
  const text = Buffer.from(token, "base64url").toString("utf8");
  const meshId = text.slice(TOKEN_VERSION.length);
  if (!text.startsWith(TOKEN_VERSION) || encodePageToken(meshId) !== token || !isId(meshId)) {
    throw new ConnectError(
      `page_token ${check.quote(token)} is not one this service issued: pass the previous page's next_page_token as it is, or none for the first page`,
      Code.InvalidArgument,
    );
  }
  return meshId;
}

function isId(value: string): boolean {
  try {
    check.id(value, "page_token");
    return true;
  } catch {
    return false;
  }
}

export function createAdminService(options: AdminServiceOptions): AdminHandlers {
  const { store, now, startedAtMs, version, limits, log } = options;
  const events = options.events ?? NO_LEASE_EVENTS;

  const colonySummary = (lease: ColonyLease<ColonyData>, agentCount: number): ColonySummary => ({
    meshId: lease.meshId,
    pubkey: lease.pubkey,
    endpoints: lease.data.endpoints,
    observedEndpoint: lease.data.observedEndpoint,
    lastSeen: timestampFromMs(lease.lastSeenMs),
    expiresAt: timestampFromMs(lease.expiresAtMs),
    agentCount,
    meshIpv4: lease.data.meshIpv4,
    meshIpv6: lease.data.meshIpv6,
    connectPort: lease.data.connectPort,
    metadata: lease.data.metadata,
    proven: lease.proven,
  });
  const agentSummary = (lease: AgentLease<AgentData>): AgentSummary => ({
    meshId: lease.meshId,
    agentId: lease.agentId,
    pubkey: lease.pubkey,
    endpoints: lease.data.endpoints,
    observedEndpoint: lease.data.observedEndpoint,
    lastSeen: timestampFromMs(lease.lastSeenMs),
    expiresAt: timestampFromMs(lease.expiresAtMs),
    metadata: lease.data.metadata,
    proven: lease.proven,
  });

  return {
    async listColonies(req) {
      if (req.pageSize < 0) {
        throw new ConnectError(`page_size ${req.pageSize} is negative: use 1-${MAX_PAGE_SIZE}, or 0 for ${DEFAULT_PAGE_SIZE}`, Code.InvalidArgument);
      }
      if (req.meshIdPrefix !== "") check.id(req.meshIdPrefix, "mesh_id_prefix");
      const after = req.pageToken === "" ? undefined : decodePageToken(req.pageToken);
      const limit = req.pageSize === 0 ? DEFAULT_PAGE_SIZE : Math.min(req.pageSize, MAX_PAGE_SIZE);
      const page = await store.listColonies({ prefix: req.meshIdPrefix, after, limit });
      const last = page.colonies[page.colonies.length - 1];
      return {
        colonies: await Promise.all(page.colonies.map(async (lease) => colonySummary(lease, await store.agentCount(lease.meshId)))),
        nextPageToken: page.more && last !== undefined ? encodePageToken(last.meshId) : "",
      };
    },

    async getMesh(req) {
      check.id(req.meshId, "mesh_id");
      const [colony, agents] = await Promise.all([store.lookupColony(req.meshId), store.listAgents(req.meshId)]);
      if (colony === undefined && agents.length === 0) {
        throw new ConnectError(`mesh ${req.meshId} has no active colony or agents`, Code.NotFound);
      }
      return {
        colony: colony === undefined ? undefined : colonySummary(colony, agents.length),
        agents: agents.map(agentSummary),
      };
    },

    async evictColony(req, { clientIp }) {
      check.id(req.meshId, "mesh_id");
      const agentCount = await store.agentCount(req.meshId);
      const colony = await store.evictColony(req.meshId);
      const agents = req.includeAgents ? await store.evictAgents(req.meshId) : [];
      if (colony === undefined && agents.length === 0) {
        throw new ConnectError(
          `mesh ${req.meshId} has no active colony${req.includeAgents ? " or agents" : ""} to evict`,
          Code.NotFound,
        );
      }
      if (colony !== undefined) events.evicted("colony");
      if (agents.length > 0) events.evicted("agent", agents.length);
      log.info(
        {
          meshId: req.meshId,
          pubkey: colony?.pubkey,
          agents: agents.map((a) => ({ agentId: a.agentId, pubkey: a.pubkey })),
          agentsKept: req.includeAgents ? 0 : agentCount,
          clientIp,
        },
        colony === undefined ? "admin evicted the agents of a mesh" : "admin evicted a colony",
      );
      return {
        colony: colony === undefined ? undefined : colonySummary(colony, agentCount),
        agents: agents.map(agentSummary),
      };
    },

    async evictAgent(req, { clientIp }) {
      check.id(req.meshId, "mesh_id");
      check.id(req.agentId, "agent_id");
      const agent = await store.evictAgent(req.meshId, req.agentId);
      if (agent === undefined) throw new ConnectError(`agent ${req.agentId} of mesh ${req.meshId} not found`, Code.NotFound);
      events.evicted("agent");
      log.info({ meshId: agent.meshId, agentId: agent.agentId, pubkey: agent.pubkey, clientIp }, "admin evicted an agent");
      return { agent: agentSummary(agent) };
    },

    async getStats() {
      const counts = await store.counts();
      return {
        colonies: counts.colonies,
        agents: counts.agents,
        relaySessions: counts.relaySessions,
        registryBytes: BigInt(counts.bytes),
        registryBytesBudget: BigInt(limits.bytes),
        uptimeSeconds: BigInt(Math.max(0, Math.floor((now() - startedAtMs) / 1000))),
        store: store.kind,
        version,
        maxColonies: limits.colonies,
        maxAgents: limits.agents,
      };
    },
  };
}
