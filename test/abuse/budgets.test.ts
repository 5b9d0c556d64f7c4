// Budgets that a handful of hosts must not be able to exhaust, against the
// built daemon with its default settings (only what a test names is changed):
// held HTTP/2 request bodies, connection slots, relay and agent quotas. Each
// attacker and honest client has its own loopback address (Linux routes all
// of 127/8 to lo).
import * as http from "node:http";
import * as http2 from "node:http2";
import * as net from "node:net";
import { readFileSync } from "node:fs";
import { performance } from "node:perf_hooks";
import t, { type Test } from "tap";
import { spawnDaemon } from "../fixtures/spawn.js";
import { until } from "../fixtures/wait.js";

const SERVICE = "/coral.discovery.v1.DiscoveryService";
const KEY = Buffer.alloc(32, 7).toString("base64");

/** A process's resident memory now (VmRSS) and at its peak (VmHWM), MiB (Linux). */
function memoryMiB(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const field = (name: string) => Number((new RegExp(`^${name}:\\s+(\\d+) kB$`, "m").exec(status) ?? [])[1]) / 1024;
  return { rss: field("VmRSS"), peak: field("VmHWM") };
}

async function startDaemon(t: Test, args: readonly string[] = []) {
  const daemon = spawnDaemon(t, ["--port", "0", "--host", "127.0.0.1", "--log-level", "warn", ...args]);
  const port = Number((await daemon.waitForStdout(/listening on :(\d+)/))[1]);
  return { daemon, port, pid: daemon.child.pid as number };
}

/** A Connect JSON call over HTTP/1.1 from `localAddress`: status and parsed body. */
function call(port: number, localAddress: string, method: string, body: object): Promise<{ status: number; body: { code?: string; message?: string } & Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const payload = JSON.stringify(body);
    const req = http.request(
      { host: "127.0.0.1", port, localAddress, method: "POST", path: `${SERVICE}/${method}`, agent: false, headers: { "content-type": "application/json", "content-length": Buffer.byteLength(payload) } },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => (text += chunk));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text || "{}") }));
      },
    );
    req.on("error", reject);
    req.end(payload);
  });
}

function get(port: number, localAddress: string, path: string, agent: http.Agent | false = false): Promise<number> {
  return new Promise((resolve, reject) => {
    http.get({ host: "127.0.0.1", port, localAddress, path, agent }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode ?? 0));
    }).on("error", reject);
  });
}

function h2Session(t: Test, port: number, localAddress: string): http2.ClientHttp2Session {
  const session = http2.connect(`http://127.0.0.1:${port}`, { createConnection: () => net.connect({ port, host: "127.0.0.1", localAddress }) });
  session.on("error", () => {});
  t.teardown(() => session.destroy());
  return session;
}

/** One attacking stream and the answer it got, if any. */
interface Probe {
  readonly stream: http2.ClientHttp2Stream;
  status: number | undefined;
}

interface Attack {
  /** Streams the server refused (REFUSED_STREAM): they never reached a handler. */
  refused(): Probe[];
  /** Streams answered (before their body was done), by HTTP status. */
  statuses(): Map<number, number>;
  /** Streams neither refused nor answered: open on the server, their body taken. */
  held(): Probe[];
  /** Ends the attack: destroys its connections. */
  close(): void;
}

/**
 * `sessions` HTTP/2 connections x `streams` streams from `address`, each with
 * 12 KB of headers and 60 KB of body, never ended. Resolves once every stream
 * was refused, answered, or had its whole body taken by the server, with the
 * connections still open.
 */
