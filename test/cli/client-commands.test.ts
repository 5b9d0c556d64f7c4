// The client commands, run in this process through runClientCommand with
// captured output, injected clock and timers: what `coral-discovery lookup`
// and friends print and exit with. test/main.test.ts checks that the binary
// dispatches to them.
import t from "tap";
import { mkdir, mkdtemp, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runCli } from "../fixtures/cli.js";
import { createFakeClock } from "../fixtures/clock.js";
import { KEY_1, KEY_2, OWNER } from "../fixtures/keys.js";
import { runWgKey } from "../../src/cli/wg-key.js";
import { createManualTimers } from "../fixtures/manual-timers.js";
import { startHealthServer, startServer } from "../fixtures/server.js";
import { aborted, startStubServer } from "../fixtures/stub-discovery.js";
import { settled, until } from "../fixtures/wait.js";

/** Fires the command's pauses one by one (each after its attempt has failed for real) until it ends. */
async function driveToEnd<T>(run: Promise<T>, timers: ReturnType<typeof createManualTimers>, maxPauses = 50): Promise<T> {
  for (let pauses = 0; !(await settled(run)); pauses++) {
    if (pauses > maxPauses) throw new Error(`the command did not end after ${maxPauses} pauses`);
    await until(async () => timers.pending() > 0 || (await settled(run)), "a pause or the end");
    if (timers.pending() > 0) await timers.next();
  }
  return run;
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
  const registered = await runCli(["register", "--once", "--mesh-id", "demo", "--pubkey", KEY_1, "--endpoint", "203.0.113.5:41820", "--metadata", "region=eu", ...url]);
  t.equal(registered.code, 0, registered.stderr);
  t.match(registered.stdout, /^registered demo: lease of 300s until \d{4}-/);

  const human = await runCli(["lookup", "demo", ...url]);
  t.equal(human.code, 0);
  t.match(human.stdout, /^colony demo\n {2}pubkey +BcuEeT/);
  t.match(human.stdout, /endpoints +203\.0\.113\.5:41820/);
  t.match(human.stdout, /metadata +region=eu/);
  t.match(human.stdout, /last seen +\d{4}-.*\(\d+s ago\)/);

  const json = await runCli(["lookup", "demo", "--json", ...url]);
  const body = JSON.parse(json.stdout) as { meshId: string; endpoints: string[]; metadata: Record<string, string> };
  t.same([body.meshId, body.endpoints, body.metadata], ["demo", ["203.0.113.5:41820"], { region: "eu" }]);

  const missing = await runCli(["lookup", "nope", ...url]);
  t.equal(missing.code, 3, "not found");
  t.equal(missing.stderr, "coral-discovery: not_found: colony nope not found\n");
  t.equal(missing.stdout, "");

  const invalid = await runCli(["lookup", "bad id", ...url]);
  t.equal(invalid.code, 2, "invalid input");
  t.match(invalid.stderr, /^coral-discovery: invalid_argument: mesh_id "bad id" is invalid/);

  const clash = await runCli(["register", "--once", "--mesh-id", "demo", "--pubkey", KEY_2, "--endpoint", ":1", ...url]);
  t.equal(clash.code, 5, "refused (split-brain)");
  t.match(clash.stderr, /already_exists: .*already registered/);
  t.notMatch(clash.stderr, /\n\s+at /, "no stack trace");

  const onceJson = await runCli(["register", "--once", "--json", "--mesh-id", "demo", "--pubkey", KEY_1, "--endpoint", ":1", ...url]);
  t.match(JSON.parse(onceJson.stdout), { success: true, ttl: 300 });
});

t.test("a colony with every optional field is shown row by row", async (t) => {
  const server = await startServer(t, { relays: ["198.51.100.9:3478"] });
  await server.registry.registerColony("full", KEY_1, {
    endpoints: ["203.0.113.5:41820"],
    meshIpv4: "10.42.0.1",
    meshIpv6: "fd42::1",
    connectPort: 9000,
    metadata: {},
    observedEndpoint: { ip: "203.0.113.5", port: 41820, protocol: "udp" },
    publicPort: 0,
    publicEndpoint: { enabled: true, url: "https://colony.example.org" },
  });
  const shown = await runCli(["lookup", "full", "--url", server.url]);
  t.equal(shown.code, 0, shown.stderr);
  t.match(shown.stdout, /observed +203\.0\.113\.5:41820\/udp \(NAT_CONE\)/);
  t.match(shown.stdout, /mesh ipv4 +10\.42\.0\.1/);
  t.match(shown.stdout, /mesh ipv6 +fd42::1/);
  t.match(shown.stdout, /connect port +9000/);
  t.match(shown.stdout, /public url +https:\/\/colony\.example\.org/);
  t.match(shown.stdout, /relays +198\.51\.100\.9:3478/);
  t.notMatch(shown.stdout, /metadata/, "no metadata row without metadata");
});

