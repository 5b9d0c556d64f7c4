// Throughput of the real app against a bare Fastify route, in the same run.
//
// A child process runs the servers on 127.0.0.1: the app from buildApp (log
// level silent, rate limits off: one loopback address would be throttled),
// the same app serving its unary RPCs through connect-es's router instead of
// the road (the reference), the app with the rate limiter on and a budget it
// never reaches, the app with --metrics off (what /metrics costs), and a bare
// `fastify({ logger: false })` with `app.post("/echo", async r => r.body)`.
// Metrics on vs off is measured after the table: Connect JSON LookupColony on
// each, ROUNDS runs per side, alternating (order swapped each round), medians.
//
// HTTP/1.1: this process drives each case with CONNECTIONS keep-alive
// connections (node:http Agent), one request at a time per connection, for a
// 1 s warm-up and a SECONDS s measurement. Cases: bare echo JSON; Connect JSON
// LookupColony (hits on 1,000 seeded meshes); Connect JSON RegisterColony
// (heartbeat renewals of those meshes); Connect binary LookupColony; gRPC-Web.
// h2c: h2load (Debian package nghttp2-client; skipped with a note when it is
// missing) with H2_CLIENTS connections x H2_STREAMS concurrent streams sends
// LookupColony as gRPC and as Connect JSON, on the road and on connect-es.
// Redis store: when redis-server is installed, the child also starts one
// (persistence off) and the app on it with --redis-url; Connect JSON
// LookupColony and RegisterColony run against it too, and redis-server's own
// CPU per request is read from /proc. The ratio to in-memory is printed.
// "server CPU/req" is the child's process.cpuUsage() delta (user + system,
// read over IPC) divided by completed requests; it is the least noisy figure,
// since client and servers share the machine's cores.
//
//   npm run build && node scripts/bench.mjs       (or: npm run bench; ~2 min)
import { execFile, fork } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createHash } from "node:crypto";
import * as http from "node:http";
import { availableParallelism, loadavg } from "node:os";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";

const CONNECTIONS = 50;
const SECONDS = 5;
const WARMUP_SECONDS = 1;
/** Runs of each side in the metrics on/off comparison. */
const ROUNDS = 3;
const MESHES = 1000;
const HOST = "127.0.0.1";
const H2_CLIENTS = 20;
const H2_STREAMS = 10;

if (process.argv[2] === "--serve") {
  await serve();
} else {
  await drive();
}

/** Child: the servers; answers "cpu" and "close" messages from the parent. */
async function serve() {
  const { default: fastify } = await import("fastify");
  const { buildApp } = await import("../dist/src/app.js");

  const { resolveConfig } = await import("../dist/src/config/index.js");
  // Per-address rate limits would throttle a one-address load generator: the
  // main app runs with them off, and a second app with them on but a budget
  // never reached, to show the limiter's cost. Likewise h2load's streams
  // (H2_CLIENTS x H2_STREAMS from one address) pass --http2-max-streams-per-ip.
  const start = async (settings, deps = {}) => {
    const config = resolveConfig({ port: 0, host: HOST, logLevel: "silent", rateLimit: false, http2MaxStreamsPerIp: 0, ...settings });
    const app = await buildApp({ config, ...deps });
    await app.listen({ port: config.port, host: config.host });
    return app;
  };
  const app = await start({});
  // The same handlers and steps, served through connect-es's router instead of the road.
  const generic = await start({}, { unaryRoad: false });
  const limited = await start({ rateLimit: true, rateLookup: "1000000:1000000", rateRegister: "1000000:1000000" });
  const unmetered = await start({ metrics: false });
  // The same app on a real redis-server (persistence off), when one is installed.
  const redis = await startRedisServer();
  const { formatSigningKey, generateSigningKey } = await import("../dist/src/tokens/index.js");
  const shared = redis && (await start({ redisUrl: redis.url, signingKey: formatSigningKey(generateSigningKey()) }));
  // redis-server goes with this process, however it ends.
  process.on("exit", () => redis?.process.kill());
  process.on("SIGTERM", () => process.exit(143));

  const bare = fastify({ logger: false });
  bare.post("/echo", async (r) => r.body);
  await bare.listen({ port: 0, host: HOST });

  process.on("disconnect", () => process.exit(0)); // the parent is gone (or done)
  process.on("message", async (message) => {
    if (message === "cpu") process.send({ cpu: process.cpuUsage(), redisCpu: redis?.cpuMicros() });
    if (message === "close") {
      await Promise.all([app.close(), generic.close(), limited?.close(), unmetered.close(), shared?.close(), bare.close()]);
      redis?.process.kill();
      process.disconnect();
    }
  });
  process.send({
    ready: {
      app: app.server.address().port,
      generic: generic.server.address().port,
      limited: limited?.server.address().port,
      unmetered: unmetered.server.address().port,
      shared: shared?.server.address().port,
      bare: bare.server.address().port,
    },
  });
}

