// The lease store as the service sees it: the registry's operations behind
// one asynchronous interface, so the service and the RPC road never know
// whether the leases live in this process (the Map registry, the default) or
// in a store several instances share (Redis). Every implementation keeps the
// same rules (the contract suite in test/store/contract.ts runs against each).
import type { AgentLease, ColonyLease, ColonyPage, ColonyQuery, Registry, RegistryCounts, RelaySession } from "./types.js";

/** A value now or later: the memory store answers synchronously, a remote one with a promise. */
export type Awaitable<T> = T | Promise<T>;

/** A stored registration, and whether it renewed an active lease (else it created one). */
export interface Registration<L> {
  readonly lease: L;
  readonly renewed: boolean;
}

/** What one sweep freed, by kind, and whether it got through everything expired. */
export interface SweepTally {
  readonly colonies: number;
  readonly agents: number;
  readonly relaySessions: number;
  readonly complete: boolean;
}

/**
 * The registry's operations (see Registry for each one's rules), awaitable.
 * Refusals are thrown as RegistryError, the store being unreachable as
 * RegistryError("unavailable").
 */
export interface Store<C, A, R> {
  /** `memory` or `redis`, as GetStats reports it. */
  readonly kind: string;
  registerColony(meshId: string, pubkey: string, data: C): Awaitable<Registration<ColonyLease<C>>>;
  lookupColony(meshId: string): Awaitable<ColonyLease<C> | undefined>;
  registerAgent(meshId: string, agentId: string, pubkey: string, data: A, owner: string): Awaitable<Registration<AgentLease<A>>>;
  lookupAgent(meshId: string, agentId: string): Awaitable<AgentLease<A> | undefined>;
  createRelaySession(sessionId: string, meshId: string, data: R, owner: string): Awaitable<RelaySession<R>>;
  releaseRelaySession(sessionId: string, meshId: string): Awaitable<RelaySession<R>>;
  listColonies(query: ColonyQuery): Awaitable<ColonyPage<C>>;
  listAgents(meshId: string): Awaitable<AgentLease<A>[]>;
  agentCount(meshId: string): Awaitable<number>;
  evictColony(meshId: string): Awaitable<ColonyLease<C> | undefined>;
  evictAgent(meshId: string, agentId: string): Awaitable<AgentLease<A> | undefined>;
  evictAgents(meshId: string): Awaitable<AgentLease<A>[]>;
  counts(): Awaitable<RegistryCounts>;
  /** Frees (or, where the store expires entries itself, forgets) at most `budget` expired entries of each kind. */
  sweep(nowMs: number, budget: number): Awaitable<SweepTally>;
  /** True while the store can answer; else why not (what /readyz and /health report). */
  ready(): true | string;
  /** Lets go of connections; the store answers nothing after. */
  close(): Promise<void>;
}

/** The Map registry as a Store: every call answers in the same turn, at the registry's cost. */
export function memoryStore<C, A, R>(registry: Registry<C, A, R>): Store<C, A, R> {
  return {
    kind: "memory",
    registerColony(meshId, pubkey, data) {
      const renewed = registry.lookupColony(meshId) !== undefined;
      return { lease: registry.registerColony(meshId, pubkey, data), renewed };
    },
    lookupColony: (meshId) => registry.lookupColony(meshId),
    registerAgent(meshId, agentId, pubkey, data, owner) {
      const renewed = registry.lookupAgent(meshId, agentId) !== undefined;
      return { lease: registry.registerAgent(meshId, agentId, pubkey, data, owner), renewed };
    },
    lookupAgent: (meshId, agentId) => registry.lookupAgent(meshId, agentId),
    createRelaySession: (sessionId, meshId, data, owner) => registry.createRelaySession(sessionId, meshId, data, owner),
    releaseRelaySession: (sessionId, meshId) => registry.releaseRelaySession(sessionId, meshId),
    listColonies: (query) => registry.listColonies(query),
    listAgents: (meshId) => registry.listAgents(meshId),
    agentCount: (meshId) => registry.agentCount(meshId),
    evictColony: (meshId) => registry.evictColony(meshId),
    evictAgent: (meshId, agentId) => registry.evictAgent(meshId, agentId),
    evictAgents: (meshId) => registry.evictAgents(meshId),
    counts: () => registry.counts(),
    sweep(nowMs, budget) {
      const removed = registry.sweep(nowMs, budget);
      return { colonies: removed.colonies.length, agents: removed.agents.length, relaySessions: removed.relaySessions.length, complete: removed.complete };
    },
    ready: () => true,
    close: async () => {},
  };
}
