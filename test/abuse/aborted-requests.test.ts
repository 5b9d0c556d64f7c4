// Requests the client abandons must cost no log lines worth speaking of, and
// unexpected errors must not flood the log: against the real app at the
// default log level (info), its log captured.
import * as http from "node:http";
import * as http2 from "node:http2";
import * as net from "node:net";
import { Writable } from "node:stream";
import t from "tap";
import { buildApp, createConfiguredRegistry } from "../../src/app.js";
import { resolveConfig } from "../../src/config/index.js";
import { createByteBudget } from "../../src/limits/byte-budget.js";
import { listen } from "../../src/listen.js";
import { startServer } from "../fixtures/server.js";
import { until } from "../fixtures/wait.js";
import { envelope, h2c } from "../fixtures/wire.js";

const SERVICE = "/coral.discovery.v1.DiscoveryService";
const REFLECTION = "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo";
// LookupColonyRequest { mesh_id: "gone" }, binary.
const LOOKUP = Buffer.from([0x0a, 4, ...Buffer.from("gone")]);
// ServerReflectionRequest { list_services: "" }, binary.
const LIST_SERVICES = Buffer.from([0x3a, 0]);

/** A pino destination that keeps everything written to it. */
function capture() {
  const chunks: Buffer[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      chunks.push(chunk);
      callback();
    },
  });
  const text = () => Buffer.concat(chunks).toString("utf8");
  return { stream, text, bytes: () => chunks.reduce((n, c) => n + c.byteLength, 0), lines: () => text().split("\n").filter((l) => l !== "") };
}

/** HTTP/1.1 Connect: headers promising 1000 bytes, a few of them, then the socket destroyed. */
function h1Cut(port: number): Promise<void> {
  return new Promise((resolve) => {
    const socket = net.connect(port, "127.0.0.1", () => {
      socket.write(`POST ${SERVICE}/LookupColony HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{"meshId":`, () => socket.destroy());
    });
    socket.on("error", () => {});
    socket.on("close", () => resolve());
  });
}

/** An h2c stream with part of its body, reset (CANCEL); `answered`: reset once the first answer arrives instead. */
function h2Cut(session: http2.ClientHttp2Session, path: string, headers: Record<string, string>, body: Buffer, answered = false): Promise<void> {
  return new Promise((resolve) => {
    const stream = session.request({ ":method": "POST", ":path": path, ...headers }, { endStream: false });
    stream.on("error", () => {});
    stream.on("close", () => resolve());
    if (answered) {
      stream.once("data", () => stream.close(http2.constants.NGHTTP2_CANCEL));
      stream.write(body);
    } else stream.write(body, () => stream.close(http2.constants.NGHTTP2_CANCEL));
  });
}

/** Runs `count` tasks, `parallel` at a time. */
async function pool(count: number, parallel: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (next < count) await task(next++);
    }),
  );
}

/** A Connect JSON call over HTTP/1.1: status and body. */
function call(port: number, method: string, body: object): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: "127.0.0.1", port, method: "POST", path: `${SERVICE}/${method}`, agent: false, headers: { "content-type": "application/json" } },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => (text += chunk));
        res.on("end", () => resolve({ status: res.statusCode as number, body: text }));
      },
    );
    req.on("error", reject);
    req.end(JSON.stringify(body));
  });
}

t.test("1,000 abandoned requests on every protocol cost almost no log, and the server goes on serving", async (t) => {
  const log = capture();
  const buffered = createByteBudget({ max: 1024 ** 3, maxPerKey: 64 * 1024 ** 2 });
  const server = await startServer(t, { logLevel: "info", deps: { logger: { level: "info", stream: log.stream }, buffered } });
  const session = h2c(t, server.port);
  const before = log.bytes();
  const grpc = { "content-type": "application/grpc+proto", te: "trailers" };
  const kinds: [string, number, () => Promise<void>][] = [
    ["HTTP/1.1 Connect, socket destroyed mid-body", 400, () => h1Cut(server.port)],
    ["h2c Connect, stream reset mid-body", 250, () => h2Cut(session, `${SERVICE}/LookupColony`, { "content-type": "application/proto", "content-length": "1000" }, LOOKUP)],
    ["h2c gRPC, stream reset mid-body", 250, () => h2Cut(session, `${SERVICE}/LookupColony`, grpc, envelope(LOOKUP, 0, 100))],
    ["h2c reflection, stream reset mid-body", 50, () => h2Cut(session, REFLECTION, grpc, envelope(LIST_SERVICES, 0, 100))],
    ["h2c reflection, stream reset once answered", 50, () => h2Cut(session, REFLECTION, grpc, envelope(LIST_SERVICES), true)],
  ];
  for (const [, count, send] of kinds) await pool(count, 20, send);

  const honest = await call(server.port, "Health", {});
  t.equal(honest.status, 200, "an honest request is answered afterwards");
  await until(() => buffered.total === 0, "every abandoned request to be let go");
  await until(async () => (await server.connections()) <= 1, "the cut connections to be closed");

  const written = log.bytes() - before;
  const lines = log.lines();
  t.ok(written < 50 * 1024, `${written} bytes of log for 1,000 abandoned requests (under 50 KB)`);
  t.same(lines.filter((l) => l.includes('"stack"')), [], "no stack");
  t.same(lines.filter((l) => l.includes('"level":50')), [], "no error line");
});

t.test("an unexpected error is logged at error level with its stack; a flood of them is capped and counted", async (t) => {
  const log = capture();
  const config = resolveConfig({}, { env: {}, defaults: { host: "127.0.0.1", port: 0, rateLimit: false } });
  const real = createConfiguredRegistry(config, Date.now);
  // A registry with a bug every lookup hits.
  const registry = Object.assign(Object.create(real) as typeof real, {
    lookupColony: () => {
      throw new TypeError("registry bug: cannot read properties of undefined");
    },
  });
  const app = await buildApp({ config, registry, logger: { level: "info", stream: log.stream } });
  t.teardown(async () => {
    app.server.closeAllConnections();
    await app.close();
  });
  const { port } = await listen(app, config.host, config.port);
  const errors = () => log.lines().filter((l) => l.includes('"level":50')).map((l) => JSON.parse(l) as { msg: string; err?: { stack?: string }; suppressed?: number });

  const first = await call(port, "LookupColony", { meshId: "m" });
  t.equal(first.status, 500, "answered internal");
  t.notMatch(first.body, /registry bug/, "nothing internal leaks");
  t.equal(errors().length, 1, "the first one is logged");
  t.match(errors()[0], { msg: "rpc failed unexpectedly", err: { stack: /registry bug/ } }, "at error level, with its stack");

  await pool(1_000, 20, async () => void (await call(port, "LookupColony", { meshId: "m" })));
  const flood = errors().length;
  t.ok(flood < 1 + 20 + 10 * 30, `${flood} error lines for 1,001 errors`);
  // Once the budget refills, the next line through counts what was dropped.
  await until(async () => {
    await call(port, "LookupColony", { meshId: "m" });
    return errors().some((e) => (e.suppressed ?? 0) > 0);
  }, "a line reporting the suppressed ones");
  const reported = errors().reduce((n, e) => n + (e.suppressed ?? 0), 0);
  t.ok(reported > 500, `${reported} suppressed lines reported`);
});
