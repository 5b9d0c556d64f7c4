import { RegistryError } from "./errors.js";
import { createLeaseTable } from "./lease-table.js";

export interface RegistryOptions<C, A, R> {
  /** Lease length of colonies and agents, in milliseconds (the server-wide `--ttl`). */
  readonly ttlMs: number;
  /** Lease length of relay sessions, in milliseconds (`--relay-session-ttl`). */
  readonly relaySessionTtlMs: number;
  /** The clock, in Unix milliseconds. Injected: the registry never reads time itself. */
  readonly now: () => number;
  /** Capacity: new entries beyond these are refused; renewals always succeed (unless they grow past `bytes`). */
  readonly limits: RegistryLimits;
  /** What each entry costs in memory, estimated from its content: what the byte budget counts. */
  readonly sizeOf: EntrySizes<C, A, R>;
}

/** Estimated memory of one stored entry, in bytes (lease, payload, map and index entries). */
export interface EntrySizes<C, A, R> {
  colony(meshId: string, pubkey: string, data: C): number;
  agent(meshId: string, agentId: string, pubkey: string, data: A): number;
  relay(sessionId: string, meshId: string, data: R): number;
}

/** How many entries the registry holds at most. */
export interface RegistryLimits {
  /** Colonies in all (`--max-colonies`). */
  readonly colonies: number;
  /** Agents in one mesh (`--max-agents-per-mesh`). */
  readonly agentsPerMesh: number;
  /** Agents in all (`--max-agents`). */
  readonly agents: number;
  /** Open relay sessions (`--max-relay-sessions`). */
  readonly relaySessions: number;
  /** Estimated memory of all stored entries, bytes (`--max-registry-bytes`). */
  readonly bytes: number;
}

/** A colony's stored registration: what it sent (`data`) plus the lease. */
export interface ColonyLease<D> {
  readonly meshId: string;
  readonly pubkey: string;
  readonly data: D;
  /** Unix ms of the registration that created this lease. */
  readonly lastSeenMs: number;
  readonly expiresAtMs: number;
  /** Estimated memory of the entry (EntrySizes). */
  readonly bytes: number;
}

export interface AgentLease<D> extends ColonyLease<D> {
  readonly agentId: string;
}

export interface RelaySession<D> {
  readonly sessionId: string;
  readonly meshId: string;
  readonly data: D;
  readonly expiresAtMs: number;
  /** Estimated memory of the entry (EntrySizes). */
  readonly bytes: number;
}

export interface SweepResult<C, A, R> {
  readonly colonies: ColonyLease<C>[];
  readonly agents: AgentLease<A>[];
  readonly relaySessions: RelaySession<R>[];
  /** False when the removal budget ran out before everything expired was freed: sweep again. */
  readonly complete: boolean;
}

export interface RegistryCounts {
  readonly colonies: number;
  readonly agents: number;
  readonly relaySessions: number;
  /** Estimated memory of every stored entry, expired-but-unswept ones included (they still take it). */
  readonly bytes: number;
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
   * pubkey holds an active lease on the mesh, leaving that lease untouched,
   * and `capacity_exceeded` when a new colony would pass a cap or the byte
   * budget, or a renewal would grow the registry past the budget.
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
  /**
   * Frees expired entries and returns them; cost proportional to what expired.
   * `budget` caps the removals per kind of entry, so a caller can spread a
   * large backlog over several event-loop turns (`complete` is false when a
   * kind used its whole budget, even if nothing is left: one more call says).
   * Default: no cap.
   */
  sweep(nowMs?: number, budget?: number): SweepResult<C, A, R>;
  /**
   * Active entries of each kind: exact while the clock moves forward; after it
   * went back, entries expiring within one second may still be counted.
   */
  counts(): RegistryCounts;
}

/** Expired entries a registration at capacity may free to make room (~2 µs each). */
const CAPACITY_SWEEP_BUDGET = 1_000;

