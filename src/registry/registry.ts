import { RegistryError } from "./errors.js";
import { createLeaseTable } from "./lease-table.js";

export interface RegistryOptions {
  /** Lease length of colonies and agents, in milliseconds (the server-wide `--ttl`). */
  readonly ttlMs: number;
  /** Lease length of relay sessions, in milliseconds. Default 30 minutes. */
  readonly relaySessionTtlMs?: number;
  /** The clock, in Unix milliseconds. Injected: the registry never reads time itself. */
  readonly now: () => number;
}

/** A colony's stored registration: what it sent (`data`) plus the lease. */
export interface ColonyLease<D> {
  readonly meshId: string;
  readonly pubkey: string;
  readonly data: D;
  /** Unix ms of the registration that created this lease. */
  readonly lastSeenMs: number;
  readonly expiresAtMs: number;
}

export interface AgentLease<D> extends ColonyLease<D> {
  readonly agentId: string;
}

export interface RelaySession<D> {
  readonly sessionId: string;
  readonly meshId: string;
  readonly data: D;
  readonly expiresAtMs: number;
}

export interface SweepResult<C, A, R> {
  readonly colonies: ColonyLease<C>[];
  readonly agents: AgentLease<A>[];
  readonly relaySessions: RelaySession<R>[];
}

export interface RegistryCounts {
  readonly colonies: number;
  readonly agents: number;
  readonly relaySessions: number;
}

/**
 * The lease store: colonies by mesh id, agents by (mesh id, agent id), relay
 * sessions by id. Pure: no timers, no I/O; time comes from `options.now`.
 * `C`, `A`, `R` are whatever payloads the caller stores with each lease.
 */
export interface Registry<C, A, R> {
  /**
   * Registers or renews the colony of `meshId`; a registration replaces the
   * stored one wholesale. Throws `RegistryError("split_brain")` when another
   * pubkey holds an active lease on the mesh, leaving that lease untouched.
   */
  registerColony(meshId: string, pubkey: string, data: C): ColonyLease<C>;
  /** The active colony of `meshId`, or undefined. */
  lookupColony(meshId: string): ColonyLease<C> | undefined;
  /** Registers, renews or replaces (another pubkey: last writer wins) an agent. */
  registerAgent(meshId: string, agentId: string, pubkey: string, data: A): AgentLease<A>;
  /** The active agent `agentId` of `meshId`, or undefined. */
  lookupAgent(meshId: string, agentId: string): AgentLease<A> | undefined;
  /** Stores a new relay session under a caller-chosen (random) id. */
  createRelaySession(sessionId: string, meshId: string, data: R): RelaySession<R>;
  /**
   * Ends a relay session. Throws `session_not_found` for unknown, expired or
   * released sessions and `session_mesh_mismatch` when `meshId` is given and
   * is not the session's mesh.
   */
  releaseRelaySession(sessionId: string, meshId: string): RelaySession<R>;
  /** Frees expired entries and returns them; cost proportional to what expired. */
  sweep(nowMs?: number): SweepResult<C, A, R>;
  /** Active entries of each kind. */
  counts(): RegistryCounts;
}

const DEFAULT_RELAY_SESSION_TTL_MS = 30 * 60_000;

export function createRegistry<C, A, R>(options: RegistryOptions): Registry<C, A, R> {
  const { ttlMs, now } = options;
  const relayTtlMs = options.relaySessionTtlMs ?? DEFAULT_RELAY_SESSION_TTL_MS;
  const colonies = createLeaseTable<ColonyLease<C>>();
  const agents = createLeaseTable<AgentLease<A>>();
  const relays = createLeaseTable<RelaySession<R>>();

  return {
    registerColony(meshId, pubkey, data) {
      const nowMs = now();
      const active = colonies.get(meshId, nowMs);
      if (active !== undefined && active.pubkey !== pubkey) {
        throw splitBrain(meshId, active.expiresAtMs, nowMs);
      }
      const lease: ColonyLease<C> = { meshId, pubkey, data, lastSeenMs: nowMs, expiresAtMs: nowMs + ttlMs };
      colonies.set(meshId, lease);
      return lease;
    },
    lookupColony(meshId) {
      return colonies.get(meshId, now());
    },
    registerAgent(meshId, agentId, pubkey, data) {
      const nowMs = now();
      const lease: AgentLease<A> = {
        meshId,
        agentId,
        pubkey,
        data,
        lastSeenMs: nowMs,
        expiresAtMs: nowMs + ttlMs,
      };
      agents.set(agentKey(meshId, agentId), lease);
      return lease;
    },
    lookupAgent(meshId, agentId) {
      return agents.get(agentKey(meshId, agentId), now());
    },
    createRelaySession(sessionId, meshId, data) {
      const session: RelaySession<R> = { sessionId, meshId, data, expiresAtMs: now() + relayTtlMs };
      relays.set(sessionId, session);
      return session;
    },
    releaseRelaySession(sessionId, meshId) {
      const session = relays.get(sessionId, now());
      if (session === undefined) {
        throw new RegistryError("session_not_found", `relay session ${sessionId} not found`);
      }
      if (meshId !== "" && meshId !== session.meshId) {
        throw new RegistryError(
          "session_mesh_mismatch",
          `relay session ${sessionId} does not belong to mesh ${meshId}`,
        );
      }
      relays.delete(sessionId);
      return session;
    },
    sweep(nowMs = now()) {
      return {
        colonies: colonies.sweep(nowMs),
        agents: agents.sweep(nowMs),
        relaySessions: relays.sweep(nowMs),
      };
    },
    counts() {
      const nowMs = now();
      return {
        colonies: colonies.activeCount(nowMs),
        agents: agents.activeCount(nowMs),
        relaySessions: relays.activeCount(nowMs),
      };
    },
  };
}

/** An unambiguous composite key: the length prefix keeps ("a:b","c") apart from ("a","b:c"). */
function agentKey(meshId: string, agentId: string): string {
  return `${meshId.length}:${meshId}/${agentId}`;
}

function splitBrain(meshId: string, expiresAtMs: number, nowMs: number): RegistryError {
  const seconds = Math.ceil((expiresAtMs - nowMs) / 1000);
  return new RegistryError(
    "split_brain",
    `mesh ${meshId} is already registered by a colony with a different pubkey (split-brain protection); ` +
      `its lease ends at ${new Date(expiresAtMs).toISOString()} (in ${seconds}s) unless it renews`,
  );
}
