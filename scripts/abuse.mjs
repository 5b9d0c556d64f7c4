// Abuse drill, loopback only, ~25 s: the real daemon (dist/src/main.js) in a
// child process; honest colonies heartbeat and agents look them up, each from
// its own loopback address (127.0.0.2-127.0.0.50, Linux routes all of 127/8 to
// lo), while one abuser (127.0.0.99) floods RegisterColony with fresh random
// mesh ids, 50 requests in flight.
//
//   Phase 1: default limits (per-address rate limits on): the abuser is
//            throttled to its registration budget; honest clients unaffected.
//   Phase 2: --rate-limit off --max-colonies 20000: the abuser fills the
//            registry, then gets resource_exhausted; honest renewals still pass.
//
// Heartbeats are every 1 s (scaled down from 60 s). Latencies are measured in
// this process, which shares the machine's cores with the daemon and the
// abuser, so they are upper bounds.
//
//   npm run build && node scripts/abuse.mjs
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import * as http from "node:http";
import { performance } from "node:perf_hooks";
import { requireBuild, startDaemon } from "./lib/daemon.mjs";

const SERVICE = "coral.discovery.v1.DiscoveryService";
const COLONIES = 40; // 127.0.0.2 .. 127.0.0.41
const AGENTS = 9; // 127.0.0.42 .. 127.0.0.50
const ABUSER = "127.0.0.99";
const ABUSER_IN_FLIGHT = 50;
const HEARTBEAT_MS = 1000;
const LOOKUP_EVERY_MS = 50;

requireBuild();

const phases = [
  { name: "1: default limits", args: [], seconds: 10 },
  { name: "2: --rate-limit off --max-colonies 20000", args: ["--rate-limit", "off", "--max-colonies", "20000"], seconds: 12 },
];
const rows = [];
for (const phase of phases) rows.push(await runPhase(phase));
printTable(rows);

async function runPhase({ name, args, seconds }) {
  const daemon = await startDaemon(["--log-level", "error", ...args]);
  try {
    const stopAt = performance.now() + seconds * 1000;
    const honest = { reg: newStats(), lookup: newStats() };
    const abuse = { sent: 0, accepted: 0, exhausted: 0, other: new Map(), firstExhaustedMs: undefined };
    const started = performance.now();

    const colonies = Array.from({ length: COLONIES }, (_, i) => ({
      address: `127.0.0.${2 + i}`,
      meshId: `honest-${i}`,
      pubkey: wireguardKey(),
    }));
    const colonyLoops = colonies.map(async (colony, i) => {
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1, localAddress: colony.address });
      await sleep((i * HEARTBEAT_MS) / COLONIES); // spread the heartbeats over the interval
      while (performance.now() < stopAt) {
        const next = performance.now() + HEARTBEAT_MS;
        await call(daemon.port, agent, "RegisterColony", honestColony(colony), honest.reg);
        await sleep(next - performance.now());
      }
      agent.destroy();
    });
    const agentLoops = Array.from({ length: AGENTS }, async (_, i) => {
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1, localAddress: `127.0.0.${2 + COLONIES + i}` });
      await sleep(HEARTBEAT_MS + i * 7); // after the first heartbeats
      for (let n = 0; performance.now() < stopAt; n++) {
        const next = performance.now() + LOOKUP_EVERY_MS;
        await call(daemon.port, agent, "LookupColony", { meshId: colonies[(n * AGENTS + i) % COLONIES].meshId }, honest.lookup);
        await sleep(next - performance.now());
      }
      agent.destroy();
    });
    const abuserAgent = new http.Agent({ keepAlive: true, maxSockets: ABUSER_IN_FLIGHT, localAddress: ABUSER });
    const abuserLoops = Array.from({ length: ABUSER_IN_FLIGHT }, async () => {
      await sleep(HEARTBEAT_MS / 2); // let the honest colonies register first
      while (performance.now() < stopAt) {
        const body = { meshId: `spam-${randomBytes(8).toString("hex")}`, pubkey: wireguardKey(), endpoints: ["198.51.100.66:51820"] };
        const { code } = await post(daemon.port, abuserAgent, "RegisterColony", body);
        abuse.sent++;
        if (code === "ok") abuse.accepted++;
        else if (code === "resource_exhausted") {
          abuse.exhausted++;
          abuse.firstExhaustedMs ??= performance.now() - started;
        } else abuse.other.set(code, (abuse.other.get(code) ?? 0) + 1);
      }
    });
    await Promise.all([...colonyLoops, ...agentLoops, ...abuserLoops]);
    abuserAgent.destroy();

    const health = JSON.parse((await get(daemon.port, "/health")).body);
    const status = readFileSync(`/proc/${daemon.child.pid}/status`, "utf8");
    const kb = (field) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? NaN);
    return { name, seconds, honest, abuse, colonies: health.colonies, rssMb: kb("VmRSS") / 1024, peakMb: kb("VmHWM") / 1024 };
  } finally {
    await daemon.stop({ echoStderr: true });
  }
}

