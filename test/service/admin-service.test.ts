import t from "tap";
import { memoryStore } from "../../src/registry/index.js";
import { Code, ConnectError, createClient, createRouterTransport, type Interceptor } from "@connectrpc/connect";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { AdminService } from "../../gen/coral/discovery/admin/v1/admin_pb.js";
import { clientKey, routerServiceImpl } from "../../src/server/router-service.js";
import { createAdminGuard } from "../../src/service/admin-auth.js";
import { createAdminService, decodePageToken, encodePageToken } from "../../src/service/admin-service.js";
import type { UnaryHandler } from "../../src/service/call.js";
import { errorMappingStep } from "../../src/service/errors.js";
import { createServiceFixture } from "../fixtures/service.js";

const TOKEN = "0123456789abcdef-admin";
const KEY_A = "YWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWE=";
const KEY_B = "YmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmI=";

/** The discovery fixture plus AdminService on the same registry, in memory, called with the token. */
function setup() {
  const fixture = createServiceFixture({ maxRegistryBytes: 5_000_000 });
  const infos: { obj: Record<string, unknown>; msg: string }[] = [];
  const evictions: string[] = [];
  const handlers = createAdminService({
    store: memoryStore(fixture.registry),
    now: fixture.clock.now,
    startedAtMs: fixture.clock.now(),
    version: "9.9.9",
    limits: { colonies: 10, agents: 20, bytes: 5_000_000 },
    log: { info: (obj, msg) => infos.push({ obj: obj as Record<string, unknown>, msg }) },
    events: { evicted: (kind, count) => evictions.push(`${kind} ${count ?? 1}`) },
  });
  const guard = createAdminGuard({ token: TOKEN, now: fixture.clock.now, log: { warn: () => {} }, calls: { perSecond: 1000, burst: 1000 } });
  const impl = routerServiceImpl(AdminService, handlers as unknown as Record<string, UnaryHandler>, [errorMappingStep, guard.step]);
  const setCaller: Interceptor = (next) => (req) => {
    req.contextValues.set(clientKey, { ip: "192.0.2.9", observedIp: undefined });
    return next(req);
  };
  const transport = createRouterTransport((router) => router.service(AdminService, impl), { router: { interceptors: [setCaller] } });
  const admin = createClient(AdminService, transport);
  const headers = { authorization: `Bearer ${TOKEN}` };
  const registerColony = (meshId: string, pubkey = KEY_A) =>
    fixture.client.registerColony({ meshId, pubkey, endpoints: ["10.0.0.1:41820"], metadata: { site: "x" } });
  const registerAgent = (meshId: string, agentId: string) =>
    fixture.client.registerAgent({ meshId, agentId, pubkey: KEY_B, endpoints: ["10.0.0.2:41820"] });
  return { ...fixture, admin, headers, infos, evictions, registerColony, registerAgent };
}

t.test("ListColonies pages in mesh id order with an opaque token, filters by prefix and counts agents", async (t) => {
  const s = setup();
  for (const id of ["mesh-c", "mesh-a", "other", "mesh-b"]) await s.registerColony(id);
  await s.registerAgent("mesh-a", "a1");
  await s.registerAgent("mesh-a", "a2");
  const first = await s.admin.listColonies({ pageSize: 2 }, { headers: s.headers });
  t.same(first.colonies.map((c) => c.meshId), ["mesh-a", "mesh-b"]);
  t.equal(first.colonies[0]?.agentCount, 2);
  t.equal(first.colonies[0]?.pubkey, KEY_A);
  t.same(first.colonies[0]?.endpoints, ["10.0.0.1:41820"]);
  t.same(first.colonies[0]?.metadata, { site: "x" });
  t.equal(timestampMs(first.colonies[0]!.lastSeen!), s.clock.now());
  t.equal(timestampMs(first.colonies[0]!.expiresAt!), s.clock.now() + 300_000);
  t.not(first.nextPageToken, "");
  t.notMatch(first.nextPageToken, /mesh/, "the token is opaque");
  const second = await s.admin.listColonies({ pageSize: 2, pageToken: first.nextPageToken }, { headers: s.headers });
  t.same(second.colonies.map((c) => c.meshId), ["mesh-c", "other"]);
  t.equal(second.nextPageToken, "", "the last page has no token");
  const prefixed = await s.admin.listColonies({ meshIdPrefix: "mesh-" }, { headers: s.headers });
  t.same(prefixed.colonies.map((c) => c.meshId), ["mesh-a", "mesh-b", "mesh-c"]);
  s.clock.advance(300_000);
  t.same((await s.admin.listColonies({}, { headers: s.headers })).colonies, [], "expired colonies are never listed");
});

