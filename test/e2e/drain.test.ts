// Graceful shutdown as an orchestrator sees it: on SIGTERM the real daemon
// answers /readyz 503 while its listener still accepts connections, lets a
// request in flight finish, and exits 0.
import * as http from "node:http";
import t from "tap";
import { parseExposition } from "../fixtures/prometheus.js";
import { spawnDaemon, withTimeout, type Daemon } from "../fixtures/spawn.js";
import { until } from "../fixtures/wait.js";

/** A failure bound only: nothing here waits for it to pass. */
const BOUND_MS = 30_000;

async function listeningPort(daemon: Daemon): Promise<number> {
  const [, port] = await daemon.waitForStdout(/^gRPC server listening on :(\d+)$/m);
  return Number(port);
}

/** Resolves once the daemon has a request in flight besides the scrape that asks (its connections metric). */
async function requestArrived(port: number): Promise<void> {
  await until(async () => {
    const text = await new Promise<string>((resolve, reject) => {
      http
        .get({ host: "127.0.0.1", port, path: "/metrics", agent: false }, (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (chunk: Buffer) => chunks.push(chunk));
          res.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
        })
        .once("error", reject);
    });
    return (parseExposition(text).value("coral_discovery_connections", { state: "active" }) ?? 0) >= 2;
  }, "the held request to reach the daemon");
}

/** GET `path` on a fresh connection: status and parsed JSON body. */
function get(port: number, path: string): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: "127.0.0.1", port, path, agent: false }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString("utf8")) }));
      })
      .once("error", reject);
  });
}

t.test("SIGTERM: /readyz turns 503 while the listener still accepts, the request in flight finishes, a second signal closes", async (t) => {
  const daemon = spawnDaemon(t, ["--port", "0", "--host", "127.0.0.1", "--shutdown-delay", "60"]);
  const port = await listeningPort(daemon);
  t.same(await get(port, "/readyz"), { status: 200, body: { status: "ready" } });

  // A Connect JSON RPC whose body arrives slowly: it is in flight until the test sends the rest.
  const body = '{"meshId":"m1"}';
  const req = http.request({
    host: "127.0.0.1",
    port,
    method: "POST",
    path: "/coral.discovery.v1.DiscoveryService/LookupColony",
    headers: { "content-type": "application/json", "content-length": String(body.length) },
    agent: false,
  });
  const answered = new Promise<{ status: number; text: string }>((resolve, reject) => {
    req.once("response", (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString("utf8") }));
    });
    req.once("error", reject);
  });
  req.write(body.slice(0, 5));
  req.flushHeaders();
  await requestArrived(port);

  daemon.child.kill("SIGTERM");
  await daemon.waitForStdout(/"msg":"draining: \/readyz answers 503"/, BOUND_MS);
  t.same(await get(port, "/readyz"), { status: 503, body: { status: "unavailable", reason: "draining" } }, "a new connection is still accepted, and told to go");
  t.equal((await get(port, "/health")).status, 503, "/health says the same");
  t.same(await get(port, "/livez"), { status: 200, body: { status: "alive" } }, "the process still serves");
  t.notMatch(daemon.stdout(), /shutting down: finishing in-flight requests/, "the listener has not begun to close");

  req.end(body.slice(5));
  const answer = await withTimeout(answered, BOUND_MS, "the request in flight was not answered");
  t.equal(answer.status, 404, "the RPC in flight got its real answer (not_found: no colony m1)");
  t.match(answer.text, /colony m1 not found/);

  daemon.child.kill("SIGTERM"); // a second signal ends the wait
  t.strictSame(await daemon.exited(BOUND_MS), { code: 0, signal: null });
  t.match(daemon.stdout(), /shutting down: finishing in-flight requests/);
});

t.test("without --shutdown-delay, SIGTERM closes the listener at once and the request in flight still finishes", async (t) => {
  const daemon = spawnDaemon(t, ["--port", "0", "--host", "127.0.0.1"]);
  const port = await listeningPort(daemon);
  const body = '{"meshId":"m2"}';
  const req = http.request({
    host: "127.0.0.1",
    port,
    method: "POST",
    path: "/coral.discovery.v1.DiscoveryService/LookupColony",
    headers: { "content-type": "application/json", "content-length": String(body.length) },
    agent: false,
  });
  const answered = new Promise<number>((resolve, reject) => {
    req.once("response", (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode ?? 0));
    });
    req.once("error", reject);
  });
  req.write(body.slice(0, 5));
  req.flushHeaders();
  await requestArrived(port); // a connection whose request has not arrived yet is idle, and closed at once
  daemon.child.kill("SIGTERM");
  await daemon.waitForStdout(/shutting down: finishing in-flight requests/, BOUND_MS);
  t.notMatch(daemon.stdout(), /draining: \/readyz/, "no wait without a delay");
  req.end(body.slice(5));
  t.equal(await withTimeout(answered, BOUND_MS, "the request in flight was not answered"), 404);
  t.strictSame(await daemon.exited(BOUND_MS), { code: 0, signal: null });
});