async function holdBodies(t: Test, port: number, address: string, sessions: number, streams: number): Promise<Attack> {
  const body = Buffer.alloc(60_000, 0x20);
  const pad = "p".repeat(12_000);
  const probes: Probe[] = [];
  const opened: http2.ClientHttp2Session[] = [];
  const settled: Promise<void>[] = [];
  for (let s = 0; s < sessions; s++) {
    const session = h2Session(t, port, address);
    opened.push(session);
    for (let i = 0; i < streams; i++) {
      const stream = session.request({ ":method": "POST", ":path": `${SERVICE}/RegisterColony`, "content-type": "application/json", "x-pad": pad });
      const probe: Probe = { stream, status: undefined };
      probes.push(probe);
      stream.on("error", () => {});
      stream.resume();
      settled.push(
        new Promise<void>((resolve) => {
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
  const refused = (probe: Probe) => probe.stream.rstCode === http2.constants.NGHTTP2_REFUSED_STREAM;
  return {
    refused: () => probes.filter(refused),
    statuses() {
      const counts = new Map<number, number>();
      for (const { status } of probes) if (status !== undefined) counts.set(status, (counts.get(status) ?? 0) + 1);
      return counts;
    },
    held: () => probes.filter((probe) => probe.status === undefined && !refused(probe)),
    close: () => opened.forEach((session) => session.destroy()),
  };
}

t.test("20 HTTP/2 connections x 100 streams of unfinished 60 KB bodies from one address: bounded, fair, released", { timeout: 120_000 }, async (t) => {
  const { port, pid } = await startDaemon(t);
  // Warm up (JIT, pools) from the honest address, so the baseline is a serving daemon's.
  for (let i = 0; i < 200; i++) await call(port, "127.0.0.1", "Health", {});
  const baseline = memoryMiB(pid).rss;

  const attack = await holdBodies(t, port, "127.0.0.2", 20, 100);
  await until(() => (attack.statuses().get(429) ?? 0) > 0, "bodies past the address's buffered-bytes budget to be answered");
  const started = performance.now();
  const honest = await call(port, "127.0.0.1", "RegisterColony", { meshId: "honest", pubkey: KEY, endpoints: ["198.51.100.1:51820"] });
  const honestMs = performance.now() - started;
  const { peak } = memoryMiB(pid);
  const held = attack.held();
  const refused = attack.refused().length;
  t.comment(
    `${refused} streams refused, ${[...attack.statuses()].map(([s, n]) => `${n} answered ${s}`).join(", ")}, ${held.length} held; ` +
      `peak RSS ${peak.toFixed(0)} MiB (baseline ${baseline.toFixed(0)} MiB); honest RegisterColony in ${honestMs.toFixed(0)} ms`,
  );
  t.ok(refused >= 2_000 - 4 * 128, `most streams are refused at --http2-max-streams-per-ip (${refused})`);
  t.same([...attack.statuses().keys()], [429], "the answered ones are resource_exhausted (429): --max-buffered-bytes-per-ip");
  t.ok(held.length > 0 && held.length <= 128, `the server holds some bodies, never more streams than the budget (${held.length})`);
  t.ok(peak - baseline < 64, `the process grew by ${(peak - baseline).toFixed(0)} MiB < 64 MiB`);
  t.equal(honest.status, 200, "an honest client from another address is served");
  t.ok(honestMs < 1_000, `within 1 s (${honestMs.toFixed(0)} ms)`);

  // Released without the attacker's help: every held stream is cancelled at --body-timeout (10 s).
  const start = performance.now();
  await until(() => held.every(({ stream }) => stream.closed), "the held streams to be cancelled", 30_000);
  t.ok(
    held.every(({ stream }) => stream.rstCode === http2.constants.NGHTTP2_CANCEL),
    `all ${held.length} cancelled (RST_STREAM CANCEL) ${((performance.now() - start) / 1000).toFixed(1)} s later`,
  );
  attack.close();

  // Nothing was kept: the address's stream and byte budgets are whole again.
  const again = await holdBodies(t, port, "127.0.0.2", 2, 100);
  await until(() => (again.statuses().get(429) ?? 0) > 0, "the budget to be reached again");
  t.ok(200 - again.refused().length >= 128, `the address opens its ${128} streams again (${200 - again.refused().length} not refused)`);
  // (Give or take the one body that straddles the budget, as chunks arrive.)
  t.ok(Math.abs(again.held().length - held.length) <= 1, `and the server takes as many bodies as the first time (${again.held().length}, was ${held.length})`);
  again.close();
});

t.test("idle connections from several addresses cannot keep an honest client out", { timeout: 60_000 }, async (t) => {
  const { port } = await startDaemon(t, ["--max-connections", "20", "--max-connections-per-ip", "5", "--headers-timeout", "5"]);
  const hold: (net.Socket | http2.ClientHttp2Session)[] = [];
  // 4 addresses x 5 connections: silent sockets, h2 sessions with no stream,
  // h2 sessions idle after a request, HTTP/1.1 keep-alives idle after a request.
  for (let a = 0; a < 4; a++) {
    const address = `127.0.0.${10 + a}`;
    for (let i = 0; i < 5; i++) {
      const kind = (a * 5 + i) % 4;
      if (kind === 0) {
        const socket = net.connect({ port, host: "127.0.0.1", localAddress: address });
        socket.on("error", () => {});
        hold.push(socket);
      } else if (kind === 1 || kind === 2) {
        const session = h2Session(t, port, address);
        if (kind === 2) {
          await new Promise<void>((resolve) => session.request({ ":path": "/health" }).on("close", resolve).resume());
        }
        hold.push(session);
      } else {
        const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
        t.teardown(() => agent.destroy());
        t.equal(await get(port, address, "/health", agent), 200);
      }
    }
  }
  t.teardown(() => hold.forEach((h) => h.destroy()));
  // A sixth from a full address is refused by its own cap.
  const refused = await new Promise<boolean>((resolve) => {
    const socket = net.connect({ port, host: "127.0.0.1", localAddress: "127.0.0.10" });
    socket.on("error", () => resolve(true));
    socket.on("close", () => resolve(true));
    socket.on("data", () => resolve(false));
    socket.write("GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
  });
  t.ok(refused, "an address at --max-connections-per-ip is refused its sixth");
  const started = performance.now();
  for (let i = 0; i < 5; i++) t.equal(await get(port, `127.0.0.${20 + i}`, "/health"), 200, `honest client ${i + 1} is served`);
  const ms = performance.now() - started;
  t.ok(ms < 1_000, `at once, not after the headers timeout (${ms.toFixed(0)} ms for five)`);
});

t.test("one address cannot take every relay session nor keep a mesh at its agent cap (default rates)", { timeout: 60_000 }, async (t) => {
  const { port } = await startDaemon(t, [
    "--relay", "198.51.100.1:3478",
    "--max-relay-sessions", "100",
    "--max-relay-sessions-per-ip", "1",
    "--max-agents-per-mesh", "100",
    "--max-agents-per-mesh-per-ip", "10",
    "--rate-limit-exempt", "none",
  ]);
  const relay = { meshId: "m", agentPubkey: KEY, colonyPubkey: KEY };
  const codes = new Map<string, number>();
  for (let i = 0; i < 30; i++) {
    const answer = await call(port, "127.0.0.2", "RequestRelay", relay);
    const code = answer.status === 200 ? "ok" : `${answer.body.code}: ${String(answer.body.message).replace(/\d+/g, "N")}`;
    codes.set(code, (codes.get(code) ?? 0) + 1);
  }
  t.comment([...codes].map(([c, n]) => `${n} x ${c}`).join("; "));
  t.equal(codes.get("ok"), 1, "the attacker holds one session");
  t.ok([...codes.keys()].some((c) => /resource_exhausted: your address already holds N open relay sessions \(--max-relay-sessions-per-ip\)/.test(c)), "then resource_exhausted naming the quota");
  t.equal((await call(port, "127.0.0.3", "RequestRelay", relay)).status, 200, "another client still gets a session");

  for (const attacker of ["127.0.0.4", "127.0.0.5"]) {
    let accepted = 0;
    let lastError = "";
    for (let i = 0; i < 20; i++) {
      const answer = await call(port, attacker, "RegisterAgent", { meshId: "victim", agentId: `${attacker}-${i}`, pubkey: KEY, endpoints: ["198.51.100.2:51820"] });
      if (answer.status === 200) accepted++;
      else lastError = String(answer.body.message);
    }
    t.equal(accepted, 10, `${attacker} registers 10 agents in the mesh`);
    t.match(lastError, /your address already holds 10 agents in mesh victim \(--max-agents-per-mesh-per-ip\)/);
  }
  const honest = await call(port, "127.0.0.6", "RegisterAgent", { meshId: "victim", agentId: "honest", pubkey: KEY, endpoints: ["198.51.100.3:51820"] });
  t.equal(honest.status, 200, "the mesh still takes an honest agent");
  t.equal((await call(port, "127.0.0.7", "LookupAgent", { meshId: "victim", agentId: "honest" })).status, 200, "and serves it");
});
