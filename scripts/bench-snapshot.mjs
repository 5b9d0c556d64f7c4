// Measures the --state-file snapshot at 200,000 leases (issue 13):
//   - a write (saveSnapshot: encode, chunked writes, fsync, rename, directory
//     fsync): wall time, CPU, file size, and the longest the event loop was
//     blocked meanwhile, seen two ways: perf_hooks.monitorEventLoopDelay
//     (1 ms resolution) and the largest gap between the ticks of a 1 ms
//     setInterval probe (what a request arriving during the write would wait);
//   - the same for a few chunk sizes, to show what CHUNK_LEASES trades;
//   - a restore (loadSnapshot into an empty registry): wall time.
// The population: 40,000 colonies, 150,000 agents (3-4 per mesh), 10,000
// relay sessions, each with its own payload as the service stores it
// (endpoints, metadata, an observed endpoint; a fifth of the colonies with a
// public endpoint holding a 32-byte fingerprint and a timestamp).
//
//   npm run build && node scripts/bench-snapshot.mjs        (~20 s)
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir, loadavg, availableParallelism } from "node:os";
import { join } from "node:path";
import { monitorEventLoopDelay, performance } from "node:perf_hooks";

const { createRegistry } = await import(new URL("../dist/src/registry/index.js", import.meta.url).href);
const { discoveryEntrySizes } = await import(new URL("../dist/src/service/entry-size.js", import.meta.url).href);
const { saveSnapshot, loadSnapshot, CHUNK_LEASES } = await import(new URL("../dist/src/state/snapshot-file.js", import.meta.url).href);
const { generateSigningKey } = await import(new URL("../dist/src/tokens/index.js", import.meta.url).href);

const COLONIES = 40_000;
const AGENTS = 150_000;
const RELAY_SESSIONS = 10_000;
const TTL_MS = 300_000;
const RELAY = { id: "relay-1.example.net:3478", host: "relay-1.example.net", port: 3478 };

let clock = Date.now();
const now = () => clock;

function newRegistry() {
  return createRegistry({
    ttlMs: TTL_MS,
    relaySessionTtlMs: 1_800_000,
    now,
    limits: { colonies: 1e9, agentsPerMesh: 1e9, agents: 1e9, relaySessions: 1e9, bytes: 2 ** 50, agentsPerMeshPerOwner: 1e9, relaySessionsPerOwner: 1e9 },
    sizeOf: discoveryEntrySizes,
  });
}

const ip = (i) => `${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}.${(i * 7) & 255}`;
const key = (i) => Buffer.alloc(32, i % 251).toString("base64");

function fill(registry) {
  // Registrations spread over one TTL window, as a running service holds them.
  const start = clock;
  const total = COLONIES + AGENTS + RELAY_SESSIONS;
  let n = 0;
  const tick = () => (clock = start + Math.floor((n++ / total) * (TTL_MS - 10_000)));
  for (let i = 0; i < COLONIES; i++) {
    tick();
    registry.registerColony(`mesh-${i.toString(36).padStart(6, "0")}-${"x".repeat(8)}`, key(i), {
      endpoints: [`${ip(i)}:51820`, `[2001:db8::${i.toString(16)}]:51820`],
      meshIpv4: "10.42.0.1",
      meshIpv6: "fd42::1",
      connectPort: 9000,
      metadata: { region: "eu-west", version: "1.4.2", hostname: `colony-${i}` },
      observedEndpoint: { ip: ip(i), port: 51820, protocol: "udp" },
      publicPort: i % 5 === 0 ? 8443 : 0,
      publicEndpoint:
        i % 5 === 0
          ? { enabled: true, url: `https://colony-${i}.example.net:8443`, caCert: "", caFingerprint: { algorithm: 1, value: new Uint8Array(32).fill(i & 255) }, updatedAt: { seconds: BigInt(Math.floor(clock / 1000)), nanos: 0 } }
          : undefined,
    });
  }
  for (let i = 0; i < AGENTS; i++) {
    tick();
    const mesh = i % COLONIES;
    registry.registerAgent(`mesh-${mesh.toString(36).padStart(6, "0")}-${"x".repeat(8)}`, `agent-${i}`, key(i + 7), {
      endpoints: [`${ip(i + 99)}:${40000 + (i % 1000)}`],
      metadata: { os: "linux", arch: "amd64" },
      observedEndpoint: { ip: ip(i + 99), port: 40000 + (i % 1000), protocol: "udp", viaRelay: false },
    }, ip(i + 99));
  }
  for (let i = 0; i < RELAY_SESSIONS; i++) {
    tick();
    registry.createRelaySession(`00000000-0000-4000-8000-${i.toString(16).padStart(12, "0")}`, `mesh-${(i % COLONIES).toString(36).padStart(6, "0")}-${"x".repeat(8)}`, { relay: RELAY, agentPubkey: key(i + 3), colonyPubkey: key(i) }, ip(i));
  }
}

