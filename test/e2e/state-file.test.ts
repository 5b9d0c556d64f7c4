// --state-file across a real restart: the daemon as a child process,
// registrations over Connect, SIGTERM, the same file at the next start.
import t, { type Test } from "tap";
import { createPublicKey, verify } from "node:crypto";
import { readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { toJson } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { DiscoveryService, LookupAgentResponseSchema, LookupColonyResponseSchema } from "../../gen/coral/discovery/v1/discovery_pb.js";
import { KEY_1, KEY_2, KEY_3, KEY_4 } from "../fixtures/keys.js";
import { spawnDaemon, type Daemon } from "../fixtures/spawn.js";
import { until } from "../fixtures/wait.js";

const RELAY = "relay.example:3478";

async function start(t: Test, path: string): Promise<{ daemon: Daemon; url: string }> {
  const daemon = spawnDaemon(t, ["--port", "0", "--host", "127.0.0.1", "--state-file", path, "--relay", RELAY, "--rate-limit", "off"]);
  const [, port] = await daemon.waitForStdout(/^gRPC server listening on :(\d+)$/m, 30_000);
  return { daemon, url: `http://127.0.0.1:${port}` };
}

async function stop(t: Test, daemon: Daemon): Promise<void> {
  daemon.child.kill("SIGTERM");
  t.same(await daemon.exited(30_000), { code: 0, signal: null }, "a graceful stop");
}

const b64url = (text: string) => Buffer.from(text, "base64url");

t.test("a restart with the same --state-file keeps every active lease, the relay session and the token signing key", async (t) => {
  const path = join(t.testdir(), "state.ndjson");
  const first = await start(t, path);
  t.equal(statSync(path).mode & 0o777, 0o600, "written at start (it holds the generated key), owner-only");
  const client = createClient(DiscoveryService, createConnectTransport({ baseUrl: first.url, httpVersion: "1.1" }));
  const colonies = ["mesh-a", "mesh-b", "mesh-c"];
  const expiresAt: bigint[] = [];
  for (const [i, meshId] of colonies.entries()) {
    const registered = await client.registerColony({
      meshId,
      pubkey: KEY_1,
      endpoints: [`203.0.113.${i + 1}:51820`],
      meshIpv4: "10.42.0.1",
      connectPort: 9000,
      metadata: { region: "eu", "ключ": "значение" },
      publicPort: 8443,
      publicEndpoint: { enabled: true, url: "https://colony.example:8443", caCert: "pem", caFingerprint: { algorithm: 1, value: new Uint8Array(32).fill(7) }, updatedAt: { seconds: 1_700_000_000n, nanos: 5 } },
    });
    expiresAt.push(registered.expiresAt?.seconds ?? 0n);
  }
  await client.registerAgent({ meshId: "mesh-a", agentId: "agent-1", pubkey: KEY_2, endpoints: ["198.51.100.9:51820"], metadata: { os: "linux" } });
  await client.registerAgent({ meshId: "mesh-b", agentId: "agent-2", pubkey: KEY_3, endpoints: [], observedEndpoint: { ip: "198.51.100.10", port: 40000, protocol: "udp" } });
  const relay = await client.requestRelay({ meshId: "mesh-a", agentPubkey: KEY_2, colonyPubkey: KEY_1 });
  const { jwt } = await client.createBootstrapToken({ agentId: "agent-9", colonyId: "mesh-a" });
  const lookups = async (c: typeof client) => ({
    colonies: await Promise.all(colonies.map(async (meshId) => toJson(LookupColonyResponseSchema, await c.lookupColony({ meshId })))),
    agents: [
      toJson(LookupAgentResponseSchema, await c.lookupAgent({ meshId: "mesh-a", agentId: "agent-1" })),
      toJson(LookupAgentResponseSchema, await c.lookupAgent({ meshId: "mesh-b", agentId: "agent-2" })),
    ],
  });
  const before = await lookups(client);
  await stop(t, first.daemon);

  const second = await start(t, path);
  const restarted = createClient(DiscoveryService, createConnectTransport({ baseUrl: second.url, httpVersion: "2" }));
  t.same(await lookups(restarted), before, "every lookup answers the same, last_seen included (the lease was not renewed by the restart)");
  t.match(second.daemon.stdout(), /"colonies":3,"agents":2,"relaySessions":1,"expired":0,.*"msg":"registry restored from the state file"/);
  t.equal((await restarted.health({})).registeredColonies, 3);
  t.equal((await restarted.releaseRelay({ sessionId: relay.sessionId, meshId: "mesh-a" })).success, true, "the relay session is still open");
  await t.rejects(restarted.registerColony({ meshId: "mesh-a", pubkey: KEY_4, endpoints: ["192.0.2.1:1"] }), /already registered/, "split-brain protection holds across the restart");

  const [h, p, s] = jwt.split(".") as [string, string, string];
  const { kid } = JSON.parse(b64url(h).toString()) as { kid: string };
  const jwks = (await (await fetch(`${second.url}/.well-known/jwks.json`)).json()) as { keys: { kid: string; x: string }[] };
  const jwk = jwks.keys.find((k) => k.kid === kid);
  t.ok(jwk, "the kid of a token minted before the restart is in the new JWKS");
  const key = createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x: jwk?.x as string }, format: "jwk" });
  t.ok(verify(null, Buffer.from(`${h}.${p}`), key, b64url(s)), "and the token verifies");

  // A registration just before SIGTERM is written by the shutdown write.
  await restarted.registerColony({ meshId: "mesh-late", pubkey: KEY_1, endpoints: ["192.0.2.2:1"] });
  await stop(t, second.daemon);
  const saved = readFileSync(path, "utf8").trimEnd().split("\n").map((line) => JSON.parse(line) as { meshId?: string; kind?: string; expiresAtMs?: number });
  t.ok(saved.some((lease) => lease.meshId === "mesh-late"));
  const expiries = colonies.map((meshId) => saved.find((lease) => lease.kind === "colony" && lease.meshId === meshId)?.expiresAtMs);
  t.same(expiries.map((ms) => BigInt(Math.floor((ms as number) / 1000))), expiresAt, "each colony's expiry is the one its registration answered, through two restarts");
  t.match(readFileSync(path, "utf8"), /"kind":"end","leases":6\}\n$/, "3 colonies + mesh-late, 2 agents; the released session is gone");
});