t.test("usage errors exit 2 with the usage text; unreachable exits 4", async (t) => {
  const usage = await runCli(["lookup"]);
  t.equal(usage.code, 2);
  t.match(usage.stderr, /a mesh id .* is required[\s\S]*Client commands/);
  const unknown = await runCli(["lookup", "x", "--bogus"]);
  t.equal(unknown.code, 2);
  t.match(unknown.stderr, /--bogus/);
  const noEndpoint = await runCli(["register", "--mesh-id", "m", "--pubkey", KEY_1]);
  t.equal(noEndpoint.code, 2);
  t.match(noEndpoint.stderr, /at least one --endpoint/);
  const badMetadata = await runCli(["register", "--mesh-id", "m", "--pubkey", KEY_1, "--endpoint", ":1", "--metadata", "novalue"]);
  t.match(badMetadata.stderr, /--metadata "novalue" must be key=value/);
  const badInterval = await runCli(["register", "--mesh-id", "m", "--pubkey", KEY_1, "--endpoint", ":1", "--interval", "10ms"]);
  t.match(badInterval.stderr, /--interval "10ms" must be a duration from 1s to 24 days/);
  const badTimeout = await runCli(["health", "--timeout", "soon"]);
  t.match(badTimeout.stderr, /--timeout "soon" is not a duration/);
  const badUrl = await runCli(["health", "--url", "ftp://x"]);
  t.equal(badUrl.code, 2);
  t.match(badUrl.stderr, /--url: baseUrl must be an absolute http/);
  const badAgent = await runCli(["agent", "list"]);
  t.match(badAgent.stderr, /unknown agent command "list"/);
  const badCommand = await runCli(["frobnicate"]);
  t.match(badCommand.stderr, /unknown command "frobnicate"/);
  const typo = await runCli(["regster", "--mesh-id", "m"]);
  t.equal(typo.code, 2);
  t.match(typo.stderr, /^coral-discovery: unknown command "regster"; did you mean register\?/);
  const optionTypo = await runCli(["lookup", "m", "--jsn"]);
  t.equal(optionTypo.code, 2);
  t.match(optionTypo.stderr, /^coral-discovery: unknown option --jsn; did you mean --json\?/);
  const badWait = await runCli(["lookup", "m", "--wait", "soon"]);
  t.equal(badWait.code, 2);
  t.match(badWait.stderr, /--wait "soon" must be a duration such as 30s or 2m/);
  const missingValue = await runCli(["lookup", "m", "--url"]);
  t.equal(missingValue.code, 2, "other parse errors are usage errors too");
  t.match(missingValue.stderr, /--url/);
});

t.test("a service that cannot be reached exits 4, naming the URL tried, where it came from, and how to set it", async (t) => {
  const url = `http://127.0.0.1:${await freePort()}`;
  const byFlag = await runCli(["health", "--url", url]);
  t.equal(byFlag.code, 4);
  t.match(byFlag.stderr, /^coral-discovery: unavailable: .*ECONNREFUSED/);
  t.match(byFlag.stderr, `no service answered at ${url} (--url); point to it with --url <url> or CORAL_DISCOVERY_URL`);
  const byEnv = await runCli(["lookup", "m"], { env: { CORAL_DISCOVERY_URL: url } });
  t.equal(byEnv.code, 4);
  t.match(byEnv.stderr, `no service answered at ${url} (CORAL_DISCOVERY_URL)`);
  const server = await startServer(t);
  const answered = await runCli(["lookup", "nope", "--url", server.url]);
  t.equal(answered.code, 3);
  t.notMatch(answered.stderr, /no service answered/, "only for connection failures");
});

t.test("with no --url or CORAL_DISCOVERY_URL the hint says the default was used", async (t) => {
  // The default URL is 127.0.0.1:8080; skip when something listens there.
  const busy = await new Promise<boolean>((resolve) => {
    const probe = createServer();
    probe.once("error", () => resolve(true));
    probe.listen(8080, "127.0.0.1", () => probe.close(() => resolve(false)));
  });
  if (busy) {
    t.pass("skipped", { skip: "port 8080 is in use on this machine" });
    return;
  }
  const run = await runCli(["health", "--timeout", "5s"]);
  t.equal(run.code, 4);
  t.match(run.stderr, "no service answered at http://127.0.0.1:8080 (the default); point to it with --url <url> or CORAL_DISCOVERY_URL");
});

