// Abuse drill for the per-address budgets (issue 11), loopback only, ~40 s:
// the real daemon (dist/src/main.js) in a child process with its defaults
// unless a drill says otherwise; every attacker and honest client has its own
// loopback address (Linux routes all of 127/8 to lo).
//
//   1. held HTTP/2 bodies: 20 connections x 100 streams from one address, each
//      with 12 KB of headers and 60 KB of body, never ended;
//   2. connection slots: idle sockets, stream-less h2 sessions and idle
//      keep-alives from 4 addresses against --max-connections 20
//      --max-connections-per-ip 5, then honest clients;
//   3. relay quota: one address asks for 200 relay sessions (defaults);
//   4. agent quota: two addresses register 1,500 agents each in one mesh (defaults);
//   5. a mesh at its agent cap whose agents expired takes a new one at once
//      (--max-agents-per-mesh 50 --ttl 1, sweeper every hour);
//   6. JWKS caching with a generated key and with a configured one.
// Log floods and reflection have their own drills: scripts/abuse-logs.mjs and
// scripts/abuse-reflection.mjs.
//
//   npm run build && node scripts/abuse-budgets.mjs
import { readFileSync } from "node:fs";
import * as http from "node:http";
import * as http2 from "node:http2";
import * as net from "node:net";
import { performance } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import { requireBuild, startDaemon } from "./lib/daemon.mjs";

const SERVICE = "/coral.discovery.v1.DiscoveryService";
const KEY = Buffer.alloc(32, 7).toString("base64");
const SIGNING_KEY = '{"id":"01H7X0X7X0X7X0X7X0X7X0X7X0","privateKey":"hXIqNNX5M2H9WuNmTPcAYgwRSWpJMqONpL3HPPoxsdoitbpmLL7H2ArTXJV0YXj89bxfbePj0GTKqEB+N9g8SA=="}';

requireBuild();

await drill("1. held HTTP/2 bodies (defaults)", [], heldBodies);
await drill("2. connection slots (--max-connections 20 --max-connections-per-ip 5)", ["--max-connections", "20", "--max-connections-per-ip", "5"], connectionSlots);
await drill("3. relay quota (defaults + --relay)", ["--relay", "198.51.100.1:3478"], relayQuota);
await drill("4. agents per mesh per address (defaults)", [], agentQuota);
await drill("5. a full mesh frees its own expired agents", ["--max-agents-per-mesh", "50", "--ttl", "1", "--cleanup-interval", "3600"], fullMesh);
await drill("6a. JWKS, generated key", [], jwks);
await drill("6b. JWKS, configured key", [], jwks, { DISCOVERY_SIGNING_KEY: SIGNING_KEY });

async function drill(name, args, run, env = {}) {
  process.stdout.write(`\n== ${name}\n`);
  const daemon = await startDaemon(["--log-level", "warn", ...args], env);
  try {
    await run(daemon);
  } finally {
    await daemon.stop();
  }
}

async function heldBodies({ port, pid }) {
  for (let i = 0; i < 200; i++) await call(port, "127.0.0.1", "Health", {});
  const baseline = memoryMiB(pid).rss;
  const started = performance.now();
  const attack = await holdBodies(port, "127.0.0.2", 20, 100);
  const settledMs = performance.now() - started;
  const honestStart = performance.now();
  const honest = await call(port, "127.0.0.1", "RegisterColony", { meshId: "honest", pubkey: KEY, endpoints: ["198.51.100.1:51820"] });
  const honestMs = performance.now() - honestStart;
  const { peak } = memoryMiB(pid);
  const held = attack.probes.filter((p) => p.status === undefined && !p.refused());
  const answered = attack.probes.filter((p) => p.status !== undefined);
  const refused = attack.probes.filter((p) => p.refused()).length;
  print({
    "streams opened": attack.probes.length,
    "refused (REFUSED_STREAM)": refused,
    "answered 429 resource_exhausted": answered.filter((p) => p.status === 429).length,
    "answered otherwise": answered.filter((p) => p.status !== 429).length,
    "held by the server": held.length,
    "attack settled in": `${settledMs.toFixed(0)} ms`,
    "RSS baseline / peak": `${baseline.toFixed(0)} / ${peak.toFixed(0)} MiB (+${(peak - baseline).toFixed(0)} MiB)`,
    "honest RegisterColony from another address": `${honest.status} in ${honestMs.toFixed(1)} ms`,
  });
  const releaseStart = performance.now();
  while (!held.every((p) => p.stream.closed)) await sleep(50);
  print({
    "held streams cancelled (RST_STREAM CANCEL)": `${held.filter((p) => p.stream.rstCode === http2.constants.NGHTTP2_CANCEL).length}/${held.length}, ${((performance.now() - releaseStart) / 1000).toFixed(1)} s after the attack settled`,
    "RSS after release": `${memoryMiB(pid).rss.toFixed(0)} MiB`,
  });
  attack.close();
}

