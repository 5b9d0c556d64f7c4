// The built binary as an operator runs it: `node dist/src/main.js` (npm test
// builds it first). Banner, --help/--version, config errors, env vars, and a
// graceful SIGTERM.
import * as http from "node:http";
import * as http2 from "node:http2";
import * as net from "node:net";
import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t, { type Test } from "tap";
import { OPTIONS } from "../src/config/index.js";
import { parseSigningKey } from "../src/tokens/index.js";
import { VERSION } from "../src/version.js";
import { KEY_1 } from "./fixtures/keys.js";
import { fromRoot, MAIN_JS } from "./fixtures/paths.js";
import { startServer } from "./fixtures/server.js";
import { spawnDaemon, withTimeout, type Daemon } from "./fixtures/spawn.js";
import { until } from "./fixtures/wait.js";

const { version } = JSON.parse(readFileSync(fromRoot("package.json"), "utf8")) as { version: string };
const SERVICE = "coral.discovery.v1.DiscoveryService";

// Each test runs its own child process; they mostly wait on it, so run a few at once.
t.jobs = 4;
const BANNER_END = /^Ready to accept registrations\n/m;
/** A failure bound only: a graceful shutdown takes milliseconds; the daemon's own forced close comes at 8 s. */
const EXIT_BOUND_MS = 30_000;
/** What the daemon logs (at warn) when it had to cut connections at the end of its grace period. */
const FORCED = /grace period over/;

/** Waits for the banner and returns the port it announces. */
async function listeningPort(daemon: Daemon): Promise<number> {
  await daemon.waitForStdout(BANNER_END);
  const match = /^gRPC server listening on :(\d+)$/m.exec(daemon.stdout());
  if (match === null) throw new Error(`no port in the banner: ${daemon.stdout()}`);
  return Number(match[1]);
}

const bannerLines = (port: number) => [
  `Discovery Service v${version}`,
  `gRPC server listening on :${port}`,
  "Ready to accept registrations",
];

/** Splits stdout into the plain-text lines (the banner) and the JSON log lines (pino). */
function stdoutLines(daemon: Daemon): { text: string[]; logs: Record<string, unknown>[] } {
  const text: string[] = [];
  const logs: Record<string, unknown>[] = [];
  for (const line of daemon.stdout().split("\n")) {
    if (line.startsWith("{")) logs.push(JSON.parse(line) as Record<string, unknown>);
    else if (line !== "") text.push(line);
  }
  return { text, logs };
}

async function registerColony(port: number, meshId: string): Promise<Record<string, unknown>> {
  const res = await fetch(`http://127.0.0.1:${port}/${SERVICE}/RegisterColony`, {
    method: "POST",
    headers: { "Content-Type": "application/json", "Connect-Protocol-Version": "1" },
    body: JSON.stringify({ mesh_id: meshId, pubkey: KEY_1, endpoints: ["203.0.113.1:51820"] }),
    signal: AbortSignal.timeout(5_000),
  });
  const body = (await res.json()) as Record<string, unknown>;
  if (res.status !== 200) throw new Error(`RegisterColony answered ${res.status}: ${JSON.stringify(body)}`);
  return body;
}

/** Whether a TCP connection to `host:port` is accepted. */
function connects(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port, timeout: 2_000 });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("timeout", () => {
      socket.destroy();
      resolve(false);
    });
    socket.once("error", () => resolve(false));
  });
}

