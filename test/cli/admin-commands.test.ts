// `coral-discovery admin ...` run in this process against a real server with
// an admin token, on an injected clock: what operators see and what the exit
// codes say.
import t, { type Test } from "tap";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ago, bytes, columns, duration, expires, runAdminCommand } from "../../src/cli/admin-commands.js";
import type { ColonyData } from "../../src/service/discovery-service.js";
import { runCli } from "../fixtures/cli.js";
import { createFakeClock } from "../fixtures/clock.js";
import { startServer } from "../fixtures/server.js";

const TOKEN = "cli-admin-token-0123456789";
const ENV = { CORAL_DISCOVERY_ADMIN_TOKEN: TOKEN };

function colony(endpoints: string[], extra: Partial<ColonyData> = {}): ColonyData {
  return { endpoints, meshIpv4: "", meshIpv6: "", connectPort: 0, metadata: {}, observedEndpoint: undefined, publicPort: 0, publicEndpoint: undefined, ...extra };
}

async function setup(t: Test, options: { adminToken?: string } = { adminToken: TOKEN }) {
  const clock = createFakeClock();
  const server = await startServer(t, { now: clock.now, ...options });
  const cli = (argv: string[], env: Record<string, string> = ENV) => runCli(["admin", ...argv, "--url", server.url], { env, now: clock.now });
  return { clock, server, cli };
}

t.test("admin list prints an aligned table with relative times, pages through everything and filters by prefix", async (t) => {
  const { clock, server, cli } = await setup(t);
  server.registry.registerColony("mesh-b", "key-b", colony(["10.0.0.2:41820"], { observedEndpoint: { ip: "203.0.113.9", port: 51820, protocol: "" } }));
  clock.advance(47_800);
  server.registry.registerColony("mesh-a", "key-a", colony(["10.0.0.1:41820", "10.0.0.3:41820"]));
  server.registry.registerAgent("mesh-a", "agent-1", "ak1", { endpoints: [], metadata: {}, observedEndpoint: undefined }, "x");
  server.registry.registerAgent("mesh-a", "agent-2", "ak2", { endpoints: [], metadata: {}, observedEndpoint: undefined }, "x");
  server.registry.registerColony("mesh-c", "key-c", colony([]));
  clock.advance(12_000);
  const listed = await cli(["list"]);
  t.equal(listed.code, 0, listed.stderr);
  t.equal(
    listed.stdout,
    [
      "MESH ID  PUBKEY  AGENTS  ENDPOINTS                      OBSERVED               LAST SEEN  EXPIRES",
      "mesh-a   key-a   2       10.0.0.1:41820,10.0.0.3:41820  -                      12s ago    in 4m48s",
      "mesh-b   key-b   0       10.0.0.2:41820                 203.0.113.9:51820/udp  59s ago    in 4m00s",
      "mesh-c   key-c   0       -                              -                      12s ago    in 4m48s",
      "3 colonies",
      "",
    ].join("\n"),
  );
  const prefixed = await cli(["list", "--prefix", "mesh-b"]);
  t.match(prefixed.stdout, /^MESH ID .*\nmesh-b .*\n1 colony\n$/);
  t.equal((await cli(["list", "--prefix", "zzz"])).stdout, 'no colonies whose mesh id starts with "zzz"\n');
  for (let i = 0; i < 1_001; i++) server.registry.registerColony(`bulk-${String(i).padStart(4, "0")}`, "k", colony([]));
  const all = await cli(["list", "--json"]);
  const parsed = JSON.parse(all.stdout) as { colonies: { meshId: string; agentCount: number; connectPort: number }[] };
  t.equal(parsed.colonies.length, 1_004, "two pages of 1000, joined");
  t.equal(parsed.colonies[1_001]?.meshId, "mesh-a");
  t.equal(parsed.colonies[1_001]?.agentCount, 2);
  t.equal(parsed.colonies[1_001]?.connectPort, 0, "JSON has every field, zero values included");
  clock.advance(300_000);
  t.equal((await cli(["list"])).stdout, "no colonies registered\n", "expired colonies are not listed");
  t.match((await cli(["list", "mesh-a"])).stderr, /admin list takes no mesh id \(got "mesh-a"\); filter with --prefix <text>/);
});

