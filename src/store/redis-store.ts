// The lease store in Redis, shared by every instance pointed at it. Each
// operation is one Lua script (src/store/redis-scripts.ts): atomic across
// instances, one round trip. Redis expires leases itself; the sweeper only
// tidies the books (counts and the byte total) of what expired.
//
// Faults: the client never queues a command while disconnected and waits at
// most `--redis-timeout` for an answer, so a call made while Redis is down or
// stuck fails fast with RegistryError("unavailable") (the service answers
// `unavailable`); the client reconnects on its own, and nothing is reported
// stored before Redis has it.
import type { Redis } from "ioredis";
import { RegistryError } from "../registry/errors.js";
import { budgetMessage, capMessage, proofRequired, sessionMeshMismatch, sessionNotFound, splitBrain, type BudgetRefusal, type Cap } from "../registry/refusals.js";
import type { AgentLease, ColonyLease, EntrySizes, RegistryLimits } from "../registry/types.js";
import type { Store } from "../registry/store.js";
import { redisFault, unreachable } from "./redis-fault.js";
import { scriptSource, SCRIPTS, type ScriptName } from "./redis-scripts.js";

/** A payload to and from a JSON-safe value (src/service/lease-codec.ts). */
export interface Codec<T> {
  encode(value: T): unknown;
  decode(json: unknown): T;
}

export interface RedisStoreOptions<C, A, R> {
  /** A connected (or connecting) ioredis client; the store defines its scripts on it and quits it on close. */
  readonly client: Redis;
  /** Prefix of every key (`--redis-prefix`). */
  readonly prefix: string;
  readonly ttlMs: number;
  readonly relaySessionTtlMs: number;
  readonly limits: RegistryLimits;
  readonly sizeOf: EntrySizes<C, A, R>;
  readonly codecs: { readonly colony: Codec<C>; readonly agent: Codec<A>; readonly relay: Codec<R> };
  /** Where the store is, for messages (the URL without its password). */
  readonly describe: string;
  /** A clock in Unix ms (tests). Default: Redis's own (`TIME`), one clock for every instance. */
  readonly now?: () => number;
}

type Reply = (string | number | null)[];
type Scripts = { [K in ScriptName]: (...args: (string | number)[]) => Promise<Reply> };


