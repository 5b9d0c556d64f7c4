// The road must answer exactly as connect-es's router does, except where
// connect-es is wrong. Two servers with the same handlers and steps, one
// serving the unary RPCs on the road and one through connect-es's router,
// get the same requests over all four encodings and both HTTP versions; every
// answer (status, headers, trailers, body bytes) must be the same. The
// deliberate difference: a request that does not decode (a broken message, a
// lying envelope, a body that does not decompress) is invalid_argument on the
// road, where connect-es often says internal.
import t, { type Test } from "tap";
import type { AddressInfo } from "node:net";
import * as net from "node:net";
import { gzipSync } from "node:zlib";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import {
  CreateBootstrapTokenRequestSchema,
  DiscoveryService,
  HealthRequestSchema,
  LookupAgentRequestSchema,
  LookupColonyRequestSchema,
  PublishBootstrapRendezvousRequestSchema,
  RegisterAgentRequestSchema,
  RegisterColonyRequestSchema,
  ReleaseRelayRequestSchema,
  RequestRelayRequestSchema,
} from "../../../gen/coral/discovery/v1/discovery_pb.js";
import fastify from "fastify";
import type { ConfigInput } from "../../../src/config/index.js";
import { ServerReflection } from "../../../gen/grpc/reflection/v1/reflection_pb.js";
import { registerUnaryRoad } from "../../../src/server/road/road.js";
import type { CallContext, Step } from "../../../src/service/call.js";
import { loggingStep } from "../../../src/service/logging.js";
import { createFakeClock } from "../../fixtures/clock.js";
import { KEY_1, KEY_2, KEY_3 } from "../../fixtures/keys.js";
import { startServer } from "../../fixtures/server.js";
import { until } from "../../fixtures/wait.js";
import { createByteBudget } from "../../../src/limits/byte-budget.js";
import {
  bodyOf,
  ENCODINGS,
  envelope,
  h2c,
  headersOf,
  outcome,
  payloadOf,
  sendH1,
  sendH2,
  type Exchange,
  type WireEncoding,
} from "../../fixtures/wire.js";

const SERVICE = "/coral.discovery.v1.DiscoveryService";
const SIGNING_KEY = '{"id":"k1","privateKey":"hXIqNNX5M2H9WuNmTPcAYgwRSWpJMqONpL3HPPoxsdo="}';

/** The two servers, on one clock, each with its own registry and id counter. */
async function pair(t: Test, options: ConfigInput = {}) {
  const clock = createFakeClock();
  const start = async (unaryRoad: boolean) => {
    let ids = 0;
    const server = await startServer(t, {
      relays: ["198.51.100.1:3478"],
      signingKey: SIGNING_KEY,
      maxBodyBytes: 4096,
      ...options,
      now: clock.now,
      deps: { randomId: () => `00000000-0000-4000-8000-${String(++ids).padStart(12, "0")}`, unaryRoad },
    });
    return { port: server.port, session: h2c(t, server.port) };
  };
  return { road: await start(true), reference: await start(false), clock };
}

type Server = Awaited<ReturnType<typeof pair>>["road"];

const send = (server: Server, transport: "h1" | "h2", exchange: Exchange) =>
  transport === "h1" ? sendH1(server.port, exchange) : sendH2(server.session, exchange);

/** The transports an encoding is tried on: gRPC needs trailers, which HTTP/1.1 clients rarely read, but connect-es serves them; so all. */
const TRANSPORTS = ["h1", "h2"] as const;

interface Case {
  name: string;
  /** The exchange for one encoding; `tag` makes ids unique per encoding and transport. */
  build(encoding: WireEncoding, tag: string): Exchange;
}

function rpcCase(name: string, method: string, build: (encoding: WireEncoding, tag: string) => Uint8Array, headers: Record<string, string> = {}): Case {
  return {
    name,
    build: (encoding, tag) => ({ path: `${SERVICE}/${method}`, headers: { ...headersOf(encoding), ...headers }, body: bodyOf(encoding, build(encoding, tag)) }),
  };
}

const colony = (tag: string, extra: object = {}) => ({ meshId: `m-${tag}`, pubkey: KEY_1, endpoints: ["203.0.113.1:41820"], ...extra });
const bigMetadata = Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`key-${i}`, "v".repeat(80)]));