t.test("after kill -9, a restart has what the last periodic write held", async (t) => {
  const path = join(t.testdir(), "state.ndjson");
  const daemon = spawnDaemon(t, ["--port", "0", "--host", "127.0.0.1", "--state-file", path, "--state-interval", "1"]);
  const [, port] = await daemon.waitForStdout(/^gRPC server listening on :(\d+)$/m, 30_000);
  const client = createClient(DiscoveryService, createConnectTransport({ baseUrl: `http://127.0.0.1:${port}`, httpVersion: "1.1" }));
  await client.registerColony({ meshId: "mesh-kept", pubkey: KEY_1, endpoints: ["192.0.2.3:1"] });
  await until(() => readFileSync(path, "utf8").includes('"meshId":"mesh-kept"'), "a periodic write with the colony");
  daemon.child.kill("SIGKILL");
  t.same(await daemon.exited(30_000), { code: null, signal: "SIGKILL" });
  const second = await start(t, path);
  const restarted = createClient(DiscoveryService, createConnectTransport({ baseUrl: second.url, httpVersion: "1.1" }));
  t.equal((await restarted.lookupColony({ meshId: "mesh-kept" })).endpoints[0], "192.0.2.3:1");
  await stop(t, second.daemon);
});

t.test("a damaged state file stops start-up with exit 2 and a message naming the file and the line; the file is untouched", async (t) => {
  const path = join(t.testdir(), "state.ndjson");
  const content = `${JSON.stringify({ format: "coral-discovery-snapshot", version: 1, savedAtMs: 0 })}\n{"kind":"colony","meshId":"m"\n`;
  writeFileSync(path, content, { mode: 0o600 });
  const mtimeMs = statSync(path).mtimeMs;
  const daemon = spawnDaemon(t, ["--port", "0", "--host", "127.0.0.1", "--state-file", path]);
  t.same(await daemon.exited(30_000), { code: 2, signal: null });
  t.match(daemon.stderr(), `coral-discovery: state file ${path}: line 2: not JSON (cut short or damaged); it was left as it is`);
  t.notMatch(daemon.stdout(), /listening/, "it never listened");
  t.equal(readFileSync(path, "utf8"), content);
  t.equal(statSync(path).mtimeMs, mtimeMs);
});

t.test("a state file in a directory that does not exist stops start-up with exit 2", async (t) => {
  const path = join(t.testdir(), "missing", "state.ndjson");
  const daemon = spawnDaemon(t, ["--port", "0", "--host", "127.0.0.1", "--state-file", path]);
  t.same(await daemon.exited(30_000), { code: 2, signal: null });
  t.match(daemon.stderr(), `state file ${path}: cannot be written (ENOENT`);
});
