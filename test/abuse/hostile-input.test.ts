// Targeted hostile input against a real server: wrong content types and
// methods, oversized headers and bodies on every protocol, lying framing,
// garbage timeouts, compression bombs, connection floods, look-alike ids, and
// the known defects found while fuzzing (as TODO assertions until fixed).
// After each group the server must answer, and the registry must equal a
// model of the registrations that were accepted.
import * as http from "node:http";
import * as net from "node:net";
import * as zlib from "node:zlib";
import t, { type Test } from "tap";
import { create, fromBinary, fromJsonString, toBinary, type DescMessage } from "@bufbuild/protobuf";
import {
  DiscoveryService,
  LookupAgentResponseSchema,
  LookupColonyRequestSchema,
  RegisterAgentRequestSchema,
  RegisterColonyRequestSchema,
} from "../../gen/coral/discovery/v1/discovery_pb.js";
import { startServer, type TestServer } from "../fixtures/server.js";
import { KEY_1, KEY_2 } from "../fixtures/keys.js";
import { LOOKALIKE_IDS, tag, varint } from "../fixtures/mutators.js";
import {
  SERVICE,
  grpcFrame,
  grpcRequest,
  h2Session,
  httpRequest,
  isFailure,
  judgeConnect,
  judgeGrpc,
  rawExchange,
  type HttpAnswer,
} from "../fixtures/raw-rpc.js";
import { createRegistryModel, type RegistryModel } from "../fixtures/registry-model.js";

const M = DiscoveryService.method;
const path = (method: string) => `/${SERVICE}/${method}`;
const JSON_HEADERS = { "content-type": "application/json", "connect-protocol-version": "1" };

/** POSTs Connect JSON; returns the judged answer. */
async function connectJson(server: TestServer, method: DescMessage, rpc: string, body: unknown, headers: http.OutgoingHttpHeaders = {}) {
  const bytes = typeof body === "string" || body instanceof Uint8Array ? body : JSON.stringify(body);
  const answer = await httpRequest(server.port, path(rpc), { ...JSON_HEADERS, ...headers }, bytes);
  return { answer, verdict: judgeConnect(answer, method, false) };
}

async function assertServing(t: Test, server: TestServer): Promise<void> {
  const { verdict } = await connectJson(server, M.health.output, "Health", {});
  t.equal(verdict.code, "ok", "the server still answers a Health RPC");
}

/** Registers over Connect JSON and feeds the model; asserts the outcome the model predicts. */
async function registerColony(t: Test, server: TestServer, model: RegistryModel, colony: Record<string, unknown>): Promise<void> {
  const text = JSON.stringify(colony);
  const { verdict } = await connectJson(server, M.registerColony.output, "RegisterColony", text);
  const req = fromJsonString(RegisterColonyRequestSchema, text, { ignoreUnknownFields: true });
  t.equal(verdict.code, model.expectColony(req.meshId, req.pubkey), `RegisterColony ${req.meshId}`);
  if (verdict.code === "ok") t.same(model.colonyAccepted(req), []);
}

const statusOf = (answer: HttpAnswer | { error: string }) => (isFailure(answer) ? answer.error : answer.status);