/** Parent: starts the server process, measures, closes it whatever happens. */
async function drive() {
  let done = false;
  const child = fork(fileURLToPath(import.meta.url), ["--serve"], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
  const guard = setTimeout(() => {
    process.stderr.write("bench: taking more than 240 s, giving up\n");
    child.kill();
    process.exit(1);
  }, 240_000);
  child.on("exit", (code, signal) => {
    if (!done) {
      process.stderr.write(`bench: server process exited early (code ${code}, signal ${signal})\n`);
      process.exit(1);
    }
  });
  const replies = [];
  const waiting = [];
  child.on("message", (m) => (waiting.length > 0 ? waiting.shift()(m) : replies.push(m)));
  const nextMessage = () => new Promise((resolve) => (replies.length > 0 ? resolve(replies.shift()) : waiting.push(resolve)));
  /** The server process's CPU time, µs (with `redis: true`, redis-server's instead). */
  const serverCpuMicros = async (options = {}) => {
    child.send("cpu");
    const { cpu, redisCpu } = await nextMessage();
    return options.redis ? redisCpu : cpu.user + cpu.system;
  };

  try {
    await measure(await nextMessage(), serverCpuMicros);
  } finally {
    done = true;
    clearTimeout(guard);
    if (child.connected) child.send("close");
  }
}

/** Seeds the apps, runs every case against the ports in `ready`, prints the table. */
async function measure({ ready }, serverCpuMicros) {
  const { create, fromBinary, toBinary } = await import("@bufbuild/protobuf");
  const { LookupColonyRequestSchema, LookupColonyResponseSchema } = await import(
    "../dist/gen/coral/discovery/v1/discovery_pb.js"
  );
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONNECTIONS });
  const grpcFrame = (payload) => {
    const frame = Buffer.alloc(5 + payload.length);
    frame.writeUInt32BE(payload.length, 1);
    frame.set(payload, 5);
    return frame;
  };

  function post(port, path, headers, body) {
    return new Promise((resolve, reject) => {
      const req = http.request({ host: HOST, port, path, method: "POST", headers, agent }, (res) => {
        const chunks = [];
        res.on("data", (chunk) => chunks.push(chunk));
        res.on("end", () => resolve({ status: res.statusCode, body: Buffer.concat(chunks) }));
        res.on("error", reject);
      });
      req.on("error", reject);
      req.end(body);
    });
  }

  const rpc = (method) => `/coral.discovery.v1.DiscoveryService/${method}`;
  const jsonHeaders = (body) => ({
    "content-type": "application/json",
    "connect-protocol-version": "1",
    "content-length": body.length,
  });
  const request = (port, path, body, contentType = "application/json") => ({
    port,
    path,
    body,
    headers: { ...jsonHeaders(body), "content-type": contentType },
  });
  const meshBodies = (make) => Array.from({ length: MESHES }, (_, i) => make(i));
  const registerJson = (i) =>
    Buffer.from(
      JSON.stringify({
        meshId: `mesh-${i}`,
        pubkey: createHash("sha256").update(`mesh-${i}`).digest("base64"), // 32 bytes, like a WireGuard key
        endpoints: ["203.0.113.7:41820", "[2001:db8::7]:41820"],
        meshIpv4: "100.64.0.1",
        connectPort: 9000,
        metadata: { region: "eu-west" },
      }),
    );

  const cases = [
    {
      name: "bare Fastify /echo, JSON",
      requests: meshBodies((i) => request(ready.bare, "/echo", Buffer.from(JSON.stringify({ meshId: `mesh-${i}` })))),
      check: (res, i) => JSON.parse(res.body).meshId === `mesh-${i}`,
    },
    {
      name: "Connect JSON LookupColony (hit)",
      requests: meshBodies((i) =>
        request(ready.app, rpc("LookupColony"), Buffer.from(JSON.stringify({ meshId: `mesh-${i}` }))),
      ),
      check: (res, i) => JSON.parse(res.body).meshId === `mesh-${i}`,
    },
    {
      name: "Connect JSON RegisterColony (renewal)",
      requests: meshBodies((i) => request(ready.app, rpc("RegisterColony"), registerJson(i))),
      check: (res) => JSON.parse(res.body).success === true,
    },
    {
      name: "  same, through connect-es's router",
      requests: meshBodies((i) =>
        request(ready.generic, rpc("LookupColony"), Buffer.from(JSON.stringify({ meshId: `mesh-${i}` }))),
      ),
      check: (res, i) => JSON.parse(res.body).meshId === `mesh-${i}`,
    },
    {
      name: "  RegisterColony through connect-es",
      requests: meshBodies((i) => request(ready.generic, rpc("RegisterColony"), registerJson(i))),
      check: (res) => JSON.parse(res.body).success === true,
    },
    {
      name: "Connect binary LookupColony (hit)",
      requests: meshBodies((i) =>
        request(
          ready.app,
          rpc("LookupColony"),
          Buffer.from(toBinary(LookupColonyRequestSchema, create(LookupColonyRequestSchema, { meshId: `mesh-${i}` }))),
          "application/proto",
        ),
      ),
      check: (res, i) => fromBinary(LookupColonyResponseSchema, res.body).meshId === `mesh-${i}`,
    },
    {
      name: "gRPC-Web LookupColony (hit)",
      requests: meshBodies((i) =>
        request(ready.app, rpc("LookupColony"), grpcFrame(toBinary(LookupColonyRequestSchema, create(LookupColonyRequestSchema, { meshId: `mesh-${i}` }))), "application/grpc-web+proto"),
      ),
      check: (res, i) => fromBinary(LookupColonyResponseSchema, res.body.subarray(5, 5 + res.body.readUInt32BE(1))).meshId === `mesh-${i}`,
    },
  ];
  // Metrics on vs --metrics off: measured apart, alternating (see below).
  const lookupOn = cases[1];
  const lookupOff = {
    name: "Connect JSON LookupColony, --metrics off",
    requests: meshBodies((i) => request(ready.unmetered, rpc("LookupColony"), Buffer.from(JSON.stringify({ meshId: `mesh-${i}` })))),
    check: lookupOn.check,
  };
  if (ready.limited !== undefined) {
    cases.push({
      name: "Connect JSON LookupColony, rate limiter on",
      requests: meshBodies((i) =>
        request(ready.limited, rpc("LookupColony"), Buffer.from(JSON.stringify({ meshId: `mesh-${i}` }))),
      ),
      check: (res, i) => JSON.parse(res.body).meshId === `mesh-${i}`,
    });
  }

  if (ready.shared !== undefined) {
    cases.push(
      {
        name: "Connect JSON LookupColony, Redis store",
        requests: meshBodies((i) => request(ready.shared, rpc("LookupColony"), Buffer.from(JSON.stringify({ meshId: `mesh-${i}` })))),
        check: (res, i) => JSON.parse(res.body).meshId === `mesh-${i}`,
        redis: true,
      },
      {
        name: "Connect JSON RegisterColony, Redis store",
        requests: meshBodies((i) => request(ready.shared, rpc("RegisterColony"), registerJson(i))),
        check: (res) => JSON.parse(res.body).success === true,
        redis: true,
      },
    );
  } else {
    process.stderr.write("bench: redis-server not found (apt-get install redis-server): skipping the Redis store cases\n");
  }

  // Seed the meshes (and check that every case answers correctly once).
  for (const port of [ready.app, ready.generic, ready.limited, ready.unmetered, ready.shared].filter((p) => p !== undefined)) {
    for (const [i, r] of cases[2].requests.entries()) {
      const res = await post(port, r.path, r.headers, r.body);
      if (res.status !== 200) throw new Error(`seeding mesh-${i}: HTTP ${res.status} ${res.body}`);
    }
  }
  for (const c of [...cases, lookupOff]) {
    const r = c.requests[7];
    const res = await post(r.port, r.path, r.headers, r.body);
    if (res.status !== 200 || !c.check(res, 7)) throw new Error(`${c.name}: unexpected answer HTTP ${res.status} ${res.body}`);
  }

  /** CONNECTIONS loops, each sending one request after another until `seconds` pass. */
  async function load(c, seconds, latencies) {
    let next = 0;
    let count = 0;
    let errors = 0;
    const deadline = performance.now() + seconds * 1000;
    const loop = async () => {
      while (performance.now() < deadline) {
        const i = next++ % MESHES;
        const r = c.requests[i];
        const start = performance.now();
        try {
          const res = await post(r.port, r.path, r.headers, r.body);
          if (res.status !== 200) errors++;
        } catch {
          errors++;
        }
        if (latencies !== undefined && count < latencies.length) latencies[count] = performance.now() - start;
        count++;
      }
    };
    await Promise.all(Array.from({ length: CONNECTIONS }, loop));
    return { count, errors };
  }

  const latencies = new Float64Array(2_000_000);
  /** One case: warm-up, then a SECONDS s run; its figures. */
  async function measureCase(c) {
    await load(c, WARMUP_SECONDS);
    const cpuBefore = await serverCpuMicros();
    const redisBefore = c.redis ? await serverCpuMicros({ redis: true }) : 0;
    const clientBefore = process.cpuUsage();
    const start = performance.now();
    const { count, errors } = await load(c, SECONDS, latencies);
    const elapsedS = (performance.now() - start) / 1000;
    const cpuAfter = await serverCpuMicros();
    const redisAfter = c.redis ? await serverCpuMicros({ redis: true }) : 0;
    const client = process.cpuUsage(clientBefore);
    const sorted = latencies.subarray(0, Math.min(count, latencies.length)).sort();
    const pct = (p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
    return {
      name: c.name,
      rps: count / elapsedS,
      p50: pct(50),
      p99: pct(99),
      serverCpuUs: (cpuAfter - cpuBefore) / count,
      redisCpuUs: c.redis ? (redisAfter - redisBefore) / count : undefined,
      clientCpuUs: (client.user + client.system) / count,
      errors,
    };
  }
  const results = [];
  for (const c of cases) results.push(await measureCase(c));

  // What /metrics costs per request: on and off alternate, ROUNDS runs each,
  // the order swapped every round, so neither side gets the warmer or
  // quieter moments (a single on-then-off pair read 107 vs 72 µs once).
  const onOff = { on: [], off: [] };
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 === 0 ? ["on", "off"] : ["off", "on"];
    for (const side of order) onOff[side].push(await measureCase(side === "on" ? lookupOn : lookupOff));
  }

  agent.destroy();

  // h2c with h2load: gRPC and Connect JSON, on the road and on connect-es's router.
  const h2cases = [
    { name: "h2c gRPC LookupColony", port: ready.app, type: "application/grpc", body: grpcFrame(toBinary(LookupColonyRequestSchema, create(LookupColonyRequestSchema, { meshId: "mesh-7" }))) },
    { name: "h2c Connect JSON LookupColony", port: ready.app, type: "application/json", body: Buffer.from('{"meshId":"mesh-7"}') },
    { name: "  h2c gRPC through connect-es's router", port: ready.generic, type: "application/grpc", body: grpcFrame(toBinary(LookupColonyRequestSchema, create(LookupColonyRequestSchema, { meshId: "mesh-7" }))) },
    { name: "  h2c Connect JSON through connect-es's router", port: ready.generic, type: "application/json", body: Buffer.from('{"meshId":"mesh-7"}') },
  ];
  const h2load = await runs("h2load", ["--version"]);
  if (h2load === undefined) {
    process.stderr.write("bench: h2load not found (apt-get install nghttp2-client): skipping the h2c cases\n");
  } else {
    const dir = mkdtempSync(join(tmpdir(), "coral-bench-"));
    for (const c of h2cases) {
      const file = join(dir, "body.bin");
      writeFileSync(file, c.body);
      const args = ["-c", String(H2_CLIENTS), "-m", String(H2_STREAMS), "-d", file, "-H", `content-type: ${c.type}`, "-H", "te: trailers", `http://${HOST}:${c.port}${rpc("LookupColony")}`];
      await runs("h2load", ["-D", String(WARMUP_SECONDS), ...args]);
      const cpuBefore = await serverCpuMicros();
      const out = (await runs("h2load", ["-D", String(SECONDS), ...args])) ?? "";
      const cpuAfter = await serverCpuMicros();
      const done = Number(/(\d+) succeeded/.exec(out)?.[1] ?? 0);
      const failed = Number(/(\d+) failed/.exec(out)?.[1] ?? 0) + Number(/(\d+) errored/.exec(out)?.[1] ?? 0);
      const rps = Number(/finished in [\d.]+s, ([\d.]+) req\/s/.exec(out)?.[1] ?? 0);
      const mean = /time for request:\s+\S+\s+\S+\s+(\S+)/.exec(out)?.[1] ?? "?";
      results.push({ name: c.name, rps, p50: Number.NaN, p99: Number.NaN, mean, serverCpuUs: (cpuAfter - cpuBefore) / Math.max(1, done), clientCpuUs: Number.NaN, errors: failed });
    }
  }

  const bare = results[0];
  const rows = [
    ["case", "req/s", "p50", "p99", "server CPU/req", "vs bare (CPU)", "client CPU/req", "errors"],
    ...results.map((r) => [
      r.name,
      Math.round(r.rps).toLocaleString("en"),
      Number.isNaN(r.p50) ? `mean ${r.mean}` : `${r.p50.toFixed(2)} ms`,
      Number.isNaN(r.p99) ? "-" : `${r.p99.toFixed(2)} ms`,
      `${Math.round(r.serverCpuUs)} µs`,
      `${(r.serverCpuUs / bare.serverCpuUs).toFixed(1)}x`,
      Number.isNaN(r.clientCpuUs) ? "h2load" : `${Math.round(r.clientCpuUs)} µs`,
      String(r.errors),
    ]),
  ];
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  process.stdout.write(
    `node ${process.version}, load average ${loadavg()[0].toFixed(2)} on ${availableParallelism()} CPUs; ` +
      `${CONNECTIONS} keep-alive HTTP/1.1 connections (h2c: h2load, ${H2_CLIENTS} connections x ${H2_STREAMS} streams), ` +
      `${SECONDS} s per case after ${WARMUP_SECONDS} s warm-up, loopback\n\n`,
  );
  for (const [i, r] of rows.entries()) {
    process.stdout.write(`| ${r.map((cell, c) => cell.padEnd(widths[c])).join(" | ")} |\n`);
    if (i === 0) process.stdout.write(`|${widths.map((w) => "-".repeat(w + 2)).join("|")}|\n`);
  }
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const side = (runs) => ({ rps: median(runs.map((r) => r.rps)), cpu: median(runs.map((r) => r.serverCpuUs)), errors: runs.reduce((n, r) => n + r.errors, 0) });
  const [on, off] = [side(onOff.on), side(onOff.off)];
  const list = (runs, key, digits) => runs.map((r) => r[key].toFixed(digits)).join(", ");
  process.stdout.write(
    `\nmetrics on vs --metrics off, Connect JSON LookupColony, ${ROUNDS} alternating runs each (medians): ` +
      `${Math.round(on.rps)} vs ${Math.round(off.rps)} req/s (${((on.rps / off.rps - 1) * 100).toFixed(1)} %), ` +
      `server CPU/req ${on.cpu.toFixed(1)} vs ${off.cpu.toFixed(1)} µs (${((on.cpu / off.cpu - 1) * 100).toFixed(1)} %); errors ${on.errors + off.errors}\n` +
      `  runs on: ${list(onOff.on, "serverCpuUs", 1)} µs, ${list(onOff.on, "rps", 0)} req/s; off: ${list(onOff.off, "serverCpuUs", 1)} µs, ${list(onOff.off, "rps", 0)} req/s\n`,
  );
  const byName = (name) => results.find((r) => r.name === name);
  for (const [kind, memory, redis] of [
    ["LookupColony", byName("Connect JSON LookupColony (hit)"), byName("Connect JSON LookupColony, Redis store")],
    ["RegisterColony", byName("Connect JSON RegisterColony (renewal)"), byName("Connect JSON RegisterColony, Redis store")],
  ]) {
    if (redis === undefined) continue;
    process.stdout.write(
      `\nRedis store vs in-memory, Connect JSON ${kind}: ${Math.round(redis.rps)} vs ${Math.round(memory.rps)} req/s (${(redis.rps / memory.rps).toFixed(2)} of in-memory); ` +
        `daemon CPU/req ${redis.serverCpuUs.toFixed(1)} vs ${memory.serverCpuUs.toFixed(1)} µs, plus redis-server ${redis.redisCpuUs.toFixed(1)} µs/req; one script (one round trip) per RPC, auto-pipelined`,
    );
  }
  process.stdout.write(
    `\nreq/s ratio vs bare: ${results
      .slice(1)
      .map((r) => `${r.name.split(" (")[0]} ${(r.rps / bare.rps).toFixed(2)}`)
      .join(", ")}\n`,
  );
}

