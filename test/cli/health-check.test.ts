import t from "tap";
import { createServer } from "node:net";
import { Code, ConnectError } from "@connectrpc/connect";
import { fetchHealth } from "../../src/cli/health-check.js";
import { isNetworkError } from "../../src/client/errors.js";
import { startHealthServer, startServer } from "../fixtures/server.js";

const never = new AbortController().signal;

async function failure(promise: Promise<unknown>): Promise<ConnectError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(error instanceof ConnectError)) throw new Error(`expected a ConnectError, got ${String(error)}`);
  return error;
}

t.test("fetchHealth returns the daemon's GET /health document as served", async (t) => {
  const server = await startServer(t);
  const doc = await fetchHealth(`${server.url}/`, { timeoutMs: 5_000, signal: never });
  t.strictSame(Object.keys(doc), ["status", "version", "uptime_seconds", "colonies", "agents", "rendezvous_records", "rendezvous_polls_waiting"]);
  t.equal(doc.status, "ok");
});

t.test("fetchHealth fails as RPCs do: unavailable with the network error as cause, deadline_exceeded, canceled, unknown", async (t) => {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
  const { port } = probe.address() as { port: number };
  await new Promise((resolve) => probe.close(resolve));
  const down = await failure(fetchHealth(`http://127.0.0.1:${port}`, { timeoutMs: 5_000, signal: never }));
  t.equal(down.code, Code.Unavailable);
  t.match(down.rawMessage, /ECONNREFUSED/);
  t.ok(isNetworkError(down), "the cause chain holds ECONNREFUSED");

  const hanging = await startHealthServer(t, "", { hang: true });
  const slow = await failure(fetchHealth(hanging.url, { timeoutMs: 50, signal: never }));
  t.equal(slow.code, Code.DeadlineExceeded);
  t.equal(slow.rawMessage, `GET ${hanging.url}/health took longer than 50 ms`);

  const interrupt = new AbortController();
  const pending = fetchHealth(hanging.url, { timeoutMs: 60_000, signal: interrupt.signal });
  interrupt.abort();
  t.equal((await failure(pending)).code, Code.Canceled);

  const broken = await startHealthServer(t, "<html>");
  const notJson = await failure(fetchHealth(broken.url, { timeoutMs: 5_000, signal: never }));
  t.equal(notJson.code, Code.Unknown);
  t.match(notJson.rawMessage, /answered HTTP 200, not the health document: "<html>"/);
  const failing = await startHealthServer(t, JSON.stringify({ status: "ok" }), { status: 503 });
  t.match((await failure(fetchHealth(failing.url, { timeoutMs: 5_000, signal: never }))).rawMessage, /answered HTTP 503/);
});

t.test("a fetch failure without a cause is unavailable with fetch's own message", async (t) => {
  const error = await failure(
    fetchHealth("http://127.0.0.1:1", {
      timeoutMs: 5_000,
      signal: never,
      fetch: () => Promise.reject(new TypeError("no network here")),
    }),
  );
  t.equal(error.code, Code.Unavailable);
  t.equal(error.rawMessage, "no network here");
});
