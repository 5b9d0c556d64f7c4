// The admin API end to end: a real daemon child process started with a
// token file, driven by `coral-discovery admin` (in this process), by
// connect-node clients over every protocol and by `buf curl` over gRPC.
import { execFile } from "node:child_process";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t from "tap";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { AdminService } from "../../gen/coral/discovery/admin/v1/admin_pb.js";
import { createDiscoveryClient } from "../../src/client/index.js";
import { createDiscoveryTransport, type TransportOptions } from "../../src/client/transport.js";
import { runCli } from "../fixtures/cli.js";
import { KEY_1, KEY_2, KEY_3 } from "../fixtures/keys.js";
import { ROOT, fromRoot } from "../fixtures/paths.js";
import { spawnDaemon, type Daemon } from "../fixtures/spawn.js";

const TOKEN = "e2e-admin-token-4f9c2a7d1b3e5f60";
const AUTH = { authorization: `Bearer ${TOKEN}` };

async function start(args: string[]): Promise<{ daemon: Daemon; url: string }> {
  const daemon = spawnDaemon(t, ["--port", "0", "--host", "127.0.0.1", ...args]);
  await daemon.waitForStdout(/^Ready to accept registrations$/m, 20_000);
  const port = /^gRPC server listening on :(\d+)$/m.exec(daemon.stdout())?.[1];
  return { daemon, url: `http://127.0.0.1:${port}` };
}

function bufCurl(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(fromRoot("node_modules/.bin/buf"), ["curl", ...args], { cwd: ROOT, timeout: 20_000, encoding: "utf8" }, (error, stdout, stderr) => {
      if (error === null) return resolve({ code: 0, stdout, stderr });
      if (typeof error.code === "number") return resolve({ code: error.code, stdout, stderr });
      reject(error);
    });
  });
}

const dir = await mkdtemp(join(tmpdir(), "admin-e2e-"));
const tokenFile = join(dir, "admin-token");
await writeFile(tokenFile, `${TOKEN}\n`, { mode: 0o600 });
const { daemon, url } = await start(["--admin-token-file", tokenFile]);
const env = { CORAL_DISCOVERY_URL: url, CORAL_DISCOVERY_ADMIN_TOKEN: TOKEN };
const discovery = createDiscoveryClient({ baseUrl: url });
const admin = (options: Omit<TransportOptions, "baseUrl">) => createClient(AdminService, createDiscoveryTransport({ baseUrl: url, ...options }));

t.test("a colony with two agents: list, show, evict with the CLI; the mesh is gone for lookups", async (t) => {
  await discovery.registerColony({ meshId: "e2e-mesh", pubkey: KEY_1, endpoints: ["10.1.0.1:41820"] });
  await discovery.registerAgent({ meshId: "e2e-mesh", agentId: "agent-a", pubkey: KEY_2, endpoints: ["10.1.0.2:41820"] });
  await discovery.registerAgent({ meshId: "e2e-mesh", agentId: "agent-b", pubkey: KEY_3, endpoints: ["10.1.0.3:41820"] });

  const listed = await runCli(["admin", "list"], { env });
  t.equal(listed.code, 0, listed.stderr);
  t.match(listed.stdout, /^MESH ID +PUBKEY +AGENTS +ENDPOINTS +OBSERVED +LAST SEEN +EXPIRES\n/);
  t.match(listed.stdout, new RegExp(`\\ne2e-mesh +${KEY_1.replace(/[+/]/g, "\\$&")} +2 +10\\.1\\.0\\.1:41820 .* ago +in 4m5\\ds\\n`));
  const json = JSON.parse((await runCli(["admin", "list", "--json"], { env })).stdout) as { colonies: { meshId: string; agentCount: number }[] };
  t.same(json.colonies.map((c) => [c.meshId, c.agentCount]), [["e2e-mesh", 2]]);

  const shown = await runCli(["admin", "show", "e2e-mesh"], { env });
  t.equal(shown.code, 0, shown.stderr);
  t.match(shown.stdout, /\n2 agents\nAGENT ID .*\nagent-a +\S+ +10\.1\.0\.2:41820 .*\nagent-b +\S+ +10\.1\.0\.3:41820 /);

  const evicted = await runCli(["admin", "evict", "e2e-mesh"], { env });
  t.equal(evicted.code, 0, evicted.stderr);
  t.match(evicted.stdout, /^evicted colony e2e-mesh \(pubkey .*\)\nits 2 agents stay registered/);
  await t.rejects(discovery.lookupColony({ meshId: "e2e-mesh" }), { code: Code.NotFound });
  const lookup = await runCli(["lookup", "e2e-mesh"], { env });
  t.equal(lookup.code, 3, "coral-discovery lookup: not found");
  t.equal((await discovery.lookupAgent({ meshId: "e2e-mesh", agentId: "agent-a" })).agentId, "agent-a", "the agents stay");
  const line = daemon.stdout().split("\n").find((l) => l.includes('"admin evicted a colony"'));
  t.ok(line, "the eviction is logged");
  t.match(JSON.parse(line as string), { level: 30, meshId: "e2e-mesh", pubkey: KEY_1, agentsKept: 2 });
  t.notOk(daemon.stdout().includes(TOKEN), "the token never reaches the log");
});