t.test("hostile input against one server; the registry equals the model throughout", async (t) => {
  const server = await startServer(t, { maxHeaderBytes: 4096, maxBodyBytes: 4096, headersTimeoutMs: 2000, requestTimeoutMs: 3000 });
  const model = createRegistryModel();
  await registerColony(t, server, model, { meshId: "mesh-1", pubkey: KEY_1, endpoints: ["203.0.113.5:51820"], metadata: { region: "eu" } });
  await registerColony(t, server, model, { mesh_id: "mesh-2", pubkey: KEY_2, endpoints: [":51820"] });

  await t.test("wrong content types are refused with 415 or a Connect error", async (t) => {
    const types: (string | undefined)[] = [
      "text/plain",
      "application/xml",
      undefined,
      "multipart/form-data; boundary=x",
      "application/x-www-form-urlencoded",
      "application/json; charset=utf-16",
      "application/connect+json",
      "image/png",
      "application/json, text/plain",
      "a".repeat(3000),
    ];
    const foreign: string[] = [];
    for (const type of types) {
      for (const rpc of ["RegisterColony", "LookupColony"]) {
        const headers: http.OutgoingHttpHeaders = type === undefined ? {} : { "content-type": type };
        const answer = await httpRequest(server.port, path(rpc), headers, '{"meshId":"mesh-1","pubkey":"x"}');
        const name = `${rpc} as ${JSON.stringify(type?.slice(0, 40))}`;
        if (isFailure(answer)) {
          t.fail(`${name}: no answer (${answer.error})`);
          continue;
        }
        t.ok(answer.status >= 400 && answer.status < 500, `${name}: ${answer.status} is a client error`);
        if (answer.status !== 415) t.same(judgeConnect(answer, M.lookupColony.output, false).problems, [], `${name}: a Connect error envelope`);
        else if (answer.body.length > 0 && !/^\{"code":"[a-z_]+"/.test(answer.body.toString())) foreign.push(`${name}: ${answer.body.toString().slice(0, 120)}`);
      }
    }
    // Not wrong, but not Connect-shaped either: Fastify answers media types no parser knows.
    if (foreign.length > 0) t.comment(`415 bodies that are not Connect envelopes: ${foreign.length}, e.g. ${foreign[0]}`);
    await assertServing(t, server);
  });

  await t.test("other HTTP methods on RPC paths are refused, not served", async (t) => {
    for (const method of ["GET", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"]) {
      const answer = await httpRequest(server.port, path("LookupColony"), JSON_HEADERS, method === "GET" || method === "HEAD" ? undefined : "{}", { method });
      const status = statusOf(answer);
      t.ok(typeof status === "number" && status >= 400 && status < 500, `${method}: answered ${status}`);
    }
    // Connect's GET encoding, for a method that is not marked idempotent.
    const query = `?connect=v1&encoding=json&message=${encodeURIComponent('{"meshId":"mesh-1"}')}`;
    const get = await httpRequest(server.port, `${path("LookupColony")}${query}`, {}, undefined, { method: "GET" });
    t.ok([405, 400, 404, 415].includes(statusOf(get) as number), `Connect GET: answered ${statusOf(get)}`);
    await assertServing(t, server);
  });

  await t.test("headers over --max-header-bytes are 431 or a closed connection, on HTTP/1.1 and h2c", async (t) => {
    const requests = {
      "one 8 KiB header": `POST ${path("LookupColony")} HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(8192)}\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}`,
      "500 small headers": `POST ${path("LookupColony")} HTTP/1.1\r\nHost: x\r\n${Array.from({ length: 500 }, (_, i) => `X-H${i}: ${"v".repeat(20)}\r\n`).join("")}Content-Length: 2\r\n\r\n{}`,
      "a 1 MiB header line": `GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(1 << 20)}\r\n\r\n`,
    };
    for (const [name, text] of Object.entries(requests)) {
      const answer = await rawExchange(server.port, text, 2000);
      t.ok(answer.text.startsWith("HTTP/1.1 431") || (answer.closed && answer.text === ""), `${name}: ${answer.text.slice(0, 40) || "closed"}`);
    }
    const session = h2Session(server.port);
    const frame = grpcFrame(toBinary(LookupColonyRequestSchema, create(LookupColonyRequestSchema, { meshId: "mesh-1" })));
    const answer = await grpcRequest(session, path("LookupColony"), frame, { "x-big": "a".repeat(8192) }, 3000);
    const served = (answer.trailers["grpc-status"] ?? answer.headers["grpc-status"]) === "0";
    t.notOk(served, `h2c: an 8 KiB header is not served (status ${answer.httpStatus}, rst ${answer.rstCode})`);
    t.equal(answer.httpStatus, 431, "h2c: 431, as HTTP/1.1 answers");
    const fits = await grpcRequest(session, path("LookupColony"), frame, { "x-small": "a".repeat(1024) }, 3000);
    const served2 = judgeGrpc(fits, M.lookupColony.output);
    t.same(served2.problems, [], "h2c: headers within the limit are served on the same session");
    t.equal(fits.httpStatus, 200);
    session.destroy();
    await assertServing(t, server);
  });

  await t.test("bodies over --max-body-bytes are resource_exhausted on every protocol", async (t) => {
    const big = { meshId: "x".repeat(10_000) };
    const json = await connectJson(server, M.lookupColony.output, "LookupColony", big);
    t.equal(json.verdict.code, "resource_exhausted", "Connect JSON");
    t.same(json.verdict.problems, []);
    const bin = toBinary(LookupColonyRequestSchema, create(LookupColonyRequestSchema, big));
    const binary = judgeConnect(await httpRequest(server.port, path("LookupColony"), { "content-type": "application/proto" }, bin), M.lookupColony.output, true);
    t.equal(binary.code, "resource_exhausted", "Connect binary");
    const chunked = await new Promise<HttpAnswer>((resolve, reject) => {
      const req = http.request({ host: "127.0.0.1", port: server.port, path: path("LookupColony"), method: "POST", headers: JSON_HEADERS }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c)).on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      });
      req.on("error", reject);
      for (let i = 0; i < 10; i++) req.write(`{"meshId":"${"y".repeat(1000)}`.slice(0, 1000));
      req.end();
    });
    t.equal(judgeConnect(chunked, M.lookupColony.output, false).code, "resource_exhausted", "Connect JSON, chunked without a length");
    const session = h2Session(server.port);
    const grpc = judgeGrpc(await grpcRequest(session, path("LookupColony"), grpcFrame(bin)), M.lookupColony.output);
    t.equal(grpc.code, "resource_exhausted", "gRPC over h2c");
    session.destroy();
    const web = await httpRequest(server.port, path("LookupColony"), { "content-type": "application/grpc-web+proto" }, grpcFrame(bin));
    const webText = isFailure(web) ? web.error : `${JSON.stringify(web.headers)} ${web.body.toString("latin1")}`;
    t.match(webText, /grpc-status"?:\s*"?8/, "gRPC-Web: grpc-status 8");
    await assertServing(t, server);
  });

  await t.test("lying or absurd framing headers get a quick, well-formed refusal", async (t) => {
    const post = (headers: string, body = '{"meshId":"mesh-1"}') =>
      `POST ${path("LookupColony")} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n${headers}\r\n${body}`;
    const tenGb = await rawExchange(server.port, post("Content-Length: 10737418240\r\n"), 1500);
    t.match(tenGb.text, /^HTTP\/1\.1 429 .*resource_exhausted/s, "Content-Length 10 GB: resource_exhausted");
    t.ok((tenGb.firstByteMs ?? Infinity) < 1000, `answered in ${tenGb.firstByteMs} ms, without waiting for the body`);
    for (const [name, headers] of Object.entries({
      "negative length": "Content-Length: -1\r\n",
      "non-numeric length": "Content-Length: abc\r\n",
      "two different lengths": "Content-Length: 5\r\nContent-Length: 19\r\n",
      "length and chunked": "Content-Length: 19\r\nTransfer-Encoding: chunked\r\n",
      "unknown transfer coding": "Transfer-Encoding: rot13\r\n",
    })) {
      const answer = await rawExchange(server.port, post(headers), 1500);
      t.ok(/^HTTP\/1\.1 4\d\d/.test(answer.text) || (answer.closed && answer.text === ""), `${name}: ${answer.text.split("\r\n")[0] || "closed"}`);
    }
    await assertServing(t, server);
  });

  await t.test("garbage Connect-Timeout-Ms and grpc-timeout are invalid_argument, never a crash", async (t) => {
    for (const value of ["garbage", "-1", "1e3", "99999999999999999999", "0x10", "1.5", "10000000000"]) {
      const { verdict } = await connectJson(server, M.lookupColony.output, "LookupColony", { meshId: "mesh-1" }, { "connect-timeout-ms": value });
      t.equal(verdict.code, "invalid_argument", `Connect-Timeout-Ms ${JSON.stringify(value)}`);
      t.same(verdict.problems, []);
    }
    for (const value of ["", " 100", "1"]) {
      const { verdict } = await connectJson(server, M.lookupColony.output, "LookupColony", { meshId: "mesh-1" }, { "connect-timeout-ms": value });
      t.same(verdict.problems, [], `Connect-Timeout-Ms ${JSON.stringify(value)}: a well-formed ${verdict.code}`);
      t.notOk(["internal", "unknown"].includes(verdict.code), `not a 5xx (${verdict.message})`);
    }
    const session = h2Session(server.port);
    for (const value of ["zzz", "-1S", "999999999H", "1n", "9999999999999S"]) {
      const frame = grpcFrame(toBinary(LookupColonyRequestSchema, create(LookupColonyRequestSchema, { meshId: "mesh-1" })));
      const verdict = judgeGrpc(await grpcRequest(session, path("LookupColony"), frame, { "grpc-timeout": value }), M.lookupColony.output);
      t.same(verdict.problems, [], `grpc-timeout ${JSON.stringify(value)}: a well-formed ${verdict.code}`);
      t.notOk(["internal", "unknown"].includes(verdict.code), `not a 5xx (${verdict.message})`);
    }
    session.destroy();
    await assertServing(t, server);
  });

  await t.test("corrupt or truncated compressed bodies are client errors", async (t) => {
    const gzip = zlib.gzipSync(Buffer.from('{"meshId":"mesh-1"}'));
    const brotli = zlib.brotliCompressSync(Buffer.from('{"meshId":"mesh-1"}'));
    const cases: [string, string, Buffer][] = [
      ["gzip, corrupt", "gzip", Buffer.from("definitely not gzip")],
      ["gzip, truncated", "gzip", gzip.subarray(0, gzip.length - 8)],
      ["br, corrupt", "br", Buffer.from([0x1b, 0xff, 0x00, 0x12])],
      ["br, truncated", "br", brotli.subarray(0, 3)],
      ["unknown encoding", "zstd", Buffer.from("{}")],
    ];
    for (const [name, encoding, body] of cases) {
      const { verdict } = await connectJson(server, M.lookupColony.output, "LookupColony", body, { "content-encoding": encoding });
      t.same(verdict.problems, [], `${name}: a well-formed ${verdict.code} (${verdict.message})`);
      t.equal(verdict.code, encoding === "zstd" ? "unimplemented" : "invalid_argument", `${name}: a client error, never a 5xx`);
    }
  });

  await t.test("look-alike and invisible-character ids are invalid_argument and never reach the registry", async (t) => {
    for (const id of LOOKALIKE_IDS) {
      const colony = { meshId: id, pubkey: KEY_1, endpoints: [":51820"] };
      const reg = await connectJson(server, M.registerColony.output, "RegisterColony", colony);
      t.equal(reg.verdict.code, "invalid_argument", `RegisterColony ${JSON.stringify(id)}`);
      t.match(reg.verdict.message, /mesh_id/);
      const bin = toBinary(RegisterColonyRequestSchema, create(RegisterColonyRequestSchema, colony));
      const regBin = judgeConnect(await httpRequest(server.port, path("RegisterColony"), { "content-type": "application/proto" }, bin), M.registerColony.output, true);
      t.equal(regBin.code, "invalid_argument", `RegisterColony ${JSON.stringify(id)} (binary)`);
      const agent = await connectJson(server, M.registerAgent.output, "RegisterAgent", { agentId: id, meshId: "mesh-1", pubkey: KEY_1, endpoints: [":1"] });
      t.equal(agent.verdict.code, "invalid_argument", `RegisterAgent agent_id ${JSON.stringify(id)}`);
      t.match(agent.verdict.message, /agent_id/);
      const lookup = await connectJson(server, M.lookupColony.output, "LookupColony", { meshId: id });
      t.equal(lookup.verdict.code, "invalid_argument", `LookupColony ${JSON.stringify(id)} does not find its ASCII twin`);
    }
    t.same(model.diff(server.registry), []);
  });

  await t.test("a Timestamp outside the JSON range is refused, so every stored colony can be looked up over JSON", async (t) => {
    // public_endpoint.updated_at is not validated; Timestamps after 9999-12-31 have no JSON form.
    const colony = create(RegisterColonyRequestSchema, {
      meshId: "mesh-ts",
      pubkey: KEY_1,
      endpoints: [":51820"],
      publicEndpoint: { enabled: true, url: "https://colony.example.com", updatedAt: { seconds: 253_402_300_800n, nanos: 0 } },
    });
    const reg = judgeConnect(
      await httpRequest(server.port, path("RegisterColony"), { "content-type": "application/proto" }, toBinary(RegisterColonyRequestSchema, colony)),
      M.registerColony.output,
      true,
    );
    if (reg.code === "ok") t.same(model.colonyAccepted(colony), []);
    const lookup = await connectJson(server, M.lookupColony.output, "LookupColony", { meshId: "mesh-ts" });
    t.same(lookup.verdict.problems, [], "the answer is well-formed either way");
    t.equal(reg.code, "invalid_argument", "a Timestamp outside 0001..9999 is refused at registration");
    t.ok(reg.code === "invalid_argument" || lookup.verdict.code === "ok", `registration ${reg.code}, JSON lookup ${lookup.verdict.code} (${lookup.verdict.message})`);
  });

  await t.test("unknown fields inside stored sub-messages are neither kept nor echoed to readers", async (t) => {
    const head = Buffer.from(toBinary(RegisterAgentRequestSchema, create(RegisterAgentRequestSchema, { agentId: "agent-u", meshId: "mesh-1", pubkey: KEY_1 })));
    // observed_endpoint (field 5) = {ip, port} plus a 3,000-byte unknown field 99.
    const ip = Buffer.from("198.51.100.7");
    const inner = Buffer.concat([Buffer.from([...tag(1, 2), ip.length]), ip, Buffer.from([...tag(2, 0), ...varint(41820)]), Buffer.from([...tag(99, 2), ...varint(3000)]), Buffer.alloc(3000, 0x41)]);
    const body = Buffer.concat([head, Buffer.from([...tag(5, 2), ...varint(inner.length)]), inner]);
    const reg = judgeConnect(await httpRequest(server.port, path("RegisterAgent"), { "content-type": "application/proto" }, body), M.registerAgent.output, true);
    t.equal(reg.code, "ok", "the registration itself is valid");
    if (reg.code === "ok") t.same(model.agentAccepted(fromBinary(RegisterAgentRequestSchema, body)), []);
    const stored = server.registry.lookupAgent("mesh-1", "agent-u")?.data.observedEndpoint as { $unknown?: unknown[] } | undefined;
    const lookup = await httpRequest(
      server.port,
      path("LookupAgent"),
      { "content-type": "application/proto" },
      toBinary(M.lookupAgent.input, create(M.lookupAgent.input, { agentId: "agent-u", meshId: "mesh-1" })),
    );
    const echoed = isFailure(lookup) ? 0 : lookup.body.length;
    t.ok(isFailure(lookup) || fromBinary(LookupAgentResponseSchema, lookup.body).agentId === "agent-u", "LookupAgent answers");
    const kept = (stored?.$unknown?.length ?? 0) > 0;
    t.notOk(kept || echoed > 1000, `stored unknown fields: ${kept}; LookupAgent answer ${echoed} bytes`);
  });

  await t.test("after all of it the registry equals the model and the server answers", async (t) => {
    t.same(model.diff(server.registry), []);
    await assertServing(t, server);
  });
});

