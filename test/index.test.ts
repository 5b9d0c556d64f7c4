import t from "tap";
import { subscribe, unsubscribe } from "node:diagnostics_channel";
import { mkdtemp, readFile, readdir } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigError, startDiscovery } from "../src/index.js";
import { KEY_1 } from "./fixtures/keys.js";
import { spawnDaemon } from "./fixtures/spawn.js";

t.test("startDiscovery serves in-process on a free loopback port and closes", async (t) => {
  const discovery = await startDiscovery({ ttlSeconds: 42 });
  t.match(discovery.url, /^http:\/\/127\.0\.0\.1:\d+$/);
  t.ok(discovery.port > 0);
  const res = await fetch(`${discovery.url}/coral.discovery.v1.DiscoveryService/RegisterColony`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ mesh_id: "m", pubkey: KEY_1, endpoints: [":51820"] }),
  });
  t.equal(((await res.json()) as { ttl: number }).ttl, 42, "options reach the config");
  await discovery.close();
  const after = await fetch(`${discovery.url}/health`).catch((e: unknown) => e);
  t.ok(after instanceof Error, "nothing listens after close");
});

t.test("startDiscovery passes every option through and reports bad ones all at once", async (t) => {
  const discovery = await startDiscovery({
    relays: ["198.51.100.1:3478"],
    stunServers: ["stun.example.org:3478", "stun2.example.org:3478"],
    pubkeyCheck: false,
    maxColonies: "5",
  });
  t.teardown(() => discovery.close());
  const res = await fetch(`${discovery.url}/coral.discovery.v1.DiscoveryService/RegisterColony`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ mesh_id: "m", pubkey: "placeholder", endpoints: [":51820"] }),
  });
  const body = (await res.json()) as { stunServers: string[] };
  t.same(body.stunServers, ["stun.example.org:3478", "stun2.example.org:3478"]);
  const error = await startDiscovery({ ttlSeconds: 0, maxColonies: "x" }).catch((e: unknown) => e);
  t.ok(error instanceof ConfigError);
  t.match((error as ConfigError).problems, [/^ttlSeconds: 0 must be/, /^maxColonies: "x" must be/]);
});

t.test("startDiscovery rejects when its port is taken, and closes the app it built", async (t) => {
  const occupant = createServer();
  await new Promise<void>((resolve) => occupant.listen(0, "127.0.0.1", resolve));
  t.teardown(() => new Promise((resolve) => occupant.close(resolve)));
  const { port } = occupant.address() as { port: number };
  // Fastify announces every instance it creates on this channel: hook the one startDiscovery builds.
  let closed = 0;
  const onInstance = (message: unknown) => {
    (message as { fastify: { addHook(name: "onClose", hook: () => Promise<void>): void } }).fastify.addHook("onClose", async () => {
      closed++;
    });
  };
  subscribe("fastify.initialization", onInstance);
  t.teardown(() => unsubscribe("fastify.initialization", onInstance));
  const error = await startDiscovery({ port }).catch((e: unknown) => e);
  t.equal((error as NodeJS.ErrnoException).code, "EADDRINUSE", "the listen error itself, not another");
  t.equal(closed, 1, "the app was closed before the rejection");
});

t.test("--port 0 --ready-file writes {url, port, pid} once listening, atomically", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "coral-ready-"));
  const file = join(dir, "ready.json");
  const daemon = spawnDaemon(t, ["--port", "0", "--host", "127.0.0.1", "--ready-file", file, "--log-level", "warn"]);
  await daemon.waitForStdout(/Ready to accept registrations/);
  const ready = JSON.parse(await readFile(file, "utf8")) as { url: string; port: number; pid: number };
  t.equal(ready.pid, daemon.child.pid);
  t.equal(ready.url, `http://127.0.0.1:${ready.port}`);
  t.match(daemon.stdout(), `listening on :${ready.port}`);
  const health = (await (await fetch(`${ready.url}/health`)).json()) as { status: string };
  t.equal(health.status, "ok");
  t.same(await readdir(dir), ["ready.json"], "no temporary file left behind");
  daemon.child.kill("SIGTERM");
  t.equal((await daemon.exited()).code, 0);
});

t.test("startDiscovery({ stateFile }) keeps the registry across a close and a new start", async (t) => {
  const stateFile = join(t.testdir(), "state.ndjson");
  const first = await startDiscovery({ stateFile });
  const register = await fetch(`${first.url}/coral.discovery.v1.DiscoveryService/RegisterColony`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ mesh_id: "kept", pubkey: KEY_1, endpoints: [":51820"] }),
  });
  t.equal(register.status, 200);
  await first.close();
  const second = await startDiscovery({ stateFile });
  t.teardown(() => second.close());
  const lookup = await fetch(`${second.url}/coral.discovery.v1.DiscoveryService/LookupColony`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ mesh_id: "kept" }),
  });
  t.equal(((await lookup.json()) as { pubkey: string }).pubkey, KEY_1);
});
