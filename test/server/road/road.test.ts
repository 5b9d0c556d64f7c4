// The Connect JSON fast path must answer exactly as connect-es does: the same
// requests go to a server with it and one without, and every answer (status,
// content type, encoding, Retry-After, body) must be the same.
import t, { type Test } from "tap";
import { request } from "node:http";
import { gunzipSync } from "node:zlib";
import { create, toBinary } from "@bufbuild/protobuf";
import {
  HealthRequestSchema,
  LookupColonyRequestSchema,
  RegisterColonyRequestSchema,
} from "../../gen/coral/discovery/v1/discovery_pb.js";
import type { ConfigInput } from "../../src/config/index.js";
import { startServer } from "../fixtures/server.js";
import { KEY_1, KEY_2, KEY_3 } from "../fixtures/keys.js";
import { createFakeClock } from "../fixtures/clock.js";

interface Answer {
  status: number;
  contentType: string | undefined;
  contentEncoding: string | undefined;
  retryAfter: string | undefined;
  body: string;
}

async function start(t: Test, fastPath: boolean, options: ConfigInput = {}) {
  const clock = createFakeClock();
  let ids = 0;
  const { port } = await startServer(t, {
    relays: ["198.51.100.1:3478"],
    signingKey: '{"id":"k1","privateKey":"hXIqNNX5M2H9WuNmTPcAYgwRSWpJMqONpL3HPPoxsdo="}',
    ...options,
    now: clock.now,
    deps: { randomId: () => `id-${++ids}`, connectFastPath: fastPath },
  });
  return { port, clock };
}

function send(port: number, path: string, body: Buffer | string, headers: Record<string, string>): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, method: "POST", path, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        let raw = Buffer.concat(chunks);
        if (res.headers["content-encoding"] === "gzip") raw = gunzipSync(raw);
        resolve({
          status: res.statusCode ?? 0,
          contentType: res.headers["content-type"],
          contentEncoding: res.headers["content-encoding"],
          retryAfter: res.headers["retry-after"] as string | undefined,
          body: res.headers["content-type"] === "application/proto" ? raw.toString("base64") : raw.toString("utf8"),
        });
      });
    });
    req.on("error", reject);
    req.end(body);
  });
}

const JSON_HEADERS = { "content-type": "application/json", "connect-protocol-version": "1", "connect-timeout-ms": "10000", "accept-encoding": "gzip" };
const rpc = (method: string) => `/coral.discovery.v1.DiscoveryService/${method}`;
const bigMetadata = Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`key-${i}`, "v".repeat(100)]));