/** Resolves once connecting to `port` is refused, i.e. the daemon stopped listening. */
async function waitUntilRefused(port: number, timeoutMs = EXIT_BOUND_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (!(await connects("127.0.0.1", port))) return;
    if (Date.now() > deadline) throw new Error(`port ${port} still accepts connections after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/**
 * Asserts the daemon listens on 127.0.0.1 only: 127.0.0.2 (also loopback on
 * Linux) is refused. Skipped where 127.0.0.2 does not reach a wildcard listener.
 */
async function assertLoopbackOnly(t: Test, port: number): Promise<void> {
  const wildcard = net.createServer();
  await new Promise<void>((resolve) => wildcard.listen(0, "0.0.0.0", resolve));
  const probePort = (wildcard.address() as net.AddressInfo).port;
  const probeWorks = await connects("127.0.0.2", probePort);
  await new Promise((resolve) => wildcard.close(resolve));
  if (!probeWorks) {
    t.pass("bound host not checked", { skip: "127.0.0.2 does not reach a 0.0.0.0 listener on this machine" });
    return;
  }
  t.equal(await connects("127.0.0.2", port), false, "bound to 127.0.0.1, not to every address");
}

t.test("--port 0 --host 127.0.0.1 prints RFD 001's banner with the real port, which serves /health", async (t) => {
  const daemon = spawnDaemon(t, ["--port", "0", "--host", "127.0.0.1"]);
  const port = await listeningPort(daemon);
  t.ok(port > 0 && port < 65536, `port ${port}`);
  t.strictSame(stdoutLines(daemon).text, bannerLines(port), "the banner is the only plain-text output");

  const res = await fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(5_000) });
  t.equal(res.status, 200);
  const health = (await res.json()) as Record<string, unknown>;
  t.equal(health.status, "ok");
  t.equal(health.version, version);

  daemon.child.kill("SIGTERM");
  t.strictSame(await daemon.exited(), { code: 0, signal: null });
  const { logs } = stdoutLines(daemon);
  t.ok(logs.length > 0, "at the default level, logs are JSON lines");
  t.equal(daemon.stderr(), "");

  // The README shows this start-up output; it must stay what the daemon prints,
  // line for line, but for the values that differ per run (time, pid, host name, key id).
  const readme = readFileSync(fromRoot("README.md"), "utf8");
  const sample = /On start it prints[^\n]*\n\n```\n([\s\S]*?)```/.exec(readme)?.[1]?.trimEnd().split("\n") ?? [];
  t.strictSame(sample.slice(0, 3), bannerLines(8080), "the README's banner");
  // (and host: this test listens on 127.0.0.1, the README shows the default ::)
  const perRun = new Set(["time", "pid", "hostname", "kid", "host"]);
  const normalize = (line: Record<string, unknown>) =>
    Object.entries(line).map(([key, value]) => [key, perRun.has(key) ? typeof value : JSON.parse(JSON.stringify(value).replaceAll(`:${port}`, ":8080"))]);
  const startup = logs.filter((line) => line.msg !== "shutting down: finishing in-flight requests");
  t.strictSame(
    sample.slice(3).map((line) => normalize(JSON.parse(line) as Record<string, unknown>)),
    startup.map(normalize),
    "the README's log lines are the daemon's start-up lines, field for field, in order",
  );
});

t.test("with --log-level warn the banner is all the daemon prints", async (t) => {
  const daemon = spawnDaemon(t, ["--port", "0", "--host", "127.0.0.1", "--log-level", "warn"]);
  const port = await listeningPort(daemon);
  await registerColony(port, "quiet");
  daemon.child.kill("SIGTERM");
  t.strictSame(await daemon.exited(), { code: 0, signal: null });
  t.equal(daemon.stdout(), `${bannerLines(port).join("\n")}\n`);
  t.equal(daemon.stderr(), "");
});

t.test("listening on every interface without --trust-proxy logs one warning; a loopback or proxied daemon does not", async (t) => {
  const open = spawnDaemon(t, ["--port", "0", "--host", "0.0.0.0", "--log-level", "warn"]);
  await listeningPort(open);
  open.child.kill("SIGTERM");
  await open.exited();
  const warnings = stdoutLines(open).logs.filter((l) => l.level === 40);
  t.equal(warnings.length, 1, "one warning");
  t.match(warnings[0]?.msg, /listening on every interface without --trust-proxy: .*every client looks like the proxy.*--trust-proxy/);
  const proxied = spawnDaemon(t, ["--port", "0", "--host", "0.0.0.0", "--trust-proxy", "loopback", "--log-level", "warn"]);
  const port = await listeningPort(proxied);
  proxied.child.kill("SIGTERM");
  await proxied.exited();
  t.equal(proxied.stdout(), `${bannerLines(port).join("\n")}\n`, "with --trust-proxy: no warning");
});

t.test("--version prints the package.json version and exits 0", async (t) => {
  const daemon = spawnDaemon(t, ["--version"]);
  t.strictSame(await daemon.exited(), { code: 0, signal: null });
  t.equal(daemon.stdout(), `${version}\n`);
});

t.test("--help exits 0 and prints every option of the table and the client commands", async (t) => {
  const daemon = spawnDaemon(t, ["--help"]);
  t.strictSame(await daemon.exited(), { code: 0, signal: null });
  const help = daemon.stdout();
  for (const spec of Object.values(OPTIONS)) t.match(help, `--${spec.flag} `, `mentions --${spec.flag}`);
  t.match(help, "Client commands");
  t.notMatch(help, /Ready to accept registrations/, "does not start the server");
});

t.test("keygen prints a key in the DISCOVERY_SIGNING_KEY format", async (t) => {
  const daemon = spawnDaemon(t, ["keygen"]);
  t.strictSame(await daemon.exited(), { code: 0, signal: null });
  t.equal(parseSigningKey(daemon.stdout(), "keygen").kid.length, 26, "it parses back, with a ULID kid");
});

t.test("client commands run from the same binary, with their own help and exit codes", async (t) => {
  const server = await startServer(t);
  const missing = spawnDaemon(t, ["lookup", "nope", "--url", server.url]);
  t.strictSame(await missing.exited(), { code: 3, signal: null });
  t.equal(missing.stderr(), "coral-discovery: not_found: colony nope not found\n");
  const help = spawnDaemon(t, ["lookup", "--help"]);
  t.strictSame(await help.exited(), { code: 0, signal: null });
  t.match(help.stdout(), /^Client commands/);
});

t.test("SIGINT stops a register heartbeat loop, which exits 0 after its last success", async (t) => {
  const server = await startServer(t);
  const child = spawnDaemon(t, ["register", "--url", server.url, "--mesh-id", "beat", "--pubkey", KEY_1, "--endpoint", ":51820"]);
  await child.waitForStdout(/registered beat/, EXIT_BOUND_MS);
  child.child.kill("SIGINT");
  t.strictSame(await child.exited(EXIT_BOUND_MS), { code: 0, signal: null });
  t.match(child.stdout(), /stopped after 1 heartbeat round\(s\)/);
  t.equal(server.registry.lookupColony("beat")?.pubkey, KEY_1);
});

t.test("the version printed is package.json's", async (t) => {
  t.equal(VERSION, version);
});

t.test("an invalid configuration exits 2 with every problem in one message and never listens", async (t) => {
  const daemon = spawnDaemon(t, ["--port", "abc", "--ttl", "0", "--bogus", "--host", "127.0.0.1"]);
  t.strictSame(await daemon.exited(), { code: 2, signal: null });
  const stderr = daemon.stderr();
  t.equal(stderr.match(/invalid configuration/g)?.length, 1, stderr);
  t.match(stderr, /--port: "abc"/);
  t.match(stderr, /--ttl: "0"/);
  t.match(stderr, /--bogus/);
  t.equal(daemon.stdout(), "", "no banner: the banner is printed only once listening");
});

t.test("environment variables configure port, host and TTL", async (t) => {
  const daemon = spawnDaemon(t, [], { PORT: "0", HOST: "127.0.0.1", DEFAULT_TTL_SECONDS: "42" });
  const port = await listeningPort(daemon);
  t.equal((await registerColony(port, "env")).ttl, 42);
  await assertLoopbackOnly(t, port);
  daemon.child.kill("SIGTERM");
  t.equal((await daemon.exited()).code, 0);
});

t.test("flags win over environment variables, even invalid ones", async (t) => {
  const daemon = spawnDaemon(t, ["--port", "0", "--host", "127.0.0.1", "--ttl", "7"], {
    PORT: "not-a-port",
    HOST: "0.0.0.0",
    DEFAULT_TTL_SECONDS: "42",
  });
  const port = await listeningPort(daemon);
  t.equal((await registerColony(port, "flags")).ttl, 7);
  await assertLoopbackOnly(t, port);
  daemon.child.kill("SIGTERM");
  t.equal((await daemon.exited()).code, 0);
});

t.test("SIGTERM exits 0 quickly with an idle HTTP/1.1 keep-alive connection open", async (t) => {
  const daemon = spawnDaemon(t, ["--port", "0", "--host", "127.0.0.1", "--log-level", "warn"]);
  const port = await listeningPort(daemon);
  const agent = new http.Agent({ keepAlive: true });
  t.teardown(() => agent.destroy());
  // Wrapped in an object: resolving with a bare promise would wait for it.
  const { socketClosed } = await new Promise<{ socketClosed: Promise<void> }>((resolve, reject) => {
    const req = http.get({ host: "127.0.0.1", port, path: "/health", agent }, (res) => {
      const socket = res.socket;
      const socketClosed = new Promise<void>((closed) => socket.once("close", () => closed()));
      res.resume();
      res.once("end", () => {
        t.equal(res.statusCode, 200);
        t.equal(res.headers.connection, "keep-alive");
        resolve({ socketClosed });
      });
    });
    req.once("error", reject);
  });
  t.equal(Object.values(agent.freeSockets).flat().length, 1, "the connection stays open, idle");

  daemon.child.kill("SIGTERM");
  t.strictSame(await daemon.exited(EXIT_BOUND_MS), { code: 0, signal: null });
  t.notMatch(daemon.stdout(), FORCED, "the idle connection did not hold the shutdown until the forced close");
  await withTimeout(socketClosed, EXIT_BOUND_MS, "the keep-alive socket was not closed");
});

t.test("SIGTERM exits 0 quickly with an idle h2c session open", async (t) => {
  const daemon = spawnDaemon(t, ["--port", "0", "--host", "127.0.0.1", "--log-level", "warn"]);
  const port = await listeningPort(daemon);
  const session = http2.connect(`http://127.0.0.1:${port}`);
  t.teardown(() => session.destroy());
  session.on("error", () => {}); // the daemon going away may reset the session
  const sessionClosed = new Promise<void>((resolve) => session.once("close", () => resolve()));
  const status = await new Promise<number>((resolve, reject) => {
    const stream = session.request({ ":path": "/health" });
    let code = 0;
    stream.once("response", (headers) => {
      code = Number(headers[":status"]);
    });
    stream.resume();
    stream.once("end", () => resolve(code));
    stream.once("error", reject);
  });
  t.equal(status, 200);

  daemon.child.kill("SIGTERM");
  t.strictSame(await daemon.exited(EXIT_BOUND_MS), { code: 0, signal: null });
  t.notMatch(daemon.stdout(), FORCED, "the idle session did not hold the shutdown until the forced close");
  await withTimeout(sessionClosed, EXIT_BOUND_MS, "the h2c session was not closed");
});