t.test("compression bombs are refused without the process growing", async (t) => {
  // A body limit above the compressed size, so decompression itself must stop at the limit.
  const server = await startServer(t, { maxBodyBytes: 131072 });
  const inflated = 100 << 20;
  const gzip = await compressStream(zlib.createGzip({ level: 9 }), inflated);
  const brotli = await compressStream(zlib.createBrotliCompress({ params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 4 } }), inflated);
  t.ok(gzip.length < 131_072, `gzip: ${gzip.length} bytes inflate to 100 MiB`);
  t.ok(brotli.length < 1000, `br: ${brotli.length} bytes inflate to 100 MiB`);

  const connect = (encoding: string, bytes: Buffer) => async () => {
    const answer = await httpRequest(server.port, path("LookupColony"), { ...JSON_HEADERS, "content-encoding": encoding }, bytes);
    return judgeConnect(answer, M.lookupColony.output, false);
  };
  const session = h2Session(server.port);
  t.teardown(() => session.destroy());
  const grpc = (encoding: string, bytes: Buffer) => async () =>
    judgeGrpc(await grpcRequest(session, path("LookupColony"), grpcFrame(bytes, { flags: 1 }), { "grpc-encoding": encoding }), M.lookupColony.output);
  const grpcWeb = (encoding: string, bytes: Buffer) => async () => {
    const answer = await httpRequest(server.port, path("LookupColony"), { "content-type": "application/grpc-web+proto", "grpc-encoding": encoding }, grpcFrame(bytes, { flags: 1 }));
    const text = isFailure(answer) ? answer.error : `${JSON.stringify(answer.headers)} ${answer.body.toString("latin1")}`;
    return { code: /grpc-status"?:\s*"?8/.test(text) ? "resource_exhausted" : text.slice(0, 200), problems: [] as string[], message: "" };
  };
  const cases = {
    "Connect + gzip": connect("gzip", gzip),
    "Connect + br": connect("br", brotli),
    // gRPC over h2c only with the small br bomb: a body over the stream window trips the h2 defect tested below.
    "gRPC + br": grpc("br", brotli),
    "gRPC-Web + gzip": grpcWeb("gzip", gzip),
  };
  const baseline = process.memoryUsage.rss();
  let peak = baseline;
  const sampler = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage.rss());
  }, 2);
  try {
    for (let round = 0; round < 3; round++) {
      for (const [name, send] of Object.entries(cases)) {
        const verdict = await send();
        t.equal(verdict.code, "resource_exhausted", `${name} (round ${round + 1})`);
        t.same(verdict.problems, []);
      }
    }
  } finally {
    clearInterval(sampler);
  }
  peak = Math.max(peak, process.memoryUsage.rss());
  const grownMb = (peak - baseline) / 2 ** 20;
  t.ok(grownMb < 30, `RSS (server and client in this process) peaked ${grownMb.toFixed(1)} MiB above the baseline`);
  await assertServing(t, server);
});