/** [name, method, body, extra headers]: run in order against both servers (some depend on earlier ones). */
const CASES: [string, string, string | Buffer, Record<string, string>?][] = [
  ["register a colony (snake_case)", "RegisterColony", JSON.stringify({ mesh_id: "m1", pubkey: KEY_1, endpoints: ["203.0.113.1:41820"] })],
  ["renew it (camelCase, unknown fields)", "RegisterColony", JSON.stringify({ meshId: "m1", pubkey: KEY_1, endpoints: [":41820"], extra: { deep: [1] } })],
  ["split-brain", "RegisterColony", JSON.stringify({ mesh_id: "m1", pubkey: KEY_2, endpoints: [":1"] })],
  ["lookup", "LookupColony", JSON.stringify({ mesh_id: "m1" })],
  ["lookup not found", "LookupColony", JSON.stringify({ mesh_id: "nope" })],
  ["lookup invalid id", "LookupColony", JSON.stringify({ mesh_id: "a b" })],
  ["missing field", "RegisterColony", "{}"],
  ["empty body", "LookupColony", ""],
  ["malformed JSON", "LookupColony", "{"],
  ["wrong type", "LookupColony", JSON.stringify({ mesh_id: 5 })],
  ["null field", "LookupColony", JSON.stringify({ mesh_id: null })],
  ["array body", "LookupColony", "[]"],
  ["__proto__ key", "LookupColony", '{"__proto__":{"x":1},"mesh_id":"m1"}'],
  ["invalid UTF-8", "LookupColony", Buffer.from([0x7b, 0x22, 0x6d, 0x65, 0x73, 0x68, 0x49, 0x64, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d])],
  ["int64 as string and number", "RegisterColony", JSON.stringify({ mesh_id: "m2", pubkey: KEY_1, endpoints: [":1"], connect_port: "9000", public_port: 8443.0 })],
  ["enum by name and number", "RegisterColony", JSON.stringify({ mesh_id: "m3", pubkey: KEY_1, endpoints: [":1"], public_endpoint: { ca_fingerprint: { algorithm: "FINGERPRINT_ALGORITHM_SHA256", value: Buffer.alloc(32).toString("base64") } } })],
  ["bad enum", "RegisterColony", JSON.stringify({ mesh_id: "m3", pubkey: KEY_1, endpoints: [":1"], public_endpoint: { ca_fingerprint: { algorithm: "MD5" } } })],
  ["big response, gzip", "RegisterColony", JSON.stringify({ mesh_id: "m4", pubkey: KEY_1, endpoints: [":1"], metadata: bigMetadata })],
  ["big lookup, gzip", "LookupColony", JSON.stringify({ mesh_id: "m4" })],
  ["big lookup, no gzip accepted", "LookupColony", JSON.stringify({ mesh_id: "m4" }), { "accept-encoding": "identity" }],
  ["charset in content type", "LookupColony", JSON.stringify({ mesh_id: "m1" }), { "content-type": "application/json; charset=utf-8" }],
  ["agent", "RegisterAgent", JSON.stringify({ agent_id: "a1", mesh_id: "m1", pubkey: KEY_3, endpoints: [":51820"] })],
  ["agent without endpoint", "RegisterAgent", JSON.stringify({ agent_id: "a2", mesh_id: "m1", pubkey: KEY_3 })],
  ["agent lookup", "LookupAgent", JSON.stringify({ agent_id: "a1", mesh_id: "m1" })],
  ["relay", "RequestRelay", JSON.stringify({ mesh_id: "m1", agent_pubkey: KEY_1, colony_pubkey: KEY_2 })],
  ["release relay", "ReleaseRelay", JSON.stringify({ session_id: "id-1", mesh_id: "m1" })],
  ["release again", "ReleaseRelay", JSON.stringify({ session_id: "id-1" })],
  ["health", "Health", "{}"],
  ["token", "CreateBootstrapToken", JSON.stringify({ agent_id: "a1", colony_id: "c1" })],
  ["token invalid", "CreateBootstrapToken", JSON.stringify({ agent_id: "a1" })],
  ["unimplemented", "PublishBootstrapRendezvous", JSON.stringify({ mesh_id: "m1" })],
  ["body over the limit, declared", "LookupColony", JSON.stringify({ mesh_id: "x".repeat(3000) })],
  ["body over the limit, chunked", "LookupColony", JSON.stringify({ mesh_id: "x".repeat(3000) }), { "transfer-encoding": "chunked" }],
];

t.test("the fast path answers every request exactly as connect-es does", async (t) => {
  const args: ConfigInput = { maxBodyBytes: 2048 };
  const fast = await start(t, true, args);
  const slow = await start(t, false, args);
  for (const [name, method, body, extra] of CASES) {
    const headers: Record<string, string> = { ...JSON_HEADERS, ...extra };
    if (headers["transfer-encoding"] === undefined) Object.assign(headers, { "content-length": String(Buffer.byteLength(body)) });
    const [a, b] = [await send(fast.port, rpc(method), body, headers), await send(slow.port, rpc(method), body, headers)];
    t.same(a, b, name);
    fast.clock.advance(1000);
    slow.clock.advance(1000);
  }
});

const bin = <T extends Parameters<typeof create>[0]>(schema: T, init: Parameters<typeof create<T>>[1]) =>
  Buffer.from(toBinary(schema, create(schema, init)));
