#!/usr/bin/env node
// Rendezvous long-poll benchmark against a real daemon (a child process of
// dist/src/main.js; run `npm run build` first):
//   1. N concurrent PollBootstrapRendezvous (wait 25 s) on N meshes, over
//      HTTP/1.1 Connect JSON, one connection each;
//   2. the daemon's CPU time while they all wait (from /proc/<pid>/stat, or
//      nothing on systems without /proc), over IDLE_MS;
//   3. one publish per mesh; wake latency = poll answer received minus
//      publish sent (p50 / p99 / max), goal: within 100 ms;
//   4. N more polls, then every client disconnects: the daemon's waiting-poll
//      count (GET /health) must drop to 0.
// With --redis: a real redis-server (persistence off) and two daemons on it
// with --redis-url; the polls wait on B, the publishes go to A, so the wake
// latency is a cross-instance one (Redis pub/sub), and B's CPU is measured.
// Usage: node scripts/bench-rendezvous.mjs [--redis] [N=200] [IDLE_MS=5000]
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, existsSync } from "node:fs";
import { request, Agent } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";

const REDIS = process.argv.includes("--redis");
const args = process.argv.slice(2).filter((a) => a !== "--redis");
const N = Number(args[0] ?? 200);
const IDLE_MS = Number(args[1] ?? 5000);
const ROOT = fileURLToPath(new URL("..", import.meta.url));
const SERVICE = "coral.discovery.v1.DiscoveryService";

const dir = mkdtempSync(join(tmpdir(), "bench-rdv-"));
const children = [];
process.on("exit", () => children.forEach((c) => c.kill("SIGTERM")));

function startDaemon(name, extra = [], env = {}) {
  const readyFile = join(dir, `${name}.json`);
  const child = spawn(
    process.execPath,
    [join(ROOT, "dist/src/main.js"), "--host", "127.0.0.1", "--port", "0", "--ready-file", readyFile, "--log-level", "warn",
      "--max-connections-per-ip", "0", "--rendezvous-max-polls-per-mesh", "8", ...extra],
    { stdio: ["ignore", "ignore", "inherit"], env: { ...process.env, ...env } },
  );
  children.push(child);
  return { child, readyFile };
}

let redisExtra = [];
let redisEnv = {};
if (REDIS) {
  const { createServer } = await import("node:net");
  const probe = createServer();
  await new Promise((resolve) => probe.listen(0, "127.0.0.1", resolve));
  const redisPort = probe.address().port;
  await new Promise((resolve) => probe.close(resolve));
  const redis = spawn("redis-server", ["--port", String(redisPort), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], { stdio: ["ignore", "pipe", "ignore"] });
  children.push(redis);
  await new Promise((resolve, reject) => {
    let out = "";
    redis.stdout.on("data", (c) => (out += c) && out.includes("Ready to accept connections") && resolve());
    redis.once("error", reject);
    redis.once("exit", () => reject(new Error(`redis-server exited: ${out}`)));
  });
  redis.stdout.resume();
  const { formatSigningKey, generateSigningKey } = await import("../dist/src/tokens/index.js");
  redisExtra = ["--redis-url", `redis://127.0.0.1:${redisPort}`];
  redisEnv = { DISCOVERY_SIGNING_KEY: formatSigningKey(generateSigningKey()) };
}
const waiter = startDaemon("b", redisExtra, redisEnv);
const publisherDaemon = REDIS ? startDaemon("a", redisExtra, redisEnv) : waiter;
const daemon = waiter.child;
const stopDaemon = () => children.forEach((c) => c.kill("SIGTERM"));

async function waitFor(condition, what, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

await waitFor(() => existsSync(waiter.readyFile) && existsSync(publisherDaemon.readyFile), "the daemons' ready files");
const { port } = JSON.parse(readFileSync(waiter.readyFile, "utf8"));
const publishPort = JSON.parse(readFileSync(publisherDaemon.readyFile, "utf8")).port;
const pollAgent = new Agent({ keepAlive: false, maxSockets: Infinity });
const publishAgent = new Agent({ keepAlive: true, maxSockets: 8 });

/** One Connect JSON call; resolves with { status, body, at } (at: performance.now() when the answer arrived). */
function rpc(method, body, agent, onRequest, to = port) {
  return new Promise((resolve, reject) => {
    const payload = JSON.stringify(body);
    const req = request(
      { host: "127.0.0.1", port: to, path: `/${SERVICE}/${method}`, method: "POST", agent,
        headers: { "content-type": "application/json", "connect-protocol-version": "1", "connect-timeout-ms": "35000", "content-length": Buffer.byteLength(payload) } },
      (res) => {
        const chunks = [];
        res.on("data", (c) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode, body: JSON.parse(Buffer.concat(chunks).toString() || "{}"), at: performance.now() }));
      },
    );
    req.on("error", reject);
    onRequest?.(req);
    req.end(payload);
  });
}