/** Runs `work` while watching the event loop; resolves with its wall and CPU time and the loop's longest stalls. */
async function watched(work) {
  const histogram = monitorEventLoopDelay({ resolution: 1 });
  let last = performance.now();
  let maxGap = 0;
  const probe = setInterval(() => {
    const t = performance.now();
    maxGap = Math.max(maxGap, t - last);
    last = t;
  }, 1);
  await new Promise((resolve) => setTimeout(resolve, 20)); // let the probe settle
  histogram.enable();
  const cpu = process.cpuUsage();
  const start = performance.now();
  last = start;
  maxGap = 0;
  const result = await work();
  const wallMs = performance.now() - start;
  const { user, system } = process.cpuUsage(cpu);
  histogram.disable();
  clearInterval(probe);
  return { result, wallMs, cpuMs: (user + system) / 1000, maxDelayMs: histogram.max / 1e6, p99DelayMs: histogram.percentile(99) / 1e6, maxGapMs: maxGap };
}

const fmt = (ms) => `${ms.toFixed(1)} ms`;
const dir = mkdtempSync(join(tmpdir(), "bench-snapshot-"));
try {
  const registry = newRegistry();
  const fillStart = performance.now();
  fill(registry);
  const counts = registry.counts();
  console.log(`node ${process.version}, ${availableParallelism()} CPUs, load ${loadavg().map((l) => l.toFixed(2)).join(" ")}`);
  console.log(`registry: ${counts.colonies} colonies, ${counts.agents} agents, ${counts.relaySessions} relay sessions (filled in ${fmt(performance.now() - fillStart)})`);
  const path = join(dir, "state.ndjson");
  const signingKey = generateSigningKey();

  console.log("\nwrite (saveSnapshot), 3 runs per chunk size:");
  for (const chunkLeases of [250, CHUNK_LEASES, 5_000]) {
    const runs = [];
    for (let run = 0; run < 3; run++) runs.push(await watched(() => saveSnapshot(path, registry, { savedAtMs: clock, signingKey, chunkLeases })));
    const median = (f) => runs.map(f).sort((a, b) => a - b)[1];
    const { leases, bytes } = runs[0].result;
    console.log(
      `  chunk ${String(chunkLeases).padStart(6)} leases${chunkLeases === CHUNK_LEASES ? " (default)" : "          "}: ` +
        `wall ${fmt(median((r) => r.wallMs))}, CPU ${fmt(median((r) => r.cpuMs))}, ` +
        `longest loop block ${fmt(Math.max(...runs.map((r) => r.maxDelayMs)))} (delay histogram) / ${fmt(Math.max(...runs.map((r) => r.maxGapMs)))} (1 ms probe gap), ` +
        `p99 delay ${fmt(median((r) => r.p99DelayMs))}; ${leases} leases, ${(bytes / 1024 ** 2).toFixed(1)} MiB`,
    );
  }
  console.log(`  file: ${(statSync(path).size / 1024 ** 2).toFixed(1)} MiB, mode ${(statSync(path).mode & 0o777).toString(8)}`);

  console.log("\nrestore (loadSnapshot into an empty registry), 3 runs:");
  const restores = [];
  for (let run = 0; run < 3; run++) {
    const fresh = newRegistry();
    restores.push(await watched(() => loadSnapshot(path, { registry: fresh, relays: [RELAY] })));
    if (run === 0) console.log(`  restored: ${JSON.stringify(restores[0].result.restored)}, expired ${restores[0].result.expired}`);
  }
  const wall = restores.map((r) => r.wallMs).sort((a, b) => a - b);
  console.log(`  wall ${fmt(wall[1])} (median; min ${fmt(wall[0])}, max ${fmt(wall[2])}), CPU ${fmt(restores.map((r) => r.cpuMs).sort((a, b) => a - b)[1])}`);
} finally {
  if (process.env.KEEP_SNAPSHOT) console.log(`kept ${dir}`); else rmSync(dir, { recursive: true, force: true });
}
