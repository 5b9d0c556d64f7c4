import t from "tap";
import { createRegistry, RegistryError } from "../../src/registry/index.js";
import { createFakeClock } from "../fixtures/clock.js";

const TTL_MS = 300_000;
const RELAY_TTL_MS = 30 * 60_000;
/** Limits no test reaches unless it sets them. */
const ROOMY = {
  colonies: 1_000_000,
  agentsPerMesh: 1_000_000,
  agents: 1_000_000,
  relaySessions: 1_000_000,
  bytes: 2 ** 40,
  agentsPerMeshPerOwner: 1_000_000,
  relaySessionsPerOwner: 1_000_000,
};
/** Every entry "takes" 100 bytes, unless its payload says `{ bytes: n }`. */
const sizeOf = {
  colony: (_m: string, _p: string, data: unknown) => (data as { bytes?: number } | undefined)?.bytes ?? 100,
  agent: (_m: string, _a: string, _p: string, data: unknown) => (data as { bytes?: number } | undefined)?.bytes ?? 100,
  relay: (_s: string, _m: string, data: unknown) => (data as { bytes?: number } | undefined)?.bytes ?? 100,
};

function create<C, A, R>(now: () => number, limits: Partial<typeof ROOMY> = {}) {
  return createRegistry<C, A, R>({ ttlMs: TTL_MS, relaySessionTtlMs: RELAY_TTL_MS, now, limits: { ...ROOMY, ...limits }, sizeOf });
}

function setup() {
  const clock = createFakeClock();
  const registry = create<{ endpoints: string[] }, { note: string }, { relay: string }>(clock.now);
  return { clock, registry };
}

t.test("a registered colony is returned with last_seen = now and expires_at = now + TTL", async (t) => {
  const { clock, registry } = setup();
  const lease = registry.registerColony("mesh-a", "key-1", { endpoints: ["1.2.3.4:41820"] });
  t.equal(lease.lastSeenMs, clock.now());
  t.equal(lease.expiresAtMs, clock.now() + TTL_MS);
  t.same(registry.lookupColony("mesh-a")?.data, { endpoints: ["1.2.3.4:41820"] });
  t.equal(registry.lookupColony("mesh-b"), undefined);
});

t.test("a lease is active until exactly expires_at and gone at that instant, without a sweep", async (t) => {
  const { clock, registry } = setup();
  registry.registerColony("mesh-a", "key-1", { endpoints: [] });
  clock.advance(TTL_MS - 1);
  t.ok(registry.lookupColony("mesh-a"), "active 1 ms before expiry");
  t.equal(registry.counts().colonies, 1);
  clock.advance(1);
  t.equal(registry.lookupColony("mesh-a"), undefined, "expired at expires_at");
  t.equal(registry.counts().colonies, 0, "expired entries are not counted");
});

t.test("re-registering with the same pubkey renews the lease (heartbeat)", async (t) => {
  const { clock, registry } = setup();
  registry.registerColony("mesh-a", "key-1", { endpoints: [] });
  clock.advance(60_000);
  const renewed = registry.registerColony("mesh-a", "key-1", { endpoints: [] });
  t.equal(renewed.expiresAtMs, clock.now() + TTL_MS);
  clock.advance(TTL_MS - 1);
  t.ok(registry.lookupColony("mesh-a"), "still active thanks to the renewal");
  t.same(registry.sweep().colonies, [], "the renewal moved the lease out of its old expiry bucket");
});

t.test("a registration replaces the stored entry wholesale", async (t) => {
  const { registry } = setup();
  registry.registerColony("mesh-a", "key-1", { endpoints: ["1.1.1.1:1", "2.2.2.2:2"] });
  registry.registerColony("mesh-a", "key-1", { endpoints: ["3.3.3.3:3"] });
  t.same(registry.lookupColony("mesh-a")?.data, { endpoints: ["3.3.3.3:3"] });
});

t.test("split-brain: another pubkey on an active mesh is refused and the stored entry is untouched", async (t) => {
  const { clock, registry } = setup();
  const original = registry.registerColony("mesh-a", "key-1", { endpoints: ["1.1.1.1:1"] });
  clock.advance(10_000);
  const error = t.throws(() => registry.registerColony("mesh-a", "key-2", { endpoints: ["9.9.9.9:9"] }));
  t.ok(error instanceof RegistryError);
  t.equal((error as RegistryError).code, "split_brain");
  t.match((error as Error).message, /mesh-a/);
  t.match((error as Error).message, /already registered/);
  t.match((error as Error).message, /split-brain/);
  t.match((error as Error).message, new Date(original.expiresAtMs).toISOString());
  t.equal(registry.lookupColony("mesh-a"), original, "stored entry unchanged");
});

t.test("split-brain: once the lease has expired, another pubkey may take the mesh without a sweep", async (t) => {
  const { clock, registry } = setup();
  registry.registerColony("mesh-a", "key-1", { endpoints: [] });
  clock.advance(TTL_MS);
  const lease = registry.registerColony("mesh-a", "key-2", { endpoints: [] });
  t.equal(lease.pubkey, "key-2");
  t.equal(registry.lookupColony("mesh-a")?.pubkey, "key-2");
  t.equal(registry.counts().colonies, 1);
  t.same(registry.sweep().colonies, [], "the replaced lease is not swept later");
  t.equal(registry.lookupColony("mesh-a")?.pubkey, "key-2");
});