async function waiting() {
  return new Promise((resolve, reject) => {
    request({ host: "127.0.0.1", port, path: "/health", agent: publishAgent }, (res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => resolve(JSON.parse(Buffer.concat(chunks).toString()).rendezvous_polls_waiting));
    }).on("error", reject).end();
  });
}

/** The daemon's user + system CPU time, ms (Linux /proc; undefined elsewhere). */
function cpuMs() {
  try {
    const fields = readFileSync(`/proc/${daemon.pid}/stat`, "utf8").split(") ")[1].split(" ");
    const ticks = Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14 and 15 of stat)
    return (ticks * 1000) / 100; // USER_HZ is 100 on Linux
  } catch {
    return undefined;
  }
}

const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
const b64 = (s) => Buffer.from(s).toString("base64");

// 1. N waiting polls.
const meshes = Array.from({ length: N }, (_, i) => `bench-mesh-${i}`);
const polls = meshes.map((mesh) => rpc("PollBootstrapRendezvous", { mesh_id: mesh, wait_seconds: 25 }, pollAgent));
await waitFor(async () => (await waiting()) === N, `${N} polls to wait`);

// 2. CPU while they wait.
const cpuBefore = cpuMs();
const wallBefore = performance.now();
await new Promise((resolve) => setTimeout(resolve, IDLE_MS));
const cpuAfter = cpuMs();
const idleWall = performance.now() - wallBefore;

// 3. Publish to each mesh, 8 at a time; latency per mesh.
const sentAt = new Array(N);
let next = 0;
async function publisher() {
  while (next < N) {
    const i = next++;
    sentAt[i] = performance.now();
    const res = await rpc("PublishBootstrapRendezvous", { mesh_id: meshes[i], ciphertext: b64(`record ${i}`), gcm_nonce: b64("nonce-12-byt"), write_token: b64("token"), ttl_seconds: 90 }, publishAgent, undefined, publishPort);
    if (res.status !== 200) throw new Error(`publish ${i}: HTTP ${res.status} ${JSON.stringify(res.body)}`);
  }
}
await Promise.all(Array.from({ length: 8 }, publisher));
const answers = await Promise.all(polls);
const latencies = answers.map((answer, i) => {
  if (answer.status !== 200 || answer.body.records?.length !== 1) throw new Error(`poll ${i}: ${answer.status} ${JSON.stringify(answer.body)}`);
  return answer.at - sentAt[i];
}).sort((a, b) => a - b);

// 4. Disconnects leave no waiter.
const held = [];
const abandoned = meshes.map((mesh) =>
  rpc("PollBootstrapRendezvous", { mesh_id: `${mesh}-2`, wait_seconds: 25 }, pollAgent, (req) => held.push(req)).catch(() => "gone"));
await waitFor(async () => (await waiting()) === N, `${N} more polls to wait`);
const disconnectAt = performance.now();
for (const req of held) req.destroy();
await waitFor(async () => (await waiting()) === 0, "waiters to be released");
const releaseMs = performance.now() - disconnectAt;
await Promise.all(abandoned);
const left = await waiting();

const round = (x) => Math.round(x * 10) / 10;
const result = {
  store: REDIS ? "redis: polls wait on B, publishes go to A" : "memory",
  polls: N,
  wakeLatencyMs: { p50: round(pct(latencies, 50)), p99: round(pct(latencies, 99)), max: round(latencies.at(-1)) },
  daemonCpuWhileWaiting: cpuBefore === undefined ? "unavailable (no /proc)" : { cpuMs: round(cpuAfter - cpuBefore), wallMs: Math.round(idleWall), percent: round(((cpuAfter - cpuBefore) / idleWall) * 100) },
  waitersAfterDisconnect: left,
  releaseAfterDisconnectMs: Math.round(releaseMs),
};
console.log(JSON.stringify(result, null, 2));
publishAgent.destroy();
pollAgent.destroy();
stopDaemon();
if (left !== 0 || result.wakeLatencyMs.max > 100) {
  console.error(left !== 0 ? `FAIL: ${left} waiters left after disconnect` : "WARN: a wake took longer than 100 ms");
  process.exitCode = 1;
}
