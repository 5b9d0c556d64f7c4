// The lease store: colonies by mesh id, agents by (mesh id, agent id), relay
// sessions by id. Pure: no timers, no I/O; time comes from `options.now`.
// Caps (counts, per-address quotas, a byte budget) refuse new entries, never
// renewals that do not grow; expired entries make room without a sweeper.
import { createCounter } from "../limits/counter.js";
import { RegistryError } from "./errors.js";
import { budgetMessage, capMessage, proofRequired, sessionMeshMismatch, sessionNotFound, splitBrain, type BudgetRefusal } from "./refusals.js";
import { createLeaseTable, type Lease, type LeaseTable } from "./lease-table.js";
import { createSortedKeys } from "./sorted-keys.js";
import type { AgentLease, ColonyLease, Registry, RegistryOptions, RelaySession } from "./types.js";


/** Expired entries a registration at capacity may free to make room (~2 µs each). */
const CAPACITY_SWEEP_BUDGET = 1_000;

export function createRegistry<C, A, R>(options: RegistryOptions<C, A, R>): Registry<C, A, R> {
  const { ttlMs, now, limits, sizeOf } = options;
  const relayTtlMs = options.relaySessionTtlMs;
  const colonies = createLeaseTable<ColonyLease<C>>();
  const agents = createLeaseTable<AgentLease<A>>();
  const relays = createLeaseTable<RelaySession<R>>();
  /** Colony mesh ids in order, for paged listing (admin). */
  const colonyOrder = createSortedKeys((meshId) => colonies.peek(meshId) !== undefined);
  /**
   * The agent keys of each mesh, least recently registered first (a renewal
   * moves its key to the end); expired-but-unswept ones included. With one
   * lease length for all, that is expiry order: a full mesh frees its own
   * expired agents from the front.
   */
  const meshAgents = new Map<string, Set<string>>();
  /** Agents per (mesh, owner) and relay sessions per owner, expired-but-unswept ones included. */
  const ownedAgents = createCounter();
  const ownedRelays = createCounter();
  /** Estimated memory of every stored entry, expired-but-unswept ones included. */
  let totalBytes = 0;
  /** What else shares the byte budget (the rendezvous records), bytes. */
  const extraBytes = options.extraBytes ?? (() => 0);

  const meshOwnerKey = (meshId: string, owner: string) => `${meshId.length}:${meshId}/${owner}`;

  /** Forgets a removed agent in the per-mesh and per-owner books. */
  function agentGone(agent: AgentLease<A>, key: string): void {
    totalBytes -= agent.bytes;
    ownedAgents.add(meshOwnerKey(agent.meshId, agent.owner), -1);
    const keys = meshAgents.get(agent.meshId);
    keys?.delete(key);
    if (keys?.size === 0) meshAgents.delete(agent.meshId);
  }

  const sweepColonies = (nowMs: number, limit?: number) => {
    const removed = colonies.sweep(nowMs, limit);
    for (const colony of removed) totalBytes -= colony.bytes;
    return removed;
  };
  const sweepRelays = (nowMs: number, limit?: number) => {
    const removed = relays.sweep(nowMs, limit);
    for (const session of removed) {
      totalBytes -= session.bytes;
      ownedRelays.add(session.owner, -1);
    }
    return removed;
  };
  function sweepAgents(nowMs: number, limit?: number): AgentLease<A>[] {
    const removed = agents.sweep(nowMs, limit);
    for (const agent of removed) agentGone(agent, agentKey(agent.meshId, agent.agentId));
    return removed;
  }

  /** Frees up to CAPACITY_SWEEP_BUDGET expired agents of one mesh, oldest first: bounded, whatever the rest of the registry holds. */
  function sweepMesh(meshId: string, nowMs: number): void {
    const keys = meshAgents.get(meshId);
    if (keys === undefined) return;
    let freed = 0;
    for (const key of keys) {
      const agent = agents.peek(key);
      if (freed >= CAPACITY_SWEEP_BUDGET || (agent !== undefined && nowMs < agent.expiresAtMs)) break;
      if (agent !== undefined) {
        agents.delete(key);
        agentGone(agent, key);
      }
      freed++;
    }
  }

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

  /**
   * Makes room in the byte budget for an entry that grows the registry by
   * `growth()` bytes (0 or less always fits; asked again after freeing, which
   * may have removed the entry's own expired predecessor): expired entries of
   * every kind are freed first, a bounded number; still over, it throws.
   */
  function ensureBytes(growth: () => number, nowMs: number, message: () => string): void {
    ensureRoom(
      () => growth() > 0 && totalBytes + extraBytes() + growth() > limits.bytes,
      () => {
        sweepColonies(nowMs, CAPACITY_SWEEP_BUDGET);
        sweepAgents(nowMs, CAPACITY_SWEEP_BUDGET);
        sweepRelays(nowMs, CAPACITY_SWEEP_BUDGET);
      },
      message,
    );
  }
  /** The active agents of a mesh, in registration order. */
  function activeAgents(meshId: string, nowMs: number): AgentLease<A>[] {
    const found: AgentLease<A>[] = [];
    for (const key of meshAgents.get(meshId) ?? []) {
      const agent = agents.get(key, nowMs);
      if (agent !== undefined) found.push(agent);
    }
    return found;
  }
  function removeAgent(agent: AgentLease<A>): void {
    const key = agentKey(agent.meshId, agent.agentId);
    agents.delete(key);
    agentGone(agent, key);
  }
  // Agent ids are unique within a mesh: never equal.
  const byAgentId = (a: AgentLease<A>, b: AgentLease<A>) => (a.agentId < b.agentId ? -1 : 1);

  const budgetFull = (bytes: number, what: BudgetRefusal) => () => budgetMessage(totalBytes + extraBytes(), limits, bytes, what);

  return {
    registerColony(meshId, pubkey, data, proven = false) {
      const nowMs = now();
      const active = colonies.get(meshId, nowMs);
      if (active !== undefined && active.pubkey !== pubkey) {
        throw splitBrain(meshId, active.expiresAtMs, nowMs);
      }
      // The ownership rule (see Registry.registerColony): a proven lease takes a proven renewal.
      if (active?.proven === true && !proven) throw proofRequired(`mesh ${meshId}'s colony`, active.expiresAtMs, nowMs);
      if (active === undefined) {
        ensureRoom(
          () => colonies.size >= limits.colonies && colonies.peek(meshId) === undefined,
          () => sweepColonies(nowMs, CAPACITY_SWEEP_BUDGET),
          () => capMessage("colonies", limits, meshId),
        );
      }
      const bytes = sizeOf.colony(meshId, pubkey, data);
      ensureBytes(
        () => bytes - (colonies.peek(meshId)?.bytes ?? 0),
        nowMs,
        budgetFull(bytes, active === undefined ? { kind: "colony", renewal: false } : { kind: "colony", renewal: true, id: meshId }),
      );
      const previous = colonies.peek(meshId);
      // Frozen: the expiry index files leases by expiresAtMs, which must never change behind its back.
      const lease: ColonyLease<C> = Object.freeze({ meshId, pubkey, data, lastSeenMs: nowMs, expiresAtMs: nowMs + ttlMs, bytes, proven });
      totalBytes += bytes - (previous?.bytes ?? 0);
      colonies.set(meshId, lease);
      if (previous === undefined) colonyOrder.add(meshId);
      return lease;
    },
    lookupColony(meshId) {
      return colonies.get(meshId, now());
    },
    registerAgent(meshId, agentId, pubkey, data, owner, proven = false) {
      const nowMs = now();
      const key = agentKey(meshId, agentId);
      const stored = agents.peek(key);
      const active = stored !== undefined && nowMs < stored.expiresAtMs;
      // The ownership rule (see Registry.registerAgent): a proven lease takes a proven renewal of its own pubkey.
      if (active && stored.proven && (!proven || stored.pubkey !== pubkey)) {
        throw proofRequired(`agent ${agentId} of mesh ${meshId}`, stored.expiresAtMs, nowMs, stored.pubkey !== pubkey);
      }
      const isNew = () => agents.peek(key) === undefined;
      const meshCount = () => meshAgents.get(meshId)?.size ?? 0;
      if (!active) {
        ensureRoom(
          () => isNew() && meshCount() >= limits.agentsPerMesh,
          () => sweepMesh(meshId, nowMs),
          () => capMessage("agents_per_mesh", limits, meshId),
        );
        ensureRoom(
          () => isNew() && agents.size >= limits.agents,
          () => sweepAgents(nowMs, CAPACITY_SWEEP_BUDGET),
          () => capMessage("agents", limits, meshId),
        );
      }
      // The quota follows the registration: an agent taken over from another address moves to this one's count.
      const ownerKey = meshOwnerKey(meshId, owner);
      const takesQuota = () => {
        const current = agents.peek(key);
        return current === undefined || nowMs >= current.expiresAtMs || current.owner !== owner;
      };
      ensureRoom(
        () => takesQuota() && ownedAgents.get(ownerKey) >= limits.agentsPerMeshPerOwner,
        () => sweepMesh(meshId, nowMs),
        () => capMessage("agents_per_owner", limits, meshId),
      );
      const bytes = sizeOf.agent(meshId, agentId, pubkey, data);
      ensureBytes(
        () => bytes - (agents.peek(key)?.bytes ?? 0),
        nowMs,
        budgetFull(bytes, active ? { kind: "agent", renewal: true, id: agentId } : { kind: "agent", renewal: false }),
      );
      const previous = agents.peek(key);
      if (previous !== undefined) agentGone(previous, key);
      const lease: AgentLease<A> = Object.freeze({ meshId, agentId, pubkey, data, lastSeenMs: nowMs, expiresAtMs: nowMs + ttlMs, bytes, owner, proven });
      totalBytes += bytes;
      ownedAgents.add(ownerKey, 1);
      let keys = meshAgents.get(meshId);
      if (keys === undefined) meshAgents.set(meshId, (keys = new Set()));
      keys.add(key);
      agents.set(key, lease);
      return lease;
    },
    lookupAgent(meshId, agentId) {
      return agents.get(agentKey(meshId, agentId), now());
    },
    createRelaySession(sessionId, meshId, data, owner) {
      const nowMs = now();
      ensureRoom(
        () => relays.size >= limits.relaySessions,
        () => sweepRelays(nowMs, CAPACITY_SWEEP_BUDGET),
        () => capMessage("relay_sessions", limits, meshId),
      );
      ensureRoom(
        () => ownedRelays.get(owner) >= limits.relaySessionsPerOwner,
        () => sweepRelays(nowMs, CAPACITY_SWEEP_BUDGET),
        () => capMessage("relay_sessions_per_owner", limits, meshId),
      );
      const bytes = sizeOf.relay(sessionId, meshId, data);
      ensureBytes(() => bytes, nowMs, budgetFull(bytes, { kind: "relay session", renewal: false }));
      const previous = relays.peek(sessionId);
      const session: RelaySession<R> = Object.freeze({ sessionId, meshId, data, expiresAtMs: nowMs + relayTtlMs, bytes, owner });
      if (previous !== undefined) {
        totalBytes -= previous.bytes;
        ownedRelays.add(previous.owner, -1);
      }
      totalBytes += bytes;
      ownedRelays.add(owner, 1);
      relays.set(sessionId, session);
      return session;
    },
    releaseRelaySession(sessionId, meshId) {
      const session = relays.get(sessionId, now());
      if (session === undefined) {
        throw sessionNotFound(sessionId);
      }
      if (meshId !== "" && meshId !== session.meshId) {
        throw sessionMeshMismatch(sessionId, meshId);
      }
      relays.delete(sessionId);
      totalBytes -= session.bytes;
      ownedRelays.add(session.owner, -1);
      return session;
    },
    listColonies({ prefix = "", after, limit }) {
      const nowMs = now();
      const start = colonyOrder.seek(prefix, after); // merges first: read keys() after it
      const keys = colonyOrder.keys();
      const found: ColonyLease<C>[] = [];
      for (let i = start; i < keys.length; i++) {
        const meshId = keys[i] as string;
        if (!meshId.startsWith(prefix)) break; // the ids with a prefix are contiguous in this order
        const lease = colonies.get(meshId, nowMs);
        if (lease === undefined) continue;
        if (found.length === limit) return { colonies: found, more: true };
        found.push(lease);
      }
      return { colonies: found, more: false };
    },
    listAgents(meshId) {
      return activeAgents(meshId, now()).sort(byAgentId);
    },
    agentCount(meshId) {
      return activeAgents(meshId, now()).length;
    },
    evictColony(meshId) {
      const lease = colonies.get(meshId, now());
      if (lease === undefined) return undefined;
      colonies.delete(meshId);
      totalBytes -= lease.bytes;
      return lease;
    },
    evictAgent(meshId, agentId) {
      const lease = agents.get(agentKey(meshId, agentId), now());
      if (lease !== undefined) removeAgent(lease);
      return lease;
    },
    evictAgents(meshId) {
      const removed = activeAgents(meshId, now()).sort(byAgentId);
      for (const agent of removed) removeAgent(agent);
      return removed;
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
    bytes: () => totalBytes + extraBytes(),
    counts() {
      const nowMs = now();
      return {
        colonies: colonies.activeCount(nowMs),
        agents: agents.activeCount(nowMs),
        relaySessions: relays.activeCount(nowMs),
        bytes: totalBytes + extraBytes(),
      };
    },
    active() {
      return { colonies: activeIn(colonies, now), agents: activeIn(agents, now), relaySessions: activeIn(relays, now) };
    },
    restoreColony(saved) {
      if (now() >= saved.expiresAtMs) return undefined;
      const lease: ColonyLease<C> = Object.freeze({ ...saved, proven: saved.proven ?? false, bytes: sizeOf.colony(saved.meshId, saved.pubkey, saved.data) });
      const previous = colonies.peek(lease.meshId);
      totalBytes += lease.bytes - (previous?.bytes ?? 0);
      colonies.set(lease.meshId, lease);
      if (previous === undefined) colonyOrder.add(lease.meshId);
      return lease;
    },
    restoreAgent(saved) {
      if (now() >= saved.expiresAtMs) return undefined;
      const lease: AgentLease<A> = Object.freeze({ ...saved, proven: saved.proven ?? false, bytes: sizeOf.agent(saved.meshId, saved.agentId, saved.pubkey, saved.data) });
      const key = agentKey(lease.meshId, lease.agentId);
      const previous = agents.peek(key);
      if (previous !== undefined) agentGone(previous, key);
      totalBytes += lease.bytes;
      ownedAgents.add(meshOwnerKey(lease.meshId, lease.owner), 1);
      let keys = meshAgents.get(lease.meshId);
      if (keys === undefined) meshAgents.set(lease.meshId, (keys = new Set()));
      keys.add(key);
      agents.set(key, lease);
      return lease;
    },
    restoreRelaySession(saved) {
      if (now() >= saved.expiresAtMs) return undefined;
      const session: RelaySession<R> = Object.freeze({ ...saved, bytes: sizeOf.relay(saved.sessionId, saved.meshId, saved.data) });
      const previous = relays.peek(session.sessionId);
      if (previous !== undefined) {
        totalBytes -= previous.bytes;
        ownedRelays.add(previous.owner, -1);
      }
      totalBytes += session.bytes;
      ownedRelays.add(session.owner, 1);
      relays.set(session.sessionId, session);
      return session;
    },
  };
}

/** The leases of `table` active when an iteration starts, read from the live table (nothing copied). */
function activeIn<T extends Lease>(table: LeaseTable<T>, now: () => number): Iterable<T> {
  return {
    *[Symbol.iterator]() {
      const nowMs = now();
      for (const lease of table.values()) if (nowMs < lease.expiresAtMs) yield lease;
    },
  };
}

/** An unambiguous composite key: the length prefix keeps ("a:b","c") apart from ("a","b:c"). */
function agentKey(meshId: string, agentId: string): string {
  return `${meshId.length}:${meshId}/${agentId}`;
}