t.test("admin show prints the colony and its agents; a mesh with agents only says so; unknown is exit 3", async (t) => {
  const { clock, server, cli } = await setup(t);
  server.registry.registerColony("mesh-a", "key-a", colony(["10.0.0.1:41820"], { meshIpv4: "100.64.0.1", meshIpv6: "fd00::1", connectPort: 9000, metadata: { region: "eu" } }));
  server.registry.registerAgent("mesh-a", "agent-1", "ak1", { endpoints: ["1.2.3.4:5"], metadata: {}, observedEndpoint: undefined }, "x");
  clock.advance(3_000);
  const shown = await cli(["show", "mesh-a"]);
  t.equal(shown.code, 0, shown.stderr);
  t.equal(
    shown.stdout,
    [
      "colony mesh-a",
      "  pubkey        key-a",
      "  endpoints     10.0.0.1:41820",
      "  observed      -",
      "  last seen     3s ago",
      "  expires       in 4m57s",
      "  mesh ipv4     100.64.0.1",
      "  mesh ipv6     fd00::1",
      "  connect port  9000",
      "  metadata      region=eu",
      "",
      "1 agent",
      "AGENT ID  PUBKEY  ENDPOINTS  OBSERVED  LAST SEEN  EXPIRES",
      "agent-1   ak1     1.2.3.4:5  -         3s ago     in 4m57s",
      "",
    ].join("\n"),
  );
  server.registry.registerAgent("mesh-b", "b1", "bk1", { endpoints: [], metadata: {}, observedEndpoint: { ip: "198.51.100.1", port: 4000, protocol: "udp" } }, "x");
  server.registry.registerAgent("mesh-b", "b2", "bk2", { endpoints: [], metadata: {}, observedEndpoint: undefined }, "x");
  const agentsOnly = await cli(["show", "mesh-b"]);
  t.match(agentsOnly.stdout, /^mesh mesh-b: no colony registered\n\n2 agents\nAGENT ID .*\nb1 +bk1 +- +198\.51\.100\.1:4000\/udp/);
  server.registry.registerColony("mesh-c", "key-c", colony([]));
  t.match((await cli(["show", "mesh-c"])).stdout, /endpoints +-\n[\s\S]*no agents\n$/);
  const json = await cli(["show", "mesh-a", "--json"]);
  t.same((JSON.parse(json.stdout) as { agents: { agentId: string }[] }).agents.map((a) => a.agentId), ["agent-1"]);
  const missing = await cli(["show", "nope"]);
  t.equal(missing.code, 3);
  t.equal(missing.stderr, "coral-discovery: not_found: mesh nope has no active colony or agents\n");
  t.match((await cli(["show"])).stderr, /a mesh id is required \(coral-discovery admin show <mesh-id>\)/);
  t.match((await cli(["show", "a", "b"])).stderr, /one mesh id at a time/);
});