/** Requests both servers must answer byte for byte alike, in order (some depend on earlier ones). */
const SAME: Case[] = [
  rpcCase("RegisterColony", "RegisterColony", (e, tag) => payloadOf(e, RegisterColonyRequestSchema, colony(tag))),
  rpcCase("LookupColony, found", "LookupColony", (e, tag) => payloadOf(e, LookupColonyRequestSchema, { meshId: `m-${tag}` })),
  rpcCase("LookupColony, not found", "LookupColony", (e) => payloadOf(e, LookupColonyRequestSchema, { meshId: "nobody" })),
  rpcCase("RegisterColony, mesh_id missing", "RegisterColony", (e) => payloadOf(e, RegisterColonyRequestSchema, { pubkey: KEY_1 })),
  rpcCase("RegisterColony, split-brain", "RegisterColony", (e, tag) => payloadOf(e, RegisterColonyRequestSchema, colony(tag, { pubkey: KEY_2 }))),
  rpcCase("RegisterAgent", "RegisterAgent", (e, tag) =>
    payloadOf(e, RegisterAgentRequestSchema, { agentId: "a1", meshId: `m-${tag}`, pubkey: KEY_3, endpoints: ["203.0.113.2:51820"] }),
  ),
  rpcCase("LookupAgent", "LookupAgent", (e, tag) => payloadOf(e, LookupAgentRequestSchema, { agentId: "a1", meshId: `m-${tag}` })),
  rpcCase("Health", "Health", (e) => payloadOf(e, HealthRequestSchema, {})),
  rpcCase("RequestRelay", "RequestRelay", (e, tag) => payloadOf(e, RequestRelayRequestSchema, { meshId: `m-${tag}`, agentPubkey: KEY_3, colonyPubkey: KEY_1 })),
  rpcCase("ReleaseRelay, unknown session", "ReleaseRelay", (e) => payloadOf(e, ReleaseRelayRequestSchema, { sessionId: "nope" })),
  rpcCase("CreateBootstrapToken", "CreateBootstrapToken", (e) => payloadOf(e, CreateBootstrapTokenRequestSchema, { agentId: "a1", colonyId: "c1" })),
  rpcCase("CreateBootstrapToken, colony_id missing", "CreateBootstrapToken", (e) => payloadOf(e, CreateBootstrapTokenRequestSchema, { agentId: "a1" })),
  rpcCase("a rendezvous RPC, ciphertext missing", "PublishBootstrapRendezvous", (e) => payloadOf(e, PublishBootstrapRendezvousRequestSchema, { meshId: "m" })),
  rpcCase("RegisterColony with a large payload", "RegisterColony", (e, tag) => payloadOf(e, RegisterColonyRequestSchema, colony(`big-${tag}`, { metadata: bigMetadata }))),
  rpcCase(
    "a large answer, compressed because the client accepts gzip",
    "LookupColony",
    (e, tag) => payloadOf(e, LookupColonyRequestSchema, { meshId: `m-big-${tag}` }),
    { "accept-encoding": "gzip", "grpc-accept-encoding": "gzip" },
  ),
  rpcCase("a large answer, not compressed for a client that accepts only br... which is offered too", "LookupColony", (e, tag) =>
    payloadOf(e, LookupColonyRequestSchema, { meshId: `m-big-${tag}` }), { "accept-encoding": "br", "grpc-accept-encoding": "br" }),
  rpcCase("a small answer is not compressed even when accepted", "Health", (e) => payloadOf(e, HealthRequestSchema, {}), {
    "accept-encoding": "gzip",
    "grpc-accept-encoding": "gzip",
  }),
  rpcCase("an unknown request compression is unimplemented, naming what is supported", "Health", (e) => payloadOf(e, HealthRequestSchema, {}), {
    "content-encoding": "zstd",
    "grpc-encoding": "zstd",
  }),
  rpcCase("a valid deadline header", "Health", (e) => payloadOf(e, HealthRequestSchema, {}), { "connect-timeout-ms": "10000", "grpc-timeout": "10S" }),
  rpcCase("an invalid deadline header", "Health", (e) => payloadOf(e, HealthRequestSchema, {}), { "connect-timeout-ms": "soon", "grpc-timeout": "1x" }),
  rpcCase("other metadata is ignored", "Health", (e) => payloadOf(e, HealthRequestSchema, {}), { "x-trace-id": "abc", "user-agent": "test/1" }),
  {
    name: "a gzip-compressed request",
    build: (e, tag) => {
      const payload = gzipSync(payloadOf(e, LookupColonyRequestSchema, { meshId: `m-${tag}` }));
      if (e.protocol === "connect") return { path: `${SERVICE}/LookupColony`, headers: { ...headersOf(e), "content-encoding": "gzip" }, body: payload };
      return { path: `${SERVICE}/LookupColony`, headers: { ...headersOf(e), "grpc-encoding": "gzip" }, body: envelope(payload, 1) };
    },
  },
  {
    name: "a message over --max-body-bytes",
    build: (e) => ({ path: `${SERVICE}/LookupColony`, headers: headersOf(e), body: bodyOf(e, payloadOf(e, LookupColonyRequestSchema, { meshId: "x".repeat(5000) })) }),
  },
  {
    // Connect holds a request to its Content-Length (gRPC frames its own messages).
    name: "a Content-Length over the limit is refused before the body",
    build: (e, tag) => ({
      path: `${SERVICE}/Health`,
      // Over h2 a Content-Length the data does not match is a protocol error of the client's own stack.
      headers: { ...headersOf(e), ...(e.protocol === "connect" && tag.startsWith("h1") ? { "content-length": "99999" } : {}) },
      body: bodyOf(e, payloadOf(e, HealthRequestSchema, {})),
    }),
  },
  {
    name: "a GET is not allowed",
    build: (e) => ({ path: `${SERVICE}/Health`, headers: headersOf(e), body: "", method: "GET" }),
  },
  {
    name: "an unsupported content type",
    build: () => ({ path: `${SERVICE}/Health`, headers: { "content-type": "text/plain" }, body: "{}" }),
  },
  {
    name: "a streaming content type on a unary method",
    build: () => ({ path: `${SERVICE}/Health`, headers: { "content-type": "application/connect+json" }, body: "" }),
  },
  {
    name: "JSON with unknown fields and snake_case names",
    build: (e, tag) => {
      const body = e.binary ? payloadOf(e, LookupColonyRequestSchema, { meshId: `m-${tag}` }) : Buffer.from(JSON.stringify({ mesh_id: `m-${tag}`, bogus: 1 }));
      return { path: `${SERVICE}/LookupColony`, headers: headersOf(e), body: bodyOf(e, body) };
    },
  },
  {
    name: "JSON that is not JSON (Connect and gRPC: invalid_argument on both)",
    build: (e) => ({ path: `${SERVICE}/LookupColony`, headers: { ...headersOf(e), "content-type": e.protocol === "connect" ? "application/json" : `application/${e.protocol}+json` }, body: bodyOf(e, Buffer.from("{not json")) }),
  },
];

