// Slowloris, scaled down: ~200 loopback sockets that trickle a request one
// byte every ~200 ms (or send nothing) against a server with small timeouts.
// The timeouts must close every one of them within a bound, while legitimate
// Connect JSON clients keep registering and looking up with low latency.
import * as http from "node:http";
import * as net from "node:net";
import t from "tap";
import { DiscoveryService } from "../../gen/coral/discovery/v1/discovery_pb.js";
import { startServer } from "../fixtures/server.js";
import { KEYS } from "../fixtures/fuzz-requests.js";
import { createRng } from "../fixtures/prng.js";
import { SERVICE, httpRequest, judgeConnect } from "../fixtures/raw-rpc.js";

const HEADERS_TIMEOUT_S = 1;
const REQUEST_TIMEOUT_S = 2;
const IDLE_TIMEOUT_S = 3;
const TRICKLE_MS = 200;
/** Node checks HTTP/1.1 timeouts periodically (here every headersTimeout / 2), so allow that plus scheduling slack. */
const SLACK_MS = HEADERS_TIMEOUT_S * 500 + 1500;

const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");
const RPC = `/${SERVICE}/LookupColony`;

interface Kind {
  count: number;
  /** Sent at once on connect. */
  opening: Buffer;
  /** Then trickled one byte per tick. */
  trickle: Buffer;
  /** Closed by the server within this many ms of connecting. */
  boundMs: number;
  /** Which limit closes it. */
  by: string;
}

const KINDS: Record<string, Kind> = {
  "HTTP/1.1 headers a byte at a time": {
    count: 100,
    opening: Buffer.alloc(0),
    trickle: Buffer.from(`POST ${RPC} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nX-Pad: ${"p".repeat(400)}\r\n\r\n`),
    boundMs: HEADERS_TIMEOUT_S * 1000 + SLACK_MS,
    by: "--headers-timeout (and the protocol sniffing deadline)",
  },
  "connected, silent": {
    count: 40,
    opening: Buffer.alloc(0),
    trickle: Buffer.alloc(0),
    boundMs: HEADERS_TIMEOUT_S * 1000 + SLACK_MS,
    by: "the protocol sniffing deadline (--headers-timeout)",
  },
  "HTTP/1.1 body a byte at a time": {
    count: 40,
    opening: Buffer.from(`POST ${RPC} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n`),
    trickle: Buffer.from(`{"meshId":"${"m".repeat(980)}"}`),
    boundMs: REQUEST_TIMEOUT_S * 1000 + SLACK_MS,
    by: "--request-timeout",
  },
  "h2c HEADERS frame a byte at a time": {
    count: 20,
    // Preface and an empty SETTINGS frame, then a HEADERS frame (stream 1, END_HEADERS) declaring 300 bytes.
    opening: Buffer.concat([PREFACE, Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0])]),
    trickle: Buffer.concat([Buffer.from([0, 1, 44, 1, 4, 0, 0, 0, 1]), Buffer.alloc(300, 0x82)]),
    // HTTP/2 has no headers deadline in Node: the session idle timeout is what ends this one.
    boundMs: IDLE_TIMEOUT_S * 1000 + 2000,
    by: "--idle-timeout (h2c has no headers deadline)",
  },
};

interface SlowResult {
  kind: string;
  /** ms from connect to close; undefined if still open at the hard stop. */
  closedAfterMs: number | undefined;
  bytesSent: number;
}

function slowSocket(port: number, kind: string, spec: Kind, jitterMs: number, stopAt: number, sockets: Set<net.Socket>): Promise<SlowResult> {
  return new Promise((resolve) => {
    const socket = net.connect(port, "127.0.0.1");
    sockets.add(socket);
    const started = Date.now();
    let sent = 0;
    let ticker: NodeJS.Timeout | undefined;
    const stop = setTimeout(() => finish(undefined), stopAt - started);
    function finish(closedAfterMs: number | undefined) {
      clearTimeout(stop);
      clearInterval(ticker);
      sockets.delete(socket);
      socket.destroy();
      resolve({ kind, closedAfterMs, bytesSent: sent });
    }
    socket.on("error", () => {
      // A reset is the server closing us, reported by 'close'.
    });
    socket.on("data", () => {
      // 408s, SETTINGS, GOAWAY: read and ignore.
    });
    socket.on("close", () => finish(Date.now() - started));
    socket.on("connect", () => {
      if (spec.opening.length > 0) socket.write(spec.opening);
      if (spec.trickle.length === 0) return;
      setTimeout(() => {
        ticker = setInterval(() => {
          if (sent < spec.trickle.length && !socket.destroyed) socket.write(spec.trickle.subarray(sent, ++sent));
        }, TRICKLE_MS);
      }, jitterMs);
    });
  });
}

