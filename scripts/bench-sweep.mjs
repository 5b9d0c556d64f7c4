// Measures the lease registry's sweep at 1,000,000 leases, against a naive
// full scan of a Map, in the same run:
//   - wall time of registry.sweep(now) over 30 consecutive simulated seconds
//     (each removes one second's worth of expiries, ~3,333), median and max;
//   - a sweep when nothing expired, counts(), and a sweep of 60 s worth
//     (what the default --cleanup-interval 60 removes in one go);
//   - event-loop delay (perf_hooks.monitorEventLoopDelay) while a real
//     setInterval sweeper runs, one simulated second per tick;
//   - heap used by the 1M leases (after gc).
// The population: 200k colonies + 800k agents (4 per mesh) registered
// uniformly over a 300 s TTL window with a fake clock, plus ~250k renewals
// (heartbeats) of leases registered in the previous 60 s, which move those
// leases to later buckets and keep expiries near-uniform (~3,300 per second).
// All leases share one payload object, so the heap figure is the registry's
// own cost (keys, lease objects, index).
//
//   npm run build && node scripts/bench-sweep.mjs        (~25 s, ~550 MiB peak RSS)
//   node scripts/bench-sweep.mjs --registry /tmp/old/dist/src/registry/index.js   (A/B)
//
// Event-loop delays are sampled every 1 ms, so ~1.1 ms is the idle floor.
// "CPU" is process.cpuUsage() across the call (GC threads included): less
// sensitive than wall time to other load on the machine.
import { availableParallelism, loadavg } from "node:os";
import { resolve } from "node:path";
import { monitorEventLoopDelay, performance } from "node:perf_hooks";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";

// --registry <file>: another build of dist/src/registry/index.js, for A/B runs.
const { values: flags } = parseArgs({ options: { registry: { type: "string" } } });
const registryModule =
  flags.registry === undefined
    ? new URL("../dist/src/registry/index.js", import.meta.url)
    : pathToFileURL(resolve(flags.registry));
const { createRegistry } = await import(registryModule.href);

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc"); // works without node --expose-gc

const LEASES = 1_000_000;
const AGENTS_PER_MESH = 4; // every 5th lease is a colony, the other 4 its agents
const TTL_MS = 300_000;
const RENEWAL_SHARE = 0.25; // renewals per registration
const RENEWAL_WINDOW = (LEASES * 60_000) / TTL_MS; // renew a lease registered in the last 60 s
const T0 = Date.UTC(2025, 0, 1);
const SECONDS_MEASURED = 30;
const TICK_REAL_MS = 100; // event-loop phase: one simulated second per 100 ms

let clock = T0;
const now = () => clock;

/** mulberry32: a small seeded PRNG, so every run builds the same population. */
function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const random = prng(42);

const payload = Object.freeze({ endpoints: ["203.0.113.7:41820"], metadata: {} });
const meshOf = (i) => Math.floor(i / (AGENTS_PER_MESH + 1));
const isColony = (i) => i % (AGENTS_PER_MESH + 1) === 0;

/** Registers (or renews) lease number `i` at the current clock; fresh strings each time, like decoded requests. */
function register(registry, i) {
  const meshId = `mesh-${meshOf(i)}`;
  const pubkey = `pk-${meshOf(i)}`;
  if (isColony(i)) return registry.registerColony(meshId, pubkey, payload);
  return registry.registerAgent(meshId, `agent-${i % (AGENTS_PER_MESH + 1)}`, pubkey, payload);
}

