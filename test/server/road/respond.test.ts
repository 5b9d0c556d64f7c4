import t from "tap";
import type { OutgoingHttpHeaders } from "node:http";
import { brotliDecompressSync, gunzipSync } from "node:zlib";
import { StringValueSchema } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { trailerParse } from "@connectrpc/connect/protocol-grpc-web";
import { BROTLI, GZIP, type SyncCompression } from "../../../src/server/road/compression.js";
import type { Encoding } from "../../../src/server/road/encodings.js";
import {
  peerGone,
  writeError,
  writeMessage,
  writeStatus,
  writeUnknownMethod,
  type Answer,
  type RawResponse,
} from "../../../src/server/road/respond.js";
import { CONNECT_CODE_STATUS } from "../../fixtures/raw-rpc.js";

interface Written {
  /** The calls, in order. */
  calls: string[];
  status?: number;
  headers?: OutgoingHttpHeaders;
  trailers?: Record<string, string>;
  body?: Buffer;
}

/** A stand-in response that records what is written to it. */
function recorder(): { res: RawResponse; written: Written } {
  const written: Written = { calls: [] };
  const res = {
    writeHead(status: number, headers?: OutgoingHttpHeaders) {
      written.calls.push("writeHead");
      written.status = status;
      if (headers !== undefined) written.headers = headers;
      return res;
    },
    addTrailers(trailers: Record<string, string>) {
      written.calls.push("addTrailers");
      written.trailers = trailers;
    },
    end(body?: Uint8Array | string) {
      written.calls.push("end");
      if (body !== undefined) written.body = Buffer.from(body);
      return res;
    },
  };
  return { res: res as unknown as RawResponse, written };
}

const CONNECT_JSON: Encoding = { protocol: "connect", binary: false };
const CONNECT_BINARY: Encoding = { protocol: "connect", binary: true };
const GRPC: Encoding = { protocol: "grpc", binary: true };
const GRPC_JSON: Encoding = { protocol: "grpc", binary: false };
const GRPC_WEB: Encoding = { protocol: "grpc-web", binary: true };
const GRPC_WEB_JSON: Encoding = { protocol: "grpc-web", binary: false };

const HANDLER_HEADERS = { "x-served-by": "node-1" };

/** The answer to write; `headers: null` for a handler that set none. */
function answer(encoding: Encoding, compression: SyncCompression | null = null, headers: Record<string, string> | null = HANDLER_HEADERS): Answer {
  return { encoding, compression, headers: headers ?? undefined };
}

/** The envelopes of a body, parsed by hand. */
function envelopes(body: Buffer | undefined): { flags: number; data: Buffer }[] {
  const out: { flags: number; data: Buffer }[] = [];
  let at = 0;
  while (body !== undefined && at < body.length) {
    const length = body.readUInt32BE(at + 1);
    out.push({ flags: body.readUInt8(at), data: body.subarray(at + 5, at + 5 + length) });
    at += 5 + length;
  }
  return out;
}

const decompress = (compression: SyncCompression, data: Buffer) => (compression === GZIP ? gunzipSync(data) : brotliDecompressSync(data));

/** A message of `length` bytes that compresses well. */
const message = (length: number) => Buffer.alloc(length, "m");

t.test("a Connect success is the message as the body, with its content type, its length and the handler's headers", async (t) => {
  for (const [encoding, contentType] of [
    [CONNECT_JSON, "application/json"],
    [CONNECT_BINARY, "application/proto"],
  ] as const) {
    const { res, written } = recorder();
    const body = Buffer.from('{"status":"ok"}');
    writeMessage(res, answer(encoding), body);
    t.same(written, {
      calls: ["writeHead", "end"],
      status: 200,
      headers: { "x-served-by": "node-1", "content-type": contentType, "content-length": String(body.length) },
      body,
    }, contentType);
  }
});

t.test("a Connect success without handler headers has only its own", async (t) => {
  const { res, written } = recorder();
  writeMessage(res, answer(CONNECT_BINARY, null, null), new Uint8Array([8, 1]));
  t.same(written.headers, { "content-type": "application/proto", "content-length": "2" });
});

