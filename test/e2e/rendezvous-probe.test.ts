// The reachability probe against real sockets: listeners on each reachable
// loopback address count every connection they get. With the probe off, or
// for a refused target, none may ever arrive.
import { createServer, type Server } from "node:net";
import t from "tap";
import { startServer, type TestServer } from "../fixtures/server.js";
import { until } from "../fixtures/wait.js";

const SERVICE = "coral.discovery.v1.DiscoveryService";

interface Listener {
  readonly host: string;
  readonly port: number;
  connections: number;
  closed: number;
  bytes: number;
  readonly server: Server;
}

async function listenOn(host: string): Promise<Listener | undefined> {
  const server = createServer();
  const listener = { host, port: 0, connections: 0, closed: 0, bytes: 0, server };
  server.on("connection", (socket) => {
    listener.connections++;
    socket.on("data", (chunk: Buffer) => (listener.bytes += chunk.length));
    socket.on("error", () => {});
    socket.on("close", () => listener.closed++);
  });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(0, host, resolve);
    });
  } catch {
    return undefined; // e.g. no IPv6 loopback here
  }
  return Object.assign(listener, { port: (server.address() as { port: number }).port });
}

const found = await Promise.all(["127.0.0.1", "127.0.0.2", "::1"].map(listenOn));
const listeners = found.filter((l): l is Listener => l !== undefined);
t.teardown(() => listeners.forEach((l) => l.server.close()));
const [v4a, v4b] = listeners as [Listener, Listener];
const v6 = listeners.find((l) => l.host === "::1");

let meshes = 0;

/** Publishes asking for a probe, each on a mesh of its own (unless given) so that the per-mesh bucket never interferes. */
async function publish(server: TestServer, probeEndpoint: string, meshId = `probe-mesh-${++meshes}`): Promise<Record<string, unknown>> {
  const res = await fetch(`${server.url}/${SERVICE}/PublishBootstrapRendezvous`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      mesh_id: meshId,
      ciphertext: Buffer.from("c").toString("base64"),
      gcm_nonce: Buffer.from("n").toString("base64"),
      write_token: Buffer.from("t").toString("base64"),
      verify_reachability: true,
      probe_endpoint: probeEndpoint,
    }),
  });
  t.equal(res.status, 200, `${probeEndpoint}: HTTP 200`);
  return (await res.json()) as Record<string, unknown>;
}

const total = () => listeners.reduce((sum, l) => sum + l.connections, 0);

t.test("--rendezvous-probe off (default): a publish asking for a probe succeeds and connects nowhere", async (t) => {
  const server = await startServer(t);
  for (const l of listeners) {
    const target = l.host.includes(":") ? `[${l.host}]:${l.port}` : `${l.host}:${l.port}`;
    t.match(await publish(server, target), { success: true }, target);
  }
  t.equal(total(), 0, "no connection arrived");
});

t.test("--rendezvous-probe on without allowed ranges: every loopback spelling is refused, nothing is dialled", async (t) => {
  const server = await startServer(t, { rendezvousProbe: true });
  const targets = [
    `127.0.0.1:${v4a.port}`, `127.0.0.2:${v4b.port}`, `localhost:${v4a.port}`, `127.1:${v4a.port}`, `0.0.0.0:${v4a.port}`,
    `[::ffff:127.0.0.1]:${v4a.port}`, `[::ffff:7f00:1]:${v4a.port}`, `[::ffff:7f00:2]:${v4b.port}`, `[::127.0.0.1]:${v4a.port}`,
    `[::]:${v4a.port}`, `2130706433:${v4a.port}`, `0x7f000001:${v4a.port}`,
    ...(v6 === undefined ? [] : [`[::1]:${v6.port}`, `[0:0:0:0:0:0:0:1]:${v6.port}`]),
  ];
  for (const target of targets) t.same(await publish(server, target), { probeFailed: true }, `${target}: probe_failed`);
  t.equal(total(), 0, "no connection arrived at any loopback listener");
});

t.test("--rendezvous-probe on with --rendezvous-probe-allow 127.0.0.0/8: allowed targets are connected to, sending nothing", async (t) => {
  const server = await startServer(t, { rendezvousProbe: true, rendezvousProbeAllow: ["127.0.0.0/8"] });
  const before = v4a.connections;
  const ok = await publish(server, `127.0.0.1:${v4a.port}`, "probe-mesh");
  t.equal(ok.success, true);
  t.match(ok.recordId, /^[0-9A-HJKMNP-TV-Z]{26}$/);
  t.equal(v4a.connections, before + 1, "one connection");
  t.match(await publish(server, `[::ffff:127.0.0.2]:${v4b.port}`, "probe-mesh"), { success: true }, "mapped, unmapped, allowed");
  t.equal(v4b.connections, 1);
  if (v6 !== undefined) t.same(await publish(server, `[::1]:${v6.port}`), { probeFailed: true }, "::1 is not in the allowed range");
  t.equal(v6?.connections ?? 0, 0);
  const closed = createServer();
  await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
  const closedPort = (closed.address() as { port: number }).port;
  await new Promise((resolve) => closed.close(resolve));
  t.same(await publish(server, `127.0.0.1:${closedPort}`, "probe-mesh"), { probeFailed: true }, "a closed port");
  await until(() => listeners.every((l) => l.closed === l.connections), "the probed connections to close (all their data in)");
  t.equal(v4a.bytes + v4b.bytes, 0, "the probe sent no data");
  const polled = await fetch(`${server.url}/${SERVICE}/PollBootstrapRendezvous`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ mesh_id: "probe-mesh" }),
  });
  t.equal(((await polled.json()) as { records: unknown[] }).records.length, 2, "only the reachable publishes stored a record");
});