t.test("calls without the right token are refused: CLI exit 5, unauthenticated on the wire", async (t) => {
  const wrong = await runCli(["admin", "list"], { env: { ...env, CORAL_DISCOVERY_ADMIN_TOKEN: "not-the-token-not-the-token" } });
  t.equal(wrong.code, 5);
  t.match(wrong.stderr, /unauthenticated: the admin token is wrong/);
  const error = await admin({}).getStats({}).catch((e: unknown) => e as ConnectError);
  t.equal((error as ConnectError).code, Code.Unauthenticated);
});

t.test("AdminService answers on every protocol on the daemon's one port", async (t) => {
  await discovery.registerAgent({ meshId: "proto-mesh", agentId: "x1", pubkey: KEY_2, endpoints: ["10.2.0.1:41820"] });
  const transports: [string, Omit<TransportOptions, "baseUrl">][] = [
    ["Connect JSON, HTTP/1.1", {}],
    ["Connect binary, h2c", { binary: true, httpVersion: "2" }],
    ["gRPC", { protocol: "grpc" }],
    ["gRPC-Web", { protocol: "grpc-web" }],
  ];
  for (const [name, options] of transports) {
    const client = admin(options);
    const stats = await client.getStats({}, { headers: AUTH });
    t.equal(stats.store, "memory", name);
    t.ok(stats.agents >= 1, `${name}: agents counted`);
    const mesh = await client.getMesh({ meshId: "proto-mesh" }, { headers: AUTH });
    t.same(mesh.agents.map((a) => a.agentId), ["x1"], name);
  }
  const grpc = admin({ protocol: "grpc" });
  const evicted = await grpc.evictAgent({ meshId: "proto-mesh", agentId: "x1" }, { headers: AUTH });
  t.equal(evicted.agent?.pubkey, KEY_2);
  await t.rejects(discovery.lookupAgent({ meshId: "proto-mesh", agentId: "x1" }), { code: Code.NotFound });
});

t.test("buf curl over gRPC lists AdminService through reflection and calls it with the Authorization header", async (t) => {
  const services = await bufCurl(["--protocol", "grpc", "--http2-prior-knowledge", "--list-services", url]);
  t.equal(services.code, 0, services.stderr);
  t.match(services.stdout, /^coral\.discovery\.admin\.v1\.AdminService$/m);
  t.match(services.stdout, /^coral\.discovery\.v1\.DiscoveryService$/m);
  await discovery.registerColony({ meshId: "buf-mesh", pubkey: KEY_3, endpoints: ["10.3.0.1:41820"] });
  const rpc = `${url}/coral.discovery.admin.v1.AdminService/ListColonies`;
  const listed = await bufCurl(["--protocol", "grpc", "--http2-prior-knowledge", "-H", `Authorization: Bearer ${TOKEN}`, "--data", '{"meshIdPrefix":"buf-"}', rpc]);
  t.equal(listed.code, 0, listed.stderr);
  t.same((JSON.parse(listed.stdout) as { colonies: { meshId: string }[] }).colonies.map((c) => c.meshId), ["buf-mesh"]);
});

