// The registry's snapshot side: reading every active lease lazily (active())
// and putting saved leases back as they were (restoreColony/Agent/RelaySession).
import t from "tap";
import { createRegistry, type Registry } from "../../src/registry/index.js";
import { createFakeClock } from "../fixtures/clock.js";

const TTL_MS = 300_000;
const RELAY_TTL_MS = 30 * 60_000;
const ROOMY = {
  colonies: 1_000_000,
  agentsPerMesh: 1_000_000,
  agents: 1_000_000,
  relaySessions: 1_000_000,
  bytes: 2 ** 40,
  agentsPerMeshPerOwner: 1_000_000,
  relaySessionsPerOwner: 1_000_000,
};
type Data = { bytes?: number; note?: string };
/** Every entry "takes" 100 bytes, unless its payload says `{ bytes: n }`. */
const sizeOf = {
  colony: (_m: string, _p: string, data: Data) => data.bytes ?? 100,
  agent: (_m: string, _a: string, _p: string, data: Data) => data.bytes ?? 100,
  relay: (_s: string, _m: string, data: Data) => data.bytes ?? 100,
};

function create(now: () => number, limits: Partial<typeof ROOMY> = {}): Registry<Data, Data, Data> {
  return createRegistry<Data, Data, Data>({ ttlMs: TTL_MS, relaySessionTtlMs: RELAY_TTL_MS, now, limits: { ...ROOMY, ...limits }, sizeOf });
}

/** A registry's active leases as plain arrays, `bytes` left out (what a snapshot saves). */
function saved(registry: Registry<Data, Data, Data>) {
  const strip = <L extends { bytes: number }>(lease: L) => {
    const { bytes: _bytes, ...rest } = lease;
    return rest;
  };
  const { colonies, agents, relaySessions } = registry.active();
  return { colonies: [...colonies].map(strip), agents: [...agents].map(strip), relaySessions: [...relaySessions].map(strip) };
}

t.test("active() yields every active lease of each kind and none that expired, swept or not", async (t) => {
  const clock = createFakeClock();
  const registry = create(clock.now);
  registry.registerColony("old", "k", {});
  registry.registerAgent("old", "a0", "k", {}, "198.51.100.1");
  clock.advance(TTL_MS - 1_000);
  registry.registerColony("m1", "k1", { note: "one" });
  registry.registerColony("m2", "k2", {});
  registry.registerAgent("m1", "a1", "ka", { note: "agent" }, "198.51.100.1");
  registry.createRelaySession("s1", "m1", { note: "relay" }, "198.51.100.2");
  clock.advance(1_000);
  const { colonies, agents, relaySessions } = registry.active();
  t.same([...colonies].map((l) => l.meshId), ["m1", "m2"], "the expired colony is left out");
  t.same([...agents].map((l) => l.agentId), ["a1"]);
  t.same([...relaySessions].map((l) => l.sessionId), ["s1"]);
  t.equal([...colonies].length, 2, "each iterable can be walked again");
});

t.test("active() is lazy: it reads the live table, so leases added during an iteration are seen and removed ones skipped", async (t) => {
  const clock = createFakeClock();
  const registry = create(clock.now);
  registry.registerColony("a", "k", {});
  registry.registerColony("b", "k", {});
  registry.registerColony("c", "k", {});
  const seen: string[] = [];
  for (const lease of registry.active().colonies) {
    seen.push(lease.meshId);
    if (lease.meshId === "a") {
      registry.evictColony("b");
      registry.registerColony("d", "k", {});
    }
  }
  t.same(seen, ["a", "c", "d"]);
});