t.test(
  `slowloris: 200 trickling or silent sockets are closed by the timeouts (headers ${HEADERS_TIMEOUT_S}s, request ${REQUEST_TIMEOUT_S}s, idle ${IDLE_TIMEOUT_S}s) while real clients are served`,
  async (t) => {
    const server = await startServer(t, {
      headersTimeoutMs: HEADERS_TIMEOUT_S * 1000,
      requestTimeoutMs: REQUEST_TIMEOUT_S * 1000,
      idleTimeoutMs: IDLE_TIMEOUT_S * 1000,
      // Every socket here comes from 127.0.0.1: test the timeouts, not the per-address cap.
      maxConnectionsPerIp: 0,
    });
    const rng = createRng(0x510_1041);
    const sockets = new Set<net.Socket>();
    const agent = new http.Agent({ keepAlive: true, maxSockets: 2 });
    t.teardown(() => {
      for (const socket of sockets) socket.destroy();
      agent.destroy();
    });

    const longestBound = Math.max(...Object.values(KINDS).map((k) => k.boundMs));
    const stopAt = Date.now() + longestBound + 2000;
    const slow: Promise<SlowResult>[] = [];
    for (const [kind, spec] of Object.entries(KINDS)) {
      for (let i = 0; i < spec.count; i++) slow.push(slowSocket(server.port, kind, spec, rng.int(0, TRICKLE_MS), stopAt, sockets));
    }

    // Legitimate clients: a colony heartbeat and an agent lookup every ~50 ms until the slow sockets are gone.
    const latencies: number[] = [];
    const failures: string[] = [];
    let slowDone = false;
    const allSlow = Promise.all(slow).then((results) => {
      slowDone = true;
      return results;
    });
    const legit = (async () => {
      const started = Date.now();
      for (let i = 0; !slowDone || Date.now() - started < 1000; i++) {
        const meshId = `legit-${i % 10}`;
        for (const [rpc, body, output] of [
          ["RegisterColony", { meshId, pubkey: KEYS[i % 10 < 5 ? 0 : 1], endpoints: ["203.0.113.5:51820"] }, DiscoveryService.method.registerColony.output],
          ["LookupColony", { meshId }, DiscoveryService.method.lookupColony.output],
        ] as const) {
          const t0 = performance.now();
          const answer = await httpRequest(server.port, `/${SERVICE}/${rpc}`, { "content-type": "application/json", "connect-protocol-version": "1" }, JSON.stringify(body), { agent, timeoutMs: 5000 });
          latencies.push(performance.now() - t0);
          const verdict = judgeConnect(answer, output, false);
          if (verdict.code !== "ok") failures.push(`${rpc} ${meshId}: ${verdict.code} ${verdict.message}`);
        }
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    })();

    const results = await allSlow;
    await legit;

    for (const [kind, spec] of Object.entries(KINDS)) {
      const mine = results.filter((r) => r.kind === kind);
      const open = mine.filter((r) => r.closedAfterMs === undefined);
      const late = mine.filter((r) => r.closedAfterMs !== undefined && r.closedAfterMs > spec.boundMs);
      const slowest = Math.max(...mine.map((r) => r.closedAfterMs ?? Infinity));
      t.equal(open.length, 0, `${kind} (${spec.count}): none left open (slowest closed after ${slowest} ms)`);
      t.equal(late.length, 0, `${kind}: all closed within ${spec.boundMs} ms by ${spec.by}`);
      // The closing must not come from our own trickle running out.
      const finished = mine.filter((r) => spec.trickle.length > 0 && r.bytesSent >= spec.trickle.length);
      t.equal(finished.length, 0, `${kind}: closed before the whole request was sent`);
    }

    latencies.sort((a, b) => a - b);
    const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? NaN;
    t.same(failures.slice(0, 10), [], `all ${latencies.length} legitimate calls succeed (${failures.length} failed)`);
    t.ok(latencies.length >= 40, `legitimate traffic ran throughout (${latencies.length} calls)`);
    // A call held up by the slow sockets would wait for one of their timeouts (>= 1 s); anything
    // below that is scheduling noise on a shared machine (p99 is ~10 ms when the machine is quiet).
    t.ok(at(0.99) < HEADERS_TIMEOUT_S * 1000, `legitimate latency p50 ${at(0.5).toFixed(1)} ms, p99 ${at(0.99).toFixed(1)} ms, max ${at(1).toFixed(1)} ms`);
    const left = await server.connections();
    t.ok(left <= 2, `only the legitimate keep-alive connections remain (${left})`);
  },
);