t.test("lookup --wait retries until the colony registers, with a one-line status on a terminal", async (t) => {
  const server = await startServer(t);
  const clock = createFakeClock();
  const timers = createManualTimers(clock);
  const waiting = runCli(["lookup", "late", "--wait", "2m", "--url", server.url], { now: clock.now, timers, statusLine: true });
  await until(() => timers.pending() === 1, "a wait after not_found");
  await timers.next();
  await until(() => timers.pending() === 1, "a second wait");
  const { stderr } = waiting.output();
  t.ok(
    stderr.startsWith(`\r\x1b[2Kwaiting for colony late at ${server.url}: not_found: colony late not found; attempt 2 in `),
    JSON.stringify(stderr),
  );
  t.match(stderr, /attempt 2 in [23]s, 120s left/, "2 s, ±20 % jitter");
  t.match(stderr, /attempt 3 in \d+s, 11\ds left/);
  const registered = await runCli(["register", "--once", "--mesh-id", "late", "--pubkey", KEY_1, "--endpoint", "203.0.113.5:41820", "--url", server.url]);
  t.equal(registered.code, 0, registered.stderr);
  const done = await driveToEnd(waiting, timers);
  t.equal(done.code, 0, done.stderr);
  t.match(done.stdout, /^colony late\n/);
  t.ok(done.stderr.endsWith("\r\x1b[2K"), "the status line is cleared at the end");
  t.ok(Math.max(...timers.scheduled) <= 5_000 * 1.2, "polls at least every 5 s (plus jitter)");
});

t.test("lookup --wait is silent off a terminal and, giving up, says how long it tried", async (t) => {
  const server = await startServer(t);
  const clock = createFakeClock();
  const timers = createManualTimers(clock);
  const gaveUp = await driveToEnd(runCli(["lookup", "never", "--wait", "20s", "--url", server.url], { now: clock.now, timers }), timers);
  t.equal(gaveUp.code, 3);
  t.match(gaveUp.stderr, /^coral-discovery: not_found: colony never not found \(gave up after \d+ attempts in 1\d(\.\d)? s: .*retried for up to 20 s\)\n$/);
  t.ok(timers.scheduled.length >= 3, "it retried");

  const once = await runCli(["lookup", "never", "--url", server.url], { now: clock.now, timers });
  t.equal(once.code, 3, "without --wait a missing mesh fails at once");
  t.equal(once.stderr, "coral-discovery: not_found: colony never not found\n");

  await runCli(["register", "--once", "--mesh-id", "there", "--pubkey", KEY_1, "--endpoint", ":41820", "--url", server.url]);
  const found = await runCli(["lookup", "there", "--wait", "5s", "--url", server.url]);
  t.equal(found.code, 0, "a registered colony is found at the first attempt, real clock and timers");
  t.equal(found.stderr, "");
});


t.test("CORAL_DISCOVERY_URL sets the service; token prints the JWT alone; health and agent lookup", async (t) => {
  const server = await startServer(t);
  const env = { CORAL_DISCOVERY_URL: server.url };
  const token = await runCli(["token", "--agent-id", "a1", "--colony-id", "c1", "--intent", "join"], { env });
  t.equal(token.code, 0, token.stderr);
  t.match(token.stdout, /^[\w-]+\.[\w-]+\.[\w-]+\n$/);
  const claims = JSON.parse(Buffer.from(token.stdout.split(".")[1] as string, "base64url").toString()) as Record<string, string>;
  t.equal(claims.sub, "agent:a1");
  t.equal(claims.intent, "join");
  const tokenJson = await runCli(["token", "--agent-id", "a1", "--colony-id", "c1", "--json"], { env });
  t.match(JSON.parse(tokenJson.stdout), { jwt: /\./ });
  const health = await runCli(["health", "--json"], { env });
  t.equal((JSON.parse(health.stdout) as { status: string }).status, "ok");
  const people = await runCli(["health"], { env });
  t.match(people.stdout, new RegExp(`^ok: coral-discovery \\S+ at ${server.url}, up \\d+s, 0 colonies, 0 agents\\n$`));
  const document = (await (await fetch(`${server.url}/health`)).json()) as Record<string, unknown>;
  const printed = JSON.parse(health.stdout) as Record<string, unknown>;
  t.strictSame(Object.keys(printed), Object.keys(document), "health --json has the shape of GET /health");
  t.equal(typeof printed.uptime_seconds, "number");
  const missing = await runCli(["agent", "lookup", "a1", "--mesh-id", "m"], { env });
  t.equal(missing.code, 3);
  t.match(missing.stderr, /agent a1 not found/);
  await server.registry.registerAgent("m", "a1", KEY_2, { endpoints: ["203.0.113.7:51820"], metadata: {}, observedEndpoint: undefined }, "198.51.100.1");
  const agent = await runCli(["agent", "lookup", "a1", "--mesh-id", "m"], { env });
  t.match(agent.stdout, /^agent a1\n {2}mesh +m\n {2}pubkey +/);
  t.match(agent.stdout, /endpoints +203\.0\.113\.7:51820/);
  t.match(agent.stdout, /observed +-/);
  const agentJson = await runCli(["agent", "lookup", "a1", "--mesh-id", "m", "--json"], { env });
  t.match(JSON.parse(agentJson.stdout), { agentId: "a1", meshId: "m" });
});