t.test("restore puts leases back as they were: ids, pubkey, owner, times, extra fields; bytes recomputed", async (t) => {
  const clock = createFakeClock();
  const before = create(clock.now);
  before.registerColony("m1", "kc", { note: "colony", bytes: 250 });
  clock.advance(5_000);
  before.registerAgent("m1", "a1", "ka", { note: "agent", bytes: 300 }, "198.51.100.1");
  before.createRelaySession("s1", "m1", { note: "relay", bytes: 50 }, "198.51.100.2");
  const snapshot = saved(before);

  clock.advance(60_000);
  const after = create(clock.now);
  const colony = after.restoreColony({ ...snapshot.colonies[0]!, proven: true } as (typeof snapshot.colonies)[0]);
  t.ok(colony);
  t.equal(colony?.proven, true, "proven is carried along");
  t.ok(Object.isFrozen(colony), "frozen like a registered lease");
  for (const agent of snapshot.agents) after.restoreAgent(agent);
  for (const session of snapshot.relaySessions) after.restoreRelaySession(session);

  t.same(saved(after), { ...snapshot, colonies: [{ ...snapshot.colonies[0], proven: true }] }, "every field as saved, times included");
  t.equal(after.lookupColony("m1")?.lastSeenMs, snapshot.colonies[0]?.lastSeenMs, "lastSeenMs kept, not reset to now");
  t.equal(after.lookupAgent("m1", "a1")?.expiresAtMs, before.lookupAgent("m1", "a1")?.expiresAtMs, "expiresAtMs kept");
  t.equal(after.lookupAgent("m1", "a1")?.bytes, 300, "bytes from sizeOf");
  t.same(after.counts(), { colonies: 1, agents: 1, relaySessions: 1, bytes: 600 }, "counts and the byte total");
  t.same(after.listColonies({ limit: 10 }).colonies.map((c) => c.meshId), ["m1"], "listed");
  t.same(after.listAgents("m1").map((a) => a.agentId), ["a1"]);
  t.ok(after.releaseRelaySession("s1", "m1"), "a restored relay session can be released");
  t.equal(after.counts().bytes, 550);
});

t.test("restored leases expire at their saved time and are swept then", async (t) => {
  const clock = createFakeClock();
  const before = create(clock.now);
  before.registerColony("m1", "k", {});
  before.registerAgent("m1", "a1", "k", {}, "o");
  const snapshot = saved(before);
  clock.advance(TTL_MS - 10);
  const after = create(clock.now);
  after.restoreColony(snapshot.colonies[0]!);
  after.restoreAgent(snapshot.agents[0]!);
  t.ok(after.lookupColony("m1"), "10 ms left");
  clock.advance(10);
  t.equal(after.lookupColony("m1"), undefined, "gone at the saved expiry, not one TTL after the restore");
  const swept = after.sweep();
  t.same([swept.colonies.length, swept.agents.length], [1, 1], "the expiry index files them under their saved time");
  t.same(after.counts(), { colonies: 0, agents: 0, relaySessions: 0, bytes: 0 });
});

t.test("an expired lease is dropped: undefined, nothing stored, no bytes counted", async (t) => {
  const clock = createFakeClock();
  const registry = create(clock.now);
  const nowMs = clock.now();
  t.equal(registry.restoreColony({ meshId: "m", pubkey: "k", data: {}, lastSeenMs: nowMs - TTL_MS, expiresAtMs: nowMs }), undefined);
  t.equal(registry.restoreAgent({ meshId: "m", agentId: "a", pubkey: "k", data: {}, owner: "o", lastSeenMs: 0, expiresAtMs: nowMs - 1 }), undefined);
  t.equal(registry.restoreRelaySession({ sessionId: "s", meshId: "m", data: {}, owner: "o", expiresAtMs: nowMs }), undefined);
  t.same(registry.counts(), { colonies: 0, agents: 0, relaySessions: 0, bytes: 0 });
  t.same(registry.listColonies({ limit: 10 }).colonies, []);
});

t.test("restore replaces what is stored under the same key and keeps the books once", async (t) => {
  const clock = createFakeClock();
  const registry = create(clock.now, { agentsPerMeshPerOwner: 1, relaySessionsPerOwner: 1 });
  const expiresAtMs = clock.now() + 1_000;
  registry.restoreColony({ meshId: "m", pubkey: "k1", data: { bytes: 10 }, lastSeenMs: 0, expiresAtMs });
  registry.restoreColony({ meshId: "m", pubkey: "k2", data: { bytes: 20 }, lastSeenMs: 0, expiresAtMs });
  registry.restoreAgent({ meshId: "m", agentId: "a", pubkey: "k", data: { bytes: 30 }, owner: "o1", lastSeenMs: 0, expiresAtMs });
  registry.restoreAgent({ meshId: "m", agentId: "a", pubkey: "k", data: { bytes: 40 }, owner: "o2", lastSeenMs: 0, expiresAtMs });
  registry.restoreRelaySession({ sessionId: "s", meshId: "m", data: { bytes: 50 }, owner: "o1", expiresAtMs });
  registry.restoreRelaySession({ sessionId: "s", meshId: "m", data: { bytes: 60 }, owner: "o2", expiresAtMs });
  t.same(registry.counts(), { colonies: 1, agents: 1, relaySessions: 1, bytes: 120 }, "the last one of each key, bytes counted once");
  t.equal(registry.lookupColony("m")?.pubkey, "k2");
  t.same(registry.listColonies({ limit: 10 }).colonies.map((c) => c.meshId), ["m"], "listed once");
  t.ok(registry.registerAgent("m", "b", "k", {}, "o1"), "o1's agent quota was given back when its agent was replaced");
  t.ok(registry.createRelaySession("s2", "m", {}, "o1"), "o1's relay quota was given back");
  t.throws(() => registry.createRelaySession("s3", "m", {}, "o2"), /already holds 1 open relay sessions/, "o2 holds the restored session");
});