t.test("every protocol refuses a call without the token; after 5 failures an address waits, even with the right token", async (t) => {
  // A daemon of its own: the failures spend this address's failed-authentication budget.
  const guarded = await start(["--admin-token-file", tokenFile]);
  for (const [name, options] of [
    ["Connect JSON", {}],
    ["Connect binary, h2c", { binary: true, httpVersion: "2" }],
    ["gRPC", { protocol: "grpc" }],
    ["gRPC-Web", { protocol: "grpc-web" }],
  ] as [string, Omit<TransportOptions, "baseUrl">][]) {
    const client = createClient(AdminService, createDiscoveryTransport({ baseUrl: guarded.url, ...options }));
    const refused = await client.getStats({}).catch((e: unknown) => e as ConnectError);
    t.equal((refused as ConnectError).code, Code.Unauthenticated, `${name}: no token, unauthenticated`);
  }
  const rpc = `${guarded.url}/coral.discovery.admin.v1.AdminService/GetStats`;
  const refused = await bufCurl(["--protocol", "grpc", "--http2-prior-knowledge", "-H", "Authorization: Bearer guess-guess-guess-guess", "--data", "{}", rpc]);
  t.not(refused.code, 0);
  t.match(refused.stderr, /unauthenticated/);
  // 5 failures spent the budget, which refills one attempt per 5 s: should this machine be slow
  // enough for one to come back, another wrong guess spends it (bounded, not a timing bet).
  const guess = ["--protocol", "grpc", "--http2-prior-knowledge", "-H", "Authorization: Bearer guess-guess-guess-guess", "--data", "{}", rpc];
  let locked = await bufCurl(["--protocol", "grpc", "--http2-prior-knowledge", "-H", `Authorization: Bearer ${TOKEN}`, "--data", "{}", rpc]);
  for (let retries = 0; locked.code === 0 && retries < 10; retries++) {
    await bufCurl(guess);
    locked = await bufCurl(["--protocol", "grpc", "--http2-prior-knowledge", "-H", `Authorization: Bearer ${TOKEN}`, "--data", "{}", rpc]);
  }
  t.match(locked.stderr, /resource_exhausted/, "the right token is refused while the address is over its failure budget");
  t.match(locked.stderr, /too many failed admin authentications from your address/);
  const warnings = guarded.daemon.stdout().split("\n").filter((l) => l.includes('"admin call refused"'));
  t.ok(warnings.length >= 5, "each refusal logged at warn");
  t.notOk(guarded.daemon.stdout().includes("guess-guess"), "never the presented token");
});

t.test("a daemon started without an admin token has the admin service disabled", async (t) => {
  const plain = await start([]);
  const run = await runCli(["admin", "stats"], { env: { CORAL_DISCOVERY_URL: plain.url, CORAL_DISCOVERY_ADMIN_TOKEN: TOKEN } });
  t.equal(run.code, 5);
  t.equal(run.stderr, "coral-discovery: unimplemented: the admin service is disabled: start with --admin-token-file\n");
  const grpc = await createClient(AdminService, createDiscoveryTransport({ baseUrl: plain.url, protocol: "grpc" }))
    .listColonies({}, { headers: AUTH })
    .catch((e: unknown) => e as ConnectError);
  t.equal((grpc as ConnectError).code, Code.Unimplemented);
});

t.test("a daemon refuses to start with a short admin token (exit 2, a clear message)", async (t) => {
  const short = join(dir, "short");
  await writeFile(short, "tooshort\n");
  const refused = spawnDaemon(t, ["--port", "0", "--admin-token-file", short]);
  t.same(await refused.exited(), { code: 2, signal: null });
  t.match(refused.stderr(), /--admin-token-file .*short: is only 8 characters long: an admin token must be at least 16 characters/);
});