t.test("ListColonies: page size 0 means 100, larger than 1000 means 1000, negative is refused", async (t) => {
  const s = setup();
  for (let i = 0; i < 101; i++) s.registry.registerColony(`m${String(i).padStart(4, "0")}`, KEY_A, { endpoints: [], meshIpv4: "", meshIpv6: "", connectPort: 0, metadata: {}, observedEndpoint: undefined, publicPort: 0, publicEndpoint: undefined });
  const page = await s.admin.listColonies({}, { headers: s.headers });
  t.equal(page.colonies.length, 100);
  t.not(page.nextPageToken, "");
  t.equal((await s.admin.listColonies({ pageSize: 5000 }, { headers: s.headers })).colonies.length, 101);
  await t.rejects(s.admin.listColonies({ pageSize: -1 }, { headers: s.headers }), { code: Code.InvalidArgument, rawMessage: /page_size -1 is negative: use 1-1000, or 0 for 100/ });
});

t.test("ListColonies refuses page tokens it did not issue and prefixes no mesh id could start with", async (t) => {
  const s = setup();
  for (const token of ["garbage!", encodePageToken("x").slice(0, -1), Buffer.from("v2:mesh").toString("base64url"), Buffer.from("v1:bad id").toString("base64url")]) {
    await t.rejects(s.admin.listColonies({ pageToken: token }, { headers: s.headers }), { code: Code.InvalidArgument, rawMessage: /page_token .* is not one this service issued/ }, token);
  }
  await t.rejects(s.admin.listColonies({ meshIdPrefix: "bad prefix" }, { headers: s.headers }), { code: Code.InvalidArgument, rawMessage: /mesh_id_prefix "bad prefix" is invalid/ });
  t.equal(decodePageToken(encodePageToken("mesh-a:b@c")), "mesh-a:b@c");
});

t.test("GetMesh answers the colony and its active agents in id order; a mesh with nothing is not_found", async (t) => {
  const s = setup();
  await s.registerColony("mesh-a");
  await s.registerAgent("mesh-a", "zed");
  await s.registerAgent("mesh-a", "abe");
  const mesh = await s.admin.getMesh({ meshId: "mesh-a" }, { headers: s.headers });
  t.equal(mesh.colony?.meshId, "mesh-a");
  t.equal(mesh.colony?.agentCount, 2);
  t.same(mesh.agents.map((a) => [a.agentId, a.pubkey, a.endpoints]), [["abe", KEY_B, ["10.0.0.2:41820"]], ["zed", KEY_B, ["10.0.0.2:41820"]]]);
  await s.registerAgent("mesh-only-agents", "a1");
  const agentsOnly = await s.admin.getMesh({ meshId: "mesh-only-agents" }, { headers: s.headers });
  t.equal(agentsOnly.colony, undefined);
  t.equal(agentsOnly.agents.length, 1);
  await t.rejects(s.admin.getMesh({ meshId: "mesh-none" }, { headers: s.headers }), { code: Code.NotFound, rawMessage: "mesh mesh-none has no active colony or agents" });
  await t.rejects(s.admin.getMesh({ meshId: "" }, { headers: s.headers }), { code: Code.InvalidArgument, rawMessage: "mesh_id is required" });
});

t.test("EvictColony removes the colony now, keeps its agents unless asked, logs what it removed, and frees the mesh", async (t) => {
  const s = setup();
  await s.registerColony("mesh-a");
  await s.registerAgent("mesh-a", "a1");
  await s.registerAgent("mesh-a", "a2");
  const evicted = await s.admin.evictColony({ meshId: "mesh-a" }, { headers: s.headers });
  t.equal(evicted.colony?.pubkey, KEY_A);
  t.equal(evicted.colony?.agentCount, 2);
  t.same(evicted.agents, []);
  await t.rejects(s.client.lookupColony({ meshId: "mesh-a" }), { code: Code.NotFound });
  t.equal((await s.client.lookupAgent({ meshId: "mesh-a", agentId: "a1" })).agentId, "a1", "agents stay");
  t.same(s.infos[0], { obj: { meshId: "mesh-a", pubkey: KEY_A, agents: [], agentsKept: 2, clientIp: "192.0.2.9" }, msg: "admin evicted a colony" });
  t.notMatch(JSON.stringify(s.infos), new RegExp(TOKEN), "the token is never logged");
  await s.registerColony("mesh-a", KEY_B);
  t.pass("another pubkey may register the mesh at once (no split-brain)");
  const all = await s.admin.evictColony({ meshId: "mesh-a", includeAgents: true }, { headers: s.headers });
  t.equal(all.colony?.pubkey, KEY_B);
  t.same(all.agents.map((a) => a.agentId), ["a1", "a2"]);
  t.same(s.infos[1]?.obj, { meshId: "mesh-a", pubkey: KEY_B, agents: [{ agentId: "a1", pubkey: KEY_B }, { agentId: "a2", pubkey: KEY_B }], agentsKept: 0, clientIp: "192.0.2.9" });
  await t.rejects(s.client.lookupAgent({ meshId: "mesh-a", agentId: "a1" }), { code: Code.NotFound });
  await t.rejects(s.admin.evictColony({ meshId: "mesh-a" }, { headers: s.headers }), { code: Code.NotFound, rawMessage: "mesh mesh-a has no active colony to evict" });
  await t.rejects(s.admin.evictColony({ meshId: "mesh-a", includeAgents: true }, { headers: s.headers }), { code: Code.NotFound, rawMessage: "mesh mesh-a has no active colony or agents to evict" });
  await s.registerAgent("mesh-b", "b1");
  const agentsOnly = await s.admin.evictColony({ meshId: "mesh-b", includeAgents: true }, { headers: s.headers });
  t.equal(agentsOnly.colony, undefined);
  t.equal(agentsOnly.agents.length, 1);
  t.equal(s.infos[2]?.msg, "admin evicted the agents of a mesh");
  t.same(s.evictions, ["colony 1", "colony 1", "agent 2", "agent 1"], "each eviction is reported with how many leases it removed (refusals are not)");
});

