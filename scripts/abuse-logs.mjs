// Log drill, loopback only, a few seconds: the real daemon (dist/src/main.js)
// in a child process at the default log level (info), one daemon per kind of
// abuse. Each kind sends 1,000 requests the client abandons: the socket
// destroyed or the HTTP/2 stream reset (RST_STREAM CANCEL) before the body is
// complete, or a reflection stream reset once it has been answered. Then one
// honest request shows the daemon still serves. Prints the bytes the daemon
// wrote to stdout and stderr for them, and the lines by level.
//
// Unexpected errors are not measured here: the daemon has no honest way to
// provoke them from outside. test/abuse/aborted-requests.test.ts floods an
// app whose registry throws and checks that the lines are capped.
//
//   npm run build && node scripts/abuse-logs.mjs [daemon options, e.g. --log-level debug]
import * as http from "node:http";
import * as http2 from "node:http2";
import * as net from "node:net";
import { requireBuild, startDaemon } from "./lib/daemon.mjs";

const SERVICE = "coral.discovery.v1.DiscoveryService";
const REFLECTION = "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo";
const COUNT = 1_000;
const IN_FLIGHT = 20;
/** Output is taken as complete once the daemon has written nothing for this long after the last request. */
const QUIET_MS = 300;

requireBuild();

/** A gRPC envelope whose header promises `declared` bytes, followed by `payload`. */
function envelope(payload, declared = payload.length) {
  const head = Buffer.alloc(5);
  head.writeUInt32BE(declared, 1);
  return Buffer.concat([head, payload]);
}

const LEVEL_NAMES = { 10: "trace", 20: "debug", 30: "info", 40: "warn", 50: "error", 60: "fatal" };

const LOOKUP_JSON = Buffer.from(JSON.stringify({ meshId: "abandoned" }));
// LookupColonyRequest { mesh_id: "abandoned" } in binary.
const LOOKUP_BINARY = Buffer.concat([Buffer.from([0x0a, 9]), Buffer.from("abandoned")]);
// ServerReflectionRequest { list_services: "" } in binary.
const LIST_SERVICES = Buffer.from([0x3a, 0]);

const KINDS = [
  {
    name: "HTTP/1.1 Connect JSON, socket destroyed mid-body",
    send: (port) => h1Cut(port, "application/json", { "connect-protocol-version": "1" }, LOOKUP_JSON),
  },
  {
    name: "HTTP/1.1 gRPC-Web, socket destroyed mid-body",
    send: (port) => h1Cut(port, "application/grpc-web+proto", {}, envelope(LOOKUP_BINARY, 100)),
  },
  {
    name: "h2c Connect binary, stream reset mid-body",
    send: (_port, session) => h2Cut(session, `/${SERVICE}/LookupColony`, { "content-type": "application/proto", "connect-protocol-version": "1", "content-length": "1000" }, LOOKUP_BINARY),
  },
  {
    name: "h2c gRPC, stream reset mid-body",
    send: (_port, session) => h2Cut(session, `/${SERVICE}/LookupColony`, { "content-type": "application/grpc+proto", te: "trailers" }, envelope(LOOKUP_BINARY, 100)),
  },
  {
    name: "h2c gRPC reflection, stream reset mid-body",
    send: (_port, session) => h2Cut(session, REFLECTION, { "content-type": "application/grpc+proto", te: "trailers" }, envelope(LIST_SERVICES, 100)),
  },
  {
    name: "h2c gRPC reflection, stream reset once answered",
    send: (_port, session) => h2CutAfterAnswer(session, REFLECTION, { "content-type": "application/grpc+proto", te: "trailers" }, envelope(LIST_SERVICES)),
  },
];

const results = [];
for (const kind of KINDS) results.push(await runKind(kind));
printTable(results);

async function runKind(kind) {
  const daemon = await startDaemon(process.argv.slice(2));
  try {
    await daemon.quiet(QUIET_MS); // the startup lines
    const before = daemon.output();
    const session = await h2Session(daemon.port);
    let next = 0;
    await Promise.all(
      Array.from({ length: IN_FLIGHT }, async () => {
        while (next < COUNT) {
          next++;
          await kind.send(daemon.port, session);
        }
      }),
    );
    session.destroy();
    const honest = await lookup(daemon.port);
    await daemon.quiet(QUIET_MS);
    const after = daemon.output();
    return { name: kind.name, honest, ...measure(before, after) };
  } finally {
    await daemon.stop();
  }
}