t.test("caps: restore keeps every saved lease past lowered caps; new registrations are refused until below, renewals go on", async (t) => {
  const clock = createFakeClock();
  const registry = create(clock.now, { colonies: 1, agentsPerMesh: 1, agentsPerMeshPerOwner: 1, relaySessions: 1, bytes: 250 });
  const expiresAtMs = clock.now() + TTL_MS;
  for (const meshId of ["m1", "m2"]) registry.restoreColony({ meshId, pubkey: "k", data: {}, lastSeenMs: 0, expiresAtMs });
  for (const agentId of ["a1", "a2"]) registry.restoreAgent({ meshId: "m1", agentId, pubkey: "k", data: {}, owner: "o", lastSeenMs: 0, expiresAtMs });
  for (const sessionId of ["s1", "s2"]) registry.restoreRelaySession({ sessionId, meshId: "m1", data: {}, owner: "o", expiresAtMs });
  t.same(registry.counts(), { colonies: 2, agents: 2, relaySessions: 2, bytes: 600 }, "all restored, over every cap");
  t.throws(() => registry.registerColony("m3", "k", {}), /holds 1 colonies/);
  t.throws(() => registry.registerAgent("m1", "a3", "k", {}, "p"), /mesh m1 is full/);
  t.throws(() => registry.createRelaySession("s3", "m1", {}, "p"), /relay sessions are in use/);
  t.ok(registry.registerColony("m1", "k", {}), "a renewal that does not grow still succeeds");
  t.ok(registry.registerAgent("m1", "a1", "k", {}, "o"), "an agent renewal too");
});

t.test("restored agents keep a full mesh's oldest-first freeing when restored in expiry order", async (t) => {
  const clock = createFakeClock();
  const registry = create(clock.now, { agentsPerMesh: 2 });
  const start = clock.now();
  registry.restoreAgent({ meshId: "m", agentId: "early", pubkey: "k", data: {}, owner: "o", lastSeenMs: 0, expiresAtMs: start + 1_000 });
  registry.restoreAgent({ meshId: "m", agentId: "late", pubkey: "k", data: {}, owner: "o", lastSeenMs: 0, expiresAtMs: start + 5_000 });
  clock.advance(1_000);
  t.ok(registry.registerAgent("m", "new", "k", {}, "o"), "the expired one made room");
  t.same(registry.listAgents("m").map((a) => a.agentId), ["late", "new"]);
});

t.test("a proven lease comes back proven, and keeps the ownership rule; a saved lease without the flag comes back unproven", async (t) => {
  const clock = createFakeClock();
  const registry = create(clock.now);
  const expiresAtMs = clock.now() + TTL_MS;
  t.equal(registry.restoreColony({ meshId: "m", pubkey: "k", data: {}, lastSeenMs: 0, expiresAtMs, proven: true })?.proven, true);
  t.equal(registry.restoreAgent({ meshId: "m", agentId: "a", pubkey: "k", data: {}, owner: "o", lastSeenMs: 0, expiresAtMs, proven: true })?.proven, true);
  t.throws(() => registry.registerColony("m", "k", {}), { code: "proof_required" }, "an unproven renewal is still refused after a restart");
  t.throws(() => registry.registerAgent("m", "a", "k", {}, "o"), { code: "proof_required" });
  t.equal(registry.restoreColony({ meshId: "n", pubkey: "k", data: {}, lastSeenMs: 0, expiresAtMs })?.proven, false);
});