t.test("health exits 1 when the service answers a status other than ok, still printing it", async (t) => {
  const doc = { status: "degraded", version: "1.2.3", uptime_seconds: 5, colonies: 2, agents: 3 };
  const stub = await startHealthServer(t, JSON.stringify(doc));
  const people = await runCli(["health", "--url", stub.url]);
  t.equal(people.code, 1);
  t.equal(people.stdout, `degraded: coral-discovery 1.2.3 at ${stub.url}, up 5s, 2 colonies, 3 agents\n`);
  const json = await runCli(["health", "--url", stub.url, "--json"]);
  t.equal(json.code, 1);
  t.same(JSON.parse(json.stdout), doc, "printed as served");
});

t.test("agent lookup shows - for no endpoints and udp for an observed endpoint without a protocol", async (t) => {
  const server = await startServer(t);
  await server.registry.registerAgent("m", "stun-only", KEY_2, {
    endpoints: [],
    metadata: {},
    observedEndpoint: { ip: "203.0.113.7", port: 51820, protocol: "" },
  }, "198.51.100.1");
  const shown = await runCli(["agent", "lookup", "stun-only", "--mesh-id", "m", "--url", server.url]);
  t.equal(shown.code, 0, shown.stderr);
  t.match(shown.stdout, /\n {2}endpoints +-\n/);
  t.match(shown.stdout, /\n {2}observed +203\.0\.113\.7:51820\/udp \(NAT_CONE\)\n/);
  const missing = await runCli(["agent"]);
  t.equal(missing.code, 2);
  t.match(missing.stderr, /^coral-discovery: unknown agent command ""; use: agent lookup <agent-id> --mesh-id <id>/);
});

t.test("times the service leaves out are shown as -", async (t) => {
  const stub = await startStubServer(t, {
    lookupColony: (req) => ({ meshId: req.meshId, pubkey: KEY_1, endpoints: [":51820"] }),
    registerColony: () => ({ success: true, ttl: 300 }),
  });
  const lookup = await runCli(["lookup", "m", "--url", stub.url]);
  t.equal(lookup.code, 0, lookup.stderr);
  t.match(lookup.stdout, /\n {2}last seen +-\n/);
  const registered = await runCli(["register", "--once", "--mesh-id", "m", "--pubkey", KEY_1, "--endpoint", ":51820", "--url", stub.url]);
  t.equal(registered.code, 0, registered.stderr);
  t.equal(registered.stdout, "registered m: lease of 300s until -\n");
});

t.test("a --timeout longer than Node's timers can hold is not a deadline that passes at once", async (t) => {
  const server = await startServer(t);
  // 600h is 2_160_000_000 ms, past setTimeout's 2^31-1: Node clamps such a timer to 1 ms.
  const { code, stderr } = await runCli(["health", "--url", server.url, "--timeout", "600h"]);
  t.notMatch(stderr, /deadline_exceeded/, "no instant deadline_exceeded");
  t.equal(code, 2, "refused as a usage error");
  t.match(stderr, /--timeout "600h" is too long: at most 24 days/);
});

t.test("register heartbeats every --interval until interrupted, then exits 0 leaving the lease", async (t) => {
  const server = await startServer(t);
  const clock = createFakeClock();
  const timers = createManualTimers(clock);
  const interrupt = new AbortController();
  const run = runCli(["register", "--url", server.url, "--mesh-id", "beat", "--pubkey", KEY_1, "--endpoint", ":51820", "--interval", "30s"], {
    now: clock.now,
    timers,
    signal: interrupt.signal,
  });
  await until(() => /registered beat/.test(run.output().stdout), "the first registration");
  await until(() => timers.pending() === 1, "the wait for the next heartbeat");
  t.same(timers.scheduled, [30_000], "the next round is --interval after the first");
  await timers.next();
  await until(() => (run.output().stdout.match(/registered beat/g) ?? []).length === 2, "the second registration");
  t.match(run.output().stdout, /next heartbeat in 30s/);
  interrupt.abort();
  const { code, stdout } = await run;
  t.equal(code, 0);
  t.match(stdout, /stopped after 2 heartbeat round\(s\)/);
  t.equal(server.registry.lookupColony("beat")?.pubkey, KEY_1, "the lease stays until it runs out");
});

