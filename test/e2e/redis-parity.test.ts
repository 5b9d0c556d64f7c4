// The daemon's black-box behaviour is the same with and without --redis-url:
// one scenario (registrations, renewals, refusals, lookups, relays, admin,
// bad input) over every protocol against an in-memory server and a server on
// a real Redis, transcripts compared (times left out: they differ by design).
import t, { type Test } from "tap";
import { Code, ConnectError, createClient, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { DiscoveryService } from "../../gen/coral/discovery/v1/discovery_pb.js";
import { AdminService } from "../../gen/coral/discovery/admin/v1/admin_pb.js";
import { formatSigningKey, generateSigningKey } from "../../src/tokens/index.js";
import { KEY_1, KEY_2, KEY_3 } from "../fixtures/keys.js";
import { hasRedis, REDIS_MISSING, startRedis } from "../fixtures/redis.js";
import { startServer, type TestServer } from "../fixtures/server.js";

const ADMIN_TOKEN = "parity-admin-token-0123456789";

const transportsOf = (url: string): Record<string, Transport> => ({
  "Connect JSON over HTTP/1.1": createConnectTransport({ baseUrl: url, httpVersion: "1.1" }),
  "Connect binary over h2c": createConnectTransport({ baseUrl: url, httpVersion: "2", useBinaryFormat: true }),
  "gRPC over h2c": createGrpcTransport({ baseUrl: url }),
  "gRPC-Web over HTTP/1.1": createGrpcWebTransport({ baseUrl: url, httpVersion: "1.1" }),
});

/** A call's outcome without its times: the response as JSON-able data, or the error's code and message. */
async function outcome(call: () => Promise<object>): Promise<unknown> {
  try {
    return strip(await call());
  } catch (error) {
    if (!(error instanceof ConnectError)) throw error;
    const message = error.rawMessage.replace(/ends at \S+ \(in \d+s\)/, "ends at <time>").replace(/relay session [0-9a-f-]{36}/, "relay session <id>");
    return { code: Code[error.code], message };
  }
}

const TIME_FIELDS = new Set(["expiresAt", "lastSeen", "uptimeSeconds", "$typeName"]);
function strip(value: unknown): unknown {
  if (typeof value === "bigint") return String(value);
  if (value instanceof Uint8Array) return Buffer.from(value).toString("base64");
  if (Array.isArray(value)) return value.map(strip);
  if (typeof value !== "object" || value === null) return value;
  return Object.fromEntries(Object.entries(value).filter(([key]) => !TIME_FIELDS.has(key)).map(([key, v]) => [key, strip(v)]));
}

/** The scenario on one transport; `tag` keeps each transport's meshes apart. */
async function scenario(transport: Transport, tag: string): Promise<unknown[]> {
  const c = createClient(DiscoveryService, transport);
  const admin = createClient(AdminService, transport);
  const auth = { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } };
  const mesh = `parity-${tag}`;
  const log: unknown[] = [];
  const step = async (call: () => Promise<object>) => log.push(await outcome(call));
  await step(() => c.registerColony({ meshId: mesh, pubkey: KEY_1, endpoints: ["203.0.113.1:51820"], metadata: { a: "1" }, publicPort: 8443 }));
  await step(() => c.lookupColony({ meshId: mesh }));
  await step(() => c.registerColony({ meshId: mesh, pubkey: KEY_1, endpoints: [":51820"], metadata: {} }));
  await step(() => c.lookupColony({ meshId: mesh }));
  await step(() => c.registerColony({ meshId: mesh, pubkey: KEY_2, endpoints: ["198.51.100.1:1"] }));
  await step(() => c.lookupColony({ meshId: `${mesh}-none` }));
  await step(() => c.registerColony({ meshId: "", pubkey: KEY_1, endpoints: [":1"] }));
  await step(() => c.registerColony({ meshId: mesh, pubkey: "not a key", endpoints: [":1"] }));
  await step(() => c.registerAgent({ meshId: mesh, agentId: "a1", pubkey: KEY_3, endpoints: ["198.51.100.9:51820"] }));
  await step(() => c.registerAgent({ meshId: mesh, agentId: "a1", pubkey: KEY_2, endpoints: ["198.51.100.8:51820"] }));
  await step(() => c.lookupAgent({ meshId: mesh, agentId: "a1" }));
  await step(() => c.lookupAgent({ meshId: mesh, agentId: "a2" }));
  const relay = await c.requestRelay({ meshId: mesh, agentPubkey: KEY_3, colonyPubkey: KEY_1 });
  log.push(strip({ ...relay, sessionId: relay.sessionId.length > 0 }));
  await step(() => c.releaseRelay({ sessionId: relay.sessionId, meshId: `${mesh}-other` }));
  await step(() => c.releaseRelay({ sessionId: relay.sessionId, meshId: mesh }));
  await step(() => c.releaseRelay({ sessionId: relay.sessionId, meshId: mesh }));
  await step(() => admin.getMesh({ meshId: mesh }, auth));
  await step(() => admin.listColonies({ meshIdPrefix: mesh, pageSize: 10 }, auth));
  await step(() => admin.evictAgent({ meshId: mesh, agentId: "a1" }, auth));
  await step(() => admin.evictColony({ meshId: mesh, includeAgents: true }, auth));
  await step(() => c.lookupColony({ meshId: mesh }));
  await step(() => c.registerColony({ meshId: mesh, pubkey: KEY_2, endpoints: [":51820"] }));
  return log;
}

async function run(t: Test, server: TestServer): Promise<Record<string, unknown[]>> {
  const transcripts: Record<string, unknown[]> = {};
  let i = 0;
  for (const [name, transport] of Object.entries(transportsOf(server.url))) transcripts[name] = await scenario(transport, String(i++));
  const c = createClient(DiscoveryService, transportsOf(server.url)["Connect JSON over HTTP/1.1"] as Transport);
  transcripts.health = [strip(await c.health({}))];
  const stats = await createClient(AdminService, transportsOf(server.url)["gRPC over h2c"] as Transport).getStats({}, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  transcripts.stats = [{ colonies: stats.colonies, agents: stats.agents, relaySessions: stats.relaySessions, bytes: String(stats.registryBytes) }];
  t.pass(`ran on ${stats.store}`);
  return transcripts;
}

if (!hasRedis) {
  t.test("identical behaviour with and without --redis-url", { skip: REDIS_MISSING }, async () => {});
} else {
  t.test("every RPC answers the same over every protocol with and without --redis-url", async (t) => {
    const redis = await startRedis(t);
    const env = { DISCOVERY_SIGNING_KEY: formatSigningKey(generateSigningKey()) };
    const options = { relays: ["relay.example:3478"], env, rateLimit: false };
    const memory = await startServer(t, { ...options, adminToken: ADMIN_TOKEN });
    const shared = await startServer(t, { ...options, adminToken: ADMIN_TOKEN, redisUrl: redis.url });
    const expected = await run(t, memory);
    const actual = await run(t, shared);
    t.same(actual, expected);
    t.ok((expected["Connect JSON over HTTP/1.1"] as unknown[]).some((o) => JSON.stringify(o).includes("AlreadyExists")), "the scenario saw a split-brain refusal");
  });
}