t.test("ownership: a colony lease is proven only when its registration says so; unproven ones behave as before", async (t) => {
  const { clock, registry } = setup();
  t.equal(registry.registerColony("mesh-a", "key-1", { endpoints: [] }).proven, false, "proven defaults to false");
  clock.advance(1_000);
  t.equal(registry.registerColony("mesh-a", "key-1", { endpoints: ["1.1.1.1:1"] }, false).proven, false, "an unproven renewal of an unproven lease");
  t.equal(registry.registerColony("mesh-a", "key-1", { endpoints: ["2.2.2.2:2"] }, true).proven, true, "a proven renewal upgrades the lease");
  t.equal(registry.lookupColony("mesh-a")?.proven, true);
  t.equal(registry.registerColony("mesh-b", "key-9", { endpoints: [] }, true).proven, true, "a new proven colony");
});

t.test("ownership: a proven colony refuses an unproven renewal (proof_required), leaving its lease untouched", async (t) => {
  const { clock, registry } = setup();
  const original = registry.registerColony("mesh-a", "key-1", { endpoints: ["1.1.1.1:1"] }, true);
  clock.advance(30_000);
  const error = t.throws(() => registry.registerColony("mesh-a", "key-1", { endpoints: ["6.6.6.6:6"] }));
  t.ok(error instanceof RegistryError);
  t.equal((error as RegistryError).code, "proof_required");
  t.match((error as Error).message, /mesh mesh-a's colony is held by a proven registration/);
  t.match((error as Error).message, /registration proof is required/);
  t.match((error as Error).message, /Coral-Registration-Proof header/);
  t.match((error as Error).message, /\/\.well-known\/coral-discovery\.json/);
  t.match((error as Error).message, `${new Date(original.expiresAtMs).toISOString()} (in 270s)`);
  t.equal(registry.lookupColony("mesh-a"), original, "stored entry unchanged");
  const renewed = registry.registerColony("mesh-a", "key-1", { endpoints: ["1.1.1.2:1"] }, true);
  t.equal(renewed.expiresAtMs, clock.now() + TTL_MS, "the owner renews with a proof");
  t.equal(renewed.proven, true);
});

t.test("ownership: another pubkey on a proven colony is split-brain, proof or not; an expired proven lease blocks nothing", async (t) => {
  const { clock, registry } = setup();
  const original = registry.registerColony("mesh-a", "key-1", { endpoints: [] }, true);
  for (const proven of [false, true]) {
    const error = t.throws(() => registry.registerColony("mesh-a", "key-2", { endpoints: [] }, proven));
    t.equal((error as RegistryError).code, "split_brain", `another pubkey, proven=${proven}`);
  }
  t.equal(registry.lookupColony("mesh-a"), original);
  clock.advance(TTL_MS);
  const taken = registry.registerColony("mesh-a", "key-1", { endpoints: [] });
  t.equal(taken.proven, false, "after expiry even the same pubkey registers unproven");
  clock.advance(TTL_MS);
  t.equal(registry.registerColony("mesh-a", "key-2", { endpoints: [] }).pubkey, "key-2", "and any pubkey may take it");
});

t.test("ownership: a proven agent refuses unproven renewals and any other pubkey; its owner renews with a proof", async (t) => {
  const { clock, registry } = setup();
  const original = registry.registerAgent("mesh-a", "agent-1", "key-1", { note: "owner" }, "198.51.100.1", true);
  t.equal(original.proven, true);
  clock.advance(5_000);
  const unproven = t.throws(() => registry.registerAgent("mesh-a", "agent-1", "key-1", { note: "thief" }, "203.0.113.9"));
  t.equal((unproven as RegistryError).code, "proof_required");
  t.match((unproven as Error).message, /agent agent-1 of mesh mesh-a is held by a proven registration: a registration proof is required/);
  for (const proven of [false, true]) {
    const other = t.throws(() => registry.registerAgent("mesh-a", "agent-1", "key-2", { note: "thief" }, "203.0.113.9", proven));
    t.equal((other as RegistryError).code, "proof_required", `another pubkey, proven=${proven}`);
    t.match((other as Error).message, /another pubkey cannot replace it; only one proven with the private key of the stored pubkey/);
  }
  t.equal(registry.lookupAgent("mesh-a", "agent-1"), original, "stored entry unchanged");
  t.equal(registry.counts().bytes, 100, "nothing else stored");
  const renewed = registry.registerAgent("mesh-a", "agent-1", "key-1", { note: "owner again" }, "198.51.100.1", true);
  t.equal(renewed.expiresAtMs, clock.now() + TTL_MS);
  clock.advance(TTL_MS);
  const next = registry.registerAgent("mesh-a", "agent-1", "key-2", { note: "new owner" }, "203.0.113.9");
  t.equal(next.proven, false, "an expired proven agent blocks nothing");
  t.equal(registry.registerAgent("mesh-a", "agent-1", "key-3", { note: "last writer" }, "203.0.113.9").pubkey, "key-3", "unproven agents: last writer wins");
  t.equal(registry.registerAgent("mesh-a", "agent-1", "key-4", { note: "proven" }, "203.0.113.9", true).proven, true, "a proven registration may replace an unproven agent");
});

t.test("agents are keyed by (mesh, agent) and kept apart from colonies", async (t) => {
  const { registry } = setup();
  registry.registerColony("mesh-a", "colony-key", { endpoints: [] });
  registry.registerAgent("mesh-a", "agent-1", "agent-key", { note: "a" }, "198.51.100.1");
  registry.registerAgent("mesh-b", "agent-1", "agent-key-b", { note: "b" }, "198.51.100.1");
  t.equal(registry.lookupAgent("mesh-a", "agent-1")?.data.note, "a");
  t.equal(registry.lookupAgent("mesh-b", "agent-1")?.data.note, "b");
  t.equal(registry.lookupAgent("mesh-c", "agent-1"), undefined, "other mesh: not found");
  t.equal(registry.lookupAgent("mesh-a", "mesh-a"), undefined);
  t.same(registry.counts(), { colonies: 1, agents: 2, relaySessions: 0, bytes: 300 });
});

t.test("agent keys cannot collide through separators in the ids", async (t) => {
  const { registry } = setup();
  registry.registerAgent("a/b", "c", "k1", { note: "first" }, "198.51.100.1");
  registry.registerAgent("a", "b/c", "k2", { note: "second" }, "198.51.100.1");
  t.equal(registry.lookupAgent("a/b", "c")?.data.note, "first");
  t.equal(registry.lookupAgent("a", "b/c")?.data.note, "second");
});

t.test("an agent with a different pubkey replaces the record (last writer wins)", async (t) => {
  const { registry } = setup();
  registry.registerAgent("mesh-a", "agent-1", "key-1", { note: "old" }, "198.51.100.1");
  const lease = registry.registerAgent("mesh-a", "agent-1", "key-2", { note: "new" }, "198.51.100.1");
  t.equal(lease.pubkey, "key-2");
  t.equal(registry.lookupAgent("mesh-a", "agent-1")?.data.note, "new");
  t.equal(registry.counts().agents, 1);
});

t.test("agents expire on read like colonies", async (t) => {
  const { clock, registry } = setup();
  registry.registerAgent("mesh-a", "agent-1", "key-1", { note: "" }, "198.51.100.1");
  clock.advance(TTL_MS);
  t.equal(registry.lookupAgent("mesh-a", "agent-1"), undefined);
});

t.test("sweep removes only expired entries and returns them", async (t) => {
  const { clock, registry } = setup();
  registry.registerColony("old", "k", { endpoints: [] });
  registry.registerAgent("old", "agent", "k", { note: "" }, "198.51.100.1");
  clock.advance(100_000);
  registry.registerColony("young", "k", { endpoints: [] });
  clock.advance(TTL_MS - 100_000);
  const removed = registry.sweep();
  t.same(
    removed.colonies.map((c) => c.meshId),
    ["old"],
  );
  t.same(
    removed.agents.map((a) => a.agentId),
    ["agent"],
  );
  t.ok(registry.lookupColony("young"));
  t.same(registry.sweep(), { colonies: [], agents: [], relaySessions: [], complete: true }, "a second sweep finds nothing");
});

t.test("sweep inside the expiry second removes only what has passed its millisecond", async (t) => {
  const { clock, registry } = setup();
  clock.set(1_000_000_000_100);
  registry.registerColony("early", "k", { endpoints: [] }); // expires ...100 + TTL
  clock.advance(500);
  registry.registerColony("late", "k", { endpoints: [] }); // expires ...600 + TTL
  clock.set(1_000_000_000_100 + TTL_MS + 200);
  t.same(
    registry.sweep().colonies.map((c) => c.meshId),
    ["early"],
  );
  t.ok(registry.lookupColony("late"));
  clock.advance(300);
  t.same(
    registry.sweep().colonies.map((c) => c.meshId),
    ["late"],
  );
});

t.test("a clock that goes backwards does not lose or resurrect leases", async (t) => {
  const { clock, registry } = setup();
  registry.registerColony("a", "k", { endpoints: [] });
  clock.advance(-200_000);
  registry.registerColony("b", "k", { endpoints: [] }); // expires earlier than "a"
  clock.advance(TTL_MS);
  t.same(
    registry.sweep().colonies.map((c) => c.meshId),
    ["b"],
  );
  t.ok(registry.lookupColony("a"));
});

t.test("relay sessions: create, release once, mesh must match, expire after 30 minutes", async (t) => {
  const { clock, registry } = setup();
  const session = registry.createRelaySession("s1", "mesh-a", { relay: "r1" }, "198.51.100.1");
  t.equal(session.expiresAtMs, clock.now() + 30 * 60_000);
  t.equal(registry.counts().relaySessions, 1);
  const mismatch = t.throws(() => registry.releaseRelaySession("s1", "mesh-b"));
  t.equal((mismatch as RegistryError).code, "session_mesh_mismatch");
  t.equal(registry.releaseRelaySession("s1", "mesh-a").data.relay, "r1");
  const again = t.throws(() => registry.releaseRelaySession("s1", "mesh-a"));
  t.equal((again as RegistryError).code, "session_not_found");
  t.match((again as Error).message, /not found/);
  registry.createRelaySession("s2", "mesh-a", { relay: "r1" }, "198.51.100.1");
  t.equal(registry.releaseRelaySession("s2", "").sessionId, "s2", "an empty mesh id skips the check");
  registry.createRelaySession("s3", "mesh-a", { relay: "r1" }, "198.51.100.1");
  clock.advance(30 * 60_000);
  t.equal((t.throws(() => registry.releaseRelaySession("s3", "")) as RegistryError).code, "session_not_found");
  t.same(
    registry.sweep().relaySessions.map((s) => s.sessionId),
    ["s3"],
  );
});

t.test("capacity: new colonies are refused when full, renewals still succeed, expired entries make room", async (t) => {
  const clock = createFakeClock();
  const registry = create<number, number, number>(clock.now, { colonies: 2 });
  registry.registerColony("a", "k", 1);
  clock.advance(1_000);
  registry.registerColony("b", "k", 1);
  const full = t.throws(() => registry.registerColony("c", "k", 1)) as RegistryError;
  t.equal(full.code, "capacity_exceeded");
  t.match(full.message, /the registry is full: it holds 2 colonies \(--max-colonies\)/);
  clock.advance(1_000);
  t.ok(registry.registerColony("a", "k", 2), "a renewal at the cap succeeds");
  t.equal(registry.lookupColony("c"), undefined);
  clock.advance(TTL_MS - 500); // "b" expired, "a" renewed 1 s after it
  t.equal(registry.registerColony("c", "k", 1).meshId, "c", "an expired lease made room without a sweeper");
  t.same(registry.sweep().colonies, [], "b was already freed to make room");
  t.same(registry.counts().colonies, 2);
});

t.test("capacity: agents per mesh and in all; renewals and re-registrations at the cap succeed", async (t) => {
  const clock = createFakeClock();
  const registry = create<number, number, number>(clock.now, { agentsPerMesh: 2, agents: 3 });
  registry.registerAgent("m1", "a1", "k", 0, "198.51.100.1");
  registry.registerAgent("m1", "a2", "k", 0, "198.51.100.1");
  const perMesh = t.throws(() => registry.registerAgent("m1", "a3", "k", 0, "198.51.100.1")) as RegistryError;
  t.equal(perMesh.code, "capacity_exceeded");
  t.match(perMesh.message, /mesh m1 is full: it has 2 agents \(--max-agents-per-mesh\)/);
  t.ok(registry.registerAgent("m1", "a2", "other-key", 1, "198.51.100.1"), "replacing an existing agent at the cap succeeds");
  registry.registerAgent("m2", "a1", "k", 0, "198.51.100.1");
  const total = t.throws(() => registry.registerAgent("m3", "a1", "k", 0, "198.51.100.1")) as RegistryError;
  t.match(total.message, /it holds 3 agents \(--max-agents\)/);
  clock.advance(TTL_MS);
  registry.registerAgent("m1", "a3", "k", 0, "198.51.100.1");
  registry.registerAgent("m1", "a1", "k", 0, "198.51.100.1");
  t.equal(registry.counts().agents, 2, "expired agents were swept to make room, per-mesh counts followed");
  t.throws(() => registry.registerAgent("m1", "a4", "k", 0, "198.51.100.1"), /mesh m1 is full/);
});

t.test("capacity: relay sessions", async (t) => {
  const clock = createFakeClock();
  const registry = create<number, number, number>(clock.now, { relaySessions: 1 });
  registry.createRelaySession("s1", "m", 0, "198.51.100.1");
  t.throws(() => registry.createRelaySession("s2", "m", 0, "198.51.100.1"), /all 1 relay sessions are in use \(--max-relay-sessions\)/);
  registry.releaseRelaySession("s1", "m");
  t.equal(registry.createRelaySession("s2", "m", 0, "198.51.100.1").sessionId, "s2");
});

t.test("a budgeted sweep frees at most the budget per kind and says when more is left", async (t) => {
  const { clock, registry } = setup();
  for (let i = 0; i < 25; i++) {
    registry.registerColony(`c${i}`, "k", { endpoints: [] });
    clock.advance(10);
  }
  clock.advance(TTL_MS);
  const first = registry.sweep(undefined, 10);
  t.equal(first.colonies.length, 10);
  t.equal(first.complete, false);
  t.same(
    first.colonies.map((c) => c.meshId),
    Array.from({ length: 10 }, (_, i) => `c${i}`),
    "oldest first",
  );
  t.equal(registry.sweep(undefined, 10).colonies.length, 10);
  const last = registry.sweep(undefined, 10);
  t.equal(last.colonies.length, 5);
  t.equal(last.complete, true);
  t.equal(registry.counts().colonies, 0);
});

t.test("byte budget: new entries of every kind are refused past it, naming the flag; nothing is stored", async (t) => {
  const clock = createFakeClock();
  const registry = create<{ bytes?: number }, { bytes?: number }, { bytes?: number }>(clock.now, { bytes: 1_000 });
  registry.registerColony("a", "k", { bytes: 400 });
  registry.registerAgent("a", "x", "k", { bytes: 400 }, "198.51.100.1");
  t.equal(registry.counts().bytes, 800);
  for (const [what, attempt] of [
    ["colony", () => registry.registerColony("b", "k", { bytes: 300 })],
    ["agent", () => registry.registerAgent("a", "y", "k", { bytes: 300 }, "198.51.100.1")],
    ["relay session", () => registry.createRelaySession("s", "a", { bytes: 300 }, "198.51.100.1")],
  ] as const) {
    const error = t.throws(attempt) as RegistryError;
    t.equal(error.code, "capacity_exceeded", what);
    t.match(error.message, /the registry is full: its entries take 800 of the 1000 bytes --max-registry-bytes allows, and a new \S+( session)? takes 300/, what);
  }
  t.equal(registry.counts().bytes, 800, "refused entries take nothing");
  t.same([registry.counts().colonies, registry.counts().agents, registry.counts().relaySessions], [1, 1, 0]);
  t.equal(registry.registerColony("c", "k", { bytes: 200 }).bytes, 200, "an entry that still fits is stored");
  t.equal(registry.counts().bytes, 1_000, "exactly at the budget");
});

t.test("byte budget: a renewal with the same or a smaller payload always succeeds; one that grows past it is refused", async (t) => {
  const clock = createFakeClock();
  const registry = create<{ bytes?: number }, { bytes?: number }, { bytes?: number }>(clock.now, { bytes: 1_000 });
  registry.registerColony("a", "k", { bytes: 600 });
  registry.registerAgent("a", "x", "k", { bytes: 400 }, "198.51.100.1");
  clock.advance(1_000);
  t.ok(registry.registerColony("a", "k", { bytes: 600 }), "same size at the budget");
  t.ok(registry.registerAgent("a", "x", "k", { bytes: 300 }, "198.51.100.1"), "smaller");
  t.equal(registry.counts().bytes, 900);
  t.ok(registry.registerColony("a", "k", { bytes: 700 }), "growth that still fits");
  const grown = t.throws(() => registry.registerColony("a", "k", { bytes: 800 })) as RegistryError;
  t.match(grown.message, /this renewal would grow mesh a's entry to 800; renew with the same or a smaller payload/);
  t.equal(registry.lookupColony("a")?.bytes, 700, "the refused renewal changed nothing");
  const agent = t.throws(() => registry.registerAgent("a", "x", "other-key", { bytes: 400 }, "198.51.100.1")) as RegistryError;
  t.match(agent.message, /this renewal would grow agent x's entry to 400/, "an agent replaced by another key counts as a renewal of its entry");
  t.equal(registry.counts().bytes, 1_000);
});

t.test("byte budget: expired entries of any kind make room without a sweeper; releases and sweeps give bytes back", async (t) => {
  const clock = createFakeClock();
  const registry = create<{ bytes?: number }, { bytes?: number }, { bytes?: number }>(clock.now, { bytes: 1_000 });
  registry.registerAgent("m", "old", "k", { bytes: 600 }, "198.51.100.1");
  registry.createRelaySession("s1", "m", { bytes: 300 }, "198.51.100.1");
  t.throws(() => registry.registerColony("a", "k", { bytes: 400 }), /--max-registry-bytes/);
  clock.advance(TTL_MS);
  t.equal(registry.registerColony("a", "k", { bytes: 400 }).meshId, "a", "the expired agent made room");
  t.equal(registry.counts().bytes, 700);
  registry.releaseRelaySession("s1", "m");
  t.equal(registry.counts().bytes, 400, "a released session gives its bytes back");
  registry.registerColony("b", "k", { bytes: 100 });
  clock.advance(TTL_MS);
  t.equal(registry.counts().bytes, 500, "expired, not yet swept: still stored");
  registry.sweep();
  t.equal(registry.counts().bytes, 0, "swept entries give their bytes back");
});

t.test("byte budget: re-registering an expired entry replaces its bytes, it does not add to them", async (t) => {
  const clock = createFakeClock();
  const registry = create<{ bytes?: number }, { bytes?: number }, { bytes?: number }>(clock.now, { bytes: 1_000 });
  registry.registerColony("a", "k", { bytes: 900 });
  registry.registerAgent("a", "x", "k", { bytes: 100 }, "198.51.100.1");
  clock.advance(TTL_MS);
  t.ok(registry.registerColony("a", "other-key", { bytes: 900 }), "an expired mesh is free for another pubkey, in its own bytes");
  t.ok(registry.registerAgent("a", "x", "k", { bytes: 100 }, "198.51.100.1"));
  t.equal(registry.counts().bytes, 1_000);
});

t.test("a full mesh frees its own expired agents first, however many expired agents other meshes hold", async (t) => {
  const clock = createFakeClock();
  const registry = create<number, number, number>(clock.now, { agentsPerMesh: 3 });
  // 2,000 expired agents elsewhere, older than the victim's: a global oldest-first cleanup of 1,000 would not reach the victim's.
  for (let i = 0; i < 2_000; i++) registry.registerAgent(`other-${i}`, "a", "k", 0, `203.0.113.${i % 200}`);
  clock.advance(1_000);
  for (const id of ["v1", "v2", "v3"]) registry.registerAgent("victim", id, "k", 0, "198.51.100.1");
  clock.advance(TTL_MS);
  t.equal(registry.counts().agents, 0, "every agent has expired");
  t.equal(registry.registerAgent("victim", "new", "k", 0, "198.51.100.2").agentId, "new", "the mesh made room from its own expired agents");
  t.equal(registry.lookupAgent("victim", "new")?.agentId, "new");
  registry.registerAgent("victim", "new2", "k", 0, "198.51.100.2");
  registry.registerAgent("victim", "new3", "k", 0, "198.51.100.2");
  t.throws(() => registry.registerAgent("victim", "new4", "k", 0, "198.51.100.2"), /mesh victim is full: it has 3 agents/, "its live agents still count");
  const swept = registry.sweep();
  t.equal(swept.agents.length, 2_000, "the other meshes' expired agents were left to the sweeper");
  t.notOk(swept.agents.some((a) => a.meshId === "victim"), "the victim's were already freed");
});

t.test("a full mesh: renewals move an agent to the back, so the oldest registration is the first freed", async (t) => {
  const clock = createFakeClock();
  const registry = create<number, number, number>(clock.now, { agentsPerMesh: 2 });
  registry.registerAgent("m", "a1", "k", 0, "198.51.100.1");
  clock.advance(1_000);
  registry.registerAgent("m", "a2", "k", 0, "198.51.100.1");
  clock.advance(1_000);
  registry.registerAgent("m", "a1", "k", 0, "198.51.100.1"); // heartbeat: a1 now expires after a2
  clock.advance(TTL_MS - 1_000); // a2 expired, a1 alive
  registry.registerAgent("m", "a3", "k", 0, "198.51.100.1");
  t.ok(registry.lookupAgent("m", "a1"), "the renewed agent is kept");
  t.equal(registry.lookupAgent("m", "a2"), undefined);
  t.throws(() => registry.registerAgent("m", "a4", "k", 0, "198.51.100.1"), /mesh m is full/);
});

t.test("per-owner agent quota: one address cannot fill a mesh; others and renewals go on", async (t) => {
  const clock = createFakeClock();
  const registry = create<number, number, number>(clock.now, { agentsPerMesh: 10, agentsPerMeshPerOwner: 2 });
  registry.registerAgent("m", "a1", "k", 0, "198.51.100.1");
  registry.registerAgent("m", "a2", "k", 0, "198.51.100.1");
  const quota = t.throws(() => registry.registerAgent("m", "a3", "k", 0, "198.51.100.1")) as RegistryError;
  t.equal(quota.code, "capacity_exceeded");
  t.match(quota.message, /your address already holds 2 agents in mesh m \(--max-agents-per-mesh-per-ip\); registered agents can still renew/);
  t.ok(registry.registerAgent("m", "a1", "k2", 1, "198.51.100.1"), "a renewal from the same address at its quota");
  t.ok(registry.registerAgent("other-mesh", "a3", "k", 0, "198.51.100.1"), "the quota is per mesh");
  t.ok(registry.registerAgent("m", "b1", "k", 0, "198.51.100.2"), "another address has its own quota");
  t.equal(registry.counts().agents, 4);
  clock.advance(TTL_MS);
  t.ok(registry.registerAgent("m", "a3", "k", 0, "198.51.100.1"), "expired agents give the quota back without a sweeper");
});

t.test("per-owner agent quota follows the registration when an agent moves address", async (t) => {
  const clock = createFakeClock();
  const registry = create<number, number, number>(clock.now, { agentsPerMeshPerOwner: 1 });
  registry.registerAgent("m", "a1", "k", 0, "198.51.100.1");
  registry.registerAgent("m", "b1", "k", 0, "198.51.100.2");
  t.throws(() => registry.registerAgent("m", "b1", "k", 0, "198.51.100.1"), /your address already holds 1 agents/, "taking over another's agent is a new one for this address");
  t.equal(registry.lookupAgent("m", "b1")?.owner, "198.51.100.2", "the refused move changed nothing");
  t.ok(registry.registerAgent("m", "a1", "k", 0, "198.51.100.3"), "an agent whose address changed (roaming) moves");
  t.ok(registry.registerAgent("m", "a2", "k", 0, "198.51.100.1"), "its old address got its quota back");
  t.throws(() => registry.registerAgent("m", "a3", "k", 0, "198.51.100.3"), /already holds 1 agents/, "its new address is charged");
});

t.test("per-owner relay quota: one address cannot take every session; releases, expiry and sweeps give it back", async (t) => {
  const clock = createFakeClock();
  const registry = create<number, number, number>(clock.now, { relaySessions: 10, relaySessionsPerOwner: 2 });
  registry.createRelaySession("s1", "m", 0, "198.51.100.1");
  registry.createRelaySession("s2", "m", 0, "198.51.100.1");
  const quota = t.throws(() => registry.createRelaySession("s3", "m", 0, "198.51.100.1")) as RegistryError;
  t.equal(quota.code, "capacity_exceeded");
  t.match(quota.message, /your address already holds 2 open relay sessions \(--max-relay-sessions-per-ip\); release unused sessions or retry later/);
  t.ok(registry.createRelaySession("s3", "m", 0, "198.51.100.2"), "another address is served");
  registry.releaseRelaySession("s1", "m");
  t.ok(registry.createRelaySession("s4", "m", 0, "198.51.100.1"), "a release gives one back");
  clock.advance(RELAY_TTL_MS);
  t.ok(registry.createRelaySession("s5", "m", 0, "198.51.100.1"), "expired sessions give it back without a sweeper");
  registry.createRelaySession("s6", "m", 0, "198.51.100.1");
  clock.advance(RELAY_TTL_MS);
  registry.sweep();
  t.equal(registry.counts().relaySessions, 0);
  registry.createRelaySession("s7", "m", 0, "198.51.100.1");
  t.ok(registry.createRelaySession("s8", "m", 0, "198.51.100.1"), "swept sessions gave it back");
});

t.test("a relay session id created again (its old session expired, not swept) replaces it: bytes and quota counted once", async (t) => {
  const clock = createFakeClock();
  const registry = create<{ bytes?: number }, { bytes?: number }, { bytes?: number }>(clock.now, { relaySessionsPerOwner: 1 });
  registry.createRelaySession("s1", "m", { bytes: 300 }, "198.51.100.1");
  clock.advance(RELAY_TTL_MS);
  registry.createRelaySession("s1", "m", { bytes: 200 }, "198.51.100.2");
  t.equal(registry.counts().bytes, 200, "the stale session's bytes are gone");
  t.ok(registry.createRelaySession("s2", "m", {}, "198.51.100.1"), "and its owner's quota is back");
  t.throws(() => registry.createRelaySession("s3", "m", {}, "198.51.100.2"), /already holds 1 open relay sessions/, "the new owner holds one");
});

t.test("admin: listColonies pages through active colonies in mesh id order, the token being the last id", async (t) => {
  const { clock, registry } = setup();
  for (const id of ["mesh-c", "mesh-a", "other", "mesh-b", "mesh-d"]) registry.registerColony(id, "key", { endpoints: [] });
  const first = registry.listColonies({ limit: 2 });
  t.same(first.colonies.map((c) => c.meshId), ["mesh-a", "mesh-b"]);
  t.equal(first.more, true);
  const second = registry.listColonies({ limit: 2, after: "mesh-b" });
  t.same(second.colonies.map((c) => c.meshId), ["mesh-c", "mesh-d"]);
  t.equal(second.more, true);
  const third = registry.listColonies({ limit: 2, after: "mesh-d" });
  t.same(third.colonies.map((c) => c.meshId), ["other"]);
  t.equal(third.more, false);
  t.same(registry.listColonies({ limit: 10, prefix: "mesh-" }).colonies.map((c) => c.meshId), ["mesh-a", "mesh-b", "mesh-c", "mesh-d"]);
  t.same(registry.listColonies({ limit: 3, prefix: "mesh-", after: "mesh-b" }).colonies.map((c) => c.meshId), ["mesh-c", "mesh-d"]);
  t.same(registry.listColonies({ limit: 3, prefix: "nothing" }), { colonies: [], more: false });
  const page = registry.listColonies({ limit: 1, prefix: "mesh-d" });
  t.same(page.colonies.map((c) => c.meshId), ["mesh-d"]);
  t.equal(page.more, false, "no further colony has the prefix");
  clock.advance(1);
  const renewed = registry.registerColony("mesh-a", "key", { endpoints: ["1.2.3.4:1"] });
  t.equal(registry.listColonies({ limit: 1 }).colonies[0], renewed, "a renewal is listed once, as renewed");
});

t.test("admin: expired colonies are never listed, swept or not, and a page never ends on a token pointing at nothing", async (t) => {
  const { clock, registry } = setup();
  registry.registerColony("mesh-a", "key", { endpoints: [] });
  registry.registerColony("mesh-b", "key", { endpoints: [] });
  clock.advance(TTL_MS / 2);
  registry.registerColony("mesh-c", "key", { endpoints: [] });
  registry.registerColony("mesh-a", "key", { endpoints: [] });
  clock.advance(TTL_MS / 2);
  const page = registry.listColonies({ limit: 1 });
  t.same(page.colonies.map((c) => c.meshId), ["mesh-a"]);
  t.equal(page.more, true, "mesh-c follows, mesh-b (expired) is skipped");
  t.same(registry.listColonies({ limit: 5 }).colonies.map((c) => c.meshId), ["mesh-a", "mesh-c"]);
  registry.sweep();
  registry.registerColony("mesh-e", "key", { endpoints: [] }); // a merge drops the swept id
  t.same(registry.listColonies({ limit: 5 }).colonies.map((c) => c.meshId), ["mesh-a", "mesh-c", "mesh-e"]);
  clock.advance(TTL_MS);
  t.same(registry.listColonies({ limit: 5 }), { colonies: [], more: false }, "all expired");
  const last = registry.listColonies({ limit: 1, after: "mesh-a" });
  t.same(last.colonies, []);
});

t.test("admin: listAgents and agentCount see only a mesh's active agents, in agent id order", async (t) => {
  const { clock, registry } = setup();
  registry.registerAgent("mesh-a", "zeta", "k", { note: "z" }, "ip1");
  registry.registerAgent("mesh-a", "alpha", "k", { note: "a" }, "ip1");
  registry.registerAgent("mesh-b", "other", "k", { note: "o" }, "ip1");
  t.same(registry.listAgents("mesh-a").map((a) => a.agentId), ["alpha", "zeta"]);
  t.equal(registry.agentCount("mesh-a"), 2);
  t.equal(registry.agentCount("mesh-none"), 0);
  t.same(registry.listAgents("mesh-none"), []);
  clock.advance(TTL_MS / 2);
  registry.registerAgent("mesh-a", "zeta", "k", { note: "z" }, "ip1");
  clock.advance(TTL_MS / 2);
  t.same(registry.listAgents("mesh-a").map((a) => a.agentId), ["zeta"], "alpha expired, without a sweep");
  t.equal(registry.agentCount("mesh-a"), 1);
  registry.registerAgent("mesh-a", "beta", "k", { note: "b" }, "ip1");
  registry.registerAgent("mesh-a", "gamma", "k", { note: "g" }, "ip1");
  t.same(registry.listAgents("mesh-a").map((a) => a.agentId), ["beta", "gamma", "zeta"]);
});

t.test("admin: evictColony removes the active colony at once, frees its bytes and the mesh id, and keeps its agents", async (t) => {
  const { clock, registry } = setup();
  registry.registerColony("mesh-a", "key-1", { endpoints: [] });
  registry.registerAgent("mesh-a", "agent-1", "k", { note: "" }, "ip1");
  const before = registry.counts();
  const evicted = registry.evictColony("mesh-a");
  t.equal(evicted?.pubkey, "key-1");
  t.equal(registry.lookupColony("mesh-a"), undefined);
  t.equal(registry.counts().colonies, 0);
  t.equal(registry.counts().bytes, before.bytes - 100);
  t.equal(registry.agentCount("mesh-a"), 1, "the agents stay");
  t.equal(registry.evictColony("mesh-a"), undefined, "nothing left to evict");
  t.same(registry.listColonies({ limit: 5 }).colonies, []);
  t.equal(registry.registerColony("mesh-a", "key-2", { endpoints: [] }).pubkey, "key-2", "another pubkey may take the mesh at once");
  t.same(registry.listColonies({ limit: 5 }).colonies.map((c) => c.meshId), ["mesh-a"]);
  clock.advance(TTL_MS);
  t.equal(registry.evictColony("mesh-a"), undefined, "an expired colony is not evicted (it is gone already)");
  t.same(registry.sweep().colonies.map((c) => c.meshId), ["mesh-a"], "and the sweeper still frees it");
});

t.test("admin: evictAgent and evictAgents remove active agents at once and free their quota and bytes", async (t) => {
  const { clock } = setup();
  const registry = create<unknown, unknown, unknown>(clock.now, { agentsPerMeshPerOwner: 2, agentsPerMesh: 2 });
  registry.registerAgent("mesh-a", "a1", "k", {}, "ip1");
  registry.registerAgent("mesh-a", "a2", "k", {}, "ip1");
  registry.registerAgent("mesh-b", "b1", "k", {}, "ip1");
  t.throws(() => registry.registerAgent("mesh-a", "a3", "k", {}, "ip1"), { code: "capacity_exceeded" });
  t.equal(registry.evictAgent("mesh-a", "a1")?.agentId, "a1");
  t.equal(registry.evictAgent("mesh-a", "a1"), undefined, "already gone");
  t.equal(registry.lookupAgent("mesh-a", "a1"), undefined);
  t.ok(registry.registerAgent("mesh-a", "a3", "k", {}, "ip1"), "the quota and the mesh's slot are free again");
  t.same(registry.evictAgents("mesh-a").map((a) => a.agentId), ["a2", "a3"]);
  t.equal(registry.agentCount("mesh-a"), 0);
  t.equal(registry.agentCount("mesh-b"), 1, "other meshes untouched");
  t.equal(registry.counts().agents, 1);
  t.equal(registry.counts().bytes, 100);
  t.same(registry.evictAgents("mesh-a"), []);
  clock.advance(TTL_MS);
  t.equal(registry.evictAgent("mesh-b", "b1"), undefined, "expired agents are not evicted");
});

t.test("what shares the byte budget (rendezvous records) counts in every check and in the totals", async (t) => {
  const clock = createFakeClock();
  let records = 0;
  const registry = createRegistry<unknown, unknown, unknown>({ ttlMs: TTL_MS, relaySessionTtlMs: RELAY_TTL_MS, now: clock.now, limits: { ...ROOMY, bytes: 300 }, sizeOf, extraBytes: () => records });
  registry.registerColony("m1", "k", {});
  t.equal(registry.bytes(), 100);
  records = 150;
  t.equal(registry.bytes(), 250, "O(1): the registry's own plus the records'");
  t.equal(registry.counts().bytes, 250);
  t.throws(() => registry.registerColony("m2", "k", {}), { code: "capacity_exceeded", message: /its entries take 250 of the 300 bytes --max-registry-bytes allows/ });
  records = 100;
  t.ok(registry.registerColony("m2", "k", {}), "records gone: room again");
  t.equal(create(clock.now).bytes(), 0, "nothing shares it by default");
});