t.test("register --json prints each registration as JSON and no summary", async (t) => {
  const server = await startServer(t);
  const clock = createFakeClock();
  const timers = createManualTimers(clock);
  const interrupt = new AbortController();
  const run = runCli(["register", "--json", "--url", server.url, "--mesh-id", "beat", "--pubkey", KEY_1, "--endpoint", ":51820"], {
    now: clock.now,
    timers,
    signal: interrupt.signal,
  });
  await until(() => timers.pending() === 1, "the wait for the next heartbeat");
  interrupt.abort();
  const { code, stdout } = await run;
  t.equal(code, 0);
  const lines = stdout.trimEnd().split("\n");
  t.equal(lines.length, 1, "one line per registration, nothing else");
  t.match(JSON.parse(lines[0] as string), { success: true, ttl: 300 });
});

t.test("register interrupted before its first answer stops at once, after no round", async (t) => {
  const server = await startServer(t);
  const clock = createFakeClock();
  const timers = createManualTimers(clock);
  const interrupt = new AbortController();
  interrupt.abort();
  const { code, stdout, stderr } = await runCli(["register", "--url", server.url, "--mesh-id", "m", "--pubkey", KEY_1, "--endpoint", ":1"], {
    now: clock.now,
    timers,
    signal: interrupt.signal,
  });
  t.equal(code, 0);
  t.equal(stdout, "stopped after 0 heartbeat round(s); the lease runs out by itself\n");
  t.equal(stderr, "");
  t.same(timers.scheduled, [], "no heartbeat was scheduled");
});

t.test("register reports a refused round and exits with the refusal's code", async (t) => {
  const server = await startServer(t);
  await server.registry.registerColony("taken", KEY_2, {
    endpoints: [":1"],
    meshIpv4: "",
    meshIpv6: "",
    connectPort: 0,
    metadata: {},
    observedEndpoint: undefined,
    publicPort: 0,
    publicEndpoint: undefined,
  });
  const clock = createFakeClock();
  const timers = createManualTimers(clock);
  const interrupt = new AbortController();
  const run = runCli(["register", "--url", server.url, "--mesh-id", "taken", "--pubkey", KEY_1, "--endpoint", ":1"], {
    now: clock.now,
    timers,
    signal: interrupt.signal,
  });
  await until(() => /registration round failed/.test(run.output().stderr), "the refused round");
  interrupt.abort();
  const { code, stderr } = await run;
  t.equal(code, 5, "already_exists is a refusal");
  t.match(stderr, /already_exists: .*split-brain/);
});

t.test("register retries an unreachable service, each attempt reported; interrupted before any success it exits 4", async (t) => {
  const port = await freePort();
  const clock = createFakeClock();
  const timers = createManualTimers(clock);
  const interrupt = new AbortController();
  const run = runCli(["register", "--url", `http://127.0.0.1:${port}`, "--mesh-id", "m", "--pubkey", KEY_1, "--endpoint", ":1"], {
    now: clock.now,
    timers,
    signal: interrupt.signal,
  });
  await until(() => /attempt 1 failed/.test(run.output().stderr), "the first failed attempt");
  t.match(run.output().stderr, /attempt 1 failed \(unavailable: .*\); retrying in 1s/);
  interrupt.abort();
  const { code } = await run;
  t.equal(code, 4, "unreachable");
});

t.test("wait exits 0 once a late-starting service is healthy, printing the URL alone", async (t) => {
  const port = await freePort();
  const clock = createFakeClock();
  const timers = createManualTimers(clock);
  const waiting = runCli(["wait", "--url", `http://127.0.0.1:${port}`, "--timeout", "20s"], { now: clock.now, timers });
  await until(() => timers.pending() === 1, "a failed attempt and a pause");
  t.notOk(await settled(waiting), "still waiting while nothing listens");
  await startServer(t, { port });
  await timers.next();
  const { code, stdout } = await waiting;
  t.equal(code, 0);
  t.equal(stdout, `http://127.0.0.1:${port}\n`);
  const json = await runCli(["wait", "--url", `http://127.0.0.1:${port}`, "--json"]);
  t.match(JSON.parse(json.stdout), { url: `http://127.0.0.1:${port}`, status: "ok" });
});

t.test("wait gives up at --timeout (on the injected clock) with exit 4 and the last reason", async (t) => {
  const port = await freePort();
  const clock = createFakeClock();
  const timers = createManualTimers(clock);
  const waiting = runCli(["wait", "--url", `http://127.0.0.1:${port}`, "--timeout", "1s"], { now: clock.now, timers });
  const { code, stderr } = await driveToEnd(waiting, timers, 20);
  t.equal(code, 4);
  t.match(stderr, new RegExp(`http://127\\.0\\.0\\.1:${port} was not healthy within 1s \\(unavailable: `));
  t.same(new Set(timers.scheduled), new Set([200]), "200 ms between attempts");
});