/** What the daemon wrote between two snapshots: bytes, and lines by pino level (stderr lines apart). */
function measure(before, after) {
  const stdout = after.stdout.slice(before.stdout.length);
  const stderr = after.stderr.slice(before.stderr.length);
  const levels = new Map();
  for (const line of stdout.split("\n").filter((l) => l !== "")) {
    let level = "unparsed";
    try {
      level = String(JSON.parse(line).level);
    } catch {
      // counted as unparsed
    }
    levels.set(level, (levels.get(level) ?? 0) + 1);
  }
  const stderrLines = stderr.split("\n").filter((l) => l !== "").length;
  return {
    bytes: Buffer.byteLength(stdout) + Buffer.byteLength(stderr),
    levels,
    stderrLines,
    stacks: (stdout.match(/"stack"/g) ?? []).length + (stderr.match(/\n\s+at /g) ?? []).length,
  };
}

/** HTTP/1.1: headers promising 1000 bytes, part of the body, then the socket destroyed. */
function h1Cut(port, contentType, extra, partial) {
  return new Promise((resolve) => {
    const socket = net.connect(port, "127.0.0.1", () => {
      const head = [`POST /${SERVICE}/LookupColony HTTP/1.1`, "host: 127.0.0.1", `content-type: ${contentType}`, "content-length: 1000"];
      for (const [name, value] of Object.entries(extra)) head.push(`${name}: ${value}`);
      socket.write(`${head.join("\r\n")}\r\n\r\n`);
      socket.write(partial, () => socket.destroy());
    });
    socket.on("error", () => {});
    socket.on("close", resolve);
  });
}

/** h2c: a stream with part of its body, then reset (CANCEL). */
function h2Cut(session, path, headers, partial) {
  return new Promise((resolve) => {
    const stream = session.request({ ":method": "POST", ":path": path, ...headers }, { endStream: false });
    stream.on("error", () => {});
    stream.on("close", resolve);
    stream.write(partial, () => stream.close(http2.constants.NGHTTP2_CANCEL));
  });
}

/** h2c: a stream whose first message is sent and answered, then reset (CANCEL) without ending it. */
function h2CutAfterAnswer(session, path, headers, message) {
  return new Promise((resolve) => {
    const stream = session.request({ ":method": "POST", ":path": path, ...headers }, { endStream: false });
    stream.on("error", () => {});
    stream.on("close", resolve);
    stream.once("data", () => stream.close(http2.constants.NGHTTP2_CANCEL));
    stream.write(message);
  });
}

function h2Session(port) {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`http://127.0.0.1:${port}`);
    session.on("error", () => {});
    session.once("connect", () => resolve(session));
    session.once("error", reject);
  });
}

/** One honest Connect JSON LookupColony; resolves to the HTTP status (404 not_found is an honest answer). */
function lookup(port) {
  return new Promise((resolve) => {
    const req = http.request(
      {
        host: "127.0.0.1",
        port,
        agent: false,
        method: "POST",
        path: `/${SERVICE}/LookupColony`,
        headers: { "content-type": "application/json", "connect-protocol-version": "1" },
      },
      (res) => {
        res.resume();
        res.on("end", () => resolve(String(res.statusCode)));
      },
    );
    req.on("error", (e) => resolve(`transport:${e.code ?? e.message}`));
    req.end(JSON.stringify({ meshId: "honest" }));
  });
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
}

function printTable(rows) {
  const lines = [];
  const row = (cells) => lines.push(cells.map((c, i) => String(c).padEnd(i === 0 ? 50 : 12)).join(""));
  row(["1,000 abandoned requests of each kind", "log bytes", "stdout lines by level", "", "", "stderr lines", "stacks", "honest after"]);
  for (const r of rows) {
    const byLevel = [...r.levels].map(([level, n]) => `${LEVEL_NAMES[level] ?? level} ${n}`).join(", ") || "none";
    row([r.name, r.bytes, byLevel.padEnd(36), "", "", r.stderrLines, r.stacks, r.honest]);
  }
  process.stdout.write(`\n${lines.join("\n")}\n\nDaemon options: ${process.argv.slice(2).join(" ") || "none (log level info)"}; bytes are stdout + stderr once the startup lines are out; the honest request's own line, if any, is counted too.\n`);
}
