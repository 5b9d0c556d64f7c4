import t, { type Test } from "tap";
import { Code, ConnectError } from "@connectrpc/connect";
import { HEADERS, parseTimeout, responseContentType, rpcProtocol, unaryEncoding, type Encoding, type Protocol } from "../../../src/server/road/encodings.js";

/** Content types a unary method accepts, and the encoding each means. */
const UNARY: readonly [string, Encoding][] = [
  ["application/json", { protocol: "connect", binary: false }],
  ["application/json; charset=utf-8", { protocol: "connect", binary: false }],
  ["application/json;charset=utf-8", { protocol: "connect", binary: false }],
  ["application/json; charset=utf8", { protocol: "connect", binary: false }],
  ["Application/JSON; Charset=UTF-8", { protocol: "connect", binary: false }],
  ["application/proto", { protocol: "connect", binary: true }],
  ["APPLICATION/PROTO", { protocol: "connect", binary: true }],
  ["application/grpc", { protocol: "grpc", binary: true }],
  ["application/grpc+proto", { protocol: "grpc", binary: true }],
  ["application/GRPC+PROTO", { protocol: "grpc", binary: true }],
  ["application/grpc+json", { protocol: "grpc", binary: false }],
  ["application/grpc+json; charset=utf-8", { protocol: "grpc", binary: false }],
  ["application/grpc+json;charset=utf8", { protocol: "grpc", binary: false }],
  ["application/grpc-web", { protocol: "grpc-web", binary: true }],
  ["application/grpc-web+proto", { protocol: "grpc-web", binary: true }],
  ["application/grpc-web+json", { protocol: "grpc-web", binary: false }],
  ["application/grpc-web+json; charset=utf-8", { protocol: "grpc-web", binary: false }],
  ["application/Grpc-Web+Json;charset=UTF8", { protocol: "grpc-web", binary: false }],
];

/** RPC content types a unary method refuses, with the protocol they still speak (for the unknown-method answer). */
const RPC_NOT_UNARY: readonly [string, Protocol][] = [
  ["application/connect+json", "connect"],
  ["application/connect+json; charset=utf-8", "connect"],
  ["application/connect+proto", "connect"],
  ["application/grpc-web-text", "grpc-web"],
  ["application/grpc-web-text+proto", "grpc-web"],
  ["application/grpc-web-text+json", "grpc-web"],
];

/** Content types that are no RPC at all. */
const NOT_RPC: readonly (string | undefined)[] = [
  undefined,
  "",
  "text/plain",
  "application/xml",
  "application/protobuf",
  "application/x-protobuf",
  "application/json; charset=iso-8859-1",
  "application/json; charset=utf-16",
  "application/json;  charset=utf-8",
  "application/json ",
  " application/json",
  "application/proto; charset=utf-8",
  "application/grpc+xml",
  "application/grpc-web+thrift",
  "application/grpcweb",
  "application/connect",
  "multipart/form-data; boundary=x",
];

t.test("every unary content type of the four encodings is accepted, charset variants and case included", async (t) => {
  for (const [contentType, encoding] of UNARY) t.same(unaryEncoding(contentType), encoding, contentType);
});

t.test("Connect streaming and gRPC-Web text are refused for unary methods", async (t) => {
  for (const [contentType] of RPC_NOT_UNARY) t.equal(unaryEncoding(contentType), undefined, contentType);
});

t.test("anything else, and no content type, is refused", async (t) => {
  for (const contentType of NOT_RPC) t.equal(unaryEncoding(contentType), undefined, String(contentType));
});

t.test("rpcProtocol names the protocol of every RPC content type, streaming and text variants included", async (t) => {
  for (const [contentType, encoding] of UNARY) t.equal(rpcProtocol(contentType), encoding.protocol, contentType);
  for (const [contentType, protocol] of RPC_NOT_UNARY) t.equal(rpcProtocol(contentType), protocol, contentType);
});

t.test("rpcProtocol knows no protocol for content types that are no RPC", async (t) => {
  for (const contentType of NOT_RPC) t.equal(rpcProtocol(contentType), undefined, String(contentType));
});