t.test("wait --ready-file waits for the file, then for the URL it names", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "coral-wait-"));
  const file = join(dir, "ready.json");
  const clock = createFakeClock();
  const timers = createManualTimers(clock);
  const waiting = runCli(["wait", "--ready-file", file, "--timeout", "20s"], { now: clock.now, timers });
  await until(() => timers.pending() === 1, "a look at the missing file");
  t.notOk(await settled(waiting), "still waiting for the file");
  const server = await startServer(t);
  await writeFile(file, JSON.stringify({ url: server.url, port: server.port, pid: process.pid }));
  await timers.next();
  const { code, stdout } = await waiting;
  t.equal(code, 0);
  t.equal(stdout, `${server.url}\n`);

  const gaveUp = await driveToEnd(runCli(["wait", "--ready-file", join(dir, "never.json"), "--timeout", "400ms"], { now: clock.now, timers }), timers);
  t.equal(gaveUp.code, 4);
  t.match(gaveUp.stderr, /never\.json does not exist yet/);

  await writeFile(join(dir, "bad.json"), "{}");
  const bad = await driveToEnd(runCli(["wait", "--ready-file", join(dir, "bad.json"), "--timeout", "1ms"], { now: clock.now, timers }), timers);
  t.equal(bad.code, 4);
  t.match(bad.stderr, /bad\.json has no "url"/);
});

t.test("wait --ready-file reads the file again before every attempt: a file replaced by a new daemon is followed", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "coral-wait-"));
  const file = join(dir, "ready.json");
  const gone = `http://127.0.0.1:${await freePort()}`;
  // A previous daemon's file: its process (this one, for the test) runs, its port answers no more.
  await writeFile(file, JSON.stringify({ url: gone, port: 1, pid: process.pid }));
  const clock = createFakeClock();
  const timers = createManualTimers(clock);
  const waiting = runCli(["wait", "--ready-file", file, "--timeout", "20s"], { now: clock.now, timers });
  await until(() => timers.pending() === 1, "a failed attempt at the old URL");
  t.notOk(await settled(waiting));
  const server = await startServer(t);
  await writeFile(file, JSON.stringify({ url: server.url, port: server.port, pid: process.pid }));
  const { code, stdout } = await driveToEnd(waiting, timers);
  t.equal(code, 0);
  t.equal(stdout, `${server.url}\n`, "the new daemon's URL");
});

t.test("wait --ready-file gives up after 10 s on a file whose daemon is not running, unless a live daemon replaces it", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "coral-wait-"));
  const file = join(dir, "ready.json");
  const deadPid = 2 ** 30; // above any pid_max: no such process
  await writeFile(file, JSON.stringify({ url: "http://127.0.0.1:1", port: 1, pid: deadPid }));
  const clock = createFakeClock();
  const timers = createManualTimers(clock);
  const startMs = clock.now();
  const stale = await driveToEnd(runCli(["wait", "--ready-file", file, "--timeout", "5m"], { now: clock.now, timers }), timers, 100);
  t.equal(stale.code, 4);
  t.equal(stale.stdout, "");
  t.match(stale.stderr, `coral-discovery: ${file} names pid ${deadPid}, which is not running, and no daemon replaced it within 10s`);
  const tookMs = clock.now() - startMs;
  t.ok(tookMs >= 10_000 && tookMs < 11_000, `gave up after ${tookMs} ms, not after the 5 minutes of --timeout`);

  const replaced = runCli(["wait", "--ready-file", file, "--timeout", "5m"], { now: clock.now, timers });
  await until(() => timers.pending() === 1, "a look at the stale file");
  const server = await startServer(t);
  await writeFile(file, JSON.stringify({ url: server.url, port: server.port, pid: process.pid }));
  const ok = await driveToEnd(replaced, timers);
  t.equal(ok.code, 0, ok.stderr);
  t.equal(ok.stdout, `${server.url}\n`);
});

t.test("wait --pid fails at once when the daemon it waits for has exited, and waits on while it runs", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "coral-wait-"));
  const file = join(dir, "ready.json");
  const clock = createFakeClock();
  const timers = createManualTimers(clock);
  const deadPid = 2 ** 30; // above any pid_max: no such process
  const gone = await runCli(["wait", "--ready-file", file, "--pid", String(deadPid)], { now: clock.now, timers });
  t.equal(gone.code, 4);
  t.equal(gone.stderr, `coral-discovery: the daemon (pid ${deadPid}) exited before it was healthy (${file} does not exist yet); see its output for why\n`);
  t.same(timers.scheduled, [], "no waiting at all");

  const alive = runCli(["wait", "--ready-file", file, "--pid", String(process.pid), "--timeout", "20s"], { now: clock.now, timers });
  await until(() => timers.pending() === 1, "a look at the missing file");
  const server = await startServer(t);
  await writeFile(file, JSON.stringify({ url: server.url, port: server.port, pid: process.pid }));
  const ok = await driveToEnd(alive, timers);
  t.equal(ok.code, 0, ok.stderr);
  t.equal(ok.stdout, `${server.url}\n`);

  for (const bad of ["abc", "0", "-3", "1.5"]) {
    const usage = await runCli(["wait", `--pid=${bad}`]);
    t.equal(usage.code, 2, bad);
    t.match(usage.stderr, `--pid ${JSON.stringify(bad)} must be a process id`);
  }
});