t.test("a Connect success of 1024 bytes or more is compressed when the client accepts it, and says so in content-encoding", async (t) => {
  for (const compression of [GZIP, BROTLI]) {
    const { res, written } = recorder();
    const body = message(1024);
    writeMessage(res, answer(CONNECT_BINARY, compression), body);
    t.equal(written.headers?.["content-encoding"], compression.name, `${compression.name}: content-encoding`);
    t.equal(written.headers?.["content-length"], String(written.body?.length), `${compression.name}: the compressed length`);
    t.ok((written.body?.length ?? Infinity) < 1024, `${compression.name}: smaller`);
    t.same(decompress(compression, written.body as Buffer), body, `${compression.name}: the message once decompressed`);
  }
});

t.test("a Connect success under 1024 bytes is sent as is, even when the client accepts compression", async (t) => {
  const { res, written } = recorder();
  const body = message(1023);
  writeMessage(res, answer(CONNECT_JSON, GZIP), body);
  t.equal(written.headers?.["content-encoding"], undefined);
  t.equal(written.headers?.["content-length"], "1023");
  t.same(written.body, body);
});

t.test("a gRPC success is one envelope and a grpc-status 0 trailer", async (t) => {
  for (const [encoding, contentType] of [
    [GRPC, "application/grpc+proto"],
    [GRPC_JSON, "application/grpc+json"],
  ] as const) {
    const { res, written } = recorder();
    writeMessage(res, answer(encoding), Buffer.from([8, 1]));
    t.same(written.calls, ["writeHead", "addTrailers", "end"], `${contentType}: headers, trailers, body`);
    t.equal(written.status, 200);
    t.same(written.headers, { "x-served-by": "node-1", "content-type": contentType });
    t.same(written.trailers, { "grpc-status": "0" });
    t.same(envelopes(written.body), [{ flags: 0, data: Buffer.from([8, 1]) }]);
  }
});

t.test("a gRPC success names the negotiated compression and compresses a message of 1024 bytes or more", async (t) => {
  for (const compression of [GZIP, BROTLI]) {
    const small = recorder();
    writeMessage(small.res, answer(GRPC, compression), message(1023));
    t.equal(small.written.headers?.["grpc-encoding"], compression.name, `${compression.name}: grpc-encoding`);
    t.same(envelopes(small.written.body), [{ flags: 0, data: message(1023) }], `${compression.name}: a small message is not compressed`);

    const large = recorder();
    writeMessage(large.res, answer(GRPC, compression), message(1024));
    const [envelope, ...rest] = envelopes(large.written.body);
    t.equal(rest.length, 0);
    t.equal(envelope?.flags, 0x01, `${compression.name}: the compressed flag`);
    t.same(decompress(compression, envelope?.data as Buffer), message(1024), `${compression.name}: the message once decompressed`);
    t.same(large.written.trailers, { "grpc-status": "0" });
  }
});

t.test("a gRPC-Web success is the message envelope then a trailer envelope with grpc-status 0, no HTTP trailers", async (t) => {
  for (const [encoding, contentType] of [
    [GRPC_WEB, "application/grpc-web+proto"],
    [GRPC_WEB_JSON, "application/grpc-web+json"],
  ] as const) {
    const { res, written } = recorder();
    writeMessage(res, answer(encoding), Buffer.from([8, 1]));
    t.same(written.calls, ["writeHead", "end"], contentType);
    t.equal(written.status, 200);
    t.same(written.headers, { "x-served-by": "node-1", "content-type": contentType });
    t.same(envelopes(written.body), [
      { flags: 0, data: Buffer.from([8, 1]) },
      { flags: 0x80, data: Buffer.from("grpc-status: 0\r\n") },
    ]);
  }
});

t.test("a gRPC-Web success compresses a large message but not its small trailer block", async (t) => {
  const { res, written } = recorder();
  writeMessage(res, answer(GRPC_WEB, GZIP), message(4096));
  t.equal(written.headers?.["grpc-encoding"], "gzip");
  const [first, trailer] = envelopes(written.body);
  t.equal(first?.flags, 0x01);
  t.same(gunzipSync(first?.data as Buffer), message(4096));
  t.same(trailer, { flags: 0x80, data: Buffer.from("grpc-status: 0\r\n") });
});

t.test("a Connect error is the error JSON with the code's HTTP status, for every code", async (t) => {
  for (const [name, status] of Object.entries(CONNECT_CODE_STATUS)) {
    const code = Code[name.replace(/(^|_)(\w)/g, (_m, _u, c: string) => c.toUpperCase()) as keyof typeof Code];
    const { res, written } = recorder();
    writeError(res, answer(CONNECT_JSON), new ConnectError(`refused as ${name}`, code));
    t.equal(written.status, status, `${name}: HTTP ${status}`);
    t.same(JSON.parse(String(written.body)), { code: name, message: `refused as ${name}` }, `${name}: the error JSON`);
  }
});