t.test("the road answers every request exactly as connect-es's router does", async (t) => {
  const { road, reference } = await pair(t);
  for (const transport of TRANSPORTS) {
    for (const encoding of ENCODINGS) {
      const tag = `${transport}-${encoding.protocol}-${encoding.binary ? "b" : "j"}`;
      for (const testCase of SAME) {
        const exchange = testCase.build(encoding, tag);
        const a = await send(road, transport, exchange);
        const b = await send(reference, transport, exchange);
        t.same(a, b, `${encoding.name} over ${transport}: ${testCase.name}`);
      }
    }
  }
});

/** Requests that do not decode, per encoding: the road says invalid_argument. */
function undecodable(e: WireEncoding): { name: string; exchange: Exchange }[] {
  const path = `${SERVICE}/RegisterColony`;
  const headers = headersOf(e);
  const valid = payloadOf(e, RegisterColonyRequestSchema, colony("undecodable"));
  const cases: { name: string; body: Uint8Array; headers?: Record<string, string> }[] = [];
  if (e.binary) {
    cases.push(
      { name: "a truncated message", body: bodyOf(e, valid.subarray(0, valid.length - 3)) },
      { name: "an illegal tag (field 0)", body: bodyOf(e, Buffer.from([0x00, 0x01])) },
      { name: "a length prefix past the end", body: bodyOf(e, Buffer.from([0x0a, 0x7f, 0x61])) },
      { name: "invalid UTF-8 in a string field", body: bodyOf(e, Buffer.from([0x0a, 0x02, 0xff, 0xfe])) },
      { name: "an unknown wire type", body: bodyOf(e, Buffer.from([0x0f])) },
    );
  }
  if (e.protocol === "connect") {
    cases.push({ name: "a body that is not gzip", body: Buffer.from("definitely not gzip"), headers: { "content-encoding": "gzip" } });
    cases.push({ name: "a truncated gzip body", body: gzipSync(valid).subarray(0, 12), headers: { "content-encoding": "gzip" } });
    cases.push({ name: "a corrupt br body", body: Buffer.from([0x1b, 0xff, 0xff, 0xff, 0x00]), headers: { "content-encoding": "br" } });
  } else {
    cases.push(
      { name: "no envelope at all", body: Buffer.alloc(0) },
      { name: "half an envelope header", body: Buffer.from([0, 0, 0]) },
      { name: "an envelope that declares more than it holds", body: envelope(valid, 0, valid.length + 10) },
      { name: "an envelope that declares less than it holds", body: envelope(valid, 0, valid.length - 2) },
      { name: "two envelopes", body: Buffer.concat([envelope(valid), envelope(valid)]) },
      { name: "an envelope followed by more than the limit", body: Buffer.concat([envelope(valid), Buffer.alloc(5000)]) },
      { name: "a compressed envelope without an encoding", body: envelope(gzipSync(valid), 1) },
      { name: "a compressed envelope that is not gzip", body: envelope(Buffer.from("nope"), 1), headers: { "grpc-encoding": "gzip" } },
      { name: "a truncated gzip envelope", body: envelope(gzipSync(valid).subarray(0, 12), 1), headers: { "grpc-encoding": "gzip" } },
      { name: "a trailer flag on a request message", body: envelope(valid, 0x80) },
    );
  }
  return cases.map((c) => ({ name: c.name, exchange: { path, headers: { ...headers, ...c.headers }, body: c.body } }));
}