t.test("admin evict removes a colony (agents stay unless --with-agents) or one agent, and says what it did", async (t) => {
  const { server, cli } = await setup(t);
  server.registry.registerColony("mesh-a", "key-a", colony([]));
  server.registry.registerAgent("mesh-a", "a1", "ak1", { endpoints: [], metadata: {}, observedEndpoint: undefined }, "x");
  server.registry.registerAgent("mesh-a", "a2", "ak2", { endpoints: [], metadata: {}, observedEndpoint: undefined }, "x");
  const evicted = await cli(["evict", "mesh-a"]);
  t.equal(evicted.code, 0, evicted.stderr);
  t.equal(evicted.stdout, "evicted colony mesh-a (pubkey key-a)\nits 2 agents stay registered; add --with-agents to evict them too\n");
  t.equal(server.registry.lookupColony("mesh-a"), undefined);
  const one = await cli(["evict", "mesh-a", "--agent", "a1"]);
  t.equal(one.stdout, "evicted agent a1 of mesh mesh-a (pubkey ak1)\n");
  const rest = await cli(["evict", "mesh-a", "--with-agents"]);
  t.equal(rest.stdout, "mesh mesh-a had no colony registered\nevicted agent a2 (pubkey ak2)\n");
  server.registry.registerColony("mesh-b", "key-b", colony([]));
  server.registry.registerAgent("mesh-b", "b1", "bk1", { endpoints: [], metadata: {}, observedEndpoint: undefined }, "x");
  t.equal((await cli(["evict", "mesh-b"])).stdout, "evicted colony mesh-b (pubkey key-b)\nits 1 agent stays registered; add --with-agents to evict them too\n");
  server.registry.registerColony("mesh-c", "key-c", colony([]));
  t.equal((await cli(["evict", "mesh-c"])).stdout, "evicted colony mesh-c (pubkey key-c)\n", "no note without agents");
  server.registry.registerColony("mesh-d", "key-d", colony([]));
  const json = JSON.parse((await cli(["evict", "mesh-d", "--json"])).stdout) as { colony: { meshId: string }; agents: unknown[] };
  t.same([json.colony.meshId, json.agents], ["mesh-d", []]);
  const agentJson = JSON.parse((await cli(["evict", "mesh-b", "--agent", "b1", "--json"])).stdout) as { agent: { agentId: string } };
  t.equal(agentJson.agent.agentId, "b1");
  const gone = await cli(["evict", "mesh-a", "--agent", "a1"]);
  t.equal(gone.code, 3);
  t.equal(gone.stderr, "coral-discovery: not_found: agent a1 of mesh mesh-a not found\n");
  const both = await cli(["evict", "mesh-a", "--agent", "a1", "--with-agents"]);
  t.equal(both.code, 2);
  t.match(both.stderr, /--agent evicts one agent; --with-agents evicts the colony and all its agents: give one of them/);
});

t.test("admin stats prints counts, memory against the budget, uptime and the store", async (t) => {
  const { clock, server, cli } = await setup(t);
  clock.advance(3_723_000);
  server.registry.registerColony("mesh-a", "key-a", colony([]));
  const stats = await cli(["stats"]);
  t.equal(stats.code, 0, stats.stderr);
  const used = server.registry.counts().bytes;
  t.equal(
    stats.stdout,
    [
      `coral-discovery at ${server.url}`,
      "  colonies         1 of 100000",
      "  agents           0 of 100000",
      "  relay sessions   0",
      `  registry memory  ${bytes(used)} of 288.0 MiB (0.0 %)`,
      "  store            memory",
      "  uptime           1h02m",
      `  version          ${JSON.parse((await cli(["stats", "--json"])).stdout).version}`,
      "",
    ].join("\n"),
  );
  const json = JSON.parse((await cli(["stats", "--json"])).stdout) as Record<string, unknown>;
  t.equal(json.store, "memory");
  t.equal(json.relaySessions, 0, "zero values included");
  t.equal(json.uptimeSeconds, "3723");
  t.match((await cli(["stats", "extra"])).stderr, /admin stats takes no arguments \(got "extra"\)/);
});