async function connectionSlots({ port }) {
  const hold = [];
  for (let a = 0; a < 4; a++) {
    const address = `127.0.0.${10 + a}`;
    for (let i = 0; i < 5; i++) {
      const kind = (a * 5 + i) % 4;
      if (kind === 0) {
        const socket = net.connect({ port, host: "127.0.0.1", localAddress: address }).on("error", () => {});
        hold.push(socket);
      } else if (kind === 1 || kind === 2) {
        const session = h2Session(port, address);
        if (kind === 2) await new Promise((resolve) => session.request({ ":path": "/health" }).on("close", resolve).resume());
        hold.push(session);
      } else {
        const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
        await get(port, address, "/health", agent);
        hold.push({ destroy: () => agent.destroy() });
      }
    }
  }
  const times = [];
  let ok = 0;
  for (let i = 0; i < 10; i++) {
    const started = performance.now();
    if ((await get(port, `127.0.0.${20 + i}`, "/health")) === 200) ok++;
    times.push(performance.now() - started);
  }
  print({
    "held by 4 addresses": "20 connections (silent sockets, h2 sessions without a stream, idle h2 sessions, idle keep-alives)",
    "honest GET /health from 10 other addresses": `${ok}/10 answered 200, slowest ${Math.max(...times).toFixed(1)} ms`,
  });
  for (const h of hold) h.destroy();
}

async function relayQuota({ port }) {
  const relay = { meshId: "m", agentPubkey: KEY, colonyPubkey: KEY };
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  let accepted = 0;
  let message = "";
  const started = performance.now();
  for (let i = 0; i < 200; i++) {
    const answer = await call(port, "127.0.0.2", "RequestRelay", relay, agent);
    if (answer.status === 200) accepted++;
    else message = `${answer.body.code}: ${answer.body.message}`;
  }
  agent.destroy();
  const other = await call(port, "127.0.0.3", "RequestRelay", relay);
  print({
    "one address asked 200 times": `${accepted} sessions granted in ${(performance.now() - started).toFixed(0)} ms, then "${message}"`,
    "another address": other.status === 200 ? "gets a session" : `refused: ${other.body.message}`,
  });
}

async function agentQuota({ port }) {
  const rows = {};
  for (const attacker of ["127.0.0.4", "127.0.0.5"]) {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    let accepted = 0;
    let message = "";
    for (let i = 0; i < 1_500; i++) {
      const answer = await call(port, attacker, "RegisterAgent", { meshId: "victim", agentId: `${attacker}-${i}`, pubkey: KEY, endpoints: ["198.51.100.2:51820"] }, agent);
      if (answer.status === 200) accepted++;
      else message = String(answer.body.message);
    }
    agent.destroy();
    rows[`${attacker} registered`] = `${accepted} of 1,500, then "${message}"`;
  }
  const honest = await call(port, "127.0.0.6", "RegisterAgent", { meshId: "victim", agentId: "honest", pubkey: KEY, endpoints: ["198.51.100.3:51820"] });
  rows["an honest agent from a third address"] = honest.status === 200 ? "registered" : `refused: ${honest.body.message}`;
  print(rows);
}

