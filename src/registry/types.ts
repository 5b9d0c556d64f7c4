// The registry's public types: its options, what it stores and what it answers.

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
  /**
   * Bytes of other entries that share the byte budget (the bootstrap
   * rendezvous records): added to the registry's own in every budget check
   * and in `counts().bytes`. Default none.
   */
  readonly extraBytes?: () => number;
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
  /** Agents one client address may hold in one mesh (`--max-agents-per-mesh-per-ip`). */
  readonly agentsPerMeshPerOwner: number;
  /** Relay sessions one client address may hold open (`--max-relay-sessions-per-ip`). */
  readonly relaySessionsPerOwner: number;
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
  /**
   * True when the registration that made this lease carried a valid
   * registration proof for `pubkey` (its owner holds the WireGuard private
   * key): see the ownership rule at Registry.registerColony.
   */
  readonly proven: boolean;
}

export interface AgentLease<D> extends ColonyLease<D> {
  readonly agentId: string;
  /** Who registered it last (a client address key), for the per-address quota. */
  readonly owner: string;
}

export interface RelaySession<D> {
  readonly sessionId: string;
  readonly meshId: string;
  readonly data: D;
  readonly expiresAtMs: number;
  /** Estimated memory of the entry (EntrySizes). */
  readonly bytes: number;
  /** Who opened it (a client address key), for the per-address quota. */
  readonly owner: string;
}

export interface SweepResult<C, A, R> {
  readonly colonies: ColonyLease<C>[];
  readonly agents: AgentLease<A>[];
  readonly relaySessions: RelaySession<R>[];
  /** False when the removal budget ran out before everything expired was freed: sweep again. */
  readonly complete: boolean;
}

/** Which colonies `listColonies` returns. */
export interface ColonyQuery {
  /** Only mesh ids starting with this text. Default: all. */
  readonly prefix?: string;
  /** Only mesh ids after this one (exclusive): the last id of the previous page. */
  readonly after?: string;
  /** At most this many colonies. */
  readonly limit: number;
}

export interface ColonyPage<C> {
  /** Active colonies in mesh id order (code-unit order, as `<` compares strings). */
  readonly colonies: ColonyLease<C>[];
  /** True when another active colony matching the query follows the last one. */
  readonly more: boolean;
}

export interface RegistryCounts {
  readonly colonies: number;
  readonly agents: number;
  readonly relaySessions: number;
  /** Estimated memory of every stored entry, expired-but-unswept ones included (they still take it), and of what shares the budget (extraBytes). */
  readonly bytes: number;
}

/**
 * A lease as a snapshot holds it: every field but `bytes`, which is an
 * estimate of this process and recomputed (EntrySizes) when it is restored.
 * Fields a later version adds to the lease types are carried along as they are.
 */
export type SavedLease<L> = Omit<L, "bytes" | "proven"> & (L extends { proven: boolean } ? { readonly proven?: boolean } : unknown);