t.test("a request in flight at SIGTERM still gets its answer, while new connections are refused", async (t) => {
  const daemon = spawnDaemon(t, ["--port", "0", "--host", "127.0.0.1", "--log-level", "warn"]);
  const port = await listeningPort(daemon);
  const body = JSON.stringify({ mesh_id: "in-flight", pubkey: KEY_1, endpoints: ["203.0.113.1:51820"] });
  const half = Math.floor(body.length / 2);

  // Expect: 100-continue makes Node answer "100 Continue" right before it hands
  // the request to Fastify, so once the client sees it the request is admitted.
  const req = http.request({
    host: "127.0.0.1",
    port,
    method: "POST",
    path: `/${SERVICE}/RegisterColony`,
    agent: false,
    headers: {
      "Content-Type": "application/json",
      "Connect-Protocol-Version": "1",
      "Content-Length": String(Buffer.byteLength(body)),
      Expect: "100-continue",
    },
  });
  const response = new Promise<{ status: number; text: string }>((resolve, reject) => {
    req.once("response", (res) => {
      let text = "";
      res.setEncoding("utf8").on("data", (chunk: string) => (text += chunk));
      res.once("end", () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.once("error", reject);
  });
  await withTimeout(new Promise<void>((resolve) => req.once("continue", () => resolve())), EXIT_BOUND_MS, "no 100 Continue");
  req.write(body.slice(0, half));

  daemon.child.kill("SIGTERM");
  await waitUntilRefused(port);
  t.pass("the daemon stopped accepting connections");
  t.equal(daemon.child.exitCode, null, "but it waits for the request in flight");

  req.end(body.slice(half));
  const answer = await withTimeout(response, EXIT_BOUND_MS, "the in-flight request got no answer");
  t.equal(answer.status, 200, answer.text);
  t.match(JSON.parse(answer.text), { success: true, ttl: 300 });
  t.strictSame(await daemon.exited(EXIT_BOUND_MS), { code: 0, signal: null });
  t.notMatch(daemon.stdout(), FORCED, "the daemon exited once the request was answered, not at the forced close");
});

t.test("the ready file is removed at a graceful exit, so the next run never reads a stale one", async (t) => {
  const file = join(await mkdtemp(join(tmpdir(), "coral-main-")), "ready.json");
  const daemon = spawnDaemon(t, ["--port", "0", "--host", "127.0.0.1", "--ready-file", file, "--log-level", "warn"]);
  await listeningPort(daemon);
  t.equal((JSON.parse(readFileSync(file, "utf8")) as { pid: number }).pid, daemon.child.pid);
  daemon.child.kill("SIGTERM");
  t.strictSame(await daemon.exited(EXIT_BOUND_MS), { code: 0, signal: null });
  t.equal(existsSync(file), false, "removed");
});

t.test("a port in use exits 1 naming the process that holds it and how to pick another port", async (t) => {
  const first = spawnDaemon(t, ["--port", "0", "--host", "127.0.0.1", "--log-level", "warn"]);
  const port = await listeningPort(first);
  const second = spawnDaemon(t, ["--port", String(port), "--host", "127.0.0.1", "--log-level", "warn"]);
  t.strictSame(await second.exited(EXIT_BOUND_MS), { code: 1, signal: null });
  const stderr = second.stderr();
  t.match(stderr, `coral-discovery: port ${port} is already in use by process ${first.child.pid}`);
  t.match(stderr, "--port <n>");
  t.match(stderr, "--port 0");
  t.notMatch(stderr, /\n\s+at /, "no stack trace");
  t.equal(second.stdout(), "", "no banner");
});

t.test("started by npm (npx runs it under sh -c), the daemon stops gracefully once its parent is gone", async (t) => {
  const file = join(await mkdtemp(join(tmpdir(), "coral-main-")), "ready.json");
  // `; true` keeps sh from exec'ing node, as npx's shell does: node is sh's child.
  const script = `"${process.execPath}" "${MAIN_JS}" --port 0 --host 127.0.0.1 --log-level warn --ready-file "${file}"; true`;
  const shell = spawn("sh", ["-c", script], {
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", npm_command: "exec" },
    stdio: "ignore",
  });
  const shellExited = new Promise((resolve) => shell.once("exit", resolve));
  await until(() => existsSync(file), "the ready file", EXIT_BOUND_MS);
  const { pid, port } = JSON.parse(readFileSync(file, "utf8")) as { pid: number; port: number };
  t.not(pid, shell.pid, "node runs as the shell's child");
  t.teardown(() => {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // exited, as it should
    }
  });
  shell.kill("SIGKILL"); // what happens to npx's shell when npx is stopped
  await shellExited;
  await waitUntilRefused(port, 10_000);
  await until(() => !existsSync(file), "the daemon to remove its ready file at its graceful exit", 10_000);
  t.pass("the orphaned daemon stopped and removed its ready file");
});

t.test("help and version are subcommands too; -v and -h their short flags", async (t) => {
  const version = spawnDaemon(t, ["version"]);
  t.strictSame(await version.exited(), { code: 0, signal: null });
  t.equal(version.stdout(), `${VERSION}\n`);
  const short = spawnDaemon(t, ["-v"]);
  t.strictSame(await short.exited(), { code: 0, signal: null });
  t.equal(short.stdout(), `${VERSION}\n`);
  const help = spawnDaemon(t, ["help"]);
  t.strictSame(await help.exited(), { code: 0, signal: null });
  t.match(help.stdout(), /^Usage: coral-discovery \[serve\][\s\S]*Client commands/);
  const helpLookup = spawnDaemon(t, ["help", "lookup"]);
  t.strictSame(await helpLookup.exited(), { code: 0, signal: null });
  t.match(helpLookup.stdout(), /^Client commands/);
});

t.test("a mistyped command exits 2 with the closest command, without starting the daemon", async (t) => {
  const typo = spawnDaemon(t, ["regster", "--mesh-id", "m"]);
  t.strictSame(await typo.exited(), { code: 2, signal: null });
  t.equal(typo.stderr(), 'coral-discovery: unknown command "regster"; did you mean register?\n');
  t.equal(typo.stdout(), "");
  const option = spawnDaemon(t, ["--prot", "9000"]);
  t.strictSame(await option.exited(), { code: 2, signal: null });
  t.match(option.stderr(), "unknown option --prot; did you mean --port?");
});

t.test("wg-key prints a WireGuard key pair; --public the public key alone", async (t) => {
  const pair = spawnDaemon(t, ["wg-key"]);
  t.strictSame(await pair.exited(), { code: 0, signal: null });
  t.match(pair.stdout(), /^PrivateKey = [A-Za-z0-9+/]{43}=\nPublicKey = [A-Za-z0-9+/]{43}=\n$/);
  const pub = spawnDaemon(t, ["wg-key", "--public"]);
  t.strictSame(await pub.exited(), { code: 0, signal: null });
  t.match(pub.stdout(), /^[A-Za-z0-9+/]{43}=\n$/);
  const bad = spawnDaemon(t, ["wg-key", "--bogus"]);
  t.strictSame(await bad.exited(), { code: 2, signal: null });
});