t.test("a Connect error is JSON for binary requests too, with the handler's headers and the error's metadata", async (t) => {
  const { res, written } = recorder();
  const error = new ConnectError("rate limit exceeded", Code.ResourceExhausted, { "Retry-After": "5", "x-limit": "register" });
  writeError(res, answer(CONNECT_BINARY, null, { "x-served-by": "node-1", "retry-after": "1" }), error);
  const body = '{"code":"resource_exhausted","message":"rate limit exceeded"}';
  t.same(written, {
    calls: ["writeHead", "end"],
    status: 429,
    headers: { "x-served-by": "node-1", "retry-after": "5", "x-limit": "register", "content-type": "application/json", "content-length": String(body.length) },
    body: Buffer.from(body),
  }, "the error's metadata wins over a handler header of the same name");
});

t.test("a Connect error without a message has only its code; details are sent base64-encoded", async (t) => {
  const bare = recorder();
  writeError(bare.res, answer(CONNECT_JSON, null, null), new ConnectError("", Code.Unavailable));
  t.same(JSON.parse(String(bare.written.body)), { code: "unavailable" });
  const detailed = recorder();
  writeError(detailed.res, answer(CONNECT_JSON), new ConnectError("slow down", Code.ResourceExhausted, undefined, [{ desc: StringValueSchema, value: { value: "retry later" } }]));
  t.same(JSON.parse(String(detailed.written.body)), {
    code: "resource_exhausted",
    message: "slow down",
    details: [{ type: "google.protobuf.StringValue", value: "CgtyZXRyeSBsYXRlcg", debug: "retry later" }],
  }, "the detail's binary form in unpadded base64, and its JSON for debugging");
});

t.test("a Connect error of 1024 bytes or more is compressed when the client accepts it", async (t) => {
  const long = "x".repeat(1100);
  const { res, written } = recorder();
  writeError(res, answer(CONNECT_JSON, GZIP), new ConnectError(long, Code.InvalidArgument));
  t.equal(written.headers?.["content-encoding"], "gzip");
  t.equal(written.headers?.["content-length"], String(written.body?.length));
  t.same(JSON.parse(String(gunzipSync(written.body as Buffer))), { code: "invalid_argument", message: long });

  const short = recorder();
  writeError(short.res, answer(CONNECT_JSON, GZIP), new ConnectError("short", Code.InvalidArgument));
  t.equal(short.written.headers?.["content-encoding"], undefined, "a short one is not");
  t.same(JSON.parse(String(short.written.body)), { code: "invalid_argument", message: "short" });
});

/** A message with characters grpc-message must percent-encode, and its encoding. */
const AWKWARD = 'colony "ü" not found: 100%\r\nnext';
const AWKWARD_ENCODED = "colony%20%22%C3%BC%22%20not%20found%3A%20100%25%0D%0Anext";

t.test("a gRPC error is a trailers-only answer: status, percent-encoded message and metadata in the trailers", async (t) => {
  for (const [encoding, contentType] of [
    [GRPC, "application/grpc+proto"],
    [GRPC_JSON, "application/grpc+json"],
  ] as const) {
    const { res, written } = recorder();
    writeError(res, answer(encoding), new ConnectError(AWKWARD, Code.NotFound, { "retry-after": "5" }));
    t.same(written, {
      calls: ["writeHead", "addTrailers", "end"],
      status: 200,
      headers: { "x-served-by": "node-1", "content-type": contentType },
      trailers: { "grpc-message": AWKWARD_ENCODED, "grpc-status": "5", "retry-after": "5" },
    }, contentType);
    t.equal(decodeURIComponent(written.trailers?.["grpc-message"] ?? ""), AWKWARD, "the message decodes back");
  }
});

t.test("a gRPC error names the negotiated compression and carries details in grpc-status-details-bin", async (t) => {
  const { res, written } = recorder();
  writeError(res, answer(GRPC, BROTLI), new ConnectError("slow down", Code.ResourceExhausted, undefined, [{ desc: StringValueSchema, value: { value: "retry later" } }]));
  t.equal(written.headers?.["grpc-encoding"], "br");
  t.equal(written.trailers?.["grpc-status"], "8");
  t.type(written.trailers?.["grpc-status-details-bin"], "string");
  t.equal(written.body, undefined, "no body");
});

