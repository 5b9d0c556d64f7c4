import t from "tap";
import { mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { DiscoveryRegistry } from "../../src/service/discovery-service.js";
import { loadSnapshot, saveSnapshot, StateFileError } from "../../src/state/snapshot-file.js";
import { generateSigningKey } from "../../src/tokens/index.js";
import { createFakeClock } from "../fixtures/clock.js";
import { AGENT_DATA, COLONY_DATA, discoveryRegistry, RELAY, RELAY_DATA, TTL_MS } from "../fixtures/leases.js";

function filled(now: () => number): DiscoveryRegistry {
  const registry = discoveryRegistry(now);
  registry.registerColony("mesh-1", "colony-key-1", COLONY_DATA);
  registry.registerColony("mesh-2", "colony-key-2", { ...COLONY_DATA, publicEndpoint: undefined, observedEndpoint: undefined });
  registry.registerAgent("mesh-1", "agent-1", "agent-key-1", AGENT_DATA, "198.51.100.2");
  registry.registerAgent("mesh-1", "agent-2", "agent-key-2", { ...AGENT_DATA, observedEndpoint: undefined }, "198.51.100.3");
  registry.createRelaySession("session-1", "mesh-1", RELAY_DATA, "198.51.100.2");
  return registry;
}

/** Every active lease, sorted by key, as lookups return them. */
function contents(registry: DiscoveryRegistry) {
  const { colonies, agents, relaySessions } = registry.active();
  const byKey = (a: { k: string }, b: { k: string }) => (a.k < b.k ? -1 : 1);
  return {
    colonies: [...colonies].map((l) => ({ k: l.meshId, ...l })).sort(byKey),
    agents: [...agents].map((l) => ({ k: `${l.meshId}/${l.agentId}`, ...l })).sort(byKey),
    relaySessions: [...relaySessions].map((l) => ({ k: l.sessionId, ...l })).sort(byKey),
    counts: registry.counts(),
  };
}

t.test("save then load gives back every active lease of every kind, payloads, times, bytes and counts included", async (t) => {
  const clock = createFakeClock();
  const before = filled(clock.now);
  const path = join(t.testdir(), "state.ndjson");
  const key = generateSigningKey();
  const saved = await saveSnapshot(path, before, { savedAtMs: clock.now(), signingKey: key, chunkLeases: 2 });
  t.equal(saved.leases, 5);
  t.equal(saved.bytes, statSync(path).size);
  t.equal(statSync(path).mode & 0o777, 0o600);
  const lines = readFileSync(path, "utf8").trimEnd().split("\n");
  t.equal(lines.length, 7, "a header, 5 leases, an end line");

  clock.advance(60_000);
  const after = discoveryRegistry(clock.now);
  const loaded = await loadSnapshot(path, { registry: after, relays: [RELAY] });
  t.same(loaded?.restored, { colonies: 2, agents: 2, relaySessions: 1 });
  t.equal(loaded?.expired, 0);
  t.equal(loaded?.savedAtMs, clock.now() - 60_000);
  t.equal(loaded?.signingKey?.kid, key.kid);
  t.same(loaded?.signingKey?.seed, key.seed);
  t.same(contents(after), contents(before), "the same leases, the same expiry times, the same byte total");
  t.equal(after.lookupColony("mesh-1")?.data.publicEndpoint?.updatedAt?.seconds, 1_700_000_000n);
  t.same(after.lookupColony("mesh-1")?.data.publicEndpoint?.caFingerprint?.value, new Uint8Array([0, 1, 2, 250, 255]));
  t.equal(after.lookupAgent("mesh-1", "agent-1")?.owner, "198.51.100.2");
  t.equal(after.releaseRelaySession("session-1", "mesh-1").data.relay, RELAY, "the session points at the configured relay");
});

t.test("a `proven`-like field of a lease survives save and load", async (t) => {
  const clock = createFakeClock();
  const registry = discoveryRegistry(clock.now);
  const nowMs = clock.now();
  registry.restoreColony({ meshId: "m", pubkey: "k", data: COLONY_DATA, lastSeenMs: nowMs, expiresAtMs: nowMs + TTL_MS, proven: true } as never);
  const path = join(t.testdir(), "state.ndjson");
  await saveSnapshot(path, registry, { savedAtMs: nowMs });
  const after = discoveryRegistry(clock.now);
  await loadSnapshot(path, { registry: after, relays: [] });
  t.equal((after.lookupColony("m") as unknown as { proven: boolean }).proven, true);
});

t.test("leases that expired since the save, and relay sessions of relays no longer configured, are dropped and counted", async (t) => {
  const clock = createFakeClock();
  const before = filled(clock.now);
  clock.advance(TTL_MS - 1_000);
  before.registerColony("mesh-late", "k", COLONY_DATA);
  const path = join(t.testdir(), "state.ndjson");
  await saveSnapshot(path, before, { savedAtMs: clock.now() });
  clock.advance(1_000);
  const after = discoveryRegistry(clock.now);
  const loaded = await loadSnapshot(path, { registry: after, relays: [{ id: "other:1", host: "other", port: 1 }] });
  t.same(loaded?.restored, { colonies: 1, agents: 0, relaySessions: 0 });
  t.equal(loaded?.expired, 4);
  t.equal(loaded?.unknownRelay, 1);
  t.equal(loaded?.signingKey, undefined, "none saved, none read");
  t.ok(after.lookupColony("mesh-late"));
  t.same(after.counts().colonies, 1);
});

t.test("leases saved out of expiry order are restored oldest first, so the expiry index sweeps them on time", async (t) => {
  const clock = createFakeClock(); // starts on a whole second
  const before = discoveryRegistry(clock.now);
  before.registerColony("a", "k", COLONY_DATA);
  clock.advance(100);
  before.registerColony("b", "k", COLONY_DATA);
  clock.advance(500);
  before.registerColony("a", "k", COLONY_DATA); // renewed: expires after b in the same second, but first in the table's order
  const path = join(t.testdir(), "state.ndjson");
  await saveSnapshot(path, before, { savedAtMs: clock.now() });
  t.match(readFileSync(path, "utf8"), /"meshId":"a"[\s\S]*"meshId":"b"/, "a is written first");
  const after = discoveryRegistry(clock.now);
  await loadSnapshot(path, { registry: after, relays: [] });
  clock.set((before.lookupColony("b")?.expiresAtMs as number));
  t.same(after.sweep().colonies.map((c) => c.meshId), ["b"], "b is swept at its expiry, not held up behind a");
  t.ok(after.lookupColony("a"));
});

t.test("a missing file is a fresh start: undefined, nothing restored", async (t) => {
  const registry = discoveryRegistry(Date.now);
  t.equal(await loadSnapshot(join(t.testdir(), "none.ndjson"), { registry, relays: [] }), undefined);
  t.equal(registry.counts().colonies, 0);
});

t.test("an empty registry saves a header and an end line, and loads back empty", async (t) => {
  const path = join(t.testdir(), "state.ndjson");
  await saveSnapshot(path, discoveryRegistry(Date.now), { savedAtMs: 5 });
  t.equal(readFileSync(path, "utf8").split("\n").length, 3);
  const loaded = await loadSnapshot(path, { registry: discoveryRegistry(Date.now), relays: [] });
  t.same(loaded?.restored, { colonies: 0, agents: 0, relaySessions: 0 });
});

t.test("a damaged, cut-short or foreign file is refused naming the file and the line; the file and the registry are untouched", async (t) => {
  const clock = createFakeClock();
  const dir = t.testdir();
  const good = join(dir, "good.ndjson");
  await saveSnapshot(good, filled(clock.now), { savedAtMs: clock.now() });
  const text = readFileSync(good, "utf8");
  const lines = text.trimEnd().split("\n");
  const cases: [string, string, RegExp][] = [
    ["empty", "", /is empty \(no header line\)/],
    ["not a snapshot", "hello\n", /line 1: not JSON/],
    ["another format", `${JSON.stringify({ format: "x", version: 1, savedAtMs: 1 })}\n`, /line 1: not a coral-discovery snapshot/],
    ["a later version", `${JSON.stringify({ format: "coral-discovery-snapshot", version: 2, savedAtMs: 1 })}\n`, /line 1: snapshot version 2 is not one this version reads \(1\)/],
    ["cut in a line", text.slice(0, text.indexOf("agent-2") + 3), /line 5: not JSON \(cut short or damaged\)/],
    ["cut at a line end", `${lines.slice(0, 4).join("\n")}\n`, /ends at line 4 without its end line: it was cut short/],
    ["a damaged field", text.replace('"agentId":"agent-2"', '"agentId":2'), /line 5: agent line: agentId is not a string/],
    ["a wrong count", text.replace('"leases":5', '"leases":6'), /line 7: the end line counts 6 leases, the file holds 5/],
    ["text after the end", `${text}{}\n`, /line 8: text after the end line/],
  ];
  for (const [name, content, message] of cases) {
    const path = join(dir, `${name.replaceAll(" ", "-")}.ndjson`);
    writeFileSync(path, content, { mode: 0o640 });
    const before = statSync(path);
    const registry = discoveryRegistry(clock.now);
    const error = await loadSnapshot(path, { registry, relays: [RELAY] }).catch((e: unknown) => e);
    t.ok(error instanceof StateFileError, name);
    t.match((error as Error).message, `state file ${path}: `, `${name}: names the file`);
    t.match((error as Error).message, message, name);
    t.match((error as Error).message, /it was left as it is: repair it, or move it away to start with an empty registry/, `${name}: says what to do`);
    t.equal(readFileSync(path, "utf8"), content, `${name}: the file is unchanged`);
    t.equal(statSync(path).mtimeMs, before.mtimeMs, `${name}: not even rewritten`);
    t.equal(statSync(path).mode & 0o777, 0o640);
    t.same(registry.counts(), { colonies: 0, agents: 0, relaySessions: 0, bytes: 0 }, `${name}: nothing restored`);
  }
});

t.test("a path that cannot be read (a directory) is refused, saying why", async (t) => {
  const dir = join(t.testdir(), "state.ndjson");
  mkdirSync(dir);
  const error = await loadSnapshot(dir, { registry: discoveryRegistry(Date.now), relays: [] }).catch((e: unknown) => e);
  t.ok(error instanceof StateFileError);
  t.match((error as Error).message, `state file ${dir}: cannot be read (EISDIR`);
});

t.test("a path whose directory is a file cannot be opened: refused, not taken for a fresh start", async (t) => {
  const file = join(t.testdir({ plain: "x" }), "plain");
  const error = await loadSnapshot(join(file, "state.ndjson"), { registry: discoveryRegistry(Date.now), relays: [] }).catch((e: unknown) => e);
  t.ok(error instanceof StateFileError);
  t.match((error as Error).message, /cannot be read \(ENOTDIR/);
});