t.test("wait keeps trying while the service answers a status other than ok, and names that status when it gives up", async (t) => {
  const statuses = ["starting", "starting", "ok"];
  const stub = await startStubServer(t, { health: () => ({ status: statuses.shift() ?? "degraded", version: "1.2.3" }) });
  const clock = createFakeClock();
  const timers = createManualTimers(clock);
  const ready = await driveToEnd(runCli(["wait", "--url", stub.url, "--timeout", "20s"], { now: clock.now, timers }), timers);
  t.equal(ready.code, 0, ready.stderr);
  t.equal(ready.stdout, `${stub.url}\n`);
  t.same(timers.scheduled, [200, 200], "a pause after each answer that was not ok");

  const gaveUp = await driveToEnd(runCli(["wait", "--url", stub.url, "--timeout", "1s"], { now: clock.now, timers }), timers);
  t.equal(gaveUp.code, 4);
  t.equal(gaveUp.stderr, `coral-discovery: ${stub.url} was not healthy within 1s (status "degraded")\n`);
});

t.test("wait --ready-file reports a ready file it cannot read, other than a missing one, when it gives up", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "coral-wait-"));
  const notAFile = join(dir, "ready.json");
  await mkdir(notAFile);
  const clock = createFakeClock();
  const timers = createManualTimers(clock);
  const { code, stderr } = await driveToEnd(runCli(["wait", "--ready-file", notAFile, "--timeout", "400ms"], { now: clock.now, timers }), timers);
  t.equal(code, 4);
  t.match(stderr, /was not healthy within 0\.4s \(Error: EISDIR: illegal operation on a directory/);
  t.notMatch(stderr, /does not exist yet/);
});

t.test("an interrupt during wait ends it with exit 4, the cancelled attempt as the reason", async (t) => {
  const interrupt = new AbortController();
  const stub = await startStubServer(t, {
    async health(_req, context) {
      interrupt.abort(); // SIGINT arrives while the attempt is in flight
      await aborted(context.signal);
      return { status: "ok" };
    },
  });
  // No injected timers: Node's would time the pause after the attempt, but the interrupt ends the wait before any pause.
  const { code, stdout, stderr } = await runCli(["wait", "--url", stub.url], { signal: interrupt.signal });
  t.equal(code, 4);
  t.equal(stdout, "");
  t.match(stderr, new RegExp(`^coral-discovery: ${stub.url.replace(/\./g, "\\.")} was not healthy within 30s \\(canceled: `));
});

t.test("admin is dispatched to the admin commands", async (t) => {
  const run = await runCli(["admin"]);
  t.equal(run.code, 2);
  t.match(run.stderr, /admin needs a command: list, show, evict or stats\n\nAdmin commands/);
});