t.test("a request that does not decode is invalid_argument on every encoding, never internal", async (t) => {
  const { road, reference } = await pair(t);
  const differences: string[] = [];
  for (const transport of TRANSPORTS) {
    for (const encoding of ENCODINGS) {
      for (const { name, exchange } of undecodable(encoding)) {
        const label = `${encoding.name} over ${transport}: ${name}`;
        const a = await send(road, transport, exchange);
        const ours = outcome(encoding.protocol, a);
        t.equal(ours.code, "invalid_argument", `${label}: invalid_argument (${ours.message})`);
        if (encoding.protocol === "connect") t.equal(a.status, 400, `${label}: HTTP 400`);
        else t.equal(a.status, 200, `${label}: HTTP 200 with the status in trailers`);
        const b = await send(reference, transport, exchange);
        const theirs = outcome(encoding.protocol, b);
        if (theirs.code === "invalid_argument") t.same(a, b, `${label}: where connect-es agrees, the answers are identical`);
        else differences.push(`${label}: connect-es says ${theirs.code}`);
      }
    }
  }
  t.ok(differences.length > 0, "connect-es answers some of these internal (the reason for the road's own decoding)");
  t.comment(`deliberate differences from connect-es:\n${differences.join("\n")}`);
});

t.test("a rate-limit refusal is the same on all four encodings, with Retry-After", async (t) => {
  const { road, reference, clock } = await pair(t, { rateLimit: true, rateLimitExempt: "none", rateLookup: "1:1" });
  for (const encoding of ENCODINGS) {
    clock.advance(1_000); // a fresh budget of one for each encoding
    const exchange: Exchange = { path: `${SERVICE}/Health`, headers: { ...headersOf(encoding) }, body: bodyOf(encoding, payloadOf(encoding, HealthRequestSchema, {})) };
    const forwarded = { ...exchange, headers: { ...exchange.headers } };
    const first = await send(road, "h2", forwarded);
    t.equal(outcome(encoding.protocol, first).code, "ok", `${encoding.name}: the first call passes`);
    const refused = await send(road, "h2", forwarded);
    const again = await send(reference, "h2", forwarded);
    const reference2 = await send(reference, "h2", forwarded);
    t.same(refused, reference2, `${encoding.name}: refused exactly as connect-es refuses`);
    t.equal(outcome(encoding.protocol, again).code, "ok");
    const { code, message } = outcome(encoding.protocol, refused);
    t.equal(code, "resource_exhausted", `${encoding.name}: resource_exhausted`);
    t.match(message, /rate limit exceeded: at most 1 lookups per second/);
    if (encoding.protocol === "connect") t.equal(refused.headers["retry-after"], "1", "Retry-After header");
    else if (encoding.protocol === "grpc") t.equal(refused.trailers["retry-after"], "1", "Retry-After trailer");
    else t.match(Buffer.from(refused.body, "base64").toString("latin1"), /retry-after: 1\r\n/, "Retry-After in the trailer block");
  }
});