async function fullMesh({ port }) {
  for (let i = 0; i < 50; i++) await call(port, "127.0.0.1", "RegisterAgent", { meshId: "full", agentId: `a${i}`, pubkey: KEY, endpoints: ["198.51.100.4:51820"] });
  const refused = await call(port, "127.0.0.1", "RegisterAgent", { meshId: "full", agentId: "early", pubkey: KEY, endpoints: ["198.51.100.4:51820"] });
  await sleep(2_100); // past the 1 s lease (the sweeper does not run: every hour)
  const started = performance.now();
  const late = await call(port, "127.0.0.1", "RegisterAgent", { meshId: "full", agentId: "late", pubkey: KEY, endpoints: ["198.51.100.4:51820"] });
  print({
    "mesh at 50 live agents, a 51st": refused.status === 200 ? "accepted (unexpected)" : `refused: ${refused.body.message}`,
    "all 50 expired (not swept), a new one": late.status === 200 ? `accepted in ${(performance.now() - started).toFixed(1)} ms` : `refused: ${late.body.message}`,
  });
}

async function jwks({ port }) {
  const first = await fetch(`http://127.0.0.1:${port}/.well-known/jwks.json`);
  await first.arrayBuffer();
  const etag = first.headers.get("etag");
  const again = await fetch(`http://127.0.0.1:${port}/.well-known/jwks.json`, { headers: etag ? { "if-none-match": etag } : {} });
  print({ "cache-control": first.headers.get("cache-control"), etag: etag ?? "(none)", "revalidation with If-None-Match": again.status });
}

// ---- helpers

function print(rows) {
  const width = Math.max(...Object.keys(rows).map((k) => k.length));
  for (const [k, v] of Object.entries(rows)) process.stdout.write(`  ${k.padEnd(width)}  ${v}\n`);
}

function memoryMiB(pid) {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const field = (name) => Number((new RegExp(`^${name}:\\s+(\\d+) kB$`, "m").exec(status) ?? [])[1]) / 1024;
  return { rss: field("VmRSS"), peak: field("VmHWM") };
}

function call(port, localAddress, method, body, agent = false) {
  return new Promise((resolve, reject) => {
    const payload = JSON.stringify(body);
    const req = http.request(
      { host: "127.0.0.1", port, localAddress, method: "POST", path: `${SERVICE}/${method}`, agent, headers: { "content-type": "application/json", "content-length": Buffer.byteLength(payload) } },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (chunk) => (text += chunk));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text || "{}") }));
      },
    );
    req.on("error", reject);
    req.end(payload);
  });
}

function get(port, localAddress, path, agent = false) {
  return new Promise((resolve, reject) => {
    http.get({ host: "127.0.0.1", port, localAddress, path, agent }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode ?? 0));
    }).on("error", reject);
  });
}

function h2Session(port, localAddress) {
  const session = http2.connect(`http://127.0.0.1:${port}`, { createConnection: () => net.connect({ port, host: "127.0.0.1", localAddress }) });
  session.on("error", () => {});
  return session;
}

async function holdBodies(port, address, sessions, streams) {
  const body = Buffer.alloc(60_000, 0x20);
  const pad = "p".repeat(12_000);
  const probes = [];
  const opened = [];
  const settled = [];
  for (let s = 0; s < sessions; s++) {
    const session = h2Session(port, address);
    opened.push(session);
    for (let i = 0; i < streams; i++) {
      const stream = session.request({ ":method": "POST", ":path": `${SERVICE}/RegisterColony`, "content-type": "application/json", "x-pad": pad });
      const probe = { stream, status: undefined, refused: () => stream.rstCode === http2.constants.NGHTTP2_REFUSED_STREAM };
      probes.push(probe);
      stream.on("error", () => {});
      stream.resume();
      settled.push(
        new Promise((resolve) => {
          // Node's client emits no 'close' for a reset stream that still has data to send: answers count on 'response'.
          stream.on("response", (headers) => {
            probe.status = Number(headers[":status"]);
            resolve();
          });
          stream.write(body, () => resolve());
          stream.once("close", () => resolve());
        }),
      );
    }
  }
  await Promise.all(settled);
  return { probes, close: () => opened.forEach((session) => session.destroy()) };
}