t.test("rendezvous poll prints a mesh's records (ids, times, base64), waits with --wait, and --json", async (t) => {
  const server = await startServer(t);
  const url = ["--url", server.url];
  const none = await runCli(["rendezvous", "poll", "rdv-mesh", ...url]);
  t.same([none.code, none.stdout], [0, "no rendezvous records on mesh rdv-mesh\n"]);
  const waited = await runCli(["rendezvous", "poll", "rdv-mesh", "--wait", "1", ...url]);
  t.same([waited.code, waited.stdout], [0, "no rendezvous records on mesh rdv-mesh (waited 1s)\n"]);

  const publish = (body: object) =>
    fetch(`${server.url}/coral.discovery.v1.DiscoveryService/PublishBootstrapRendezvous`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    }).then(async (res) => (await res.json()) as { recordId: string });
  const polling = runCli(["rendezvous", "poll", "rdv-mesh", "--wait", "25s", ...url]);
  await until(async () => ((await (await fetch(`${server.url}/health`)).json()) as { rendezvous_polls_waiting: number }).rendezvous_polls_waiting === 1, "the poll to wait");
  const { recordId } = await publish({ mesh_id: "rdv-mesh", ciphertext: "AQID", gcm_nonce: "BAUG", write_token: "Bw==" });
  const woken = await polling;
  t.equal(woken.code, 0, woken.stderr);
  t.match(woken.stdout, new RegExp(`^record ${recordId}\\n {2}published +\\d{4}-.*\\(\\d+s ago\\)\\n {2}gcm nonce +BAUG\\n {2}ciphertext +AQID \\(3 bytes\\)\\n$`));

  const json = await runCli(["rendezvous", "poll", "rdv-mesh", "--json", ...url]);
  t.match(JSON.parse(json.stdout), { records: [{ recordId, ciphertext: "AQID", gcmNonce: "BAUG" }] });

  const bad = await runCli(["rendezvous", "poll", "rdv-mesh", "--wait", "26", ...url]);
  t.equal(bad.code, 2);
  t.match(bad.stderr, /--wait "26" must be 0-25 seconds/);
  const noMesh = await runCli(["rendezvous", "poll", ...url]);
  t.equal(noMesh.code, 2);
  t.match(noMesh.stderr, /a mesh id \(coral-discovery rendezvous poll <mesh-id>\) is required/);
  const other = await runCli(["rendezvous", "publish", ...url]);
  t.equal(other.code, 2);
  t.match(other.stderr, /unknown rendezvous command "publish"; use: rendezvous poll <mesh-id>/);
  t.match((await runCli(["rendezvous"])).stderr, /unknown rendezvous command ""/);
  const off = await startServer(t, { rendezvous: false });
  const refused = await runCli(["rendezvous", "poll", "m", "--url", off.url]);
  t.match(refused.stderr, /unimplemented: PollBootstrapRendezvous is not enabled on this server \(--rendezvous off\)/);
});

t.test("register --private-key-file proves every registration with a wg-key file; nobody else can then change the colony", async (t) => {
  const server = await startServer(t);
  const dir = await mkdtemp(join(tmpdir(), "wg-key-"));
  const keyFile = join(dir, "colony.key");
  const printed: string[] = [];
  t.equal(runWgKey([], { stdout: (text) => void printed.push(text), stderr: () => {} }), 0);
  await writeFile(keyFile, printed.join(""));
  const publicKey = /PublicKey = (\S+)/.exec(printed.join(""))?.[1] as string;

  const registered = await runCli(["register", "--once", "--mesh-id", "owned", "--private-key-file", keyFile, "--endpoint", "203.0.113.5:41820", "--url", server.url]);
  t.equal(registered.code, 0, registered.stderr);
  t.match(registered.stdout, /^registered owned: lease of 300s/);
  t.same([server.registry.lookupColony("owned")?.pubkey, server.registry.lookupColony("owned")?.proven], [publicKey, true]);
  const again = await runCli(["register", "--once", "--mesh-id", "owned", "--pubkey", publicKey, "--private-key-file", keyFile, "--endpoint", "203.0.113.6:41820", "--url", server.url]);
  t.equal(again.code, 0, "--pubkey may repeat the key's public key");

  const thief = await runCli(["register", "--once", "--mesh-id", "owned", "--pubkey", publicKey, "--endpoint", "6.6.6.6:6", "--url", server.url]);
  t.equal(thief.code, 5, "refused by the service");
  t.match(thief.stderr, /permission_denied: mesh owned's colony is held by a proven registration: a registration proof is required/);
  t.same(server.registry.lookupColony("owned")?.data.endpoints, ["203.0.113.6:41820"]);
});

t.test("register --private-key-file: unreadable, malformed or contradicted keys are usage errors", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "wg-key-"));
  const bad = join(dir, "bad.key");
  await writeFile(bad, "AAAA\n");
  const good = join(dir, "good.key");
  await writeFile(good, `${OWNER.private}\n`);
  const missing = await runCli(["register", "--mesh-id", "m", "--private-key-file", join(dir, "none"), "--endpoint", ":1"]);
  t.equal(missing.code, 2);
  t.match(missing.stderr, /--private-key-file .*none: cannot read it \(ENOENT: no such file or directory/);
  const malformed = await runCli(["register", "--mesh-id", "m", "--private-key-file", bad, "--endpoint", ":1"]);
  t.match(malformed.stderr, /--private-key-file .*bad\.key decodes to 3 bytes, not 32/);
  const other = await runCli(["register", "--mesh-id", "m", "--private-key-file", good, "--pubkey", KEY_1, "--endpoint", ":1"]);
  t.equal(other.code, 2);
  t.match(other.stderr, `--pubkey ${KEY_1} is not the public key of --private-key-file ${good} (${OWNER.public}); leave --pubkey out`);
  const neither = await runCli(["register", "--mesh-id", "m", "--endpoint", ":1"]);
  t.match(neither.stderr, /--pubkey \(or --private-key-file\) is required/);
});
