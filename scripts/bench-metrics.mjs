// What /metrics costs: the time of one scrape (registry counts read at scrape
// time, default process metrics included) with 100,000 leases, fresh and with
// half of them expired but not yet swept; and the hot path's cost per RPC
// (the recorder the road calls once per answer).
//
//   npm run build && node scripts/bench-metrics.mjs      (or: npm run bench:metrics)
import { availableParallelism, loadavg } from "node:os";
import { performance } from "node:perf_hooks";
import { createHash } from "node:crypto";
import { createConfiguredRegistry } from "../dist/src/app.js";
import { resolveConfig } from "../dist/src/config/index.js";
import { createMetrics } from "../dist/src/server/metrics.js";

const LEASES = 100_000;
const SCRAPES = 200;

const config = resolveConfig({ maxColonies: LEASES, maxAgents: LEASES, maxAgentsPerMesh: LEASES, maxAgentsPerMeshPerIp: LEASES, maxRegistryBytes: "4GiB" });
let nowMs = Date.UTC(2026, 0, 1);
const registry = createConfiguredRegistry(config, () => nowMs);
const pubkey = (i) => createHash("sha256").update(String(i)).digest("base64");
const colony = { endpoints: ["203.0.113.7:41820"], meshIpv4: "100.64.0.1", meshIpv6: "", connectPort: 9000, metadata: {}, observedEndpoint: undefined, publicPort: 0, publicEndpoint: undefined };
const agent = { endpoints: ["198.51.100.9:51820"], metadata: {}, observedEndpoint: undefined };
const half = LEASES / 2;
for (let i = 0; i < half; i++) registry.registerColony(`mesh-${i}`, pubkey(i), colony);
nowMs += 1_000; // the agents are a second younger
for (let i = 0; i < half; i++) registry.registerAgent(`mesh-${i % 1000}`, `agent-${i}`, pubkey(-i), agent, `198.51.100.${i % 250}`);

const metrics = createMetrics({
  leases: () => registry.counts(),
  limits: { colonies: config.maxColonies, agents: config.maxAgents, relaySessions: config.maxRelaySessions, bytes: config.maxRegistryBytes },
  connections: () => ({ open: 50, idle: 10, http2Sessions: 2 }),
});
// Some traffic first, so the exposition has RPC series and histograms.
const methods = ["RegisterColony", "LookupColony", "RegisterAgent", "LookupAgent", "Health"].map((m) => metrics.forMethod(m));
for (let i = 0; i < 10_000; i++) methods[i % methods.length](["connect", "grpc", "grpc-web"][i % 3], i % 7 === 0 ? 5 : 0, (i % 100) / 10_000);

async function timeScrapes(label) {
  const times = [];
  let bytes = 0;
  let cpuBefore;
  for (let i = 0; i < SCRAPES + 20; i++) {
    if (i === 20) cpuBefore = process.cpuUsage(); // after a warm-up
    const start = performance.now();
    const text = await metrics.scrape();
    const ms = performance.now() - start;
    if (i >= 20) times.push(ms);
    bytes = text.length;
  }
  const cpu = process.cpuUsage(cpuBefore);
  const countsStart = process.cpuUsage();
  for (let i = 0; i < SCRAPES; i++) registry.counts();
  const countsCpu = process.cpuUsage(countsStart);
  times.sort((a, b) => a - b);
  const at = (p) => times[Math.min(times.length - 1, Math.floor(p * times.length))].toFixed(3);
  const counts = registry.counts();
  process.stdout.write(
    `${label}: ${counts.colonies + counts.agents} active, ${bytes} bytes of exposition; scrape wall median ${at(0.5)} ms, p99 ${at(0.99)} ms, max ${at(1)} ms; ` +
      `CPU ${((cpu.user + cpu.system) / SCRAPES / 1000).toFixed(3)} ms per scrape, of which registry.counts() ${((countsCpu.user + countsCpu.system) / SCRAPES / 1000).toFixed(3)} ms\n`,
  );
}

await timeScrapes(`${LEASES} leases, all active`);
nowMs += config.ttlSeconds * 1000 - 500; // the colonies have expired, the agents not yet; nothing swept
await timeScrapes(`${LEASES} leases, ${half} expired and unswept`);

// The hot path: one recorder call per answered RPC.
const record = metrics.forMethod("LookupColony");
const N = 2_000_000;
for (let i = 0; i < 100_000; i++) record("connect", 0, 0.0003);
const start = performance.now();
for (let i = 0; i < N; i++) record("connect", 0, 0.0003);
const ns = ((performance.now() - start) * 1e6) / N;
process.stdout.write(`hot path: ${ns.toFixed(0)} ns per recorded RPC (counter + latency histogram)\n`);
process.stdout.write(`(node ${process.version}, load average ${loadavg()[0].toFixed(2)} on ${availableParallelism()} CPUs: wall-time tails grow with the load; CPU per scrape does not)\n`);