/** Runs a command to completion; its stdout, or undefined when it cannot run. */
function runs(command, args) {
  return new Promise((resolve) => {
    execFile(command, args, { maxBuffer: 16 << 20 }, (error, stdout) => resolve(error !== null && error.code === "ENOENT" ? undefined : stdout));
  });
}

/** A redis-server on a free loopback port (persistence off), or undefined when none is installed. */
async function startRedisServer() {
  const { spawn } = await import("node:child_process");
  const { createServer } = await import("node:net");
  const { readFileSync } = await import("node:fs");
  if ((await runs("redis-server", ["--version"])) === undefined) return undefined;
  const probe = createServer();
  await new Promise((resolve) => probe.listen(0, HOST, resolve));
  const port = probe.address().port;
  await new Promise((resolve) => probe.close(resolve));
  const proc = spawn("redis-server", ["--port", String(port), "--bind", HOST, "--save", "", "--appendonly", "no"], { stdio: ["ignore", "pipe", "ignore"] });
  await new Promise((resolve, reject) => {
    let out = "";
    proc.stdout.on("data", (chunk) => {
      out += chunk;
      if (out.includes("Ready to accept connections")) resolve();
    });
    proc.once("exit", () => reject(new Error(`redis-server exited: ${out}`)));
  });
  proc.stdout.resume();
  // utime + stime of /proc/<pid>/stat, in clock ticks (100 a second on Linux).
  const cpuMicros = () => {
    const fields = readFileSync(`/proc/${proc.pid}/stat`, "utf8").split(") ")[1].split(" ");
    return (Number(fields[11]) + Number(fields[12])) * 10_000;
  };
  return { url: `redis://${HOST}:${port}`, process: proc, cpuMicros };
}