function honestColony(colony) {
  return {
    meshId: colony.meshId,
    pubkey: colony.pubkey,
    endpoints: [":51820", "203.0.113.10:51820", "[2001:db8::10]:51820"],
    meshIpv4: "10.42.0.1",
    connectPort: 9000,
    metadata: { region: "eu-west-1", version: "1.4.2", os: "linux", arch: "amd64", role: "colony" },
    observedEndpoint: { ip: "203.0.113.10", port: 41820, protocol: "udp" },
  };
}

function newStats() {
  return { ok: 0, failed: new Map(), latencies: [] };
}

async function call(port, agent, rpc, body, stats) {
  const t0 = performance.now();
  const { code } = await post(port, agent, rpc, body);
  stats.latencies.push(performance.now() - t0);
  if (code === "ok") stats.ok++;
  else stats.failed.set(code, (stats.failed.get(code) ?? 0) + 1);
}

/** A Connect JSON unary call; resolves to the Connect code ("ok" on success), never rejects. */
function post(port, agent, rpc, body) {
  const payload = JSON.stringify(body);
  return new Promise((resolve) => {
    const req = http.request(
      {
        host: "127.0.0.1",
        port,
        agent,
        method: "POST",
        path: `/${SERVICE}/${rpc}`,
        headers: { "content-type": "application/json", "connect-protocol-version": "1", "content-length": Buffer.byteLength(payload) },
        timeout: 10_000,
      },
      (res) => {
        const chunks = [];
        res.on("data", (c) => chunks.push(c));
        res.on("end", () => {
          if (res.statusCode === 200) return resolve({ code: "ok" });
          try {
            resolve({ code: JSON.parse(Buffer.concat(chunks).toString()).code ?? `http_${res.statusCode}` });
          } catch {
            resolve({ code: `http_${res.statusCode}` });
          }
        });
      },
    );
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", (e) => resolve({ code: `transport:${e.code ?? e.message}` }));
    req.end(payload);
  });
}

function get(port, path) {
  return new Promise((resolve, reject) => {
    http
      .get({ host: "127.0.0.1", port, path, agent: false }, (res) => {
        let body = "";
        res.on("data", (c) => (body += c)).on("end", () => resolve({ status: res.statusCode, body }));
      })
      .on("error", reject);
  });
}

/** Canonical WireGuard public key text: base64 of 32 random bytes. */
function wireguardKey() {
  return randomBytes(32).toString("base64");
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
}

function quantile(values, q) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

function summary(stats) {
  const total = stats.ok + [...stats.failed.values()].reduce((a, b) => a + b, 0);
  const failed = [...stats.failed].map(([code, n]) => `${code} ${n}`).join(", ");
  return {
    rate: `${stats.ok}/${total} (${((100 * stats.ok) / Math.max(1, total)).toFixed(2)}%)${failed ? ` [${failed}]` : ""}`,
    latency: `${quantile(stats.latencies, 0.5).toFixed(1)} / ${quantile(stats.latencies, 0.99).toFixed(1)} ms`,
  };
}

function printTable(results) {
  const lines = [];
  const row = (label, values) => lines.push(`${label.padEnd(34)}${values.map((v) => String(v).padEnd(44)).join("")}`);
  row("phase", results.map((r) => `${r.name} (${r.seconds} s)`));
  row("honest heartbeats ok", results.map((r) => summary(r.honest.reg).rate));
  row("  heartbeat p50 / p99", results.map((r) => summary(r.honest.reg).latency));
  row("honest lookups ok", results.map((r) => summary(r.honest.lookup).rate));
  row("  lookup p50 / p99", results.map((r) => summary(r.honest.lookup).latency));
  row("abuser requests sent", results.map((r) => `${r.abuse.sent} (${(r.abuse.sent / r.seconds).toFixed(0)}/s)`));
  row("  accepted", results.map((r) => r.abuse.accepted));
  row("  rejected resource_exhausted", results.map((r) => `${r.abuse.exhausted}${r.abuse.firstExhaustedMs === undefined ? "" : ` (first at ${(r.abuse.firstExhaustedMs / 1000).toFixed(1)} s)`}`));
  row("  rejected otherwise", results.map((r) => [...r.abuse.other].map(([c, n]) => `${c} ${n}`).join(", ") || 0));
  row("colonies at the end (/health)", results.map((r) => r.colonies));
  row("server RSS at the end / peak", results.map((r) => `${r.rssMb.toFixed(0)} MiB / ${r.peakMb.toFixed(0)} MiB`));
  process.stdout.write(`\n${lines.join("\n")}\n`);
  process.stdout.write(`\n${COLONIES} honest colonies (heartbeat every ${HEARTBEAT_MS} ms), ${AGENTS} agents (a lookup every ${LOOKUP_EVERY_MS} ms each), one abuser with ${ABUSER_IN_FLIGHT} in flight; each from its own loopback address.\n`);
}