t.test("the response content type of each encoding is the canonical one", async (t) => {
  const expected: [Encoding, string][] = [
    [{ protocol: "connect", binary: false }, "application/json"],
    [{ protocol: "connect", binary: true }, "application/proto"],
    [{ protocol: "grpc", binary: false }, "application/grpc+json"],
    [{ protocol: "grpc", binary: true }, "application/grpc+proto"],
    [{ protocol: "grpc-web", binary: false }, "application/grpc-web+json"],
    [{ protocol: "grpc-web", binary: true }, "application/grpc-web+proto"],
  ];
  for (const [encoding, contentType] of expected) {
    t.equal(responseContentType(encoding), contentType, `${encoding.protocol} ${encoding.binary ? "binary" : "JSON"}`);
    t.same(unaryEncoding(contentType), encoding, `${contentType} is read back as the same encoding`);
  }
});

t.test("the negotiation and deadline header names of each protocol are lower case, as Node reports request headers", async (t) => {
  t.same(HEADERS, {
    connect: { encoding: "content-encoding", acceptEncoding: "accept-encoding", timeout: "connect-timeout-ms" },
    grpc: { encoding: "grpc-encoding", acceptEncoding: "grpc-accept-encoding", timeout: "grpc-timeout" },
    "grpc-web": { encoding: "grpc-encoding", acceptEncoding: "grpc-accept-encoding", timeout: "grpc-timeout" },
  });
  for (const names of Object.values(HEADERS)) {
    for (const name of Object.values(names)) t.equal(name, name.toLowerCase(), name);
  }
});

t.test("no deadline header means no deadline, in every protocol", async (t) => {
  for (const protocol of ["connect", "grpc", "grpc-web"] as const) t.same(parseTimeout(protocol, undefined), {}, protocol);
});

t.test("Connect-Timeout-Ms is a count of milliseconds of at most 10 digits", async (t) => {
  for (const [value, timeoutMs] of [
    ["0", 0],
    ["1", 1],
    ["1500", 1500],
    ["0015", 15],
    ["9999999999", 9_999_999_999],
  ] as const) {
    t.same(parseTimeout("connect", value), { timeoutMs }, value);
  }
});

function refused(t: Test, result: { timeoutMs?: number; error?: unknown }, message: string, what: string) {
  t.ok(result.error instanceof ConnectError, `${what}: a ConnectError`);
  const error = result.error as ConnectError;
  t.equal(Code[error.code], Code[Code.InvalidArgument], `${what}: invalid_argument`);
  t.equal(error.rawMessage, message, `${what}: the message quotes the value`);
  t.equal(result.timeoutMs, undefined, `${what}: no deadline`);
}

t.test("a Connect-Timeout-Ms that is not 1 to 10 digits is refused as invalid_argument", async (t) => {
  for (const value of ["", "-1", "+5", "1.5", "1e3", "5s", " 5", "5 ", "abc", "12345678901", "0x10"]) {
    refused(t, parseTimeout("connect", value), `protocol error: invalid connect timeout value: ${value}`, JSON.stringify(value));
  }
});

t.test("grpc-timeout is up to 8 digits and a unit, hours down to nanoseconds, for gRPC and gRPC-Web alike", async (t) => {
  const cases: [string, number][] = [
    ["1H", 3_600_000],
    ["2M", 120_000],
    ["3S", 3000],
    ["250m", 250],
    ["0m", 0],
    ["1500u", 1.5],
    ["2000000n", 2],
    ["99999999S", 99_999_999_000],
  ];
  for (const protocol of ["grpc", "grpc-web"] as const) {
    for (const [value, timeoutMs] of cases) t.same(parseTimeout(protocol, value), { timeoutMs }, `${protocol} ${value}`);
  }
});

t.test("a grpc-timeout without a unit, with an unknown unit or with more than 8 digits is refused as invalid_argument", async (t) => {
  for (const protocol of ["grpc", "grpc-web"] as const) {
    for (const value of ["", "100", "S", "1s", "1h", "1 S", "-1S", "1.5S", "123456789S", "1SS", "1500ms"]) {
      refused(t, parseTimeout(protocol, value), `protocol error: invalid grpc timeout value: ${value}`, `${protocol} ${JSON.stringify(value)}`);
    }
  }
});

t.test("each protocol reads only its own deadline format", async (t) => {
  t.equal(parseTimeout("connect", "5S").error instanceof ConnectError, true, "Connect does not read a gRPC timeout");
  t.equal(parseTimeout("grpc", "5000").error instanceof ConnectError, true, "gRPC does not read a Connect timeout");
});