t.test("an unknown method: Connect clients see unimplemented (a plain 404), gRPC and gRPC-Web status 12", async (t) => {
  const { road } = await pair(t);
  for (const path of [`${SERVICE}/Bogus`, "/no.such.v1.Service/Method"]) {
    for (const encoding of ENCODINGS) {
      for (const transport of TRANSPORTS) {
        const answer = await send(road, transport, { path, headers: headersOf(encoding), body: bodyOf(encoding, Buffer.alloc(0)) });
        const label = `${encoding.name} over ${transport} to ${path}`;
        if (encoding.protocol === "connect") {
          t.equal(answer.status, 404, label);
          t.equal(answer.headers["content-type"], "text/plain; charset=utf-8", `${label}: no Connect error envelope`);
        } else {
          t.equal(answer.status, 200, label);
          t.equal(answer.headers["grpc-status"], "12", `${label}: unimplemented`);
          t.match(decodeURIComponent(answer.headers["grpc-message"] ?? ""), /^unknown method \w+ for service [\w.]+$/);
        }
      }
    }
  }
  const other = await sendH1(road.port, { path: "/nope", headers: {}, body: "", method: "GET" });
  t.equal(other.status, 404, "a path that is no RPC is still a 404");
  t.match(Buffer.from(other.body, "base64").toString(), /"code":"not_found"/);
});

t.test("real clients on every protocol see unimplemented for a method the server does not have", async (t) => {
  const { road } = await pair(t);
  const baseUrl = `http://127.0.0.1:${road.port}`;
  // A method the server lacks: DiscoveryService's Health under another name.
  const missing = { ...DiscoveryService.method.health, name: "Missing", localName: "missing" };
  for (const [name, transport] of [
    ["Connect JSON", createConnectTransport({ baseUrl, httpVersion: "1.1" })],
    ["Connect binary", createConnectTransport({ baseUrl, httpVersion: "2", useBinaryFormat: true })],
    ["gRPC", createGrpcTransport({ baseUrl })],
    ["gRPC-Web", createGrpcWebTransport({ baseUrl, httpVersion: "1.1" })],
  ] as const) {
    const error = await transport.unary(missing, undefined, 5_000, undefined, {}).catch((e: unknown) => ConnectError.from(e));
    t.equal((error as ConnectError).code, Code.Unimplemented, `${name}: unimplemented`);
  }
});