t.test("a flood of 2,000 idle connections over --max-connections 100: never more than 100 held, an honest request is served at once", async (t) => {
  const server = await startServer(t, { maxConnections: 100, maxConnectionsPerIp: 0, headersTimeoutMs: 10_000, requestTimeoutMs: 10_000 });
  const sockets: net.Socket[] = [];
  let closed = 0;
  t.teardown(() => {
    for (const socket of sockets) socket.destroy();
  });
  // In waves, so the kernel's accept queue never overflows (that would stall connects, not test the cap).
  for (let wave = 0; wave < 10; wave++) {
    for (let i = 0; i < 200; i++) {
      const socket = net.connect(server.port, "127.0.0.1");
      socket.on("error", () => {});
      socket.on("close", () => closed++);
      sockets.push(socket);
    }
    await sleep(40);
  }
  const deadline = Date.now() + 5000;
  while (closed < 1900 && Date.now() < deadline) await sleep(50);
  t.ok(closed >= 1900, `${closed} of 2,000 connections were dropped at once`);
  t.ok((await server.connections()) <= 100, `the server holds ${await server.connections()} (at most 100)`);
  // Full of idle sockets: the one idle the longest is closed to admit a newcomer (--max-connections).
  const { verdict } = await connectJson(server, M.health.output, "Health", {});
  t.equal(verdict.code, "ok", "a legitimate request while full is served");
  t.ok((await server.connections()) <= 100, `the server still holds at most 100 (${await server.connections()})`);
});

