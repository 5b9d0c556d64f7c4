// Abuse drill for gRPC server reflection, loopback only, ~10 s: the real daemon
// (dist/src/main.js) in a child process; one abuser (127.0.0.99) floods
// ServerReflectionInfo over h2c with file_containing_symbol requests for the
// discovery service (each answer carries discovery.proto and timestamp.proto,
// ~150 times the size of the question): STREAMS streams at a time, each
// sending MESSAGES_PER_STREAM requests at once and half-closing.
//
//   Phase 1: default limits, with --rate-limit-exempt none (loopback is exempt
//            by default; a remote abuser is not): each message takes a
//            --rate-lookup token (200/s, bursts of 400).
//   Phase 2: --rate-limit off: reflection as it was before it was metered.
//   Phase 3: --reflection off: every stream is unimplemented.
//
// Reports bytes sent (gRPC frames) against bytes received (response DATA),
// messages answered against refused (sent on a stream that ended with an
// error before answering them), and how the streams ended.
//
//   npm run build && node scripts/abuse-reflection.mjs
import * as http2 from "node:http2";
import { performance } from "node:perf_hooks";
import { requireBuild, startDaemon } from "./lib/daemon.mjs";

const PATH = "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo";
const ABUSER = "127.0.0.99";
const STREAMS = 8;
const MESSAGES_PER_STREAM = 50;
const SECONDS = 3;

requireBuild();

const phases = [
  { name: "1: default limits (--rate-limit-exempt none)", args: ["--rate-limit-exempt", "none"] },
  { name: "2: --rate-limit off (unmetered, as before)", args: ["--rate-limit", "off"] },
  { name: "3: --reflection off", args: ["--reflection", "off"] },
];
const rows = [];
for (const phase of phases) rows.push({ name: phase.name, ...(await runPhase(phase.args)) });
printTable(rows);

async function runPhase(args) {
  const daemon = await startDaemon(["--log-level", "error", ...args]);
  const stats = { sentBytes: 0, receivedBytes: 0, sent: 0, answered: 0, streams: 0, ended: new Map() };
  const session = http2.connect(`http://127.0.0.1:${daemon.port}`, { localAddress: ABUSER });
  session.on("error", () => {});
  const started = performance.now();
  const stopAt = started + SECONDS * 1000;
  try {
    await Promise.all(
      Array.from({ length: STREAMS }, async () => {
        while (performance.now() < stopAt) await oneStream(session, stats);
      }),
    );
  } finally {
    session.destroy();
    await daemon.stop({ echoStderr: true });
  }
  return { ...stats, seconds: (performance.now() - started) / 1000 };
}

/** One stream: MESSAGES_PER_STREAM requests, half-close, read every answer and the status. */
function oneStream(session, stats) {
  return new Promise((resolve) => {
    const stream = session.request({ ":method": "POST", ":path": PATH, "content-type": "application/grpc", te: "trailers" });
    const frame = requestFrame();
    const body = Buffer.concat(Array(MESSAGES_PER_STREAM).fill(frame));
    stats.streams++;
    stats.sent += MESSAGES_PER_STREAM;
    stats.sentBytes += body.length;
    let status = "no status";
    let pending = Buffer.alloc(0);
    stream.on("response", (headers) => {
      if (headers["grpc-status"] !== undefined) status = `grpc-status ${headers["grpc-status"]}`;
      else if (headers[":status"] !== 200) status = `HTTP ${headers[":status"]}`;
    });
    stream.on("trailers", (trailers) => (status = `grpc-status ${trailers["grpc-status"]}`));
    stream.on("data", (chunk) => {
      stats.receivedBytes += chunk.length;
      pending = Buffer.concat([pending, chunk]);
      while (pending.length >= 5 && pending.length >= 5 + pending.readUInt32BE(1)) {
        stats.answered++;
        pending = pending.subarray(5 + pending.readUInt32BE(1));
      }
    });
    stream.on("error", () => {});
    stream.on("close", () => {
      stats.ended.set(status, (stats.ended.get(status) ?? 0) + 1);
      resolve();
    });
    stream.end(body);
  });
}

/** A gRPC frame holding ServerReflectionRequest{file_containing_symbol: "coral.discovery.v1.DiscoveryService"}. */
function requestFrame() {
  const symbol = Buffer.from("coral.discovery.v1.DiscoveryService");
  const message = Buffer.concat([Buffer.from([(4 << 3) | 2, symbol.length]), symbol]);
  const header = Buffer.alloc(5);
  header.writeUInt32BE(message.length, 1);
  return Buffer.concat([header, message]);
}

function printTable(results) {
  const mb = (bytes) => `${(bytes / 1e6).toFixed(2)} MB`;
  for (const r of results) {
    const refused = r.sent - r.answered;
    process.stdout.write(
      `\nphase ${r.name} (${r.seconds.toFixed(1)} s, ${r.streams} streams)\n` +
        `  bytes sent ${mb(r.sentBytes)}, received ${mb(r.receivedBytes)} (x${(r.receivedBytes / r.sentBytes).toFixed(1)})\n` +
        `  messages sent ${r.sent}, answered ${r.answered} (${(r.answered / r.seconds).toFixed(0)}/s), refused ${refused}\n` +
        `  streams ended: ${[...r.ended].map(([k, v]) => `${k} x${v}`).join(", ")}\n`,
    );
  }
}