t.test("the token: a wrong one exits 5 (unauthenticated), a daemon without one exits 5 (disabled), none given is a usage error", async (t) => {
  const { cli } = await setup(t);
  const wrong = await cli(["stats"], { CORAL_DISCOVERY_ADMIN_TOKEN: "wrong-token-wrong-token" });
  t.equal(wrong.code, 5);
  t.equal(wrong.stderr, "coral-discovery: unauthenticated: the admin token is wrong\n");
  const dir = await mkdtemp(join(tmpdir(), "admin-cli-"));
  await writeFile(join(dir, "token"), `${TOKEN}\n`);
  await writeFile(join(dir, "empty"), "\n");
  const fromFile = await cli(["stats", "--admin-token-file", join(dir, "token")], {});
  t.equal(fromFile.code, 0, fromFile.stderr);
  const empty = await cli(["stats", "--admin-token-file", join(dir, "empty")], {});
  t.equal(empty.code, 2);
  t.match(empty.stderr, /--admin-token-file .*empty: the admin token is empty/);
  const missing = await cli(["stats", "--admin-token-file", join(dir, "nope")], {});
  t.match(missing.stderr, /cannot read the admin token file \(ENOENT\)/);
  const emptyEnv = await cli(["stats"], { CORAL_DISCOVERY_ADMIN_TOKEN: " " });
  t.match(emptyEnv.stderr, /CORAL_DISCOVERY_ADMIN_TOKEN: the admin token is empty/);
  const none = await cli(["stats"], {});
  t.equal(none.code, 2);
  t.match(none.stderr, /admin commands need the daemon's admin token: --admin-token-file <path> or CORAL_DISCOVERY_ADMIN_TOKEN\n\nAdmin commands/);

  const disabled = await setup(t, {});
  const off = await disabled.cli(["list"]);
  t.equal(off.code, 5);
  t.equal(off.stderr, "coral-discovery: unimplemented: the admin service is disabled: start with --admin-token-file\n");
});

t.test("usage errors exit 2 with the admin usage; an unreachable service exits 4 with a hint", async (t) => {
  const run = (argv: string[], env: Record<string, string> = ENV) => runCli(["admin", ...argv], { env });
  t.match((await run([])).stderr, /admin needs a command: list, show, evict or stats/);
  t.match((await run(["lst"])).stderr, /unknown admin command "lst"; did you mean list\?/);
  t.match((await run(["frobnicate"])).stderr, /unknown admin command "frobnicate"; use list, show, evict or stats/);
  t.match((await run(["list", "--prefx", "a"])).stderr, /unknown option --prefx; did you mean --prefix\?/);
  const noValue = await run(["list", "--prefix"]);
  t.equal(noValue.code, 2);
  t.match(noValue.stderr, /--prefix/);
  t.match((await run(["list", "--timeout", "soon"])).stderr, /--timeout "soon" must be a duration such as 500ms, 10s or 2m/);
  t.match((await run(["list", "--url", "ftp://x"])).stderr, /--url: /);
  const down = await run(["stats", "--url", "http://127.0.0.1:1", "--timeout", "2s"]);
  t.equal(down.code, 4);
  t.match(down.stderr, /no service answered at http:\/\/127\.0\.0\.1:1 \(--url\)/);
  const viaEnv = await run(["stats", "--timeout", "2s"], { ...ENV, CORAL_DISCOVERY_URL: "http://127.0.0.1:1" });
  t.match(viaEnv.stderr, /\(CORAL_DISCOVERY_URL\)/);
  const viaDefault = await runAdminCommand(["stats", "--timeout", "1ms"], { stdout: () => {}, stderr: () => {}, env: ENV, signal: new AbortController().signal });
  t.ok([1, 4].includes(viaDefault), "the default URL is tried");
});

t.test("an unexpected failure is one line and exit 1", async (t) => {
  const { server } = await setup(t);
  let stderr = "";
  const code = await runAdminCommand(["stats", "--url", server.url], {
    stdout: () => {
      throw new Error("stdout closed");
    },
    stderr: (text) => (stderr += text),
    env: ENV,
    signal: new AbortController().signal,
  });
  t.equal(code, 1);
  t.equal(stderr, "coral-discovery: stdout closed\n");
  let odd = "";
  const oddCode = await runAdminCommand(["stats", "--url", server.url], {
    stdout: () => {
      throw "not an error";
    },
    stderr: (text) => (odd += text),
    env: ENV,
    signal: new AbortController().signal,
  });
  t.equal(oddCode, 1);
  t.equal(odd, "coral-discovery: not an error\n");
});

t.test("durations read as the two largest units; byte counts in binary units; columns align", async (t) => {
  t.equal(duration(0), "0s");
  t.equal(duration(-5_000), "0s");
  t.equal(duration(59_999), "59s");
  t.equal(duration(252_000), "4m12s");
  t.equal(duration(3_780_000), "1h03m");
  t.equal(duration(2 * 86_400_000 + 5 * 3_600_000), "2d05h");
  t.equal(bytes(1023), "1023 B");
  t.equal(bytes(1536), "1.5 KiB");
  t.equal(bytes(3 * 1024 ** 2), "3.0 MiB");
  t.equal(bytes(2 * 1024 ** 3), "2.0 GiB");
  const at = { seconds: 1000n, nanos: 0, $typeName: "google.protobuf.Timestamp" } as const;
  t.equal(ago(at, 1_012_000), "12s ago");
  t.equal(ago(undefined, 0), "-");
  t.equal(expires(at, 990_000), "in 10s");
  t.equal(expires(at, 1_000_000), "expired", "a client clock ahead of the server's");
  t.equal(expires(undefined, 0), "-");
  t.equal(columns(["A", "BB"], [["xyz", "1"], ["q", "22"]]), "A    BB\nxyz  1\nq    22\n");
});
