import t, { type Test } from "tap";
import { mkdtemp } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { KEY_1, KEY_2 } from "./fixtures/keys.js";
import { startServer } from "./fixtures/server.js";
import { spawnDaemon } from "./fixtures/spawn.js";

/** Runs a client command of the built binary to completion. */
async function run(t: Test, args: string[], env: Record<string, string> = {}) {
  const child = spawnDaemon(t, args, env);
  const exit = await child.exited(20_000);
  return { code: exit.code, stdout: child.stdout(), stderr: child.stderr() };
}

async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
  const { port } = probe.address() as { port: number };
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

t.test("lookup prints the colony for people and as JSON for scripts; exit codes tell outcomes apart", async (t) => {
  const server = await startServer(t);
  const url = ["--url", server.url];
  const registered = await run(t, ["register", "--once", "--mesh-id", "demo", "--pubkey", KEY_1, "--endpoint", "203.0.113.5:41820", "--metadata", "region=eu", ...url]);
  t.equal(registered.code, 0, registered.stderr);
  t.match(registered.stdout, /^registered demo: lease of 300s until \d{4}-/);

  const human = await run(t, ["lookup", "demo", ...url]);
  t.equal(human.code, 0);
  t.match(human.stdout, /^colony demo\n {2}pubkey +BcuEeT/);
  t.match(human.stdout, /endpoints +203\.0\.113\.5:41820/);
  t.match(human.stdout, /metadata +region=eu/);

  const json = await run(t, ["lookup", "demo", "--json", ...url]);
  const body = JSON.parse(json.stdout) as { meshId: string; endpoints: string[]; metadata: Record<string, string> };
  t.same([body.meshId, body.endpoints, body.metadata], ["demo", ["203.0.113.5:41820"], { region: "eu" }]);

  const missing = await run(t, ["lookup", "nope", ...url]);
  t.equal(missing.code, 3, "not found");
  t.equal(missing.stderr, "coral-discovery: not_found: colony nope not found\n");
  t.equal(missing.stdout, "");

  const invalid = await run(t, ["lookup", "bad id", ...url]);
  t.equal(invalid.code, 2, "invalid input");
  t.match(invalid.stderr, /^coral-discovery: invalid_argument: mesh_id "bad id" is invalid/);

  const clash = await run(t, ["register", "--once", "--mesh-id", "demo", "--pubkey", KEY_2, "--endpoint", ":1", ...url]);
  t.equal(clash.code, 5, "refused (split-brain)");
  t.match(clash.stderr, /already_exists: .*already registered/);
  t.notMatch(clash.stderr, /\n\s+at /, "no stack trace");
});

t.test("usage errors exit 2 with the usage text; unreachable exits 4", async (t) => {
  const usage = await run(t, ["lookup"]);
  t.equal(usage.code, 2);
  t.match(usage.stderr, /a mesh id .* is required[\s\S]*Client commands/);
  const unknown = await run(t, ["lookup", "x", "--bogus"]);
  t.equal(unknown.code, 2);
  const noEndpoint = await run(t, ["register", "--mesh-id", "m", "--pubkey", KEY_1]);
  t.equal(noEndpoint.code, 2);
  t.match(noEndpoint.stderr, /at least one --endpoint/);
  const port = await freePort();
  const down = await run(t, ["health", "--url", `http://127.0.0.1:${port}`]);
  t.equal(down.code, 4);
  t.match(down.stderr, /^coral-discovery: unavailable: /);
});

t.test("CORAL_DISCOVERY_URL sets the service; token prints the JWT alone; health and agent lookup", async (t) => {
  const server = await startServer(t);
  const env = { CORAL_DISCOVERY_URL: server.url };
  const token = await run(t, ["token", "--agent-id", "a1", "--colony-id", "c1", "--intent", "join"], env);
  t.equal(token.code, 0, token.stderr);
  t.match(token.stdout, /^[\w-]+\.[\w-]+\.[\w-]+\n$/);
  const claims = JSON.parse(Buffer.from(token.stdout.split(".")[1] as string, "base64url").toString()) as Record<string, string>;
  t.equal(claims.sub, "agent:a1");
  t.equal(claims.intent, "join");
  const health = await run(t, ["health", "--json"], env);
  t.equal((JSON.parse(health.stdout) as { status: string }).status, "ok");
  const agent = await run(t, ["agent", "lookup", "a1", "--mesh-id", "m"], env);
  t.equal(agent.code, 3);
  t.match(agent.stderr, /agent a1 not found/);
});

t.test("register heartbeats until interrupted, then exits 0 leaving the lease", async (t) => {
  const server = await startServer(t);
  const child = spawnDaemon(t, ["register", "--url", server.url, "--mesh-id", "beat", "--pubkey", KEY_1, "--endpoint", ":51820", "--interval", "1s"]);
  await child.waitForStdout(/registered beat[\s\S]*registered beat/, 10_000);
  child.child.kill("SIGINT");
  const exit = await child.exited(5_000);
  t.equal(exit.code, 0);
  t.match(child.stdout(), /stopped after \d+ heartbeat round\(s\)/);
  t.equal(server.registry.lookupColony("beat")?.pubkey, KEY_1);
});

t.test("wait exits 0 once a late-starting service is healthy, and 4 on timeout", async (t) => {
  const port = await freePort();
  const waiting = spawnDaemon(t, ["wait", "--url", `http://127.0.0.1:${port}`, "--timeout", "20s"]);
  await new Promise((resolve) => setTimeout(resolve, 700));
  t.equal(waiting.child.exitCode, null, "still waiting while nothing listens");
  const daemon = spawnDaemon(t, ["--port", String(port), "--host", "127.0.0.1", "--log-level", "warn"]);
  await daemon.waitForStdout(/Ready/);
  const exit = await waiting.exited(10_000);
  t.equal(exit.code, 0);
  t.equal(waiting.stdout(), `http://127.0.0.1:${port}\n`, "prints the URL alone");

  const other = await freePort();
  const started = Date.now();
  const timedOut = await run(t, ["wait", "--url", `http://127.0.0.1:${other}`, "--timeout", "1s"]);
  t.equal(timedOut.code, 4);
  t.match(timedOut.stderr, /was not healthy within 1s/);
  t.ok(Date.now() - started < 8_000);
});

t.test("wait --ready-file waits for the file of a --port 0 daemon and prints its URL", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "coral-wait-"));
  const file = join(dir, "ready.json");
  const waiting = spawnDaemon(t, ["wait", "--ready-file", file, "--timeout", "20s"]);
  await new Promise((resolve) => setTimeout(resolve, 500));
  t.equal(waiting.child.exitCode, null, "still waiting for the file");
  const daemon = spawnDaemon(t, ["--port", "0", "--host", "127.0.0.1", "--ready-file", file, "--log-level", "warn"]);
  const [, port] = (await daemon.waitForStdout(/listening on :(\d+)/)) as unknown as [string, string];
  t.equal((await waiting.exited(10_000)).code, 0);
  t.equal(waiting.stdout(), `http://127.0.0.1:${port}\n`);
  const missing = await run(t, ["wait", "--ready-file", join(dir, "never.json"), "--timeout", "500ms"]);
  t.equal(missing.code, 4);
  t.match(missing.stderr, /never\.json does not exist yet/);
});
