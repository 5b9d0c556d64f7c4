import t, { type Test } from "tap";
import * as http2 from "node:http2";
import type { AddressInfo } from "node:net";
import * as net from "node:net";
import { create, toBinary } from "@bufbuild/protobuf";
import { createContextValues, type ConnectRouter } from "@connectrpc/connect";
import fastify, { type FastifyInstance } from "fastify";
import { file_coral_discovery_v1_discovery } from "../../gen/coral/discovery/v1/discovery_pb.js";
import { ServerReflection, ServerReflectionRequestSchema } from "../../gen/grpc/reflection/v1/reflection_pb.js";
import { registerReflection } from "../../src/server/reflection.js";
import { registerRouterRoutes } from "../../src/server/router-routes.js";
import type { RpcLogger } from "../../src/service/logging.js";
import { until } from "../fixtures/wait.js";
import { envelope, h2c } from "../fixtures/wire.js";

const PATH = "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo";
const GRPC = { "content-type": "application/grpc+proto", te: "trailers" };

interface Line {
  level: "error" | "debug";
  msg: string;
  obj: object;
}

/** A Fastify server (h2c, or HTTP/1.1 with `http1`) serving `routes` through registerRouterRoutes; its log lines recorded. */
async function serve(t: Test, routes: (router: ConnectRouter) => void, http1 = false) {
  const lines: Line[] = [];
  const log: RpcLogger = {
    error: (obj, msg) => lines.push({ level: "error", msg, obj }),
    debug: (obj, msg) => lines.push({ level: "debug", msg, obj }),
  };
  const app = (http1 ? fastify() : fastify({ http2: true })) as unknown as FastifyInstance;
  t.teardown(() => app.close());
  await registerRouterRoutes(app, { routes, readMaxBytes: 4096, contextValues: () => createContextValues(), log });
  await app.listen({ host: "127.0.0.1", port: 0 });
  return { port: (app.server.address() as AddressInfo).port, lines };
}

const listServices = () => envelope(toBinary(ServerReflectionRequestSchema, create(ServerReflectionRequestSchema, { messageRequest: { case: "listServices", value: "" } })));
const bySymbol = () =>
  envelope(
    toBinary(
      ServerReflectionRequestSchema,
      create(ServerReflectionRequestSchema, { messageRequest: { case: "fileContainingSymbol", value: "coral.discovery.v1.DiscoveryService" } }),
    ),
  );

function openStream(session: http2.ClientHttp2Session) {
  const stream = session.request({ ":method": "POST", ":path": PATH, ...GRPC }, { endStream: false });
  stream.on("error", () => {});
  const closed = new Promise<void>((resolve) => stream.on("close", resolve));
  return { stream, closed };
}

t.test("a stream is served: headers, messages in order as the client takes them, then the status in trailers", async (t) => {
  const { port, lines } = await serve(t, (router) => registerReflection(router, [file_coral_discovery_v1_discovery]));
  const { stream, closed } = openStream(h2c(t, port));
  let trailers: http2.IncomingHttpHeaders = {};
  let status: number | undefined;
  stream.on("response", (headers) => (status = headers[":status"]));
  stream.on("trailers", (headers) => (trailers = headers));
  // Far more than the stream's buffer holds: the writer must wait for the client to read.
  for (let i = 0; i < 200; i++) stream.write(bySymbol());
  stream.end();
  let received = 0;
  stream.on("data", (chunk: Buffer) => (received += chunk.byteLength));
  await closed;
  t.equal(status, 200);
  t.equal(trailers["grpc-status"], "0", "ended with status 0");
  t.ok(received > 200 * 1000, `${received} bytes of answers`);
  t.same(lines, [], "nothing logged");
});

t.test("a client that resets a stream it does not read is left alone: no error line, nothing more written", async (t) => {
  const { port, lines } = await serve(t, (router) => registerReflection(router, [file_coral_discovery_v1_discovery]));
  const { stream, closed } = openStream(h2c(t, port));
  stream.pause();
  for (let i = 0; i < 200; i++) stream.write(bySymbol());
  await until(() => stream.bufferSize === 0 && stream.readableLength > 0, "answers to back up");
  stream.close(http2.constants.NGHTTP2_CANCEL);
  await closed;
  const { stream: next, closed: nextClosed } = openStream(h2c(t, port));
  next.end(listServices());
  next.resume();
  await nextClosed;
  t.same(lines.filter((l) => l.level === "error"), [], "no error line");
});

t.test("a client gone while the handler works gets nothing more, before its first message or after one", async (t) => {
  const waiting: (() => void)[] = [];
  let open = false;
  let finished = 0;
  const gate = () => (open ? Promise.resolve() : new Promise<void>((resolve) => waiting.push(resolve)));
  const { port, lines } = await serve(t, (router) =>
    router.service(ServerReflection, {
      async *serverReflectionInfo(requests) {
        try {
          for await (const request of requests) {
            await gate();
            yield { validHost: "first", originalRequest: request };
            await gate();
            yield { validHost: "second", originalRequest: request };
          }
        } finally {
          finished++;
        }
      },
    }),
  );
  const session = h2c(t, port);
  for (const answered of [0, 1]) {
    open = false;
    const { stream, closed } = openStream(session);
    let data = 0;
    stream.on("data", () => data++);
    stream.write(listServices());
    await until(() => waiting.length === 1, "the handler to wait");
    if (answered === 1) {
      waiting.shift()?.();
      await until(() => data > 0 && waiting.length === 1, "the first answer");
    }
    stream.close(http2.constants.NGHTTP2_CANCEL);
    await closed;
    open = true;
    for (const release of waiting.splice(0)) release();
    await until(() => finished === answered + 1, "the handler to end");
    t.equal(data, answered, `${answered} answers received`);
  }
  t.same(lines.filter((l) => l.level === "error"), [], "no error line");
});

t.test("an answer without a body (a content type connect-es does not serve) is its status alone", async (t) => {
  const { port } = await serve(t, (router) => registerReflection(router, [file_coral_discovery_v1_discovery]));
  const session = h2c(t, port);
  const stream = session.request({ ":method": "POST", ":path": PATH, "content-type": "text/plain" });
  stream.end("hello");
  const status = await new Promise((resolve) => stream.on("response", (headers) => resolve(headers[":status"])));
  stream.resume();
  t.equal(status, 415);
});

t.test("a request connect-es cannot take (HTTP/1.0 without Host) is logged without a stack and its connection cut", async (t) => {
  const { port, lines } = await serve(t, (router) => registerReflection(router, [file_coral_discovery_v1_discovery]), true);
  const socket = net.connect(port, "127.0.0.1");
  socket.on("error", () => {});
  let answer = "";
  socket.on("data", (chunk: Buffer) => (answer += chunk.toString("latin1")));
  const closed = new Promise((resolve) => socket.on("close", resolve));
  const body = listServices();
  socket.write(`POST ${PATH} HTTP/1.0\r\ncontent-type: application/grpc-web+proto\r\ncontent-length: ${body.length}\r\n\r\n`);
  socket.write(body);
  await closed;
  t.equal(answer, "", "nothing answered: the connection is cut");
  t.same(lines.map((l) => `${l.level} ${l.msg}`), ["debug rpc refused"]);
  t.match(lines[0]?.obj, { rpc: "grpc.reflection.v1.ServerReflection/ServerReflectionInfo", reason: /authority/ });
});