t.test("an h2c stream refused for size is cut, so its session goes on and closes gracefully at once", async (t) => {
  // Timeouts far away: nothing here may depend on them.
  const server = await startServer(t, { idleTimeoutMs: 600_000, requestTimeoutMs: 600_000, headersTimeoutMs: 600_000 });
  for (let i = 0; i < 5; i++) {
    const session = h2Session(server.port);
    const small = grpcFrame(toBinary(M.health.input, create(M.health.input)));
    t.equal(judgeGrpc(await grpcRequest(session, path("Health"), small), M.health.output).code, "ok");
    // Larger than the 64 KiB stream window: the server refuses it after the prefix and resets the stream.
    const big = grpcFrame(new Uint8Array(70_040));
    t.equal(judgeGrpc(await grpcRequest(session, path("Health"), big), M.health.output).code, "resource_exhausted");
    t.equal(judgeGrpc(await grpcRequest(session, path("Health"), small), M.health.output).code, "ok", "the session is still usable");
    const closed = new Promise<void>((resolve) => session.once("close", () => resolve()));
    session.close();
    await closed;
  }
  // Event, not time: wait until the server has let go of every socket (a failure bound only).
  const deadline = Date.now() + 20_000;
  while ((await server.connections()) > 0 && Date.now() < deadline) await sleep(20);
  t.equal(await server.connections(), 0, "every session closed gracefully, long before any timeout");
});

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Compresses `total` zero bytes in 1 MiB chunks, never holding the inflated form. */
async function compressStream(stream: zlib.Gzip | zlib.BrotliCompress, total: number): Promise<Buffer> {
  const out: Buffer[] = [];
  stream.on("data", (chunk: Buffer) => out.push(chunk));
  const ended = new Promise((resolve) => stream.on("end", resolve));
  const chunk = Buffer.alloc(1 << 20);
  for (let written = 0; written < total; written += chunk.length) {
    if (!stream.write(chunk)) await new Promise((resolve) => stream.once("drain", resolve));
  }
  stream.end();
  await ended;
  return Buffer.concat(out);
}