t.test("a request to an unknown path that is no RPC (not POST, or no RPC content type) is an ordinary 404", async (t) => {
  const { road } = await pair(t);
  const get = await sendH1(road.port, { path: `${SERVICE}/Bogus`, headers: { "content-type": "application/grpc" }, body: "", method: "GET" });
  t.equal(get.status, 404);
  t.match(Buffer.from(get.body, "base64").toString(), /"code":"not_found","message":"no route for GET/);
  const text = await sendH1(road.port, { path: `${SERVICE}/Bogus`, headers: { "content-type": "text/plain" }, body: "hi" });
  t.equal(text.status, 404);
  const deep = await sendH1(road.port, { path: "/a/b/c", headers: { "content-type": "application/json" }, body: "{}" });
  t.equal(deep.status, 404, "not a /Service/Method path");
  t.match(Buffer.from(deep.body, "base64").toString(), /no route for POST \/a\/b\/c/);
});

t.test("the road serves unary methods only: a service of streams gets no route", async (t) => {
  const app = fastify();
  t.teardown(() => app.close());
  await registerUnaryRoad(app, { service: ServerReflection, handlers: {}, steps: [], maxBodyBytes: 1024, client: () => ({ ip: undefined, observedIp: undefined }), log: { error() {}, debug() {} }, buffered: createByteBudget({ max: 1024, maxPerKey: 1024 }) });
  const res = await app.inject({ method: "POST", url: "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo", headers: { "content-type": "application/grpc" }, payload: "" });
  t.equal(res.statusCode, 404);
});

t.test("the road refuses to start without a handler for every unary method", async (t) => {
  const app = fastify();
  t.teardown(() => app.close());
  await t.rejects(
    registerUnaryRoad(app, { service: DiscoveryService, handlers: {}, steps: [], maxBodyBytes: 1024, client: () => ({ ip: undefined, observedIp: undefined }), log: { error() {}, debug() {} }, buffered: createByteBudget({ max: 1024, maxPerKey: 1024 }) }),
    /no handler for RegisterColony/,
  );
});

t.test("unfinished requests hold the buffered-bytes budget of their address: past it, resource_exhausted; answered, it is free", async (t) => {
  const buffered = createByteBudget({ max: 1024 ** 3, maxPerKey: 64 * 1024 });
  const server = await startServer(t, { maxBodyBytes: 48 * 1024, maxBufferedBytesPerIp: 64 * 1024, deps: { buffered } });
  const session = h2c(t, server.port);
  const path = `${SERVICE}/LookupColony`;
  for (const e of ENCODINGS.filter((x) => x.name === "Connect JSON" || x.name === "gRPC")) {
    const held = session.request({ ":method": "POST", ":path": path, ...headersOf(e) });
    held.on("error", () => {});
    const heldAnswer = new Promise<void>((resolve) => held.on("close", resolve));
    held.resume();
    // A gRPC envelope that promises more than is sent: the body is unfinished.
    held.write(e.protocol === "connect" ? Buffer.alloc(40_000, 0x20) : envelope(Buffer.alloc(40_000 - 5), 0, 45_000));
    await until(() => buffered.held("127.0.0.1") >= 40_000, "the first body to be held");

    const body = e.protocol === "connect" ? Buffer.alloc(30_000, 0x20) : envelope(Buffer.alloc(30_000 - 5));
    const { code, message } = outcome(e.protocol, await sendH2(session, { path, headers: headersOf(e), body }));
    t.equal(code, "resource_exhausted", `${e.name}: the second request is refused`);
    t.match(message, /too many unfinished requests from your address.*--max-buffered-bytes-per-ip/, e.name);

    held.end();
    await heldAnswer;
    await until(() => buffered.total === 0, "every byte to be given back");
    const again = outcome(e.protocol, await sendH2(session, { path, headers: headersOf(e), body }));
    t.not(again.code, "resource_exhausted", `${e.name}: once the first is answered, the same request passes the budget (${again.code})`);
  }
});

t.test("the observer hears every answered RPC once: method, protocol, code (0 for success) and a duration", async (t) => {
  const heard: string[] = [];
  const seconds: number[] = [];
  const app = fastify();
  t.teardown(() => app.close());
  const handlers = Object.fromEntries(
    DiscoveryService.methods.map((m) => [
      m.localName,
      (input: { meshId?: string }) => {
        if (m.name === "LookupColony" && input.meshId === "missing") throw new ConnectError("colony missing not found", Code.NotFound);
        return {};
      },
    ]),
  );
  await registerUnaryRoad(app, {
    service: DiscoveryService,
    handlers,
    steps: [],
    maxBodyBytes: 1024,
    client: () => ({ ip: undefined, observedIp: undefined }),
    log: { error() {}, debug() {} },
    buffered: createByteBudget({ max: 1 << 20, maxPerKey: 1 << 20 }),
    observer: {
      forMethod: (method) => (protocol, code, s) => {
        heard.push(`${method} ${protocol} ${code}`);
        seconds.push(s);
      },
    },
  });
  await app.listen({ host: "127.0.0.1", port: 0 });
  const { port } = app.server.address() as { port: number };
  const baseUrl = `http://127.0.0.1:${port}`;
  const json = createClient(DiscoveryService, createConnectTransport({ baseUrl, httpVersion: "1.1" }));
  const web = createClient(DiscoveryService, createGrpcWebTransport({ baseUrl, httpVersion: "1.1" }));
  await json.health({});
  await t.rejects(web.lookupColony({ meshId: "missing" }), { code: Code.NotFound });
  const broken = await sendH1(port, { path: `${SERVICE}/LookupColony`, headers: { "content-type": "application/json" }, body: Buffer.from("{not json") });
  t.equal(broken.status, 400, "a request that does not decode is answered");
  const wrongMethod = await sendH1(port, { path: `${SERVICE}/Health`, method: "GET", headers: { "content-type": "application/json" }, body: Buffer.alloc(0) });
  t.equal(wrongMethod.status, 405, "not an RPC: not observed");
  t.same(heard, ["Health connect 0", `LookupColony grpc-web ${Code.NotFound}`, `LookupColony connect ${Code.InvalidArgument}`]);
  t.ok(seconds.every((s) => s >= 0 && s < 10), `durations in seconds: ${seconds.join(", ")}`);
});

t.test("without an observer (--metrics off) the road answers as usual", async (t) => {
  const server = await startServer(t, { metrics: false });
  const client = createClient(DiscoveryService, createConnectTransport({ baseUrl: server.url, httpVersion: "1.1" }));
  t.equal((await client.health({})).status, "ok");
  await t.rejects(client.lookupColony({ meshId: "nowhere" }), { code: Code.NotFound });
});

t.test("a client that goes away is never answered and costs a debug line at most: mid-body, or while its call runs", async (t) => {
  const lines: { level: string; msg: string; obj: object }[] = [];
  const log = { error: (obj: object, msg: string) => lines.push({ level: "error", msg, obj }), debug: (obj: object, msg: string) => lines.push({ level: "debug", msg, obj }) };
  const gates: { ctx: CallContext; release: (outcome: "answer" | "refuse") => void }[] = [];
  let finished = 0;
  const handler = (_input: never, ctx: CallContext) =>
    new Promise<object>((resolve, reject) => {
      gates.push({ ctx, release: (outcome) => (outcome === "answer" ? resolve({ status: "ok" }) : reject(new ConnectError("nope", Code.NotFound))) });
    });
  const handlers = Object.fromEntries(DiscoveryService.methods.map((m) => [m.localName, handler]));
  const counting: Step = async (call, next) => {
    try {
      return await next(call);
    } finally {
      finished++;
    }
  };
  const app = fastify();
  t.teardown(() => app.close());
  let writes = 0;
  app.addHook("onRequest", async (_req, reply) => {
    const raw = reply.raw;
    const writeHead = raw.writeHead.bind(raw) as (...args: unknown[]) => typeof raw;
    raw.writeHead = ((...args: unknown[]) => {
      writes++;
      return writeHead(...args);
    }) as typeof raw.writeHead;
  });
  await registerUnaryRoad(app, { service: DiscoveryService, handlers, steps: [counting, loggingStep(log)], maxBodyBytes: 1024, client: () => ({ ip: undefined, observedIp: undefined }), log, buffered: createByteBudget({ max: 1 << 20, maxPerKey: 1 << 20 }) });
  await app.listen({ host: "127.0.0.1", port: 0 });
  const port = (app.server.address() as AddressInfo).port;
  const head = (length: number) => `POST ${SERVICE}/Health HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: ${length}\r\n\r\n`;
  const connect = () =>
    new Promise<net.Socket>((resolve) => {
      const socket = net.connect(port, "127.0.0.1", () => resolve(socket));
      socket.on("error", () => {});
    });

  const cut = await connect();
  cut.write(`${head(100)}{"a`);
  await until(() => lines.length === 0 && cut.bytesWritten > 0, "the request to be sent");
  cut.destroy();
  await until(() => lines.length === 1, "the canceled call to be logged");
  t.match(lines[0], { level: "debug", msg: "rpc canceled", obj: { code: "Canceled", reason: "the client closed the request" } }, "mid-body: canceled, at debug");

  for (const outcome of ["answer", "refuse"] as const) {
    const socket = await connect();
    socket.write(`${head(2)}{}`);
    await until(() => gates.length > 0, "the handler to run");
    const running = gates.pop() as (typeof gates)[number];
    socket.destroy();
    await until(() => running.ctx.signal.aborted, "the server to see the client go");
    const before = finished;
    running.release(outcome);
    await until(() => finished === before + 1, "the call to finish");
    await new Promise((resolve) => setImmediate(resolve));
  }
  t.equal(writes, 0, "nothing was written to a client that was gone");
  t.same(lines.map((l) => `${l.level} ${l.msg}`), ["debug rpc canceled", "debug rpc refused"], "no error line: the refusal at debug, the answer not at all");
});