const PROTO = { "content-type": "application/proto" };

const BINARY_CASES: [string, string, Buffer][] = [
  ["binary register", "RegisterColony", bin(RegisterColonyRequestSchema, { meshId: "b1", pubkey: KEY_1, endpoints: ["203.0.113.1:41820"], metadata: { a: "b" } })],
  ["binary lookup", "LookupColony", bin(LookupColonyRequestSchema, { meshId: "b1" })],
  ["binary not found", "LookupColony", bin(LookupColonyRequestSchema, { meshId: "zz" })],
  ["binary invalid argument", "RegisterColony", bin(RegisterColonyRequestSchema, { meshId: "b1" })],
  ["binary split-brain", "RegisterColony", bin(RegisterColonyRequestSchema, { meshId: "b1", pubkey: KEY_2, endpoints: [":1"] })],
  ["binary empty body", "Health", Buffer.alloc(0)],
  ["binary health", "Health", bin(HealthRequestSchema, {})],
  ["binary unknown field", "LookupColony", Buffer.concat([bin(LookupColonyRequestSchema, { meshId: "b1" }), Buffer.from([0x78, 0x01])])],
];

t.test("binary Connect requests get the same answers from both paths", async (t) => {
  const fast = await start(t, true);
  const slow = await start(t, false);
  for (const [name, method, body] of BINARY_CASES) {
    const headers = { ...PROTO, "content-length": String(body.byteLength) };
    t.same(await send(fast.port, rpc(method), body, headers), await send(slow.port, rpc(method), body, headers), name);
  }
});

t.test("a binary body that does not decode is invalid_argument on the fast path (connect-es says internal)", async (t) => {
  const fast = await start(t, true);
  const slow = await start(t, false);
  for (const garbage of [Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f]), Buffer.from([0x0a, 0x02, 0xff, 0xfe]), Buffer.from([0x07])]) {
    const headers = { ...PROTO, "content-length": String(garbage.byteLength) };
    const a = await send(fast.port, rpc("LookupColony"), garbage, headers);
    t.equal(a.status, 400);
    t.equal(a.contentType, "application/json");
    const envelope = JSON.parse(a.body) as { code: string; message: string };
    t.equal(envelope.code, "invalid_argument");
    t.match(envelope.message, /^cannot decode coral\.discovery\.v1\.LookupColonyRequest: /);
    const b = await send(slow.port, rpc("LookupColony"), garbage, headers);
    t.equal(b.status, 500, "connect-es answers internal: the reason for this difference");
  }
});

t.test("the fast path applies rate limits like the interceptor, with Retry-After", async (t) => {
  const args: ConfigInput = { rateLimit: true, rateRegister: "1:2" };
  const fast = await start(t, true, args);
  const slow = await start(t, false, args);
  const body = JSON.stringify({ mesh_id: "m", pubkey: KEY_1, endpoints: [":1"] });
  for (let i = 0; i < 4; i++) {
    const a = await send(fast.port, rpc("RegisterColony"), body, JSON_HEADERS);
    const b = await send(slow.port, rpc("RegisterColony"), body, JSON_HEADERS);
    t.same(a, b, `call ${i + 1}`);
    if (i >= 2) t.equal(a.retryAfter, "1", "over budget: Retry-After");
  }
});

t.test("requests the fast path does not take still work (binary, compressed, bad timeout header)", async (t) => {
  const fast = await start(t, true);
  const bad = await send(fast.port, rpc("LookupColony"), "{}", { ...JSON_HEADERS, "connect-timeout-ms": "soon" });
  t.equal(bad.status, 400, "connect-es rejects the timeout header");
  t.match(bad.body, /invalid_argument/);
  const gz = await send(fast.port, rpc("LookupColony"), (await import("node:zlib")).gzipSync('{"mesh_id":"x"}'), { ...JSON_HEADERS, "content-encoding": "gzip" });
  t.equal(gz.status, 404, "a gzip request is decoded by connect-es");
  t.match(gz.body, /colony x not found/);
});