t.test("a gRPC-Web error is one trailer envelope (flag 0x80) holding status, message and metadata", async (t) => {
  for (const [encoding, contentType] of [
    [GRPC_WEB, "application/grpc-web+proto"],
    [GRPC_WEB_JSON, "application/grpc-web+json"],
  ] as const) {
    const { res, written } = recorder();
    writeError(res, answer(encoding), new ConnectError(AWKWARD, Code.PermissionDenied, { "retry-after": "5" }));
    t.same(written.calls, ["writeHead", "end"], `${contentType}: no HTTP trailers`);
    t.equal(written.status, 200);
    t.same(written.headers, { "x-served-by": "node-1", "content-type": contentType });
    const [envelope, ...rest] = envelopes(written.body);
    t.equal(rest.length, 0, "one envelope");
    t.equal(envelope?.flags, 0x80);
    t.equal(String(envelope?.data), `grpc-message: ${AWKWARD_ENCODED}\r\ngrpc-status: 7\r\nretry-after: 5\r\n`);
    const trailers = trailerParse(envelope?.data as Buffer);
    t.equal(trailers.get("grpc-status"), "7", "connect-es reads it back");
  }
});

t.test("a gRPC-Web trailer block of 1024 bytes or more is compressed (flag 0x81) when the client accepts it", async (t) => {
  for (const compression of [GZIP, BROTLI]) {
    const long = "y".repeat(1100);
    const { res, written } = recorder();
    writeError(res, answer(GRPC_WEB, compression), new ConnectError(long, Code.InvalidArgument));
    t.equal(written.headers?.["grpc-encoding"], compression.name);
    const [envelope] = envelopes(written.body);
    t.equal(envelope?.flags, 0x81, `${compression.name}: trailers, compressed`);
    t.equal(String(decompress(compression, envelope?.data as Buffer)), `grpc-message: ${long}\r\ngrpc-status: 3\r\n`);

    const short = recorder();
    writeError(short.res, answer(GRPC_WEB, compression), new ConnectError("short", Code.InvalidArgument));
    const [plain] = envelopes(short.written.body);
    t.equal(plain?.flags, 0x80, `${compression.name}: a short block is not compressed`);
    t.equal(String(plain?.data), "grpc-message: short\r\ngrpc-status: 3\r\n");
  }
});

t.test("writeStatus answers a bare status without headers or body", async (t) => {
  for (const status of [405, 415]) {
    const { res, written } = recorder();
    writeStatus(res, status);
    t.same(written, { calls: ["writeHead", "end"], status }, String(status));
  }
});

t.test("an unknown method over Connect is a plain 404, as connect-go answers it", async (t) => {
  const { res, written } = recorder();
  writeUnknownMethod(res, "connect", "unknown method Nope for service coral.discovery.v1.DiscoveryService");
  t.same(written, {
    calls: ["writeHead", "end"],
    status: 404,
    headers: { "content-type": "text/plain; charset=utf-8", "content-length": "19" },
    body: Buffer.from("404 page not found\n"),
  });
});

t.test("an unknown method over gRPC and gRPC-Web is unimplemented (12) in a trailers-only answer", async (t) => {
  for (const [protocol, contentType] of [
    ["grpc", "application/grpc"],
    ["grpc-web", "application/grpc-web+proto"],
  ] as const) {
    const { res, written } = recorder();
    writeUnknownMethod(res, protocol, "unknown method Nope for service x.Y");
    t.same(written, {
      calls: ["writeHead", "end"],
      status: 200,
      headers: { "content-type": contentType, "grpc-status": "12", "grpc-message": "unknown%20method%20Nope%20for%20service%20x.Y" },
    }, protocol);
  }
});

t.test("peerGone: an HTTP/1.1 response whose socket closed, an HTTP/2 response whose stream is destroyed", async (t) => {
  const h1 = (destroyed: boolean) => ({ destroyed }) as unknown as RawResponse;
  const h2 = (destroyed: boolean) => ({ stream: { destroyed } }) as unknown as RawResponse;
  t.same([peerGone(h1(false)), peerGone(h1(true)), peerGone(h2(false)), peerGone(h2(true))], [false, true, false, true]);
});