t.test("EvictAgent removes one agent and logs it; an unknown one is not_found", async (t) => {
  const s = setup();
  await s.registerAgent("mesh-a", "a1");
  const res = await s.admin.evictAgent({ meshId: "mesh-a", agentId: "a1" }, { headers: s.headers });
  t.equal(res.agent?.agentId, "a1");
  t.same(s.infos, [{ obj: { meshId: "mesh-a", agentId: "a1", pubkey: KEY_B, clientIp: "192.0.2.9" }, msg: "admin evicted an agent" }]);
  await t.rejects(s.admin.evictAgent({ meshId: "mesh-a", agentId: "a1" }, { headers: s.headers }), { code: Code.NotFound, rawMessage: "agent a1 of mesh mesh-a not found" });
  t.same(s.evictions, ["agent 1"], "the eviction is reported once, the not_found not at all");
  await t.rejects(s.admin.evictAgent({ meshId: "mesh-a", agentId: "" }, { headers: s.headers }), { code: Code.InvalidArgument, rawMessage: "agent_id is required" });
});

t.test("GetStats reports counts, registry bytes and budget, uptime and the store", async (t) => {
  const s = setup();
  await s.registerColony("mesh-a");
  await s.registerAgent("mesh-a", "a1");
  s.clock.advance(61_500);
  const stats = await s.admin.getStats({}, { headers: s.headers });
  t.equal(stats.colonies, 1);
  t.equal(stats.agents, 1);
  t.equal(stats.relaySessions, 0);
  t.equal(stats.registryBytes, BigInt(s.registry.counts().bytes));
  t.ok(stats.registryBytes > 0n);
  t.equal(stats.registryBytesBudget, 5_000_000n);
  t.equal(stats.uptimeSeconds, 61n);
  t.equal(stats.store, "memory");
  t.equal(stats.version, "9.9.9");
  t.equal(stats.maxColonies, 10);
  t.equal(stats.maxAgents, 20);
  s.clock.set(0);
  t.equal((await s.admin.getStats({}, { headers: s.headers })).uptimeSeconds, 0n, "a clock gone back reports 0, never negative");
});

t.test("the handlers are behind the guard: without the token nothing is answered", async (t) => {
  const s = setup();
  await s.registerColony("mesh-a");
  const error = await s.admin.evictColony({ meshId: "mesh-a" }).catch((e: unknown) => e);
  t.equal((error as ConnectError).code, Code.Unauthenticated);
  t.ok(await s.client.lookupColony({ meshId: "mesh-a" }), "nothing was evicted");
});

t.test("without an events sink (metrics off) evictions work the same", async (t) => {
  const fixture = createServiceFixture({});
  const handlers = createAdminService({ store: memoryStore(fixture.registry), now: fixture.clock.now, startedAtMs: 0, version: "9.9.9", limits: { colonies: 1, agents: 1, bytes: 1 }, log: { info: () => {} } });
  await fixture.client.registerAgent({ meshId: "mesh-a", agentId: "a1", pubkey: KEY_B, endpoints: ["10.0.0.2:41820"] });
  const ctx = { clientIp: "192.0.2.9" } as never;
  t.equal((await handlers.evictAgent({ meshId: "mesh-a", agentId: "a1" } as never, ctx)).agent?.agentId, "a1");
  await t.rejects(fixture.client.lookupAgent({ meshId: "mesh-a", agentId: "a1" }), { code: Code.NotFound }, "it is gone");
});

t.test("GetMesh and ListColonies say which entries are proven", async (t) => {
  const s = setup();
  const data = { endpoints: [":1"], meshIpv4: "", meshIpv6: "", connectPort: 0, metadata: {}, observedEndpoint: undefined, publicPort: 0, publicEndpoint: undefined };
  s.registry.registerColony("proven-mesh", KEY_A, data, true);
  s.registry.registerAgent("proven-mesh", "a1", KEY_B, { endpoints: [":2"], metadata: {}, observedEndpoint: undefined }, "192.0.2.1", true);
  await s.registerColony("plain-mesh");
  const mesh = await s.admin.getMesh({ meshId: "proven-mesh" }, { headers: s.headers });
  t.equal(mesh.colony?.proven, true);
  t.same(mesh.agents.map((a) => a.proven), [true]);
  const list = await s.admin.listColonies({}, { headers: s.headers });
  t.same(list.colonies.map((c) => [c.meshId, c.proven]), [["plain-mesh", false], ["proven-mesh", true]]);
});