/** The active leases of each kind, read lazily (see `Registry.active`). */
export interface ActiveLeases<C, A, R> {
  readonly colonies: Iterable<ColonyLease<C>>;
  readonly agents: Iterable<AgentLease<A>>;
  readonly relaySessions: Iterable<RelaySession<R>>;
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
   *
   * `proven`: the caller verified a registration proof for `pubkey` (the
   * registry trusts it; it checks no proof itself). The ownership rule, in
   * this order, with A = the active lease of `meshId` (now < A.expiresAtMs):
   *   1. A exists and A.pubkey != pubkey            -> split_brain (whatever either's proof)
   *   2. A exists and A.proven and not proven       -> proof_required (A untouched)
   *   3. otherwise store {pubkey, data, proven, lastSeen = now, expires = now + ttl}
   * So a proven lease stays proven while it is renewed with proofs; an
   * unproven lease becomes proven by a proven renewal; an expired lease
   * (proven or not) never blocks anything.
   */
  registerColony(meshId: string, pubkey: string, data: C, proven?: boolean): ColonyLease<C>;
  /** The active colony of `meshId`, or undefined. */
  lookupColony(meshId: string): ColonyLease<C> | undefined;
  /**
   * Registers, renews or replaces (another pubkey: last writer wins) an agent
   * for `owner` (the caller's address key). A mesh at its cap first frees its
   * own expired agents (a bounded number).
   *
   * `proven` as for registerColony. The ownership rule, checked first (before
   * any capacity check), with A = the active lease of (`meshId`, `agentId`):
   *   1. A exists and A.proven and (not proven or A.pubkey != pubkey) -> proof_required (A untouched)
   *   2. otherwise store (an unproven A is replaced by any pubkey, as before)
   */
  registerAgent(meshId: string, agentId: string, pubkey: string, data: A, owner: string, proven?: boolean): AgentLease<A>;
  /** The active agent `agentId` of `meshId`, or undefined. */
  lookupAgent(meshId: string, agentId: string): AgentLease<A> | undefined;
  /** Stores a new relay session under a caller-chosen (random) id, for `owner` (the caller's address key). */
  createRelaySession(sessionId: string, meshId: string, data: R, owner: string): RelaySession<R>;
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
   * A page of active colonies in mesh id order (see ColonyQuery). Costs
   * O(log n + limit + expired-but-unswept ids skipped), plus O(n) once after
   * new colonies arrived (they are merged into the sorted order then).
   */
  listColonies(query: ColonyQuery): ColonyPage<C>;
  /** The active agents of `meshId`, in agent id order. O(agents stored for the mesh). */
  listAgents(meshId: string): AgentLease<A>[];
  /** How many agents of `meshId` are active. O(agents stored for the mesh). */
  agentCount(meshId: string): number;
  /**
   * Removes the active colony of `meshId` now (its agents stay: see
   * evictAgents) and returns it; undefined when there is none. The mesh id
   * is free at once: any pubkey may register it next.
   */
  evictColony(meshId: string): ColonyLease<C> | undefined;
  /** Removes the active agent `agentId` of `meshId` now and returns it; undefined when there is none. */
  evictAgent(meshId: string, agentId: string): AgentLease<A> | undefined;
  /** Removes every active agent of `meshId` now and returns them, in agent id order. */
  evictAgents(meshId: string): AgentLease<A>[];
  /**
   * Active entries of each kind: exact while the clock moves forward; after it
   * went back, entries expiring within one second may still be counted.
   */
  counts(): RegistryCounts;
  /** `counts().bytes` at O(1): what the byte budget holds now (what shares it included). */
  bytes(): number;
  /**
   * Every active lease of each kind, for a snapshot. Nothing is copied: each
   * iterable walks the live table when it is iterated, keeping leases active
   * at the moment its iteration started. A caller may spread one iteration
   * over several event-loop turns; leases registered meanwhile may or may not
   * be visited, renewed ones are visited once (old or new version), removed
   * ones not yet visited are skipped.
   */
  active(): ActiveLeases<C, A, R>;
  /**
   * Puts back a lease saved by a snapshot as it was: its keys, pubkey, owner,
   * `lastSeenMs`, `expiresAtMs` and any other field, with `bytes` recomputed.
   * It replaces whatever is stored under its key and keeps the books (counts,
   * per-owner quotas, byte total, listing order). A lease already expired is
   * dropped: undefined. Caps are not checked: these leases were acknowledged
   * before the restart, so they are all restored even past caps lowered since;
   * new registrations are then refused until the registry is below the caps
   * again, renewals go on as usual. Restore in expiry order (oldest first):
   * sweeping and a full mesh's freeing of its own agents assume that order.
   */
  restoreColony(lease: SavedLease<ColonyLease<C>>): ColonyLease<C> | undefined;
  restoreAgent(lease: SavedLease<AgentLease<A>>): AgentLease<A> | undefined;
  restoreRelaySession(session: SavedLease<RelaySession<R>>): RelaySession<R> | undefined;
}

