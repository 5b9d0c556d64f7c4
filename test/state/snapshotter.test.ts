import t, { type Test } from "tap";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { loadSnapshot } from "../../src/state/snapshot-file.js";
import { createSnapshotter, type SnapshotterOptions } from "../../src/state/snapshotter.js";
import { generateSigningKey } from "../../src/tokens/index.js";
import { createFakeClock } from "../fixtures/clock.js";
import { COLONY_DATA, discoveryRegistry } from "../fixtures/leases.js";
import { createManualTimers } from "../fixtures/manual-timers.js";
import { until } from "../fixtures/wait.js";

const INTERVAL_MS = 30_000;

function setup(t: Test, path: string, extra: Partial<SnapshotterOptions> = {}) {
  const clock = createFakeClock();
  const timers = createManualTimers(clock);
  const registry = discoveryRegistry(clock.now);
  const lines: { level: string; obj: Record<string, unknown>; msg: string }[] = [];
  const log = {
    debug: (obj: object, msg: string) => lines.push({ level: "debug", obj: obj as Record<string, unknown>, msg }),
    error: (obj: object, msg: string) => lines.push({ level: "error", obj: obj as Record<string, unknown>, msg }),
  };
  const snapshotter = createSnapshotter({ path, registry, signingKey: undefined, intervalMs: INTERVAL_MS, now: clock.now, timers, log, ...extra });
  t.teardown(() => snapshotter.stop());
  return { clock, timers, registry, lines, snapshotter };
}

/** The mesh ids a snapshot file holds (read at the fake clock's start: its leases are active then). */
async function meshIds(path: string): Promise<string[]> {
  const registry = discoveryRegistry(createFakeClock().now);
  await loadSnapshot(path, { registry, relays: [] });
  return [...registry.active().colonies].map((c) => c.meshId);
}

t.test("writes every interval, each write one interval after the previous one ended", async (t) => {
  const path = join(t.testdir(), "state.ndjson");
  const { timers, registry, lines } = setup(t, path);
  t.same(timers.scheduled, [INTERVAL_MS], "the first write is one interval away");
  t.notOk(existsSync(path));
  registry.registerColony("m1", "k", COLONY_DATA);
  await timers.next();
  await t.resolveMatch(waitFor(() => lines.length === 1), true);
  t.match(lines[0], { level: "debug", msg: "state file written", obj: { path, leases: 1 } });
  t.same(await meshIds(path), ["m1"]);
  registry.registerColony("m2", "k", COLONY_DATA);
  await timers.next();
  await waitFor(() => lines.length === 2);
  t.same((await meshIds(path)).sort(), ["m1", "m2"]);
  t.same(timers.scheduled, [INTERVAL_MS, INTERVAL_MS, INTERVAL_MS]);
});

t.test("a failed write is logged with the reason and retried at the next interval; it never throws", async (t) => {
  const dir = join(t.testdir(), "later");
  const path = join(dir, "state.ndjson");
  const { timers, registry, lines, snapshotter } = setup(t, path);
  registry.registerColony("m1", "k", COLONY_DATA);
  t.equal(await snapshotter.writeNow(), false);
  t.match(lines[0], { level: "error", obj: { path, err: { code: "ENOENT" } } });
  t.match(lines[0]?.msg, /^could not write the state file \(ENOENT: no such file or directory.*\); retrying in 30 s$/);
  t.equal(timers.pending(), 1, "the next try is scheduled");
  mkdirSync(dir);
  await timers.next();
  await waitFor(() => lines.length === 2);
  t.match(lines[1], { level: "debug", msg: "state file written" });
  t.same(await meshIds(path), ["m1"]);
});

t.test("never two writes at once: a write asked for during one runs after it, and callers meanwhile share it", async (t) => {
  const path = join(t.testdir(), "state.ndjson");
  let renames = 0;
  let release: (() => void) | undefined;
  const rename = async (from: string, to: string) => {
    renames++;
    if (renames === 1) await new Promise<void>((resolve) => (release = resolve));
    const { rename: fsRename } = await import("node:fs/promises");
    await fsRename(from, to);
  };
  const { registry, snapshotter } = setup(t, path, { rename });
  registry.registerColony("m1", "k", COLONY_DATA);
  const first = snapshotter.writeNow();
  await waitFor(() => release !== undefined);
  registry.registerColony("m2", "k", COLONY_DATA);
  const second = snapshotter.writeNow();
  const third = snapshotter.writeNow();
  t.equal(second, third, "one queued write for both callers");
  t.equal(renames, 1, "the second has not started while the first runs");
  (release as () => void)();
  t.same(await Promise.all([first, second]), [true, true]);
  t.equal(renames, 2, "two writes in all");
  t.same((await meshIds(path)).sort(), ["m1", "m2"], "the queued write saw what came during the first");
});

t.test("stop() ends the timer and writes a last snapshot after the one in progress, with the kept key", async (t) => {
  const path = join(t.testdir(), "state.ndjson");
  const key = generateSigningKey();
  const { timers, registry, snapshotter } = setup(t, path, { signingKey: key });
  registry.registerColony("m1", "k", COLONY_DATA);
  const running = snapshotter.writeNow();
  registry.registerColony("m2", "k", COLONY_DATA);
  t.equal(await snapshotter.stop(), true);
  t.equal(await running, true);
  t.equal(timers.pending(), 0, "no timer left");
  t.same((await meshIds(path)).sort(), ["m1", "m2"]);
  t.match(JSON.parse(readFileSync(path, "utf8").split("\n")[0] as string), { signingKey: { id: key.kid } });
});

t.test("a last write that fails says what is lost", async (t) => {
  const path = join(t.testdir(), "gone", "state.ndjson");
  const { lines, snapshotter } = setup(t, path);
  t.equal(await snapshotter.stop(), false);
  t.match(lines[0]?.msg, /the process is stopping: registrations since the last good write are lost$/);
});

t.test("chunkLeases is passed on (a write of many chunks)", async (t) => {
  const path = join(t.testdir(), "state.ndjson");
  const { registry, snapshotter, lines } = setup(t, path, { chunkLeases: 1, elapsedNow: () => 7 });
  for (let i = 0; i < 5; i++) registry.registerColony(`m${i}`, "k", COLONY_DATA);
  t.equal(await snapshotter.writeNow(), true);
  t.match(lines[0]?.obj, { leases: 5, durationMs: 0 });
  t.equal((await meshIds(path)).length, 5);
});

/** Waits across real event-loop turns (file I/O completes in the thread pool). */
async function waitFor(condition: () => boolean): Promise<boolean> {
  await until(condition, "the write");
  return true;
}