export function createRegistry<C, A, R>(options: RegistryOptions<C, A, R>): Registry<C, A, R> {
  const { ttlMs, now, limits, sizeOf } = options;
  const relayTtlMs = options.relaySessionTtlMs;
  const colonies = createLeaseTable<ColonyLease<C>>();
  const agents = createLeaseTable<AgentLease<A>>();
  const relays = createLeaseTable<RelaySession<R>>();
  /** Stored agents per mesh, expired-but-unswept ones included (they go with the sweep). */
  const agentsPerMesh = new Map<string, number>();
  /** Estimated memory of every stored entry, expired-but-unswept ones included. */
  let totalBytes = 0;

  const freed = <L extends { bytes: number }>(removed: L[]): L[] => {
    for (const lease of removed) totalBytes -= lease.bytes;
    return removed;
  };
  const sweepColonies = (nowMs: number, limit?: number) => freed(colonies.sweep(nowMs, limit));
  const sweepRelays = (nowMs: number, limit?: number) => freed(relays.sweep(nowMs, limit));
  function sweepAgents(nowMs: number, limit?: number): AgentLease<A>[] {
    const removed = freed(agents.sweep(nowMs, limit));
    for (const agent of removed) {
      const left = (agentsPerMesh.get(agent.meshId) ?? 1) - 1;
      if (left === 0) agentsPerMesh.delete(agent.meshId);
      else agentsPerMesh.set(agent.meshId, left);
    }
    return removed;
  }
  /** Stores a lease in `table`, replacing `previous` (if any) in the byte count. */
  function store<L extends { bytes: number }>(table: { set(key: string, lease: L): void }, key: string, lease: L, previous: L | undefined): L {
    totalBytes += lease.bytes - (previous?.bytes ?? 0);
    table.set(key, lease);
    return lease;
  }

  /**
   * Makes room in the byte budget for an entry that grows the registry by
   * `growth()` bytes (0 or less always fits; asked again after freeing, which
   * may have removed the entry's own expired predecessor): expired entries of
   * every kind are freed first, a bounded number; still over, it throws.
   */
  function ensureBytes(growth: () => number, nowMs: number, message: () => string): void {
    ensureRoom(
      () => growth() > 0 && totalBytes + growth() > limits.bytes,
      () => {
        sweepColonies(nowMs, CAPACITY_SWEEP_BUDGET);
        sweepAgents(nowMs, CAPACITY_SWEEP_BUDGET);
        sweepRelays(nowMs, CAPACITY_SWEEP_BUDGET);
      },
      message,
    );
  }
  const budgetFull = (what: string) => () =>
    `the registry is full: its entries take ${totalBytes} of the ${limits.bytes} bytes --max-registry-bytes allows, and ${what}`;

  /**
   * Makes room for one new entry: when `full()` holds, up to
   * CAPACITY_SWEEP_BUDGET expired entries are freed first (oldest first, so a
   * request never pays for a whole backlog); still full, it throws. What is
   * freed here is not reported by `sweep()`.
   */
  function ensureRoom(full: () => boolean, sweep: () => unknown, message: () => string): void {
    if (!full()) return;
    sweep();
    if (full()) throw new RegistryError("capacity_exceeded", message());
  }

  return {
    registerColony(meshId, pubkey, data) {
      const nowMs = now();
      const active = colonies.get(meshId, nowMs);
      if (active !== undefined && active.pubkey !== pubkey) {
        throw splitBrain(meshId, active.expiresAtMs, nowMs);
      }
      if (active === undefined) {
        ensureRoom(
          () => colonies.size >= limits.colonies && colonies.peek(meshId) === undefined,
          () => sweepColonies(nowMs, CAPACITY_SWEEP_BUDGET),
          () => `the registry is full: it holds ${limits.colonies} colonies (--max-colonies); registered colonies can still renew`,
        );
      }
      const bytes = sizeOf.colony(meshId, pubkey, data);
      ensureBytes(
        () => bytes - (colonies.peek(meshId)?.bytes ?? 0),
        nowMs,
        budgetFull(
          active === undefined
            ? `a new colony takes ${bytes}; registered colonies can still renew`
            : `this renewal would grow mesh ${meshId}'s entry to ${bytes}; renew with the same or a smaller payload`,
        ),
      );
      // Frozen: the expiry index files leases by expiresAtMs, which must never change behind its back.
      const lease: ColonyLease<C> = Object.freeze({ meshId, pubkey, data, lastSeenMs: nowMs, expiresAtMs: nowMs + ttlMs, bytes });
      return store(colonies, meshId, lease, colonies.peek(meshId));
    },
    lookupColony(meshId) {
      return colonies.get(meshId, now());
    },
    registerAgent(meshId, agentId, pubkey, data) {
      const nowMs = now();
      const key = agentKey(meshId, agentId);
      const stored = agents.peek(key);
      if (stored === undefined || nowMs >= stored.expiresAtMs) {
        const sweep = () => sweepAgents(nowMs, CAPACITY_SWEEP_BUDGET);
        const isNew = () => agents.peek(key) === undefined;
        ensureRoom(
          () => isNew() && (agentsPerMesh.get(meshId) ?? 0) >= limits.agentsPerMesh,
          sweep,
          () => `mesh ${meshId} is full: it has ${limits.agentsPerMesh} agents (--max-agents-per-mesh); registered agents can still renew`,
        );
        ensureRoom(
          () => isNew() && agents.size >= limits.agents,
          sweep,
          () => `the registry is full: it holds ${limits.agents} agents (--max-agents); registered agents can still renew`,
        );
      }
      const bytes = sizeOf.agent(meshId, agentId, pubkey, data);
      const active = stored !== undefined && nowMs < stored.expiresAtMs;
      ensureBytes(
        () => bytes - (agents.peek(key)?.bytes ?? 0),
        nowMs,
        budgetFull(
          active
            ? `this renewal would grow agent ${agentId}'s entry to ${bytes}; renew with the same or a smaller payload`
            : `a new agent takes ${bytes}; registered agents can still renew`,
        ),
      );
      const previous = agents.peek(key);
      if (previous === undefined) agentsPerMesh.set(meshId, (agentsPerMesh.get(meshId) ?? 0) + 1);
      const lease: AgentLease<A> = Object.freeze({ meshId, agentId, pubkey, data, lastSeenMs: nowMs, expiresAtMs: nowMs + ttlMs, bytes });
      return store(agents, key, lease, previous);
    },
    lookupAgent(meshId, agentId) {
      return agents.get(agentKey(meshId, agentId), now());
    },
    createRelaySession(sessionId, meshId, data) {
      const nowMs = now();
      ensureRoom(
        () => relays.size >= limits.relaySessions,
        () => sweepRelays(nowMs, CAPACITY_SWEEP_BUDGET),
        () => `all ${limits.relaySessions} relay sessions are in use (--max-relay-sessions); release unused sessions or retry later`,
      );
      const bytes = sizeOf.relay(sessionId, meshId, data);
      ensureBytes(() => bytes, nowMs, budgetFull(`a new relay session takes ${bytes}; release unused sessions or retry later`));
      const session: RelaySession<R> = Object.freeze({ sessionId, meshId, data, expiresAtMs: nowMs + relayTtlMs, bytes });
      return store(relays, sessionId, session, relays.peek(sessionId));
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
      totalBytes -= session.bytes;
      return session;
    },
    sweep(nowMs = now(), budget = Infinity) {
      const colonyLeases = sweepColonies(nowMs, budget);
      const agentLeases = sweepAgents(nowMs, budget);
      const relaySessions = sweepRelays(nowMs, budget);
      return {
        colonies: colonyLeases,
        agents: agentLeases,
        relaySessions,
        complete: colonyLeases.length < budget && agentLeases.length < budget && relaySessions.length < budget,
      };
    },
    counts() {
      const nowMs = now();
      return {
        colonies: colonies.activeCount(nowMs),
        agents: agents.activeCount(nowMs),
        relaySessions: relays.activeCount(nowMs),
        bytes: totalBytes,
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