export function createRedisStore<C, A, R>(options: RedisStoreOptions<C, A, R>): Store<C, A, R> {
  const { client, prefix, ttlMs, relaySessionTtlMs, limits, sizeOf, codecs, describe } = options;
  for (const name of Object.keys(SCRIPTS) as ScriptName[]) {
    if (!(name in client)) client.defineCommand(name, { numberOfKeys: 0, lua: scriptSource(name) });
  }
  const scripts = client as unknown as Scripts;
  const clock = options.now === undefined ? () => "" : () => String(options.now?.());

  /** Runs one script; an out-of-reach Redis becomes RegistryError("unavailable"). */
  async function run(name: ScriptName, ...args: (string | number)[]): Promise<Reply> {
    try {
      return await scripts[name](prefix, clock(), ...args);
    } catch (error) {
      throw redisFault(error, client, describe);
    }
  }

  const text = (value: string | number | null | undefined) => String(value);
  const int = (value: string | number | null | undefined) => Number(value);
  const json = (value: string | number | null | undefined) => JSON.parse(String(value)) as unknown;

  /** A colony from 6 reply fields at `at`: pubkey, lastSeen, expires, data, proven, bytes. */
  function colonyOf(meshId: string, r: Reply, at: number): ColonyLease<C> {
    return {
      meshId,
      pubkey: text(r[at]),
      lastSeenMs: int(r[at + 1]),
      expiresAtMs: int(r[at + 2]),
      data: codecs.colony.decode(json(r[at + 3])),
      proven: r[at + 4] === "1",
      bytes: int(r[at + 5]),
    };
  }
  /** An agent from 8 reply fields at `at`: agentId, pubkey, lastSeen, expires, data, owner, proven, bytes. */
  function agentOf(meshId: string, r: Reply, at: number): AgentLease<A> {
    return {
      meshId,
      agentId: text(r[at]),
      pubkey: text(r[at + 1]),
      lastSeenMs: int(r[at + 2]),
      expiresAtMs: int(r[at + 3]),
      data: codecs.agent.decode(json(r[at + 4])),
      owner: text(r[at + 5]),
      proven: r[at + 6] === "1",
      bytes: int(r[at + 7]),
    };
  }
  function agentsOf(meshId: string, r: Reply): AgentLease<A>[] {
    const agents: AgentLease<A>[] = [];
    for (let i = 0; i < r.length; i += 8) agents.push(agentOf(meshId, r, i));
    return agents.sort((a, b) => (a.agentId < b.agentId ? -1 : 1));
  }
  /** A script's refusal: `["bytes", total]` or the name of a cap. */
  const refusal = (r: Reply, meshId: string, bytes: number, what: BudgetRefusal) =>
    new RegistryError("capacity_exceeded", r[0] === "bytes" ? budgetMessage(int(r[1]), limits, bytes, what) : capMessage(r[0] as Cap, limits, meshId));

  return {
    kind: "redis",
    async registerColony(meshId, pubkey, data, proven = false) {
      const bytes = sizeOf.colony(meshId, pubkey, data);
      const r = await run("cdRegisterColony", meshId, pubkey, JSON.stringify(codecs.colony.encode(data)), bytes, ttlMs, limits.colonies, limits.bytes, proven ? "1" : "0");
      if (r[0] === "ok") return { lease: { meshId, pubkey, data, lastSeenMs: int(r[1]), expiresAtMs: int(r[2]), bytes, proven }, renewed: r[3] === 1 };
      if (r[0] === "split_brain") throw splitBrain(meshId, int(r[1]), int(r[2]));
      if (r[0] === "proof_required") throw proofRequired(`mesh ${meshId}'s colony`, int(r[1]), int(r[2]));
      throw refusal(r, meshId, bytes, r[2] === 1 ? { kind: "colony", renewal: true, id: meshId } : { kind: "colony", renewal: false });
    },
    async lookupColony(meshId) {
      const r = await run("cdLookupColony", meshId);
      return r.length === 0 ? undefined : colonyOf(meshId, r, 0);
    },
    async registerAgent(meshId, agentId, pubkey, data, owner, proven = false) {
      const bytes = sizeOf.agent(meshId, agentId, pubkey, data);
      const r = await run(
        "cdRegisterAgent",
        meshId,
        agentId,
        pubkey,
        JSON.stringify(codecs.agent.encode(data)),
        bytes,
        ttlMs,
        owner,
        limits.agentsPerMesh,
        limits.agents,
        limits.agentsPerMeshPerOwner,
        limits.bytes,
        proven ? "1" : "0",
      );
      if (r[0] === "ok") return { lease: { meshId, agentId, pubkey, data, owner, lastSeenMs: int(r[1]), expiresAtMs: int(r[2]), bytes, proven }, renewed: r[3] === 1 };
      if (r[0] === "proof_required") throw proofRequired(`agent ${agentId} of mesh ${meshId}`, int(r[1]), int(r[2]), r[3] === 1);
      throw refusal(r, meshId, bytes, r[2] === 1 ? { kind: "agent", renewal: true, id: agentId } : { kind: "agent", renewal: false });
    },
    async lookupAgent(meshId, agentId) {
      const r = await run("cdLookupAgent", meshId, agentId);
      return r.length === 0 ? undefined : agentOf(meshId, [agentId, ...r], 0);
    },
    async createRelaySession(sessionId, meshId, data, owner) {
      const bytes = sizeOf.relay(sessionId, meshId, data);
      const r = await run(
        "cdCreateRelay",
        sessionId,
        meshId,
        JSON.stringify(codecs.relay.encode(data)),
        bytes,
        relaySessionTtlMs,
        owner,
        limits.relaySessions,
        limits.relaySessionsPerOwner,
        limits.bytes,
      );
      if (r[0] === "ok") return { sessionId, meshId, data, expiresAtMs: int(r[1]), bytes, owner };
      throw refusal(r, meshId, bytes, { kind: "relay session", renewal: false });
    },
    async releaseRelaySession(sessionId, meshId) {
      const r = await run("cdReleaseRelay", sessionId, meshId);
      if (r[0] === "not_found") throw sessionNotFound(sessionId);
      if (r[0] === "mismatch") throw sessionMeshMismatch(sessionId, meshId);
      return { sessionId, meshId: text(r[1]), expiresAtMs: int(r[2]), data: codecs.relay.decode(json(r[3])), owner: text(r[4]), bytes: int(r[5]) };
    },
    async listColonies({ prefix: idPrefix = "", after, limit }) {
      const start = after !== undefined && after >= idPrefix ? `(${after}` : `[${idPrefix}`;
      const r = await run("cdListColonies", start, idPrefix, limit);
      const colonies: ColonyLease<C>[] = [];
      for (let i = 1; i < r.length; i += 7) colonies.push(colonyOf(text(r[i]), r, i + 1));
      return { colonies, more: r[0] === 1 };
    },
    async listAgents(meshId) {
      return agentsOf(meshId, await run("cdListAgents", meshId));
    },
    async agentCount(meshId) {
      return int((await run("cdAgentCount", meshId)) as unknown as number);
    },
    async evictColony(meshId) {
      const r = await run("cdEvictColony", meshId);
      return r.length === 0 ? undefined : colonyOf(meshId, r, 0);
    },
    async evictAgent(meshId, agentId) {
      const r = await run("cdEvictAgent", meshId, agentId);
      return r.length === 0 ? undefined : agentOf(meshId, r, 0);
    },
    async evictAgents(meshId) {
      return agentsOf(meshId, await run("cdEvictAgents", meshId));
    },
    async counts() {
      const r = await run("cdCounts");
      return { colonies: int(r[0]), agents: int(r[1]), relaySessions: int(r[2]), bytes: int(r[3]) };
    },
    async sweep(_nowMs, budget) {
      const r = await run("cdSweep", budget);
      return { colonies: int(r[0]), agents: int(r[1]), relaySessions: int(r[2]), complete: int(r[0]) < budget && int(r[1]) < budget && int(r[2]) < budget };
    },
    ready: () => (client.status === "ready" ? true : unreachable(describe)),
    async close() {
      await client.quit().catch(() => client.disconnect());
    },
  };

}