function heapUsed() {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

/** The naive store: one Map, swept by scanning every entry. */
function naiveSweep(map, nowMs) {
  const removed = [];
  for (const [key, lease] of map) {
    if (nowMs >= lease.expiresAtMs) {
      map.delete(key);
      removed.push(lease);
    }
  }
  return removed;
}

function registrySweep(registry, nowMs, budget) {
  const r = registry.sweep(nowMs, budget);
  return r.colonies.length + r.agents.length + r.relaySessions.length;
}

/** What the app's sweeper does: chunks of at most SWEEP_BUDGET per kind, one per event-loop turn. */
const SWEEP_BUDGET = 2_000;

// ---- build ---------------------------------------------------------------
const heapBefore = heapUsed();
// Capacity limits (where the registry has them) are raised so they never refuse here.
const limits = { colonies: LEASES, agents: LEASES, agentsPerMesh: LEASES, relaySessions: LEASES };
const registry = createRegistry({ ttlMs: TTL_MS, now, limits });
const buildStart = performance.now();
let renewals = 0;
for (let i = 0; i < LEASES; i++) {
  clock = T0 + Math.floor((i * TTL_MS) / LEASES);
  register(registry, i);
  if (i > 0 && random() < RENEWAL_SHARE) {
    register(registry, i - 1 - Math.floor(random() * Math.min(i, RENEWAL_WINDOW)));
    renewals++;
  }
}
const buildMs = performance.now() - buildStart;
clock = T0 + TTL_MS - 1; // every lease still active
const heapRegistry = heapUsed();
const counted = registry.counts();
if (counted.colonies + counted.agents !== LEASES) throw new Error(`expected ${LEASES} leases, counted ${JSON.stringify(counted)}`);

// The naive Map holds the same lease objects (shared), so its heap cost is the Map alone.
const naive = new Map();
for (let i = 0; i < LEASES; i++) {
  const meshId = `mesh-${meshOf(i)}`;
  const lease = isColony(i)
    ? registry.lookupColony(meshId)
    : registry.lookupAgent(meshId, `agent-${i % (AGENTS_PER_MESH + 1)}`);
  naive.set(isColony(i) ? meshId : `${meshId}/${lease.agentId}`, lease);
}
const heapNaive = heapUsed();

// Schedule (simulated, from the first expiry at T0 + TTL): a 60 s sweep at
// +60.5 s clears the start-up edge (early leases were renewed more often), then
// phase A at +61.5..+90.5 s, phase B at +91.5..+120.5 s, two more 60 s sweeps
// at +180.5 s and +240.5 s. The naive Map follows the same schedule. Sweeps
// land mid-second, as a Date.now()-driven sweeper does, so the current
// second's bucket is also checked key by key.
const firstExpiry = T0 + TTL_MS;

/** A series of timings: wall and process CPU (user + system) time, in ms. */
const series = () => ({ wall: [], cpu: [] });
/** Runs `fn`, records its wall and CPU time into `into`, returns its result. */
function timed(into, fn) {
  const cpuBefore = process.cpuUsage();
  const t = performance.now();
  const result = fn();
  into.wall.push(performance.now() - t);
  const cpu = process.cpuUsage(cpuBefore);
  into.cpu.push((cpu.user + cpu.system) / 1000);
  return result;
}

// ---- phase C: 60 s worth per sweep (the default --cleanup-interval) --------
const wide = { reg: series(), chunks: series(), naive: series(), counts: series(), removed: [], chunked: [] };
function sweepWide(atMs, chunked = false) {
  clock = atMs;
  for (let c = 0; c < 5; c++) timed(wide.counts, () => registry.counts()); // 60 s of expired leases unswept
  gc();
  if (chunked) {
    let total = 0;
    for (let n = -1; n !== 0; total += n) n = timed(wide.chunks, () => registrySweep(registry, atMs, SWEEP_BUDGET));
    wide.chunked.push(total);
  } else {
    wide.removed.push(timed(wide.reg, () => registrySweep(registry, atMs)));
  }
  gc();
  timed(wide.naive, () => naiveSweep(naive, atMs));
}
sweepWide(firstExpiry + 60_500);

// ---- phase A: 30 consecutive one-second sweeps, timed directly ------------
const rows = { reg: series(), regEmpty: series(), counts: series(), naive: series(), naiveEmpty: series() };
const removed = { reg: [], naive: [] };
const phaseA = firstExpiry + 60_500;
for (let s = 1; s <= SECONDS_MEASURED; s++) {
  clock = phaseA + s * 1000;
  removed.reg.push(timed(rows.reg, () => registrySweep(registry, clock)));
  const again = timed(rows.regEmpty, () => registrySweep(registry, clock));
  if (again !== 0) throw new Error("second sweep at the same time removed leases");
  timed(rows.counts, () => registry.counts());
  removed.naive.push(timed(rows.naive, () => naiveSweep(naive, clock).length));
  timed(rows.naiveEmpty, () => naiveSweep(naive, clock));
}
for (let s = 0; s < SECONDS_MEASURED; s++) {
  if (removed.reg[s] !== removed.naive[s]) {
    throw new Error(`second ${s + 1}: registry removed ${removed.reg[s]}, naive ${removed.naive[s]}`);
  }
}

// ---- phase B: event-loop delay with a real setInterval sweeper -------------
/** Runs `sweepOnce(simulatedNow)` every TICK_REAL_MS for `ticks` ticks; returns the loop-delay histogram. */
async function eventLoopDelayWhile(ticks, startMs, sweepOnce) {
  await new Promise((resolve) => setTimeout(resolve, 50)); // settle
  gc();
  const histogram = monitorEventLoopDelay({ resolution: 1 });
  histogram.enable();
  let tick = 0;
  const worst = { ms: 0 };
  await new Promise((resolve) => {
    const timer = setInterval(() => {
      tick++;
      if (sweepOnce !== undefined) {
        const t = performance.now();
        sweepOnce(startMs + tick * 1000);
        worst.ms = Math.max(worst.ms, performance.now() - t);
      }
      if (tick === ticks) {
        clearInterval(timer);
        resolve();
      }
    }, TICK_REAL_MS);
  });
  histogram.disable();
  return { histogram, worstSweepMs: worst.ms };
}
const phaseB = phaseA + SECONDS_MEASURED * 1000;
const elIdle = await eventLoopDelayWhile(SECONDS_MEASURED, phaseB, undefined);
const elRegistry = await eventLoopDelayWhile(SECONDS_MEASURED, phaseB, (t) => {
  clock = t;
  registrySweep(registry, t);
  registry.counts(); // what /health would add
});
const elNaive = await eventLoopDelayWhile(SECONDS_MEASURED, phaseB, (t) => naiveSweep(naive, t));

sweepWide(firstExpiry + 180_500, true);
sweepWide(firstExpiry + 240_500, true);

// ---- report ----------------------------------------------------------------
const ms = (v) => `${v.toFixed(v < 1 ? 3 : 2)} ms`;
const elMs = (h, p) => `${((p === "max" ? h.max : h.percentile(p)) / 1e6).toFixed(2)} ms`; // histogram is in ns
const mb = (bytes) => `${(bytes / 2 ** 20).toFixed(0)} MiB`;
const row = (name, t, note) => [name, ms(median(t.wall)), ms(Math.max(...t.wall)), ms(median(t.cpu)), note];
const table = [
  ["case", "wall median", "wall max", "CPU median", "note"],
  row("registry.sweep, 1 s worth", rows.reg, `removed median ${median(removed.reg)}/s, ${SECONDS_MEASURED} sweeps`),
  row("naive Map scan, 1 s worth", rows.naive, `same removals; ${(median(rows.naive.wall) / median(rows.reg.wall)).toFixed(0)}x registry (wall median)`),
  row("registry.sweep, nothing expired", rows.regEmpty, "re-sweep at the same now"),
  row("naive Map scan, nothing expired", rows.naiveEmpty, "still scans all entries"),
  row("registry.counts()", rows.counts, "right after a sweep"),
  row("registry.counts(), 60 s unswept", wide.counts, "5 calls before each 60 s sweep"),
  row("registry.sweep, 60 s worth at once", wide.reg, `removed ${wide.removed.join(", ")}`),
  row(`  same, in chunks of ${SWEEP_BUDGET} (the app)`, wide.chunks, `removed ${wide.chunked.join(", ")} in ${wide.chunks.wall.length} chunks`),
  row("naive Map scan, 60 s worth", wide.naive, "3 sweeps"),
];
const elTable = [
  ["event-loop delay (1 tick/100 ms)", "p50", "p99", "max", "slowest sweep"],
  ["idle, no sweeper", elMs(elIdle.histogram, 50), elMs(elIdle.histogram, 99), elMs(elIdle.histogram, "max"), "-"],
  ["registry sweeper (+counts)", elMs(elRegistry.histogram, 50), elMs(elRegistry.histogram, 99), elMs(elRegistry.histogram, "max"), ms(elRegistry.worstSweepMs)],
  ["naive sweeper", elMs(elNaive.histogram, 50), elMs(elNaive.histogram, 99), elMs(elNaive.histogram, "max"), ms(elNaive.worstSweepMs)],
];
function print(t) {
  const widths = t[0].map((_, c) => Math.max(...t.map((r) => String(r[c]).length)));
  for (const [i, r] of t.entries()) {
    process.stdout.write(`| ${r.map((cell, c) => String(cell).padEnd(widths[c])).join(" | ")} |\n`);
    if (i === 0) process.stdout.write(`|${widths.map((w) => "-".repeat(w + 2)).join("|")}|\n`);
  }
  process.stdout.write("\n");
}
process.stdout.write(
  `node ${process.version}, load average ${loadavg()[0].toFixed(2)} on ${availableParallelism()} CPUs; ${LEASES.toLocaleString("en")} leases (${(LEASES / (AGENTS_PER_MESH + 1)).toLocaleString("en")} colonies, ` +
    `${((LEASES * AGENTS_PER_MESH) / (AGENTS_PER_MESH + 1)).toLocaleString("en")} agents), ` +
    `${renewals.toLocaleString("en")} renewals, TTL ${TTL_MS / 1000} s; built in ${(buildMs / 1000).toFixed(1)} s` +
    `${flags.registry === undefined ? "" : `; registry from ${flags.registry}`}\n\n`,
);
print(table);
print(elTable);
process.stdout.write(
  `heap: registry with 1M leases ${mb(heapRegistry - heapBefore)} (${Math.round((heapRegistry - heapBefore) / LEASES)} B/lease, shared payload); ` +
    `naive Map over the same lease objects +${mb(heapNaive - heapRegistry)}; rss ${mb(process.memoryUsage().rss)}\n`,
);
