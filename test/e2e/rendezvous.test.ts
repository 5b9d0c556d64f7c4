// The bootstrap rendezvous end to end: every rule of the rendezvous contract
// over Connect + JSON (hand-written, as connect-go sends it), the happy path
// over gRPC and Connect binary, the long-poll against real deadlines and
// disconnects, and the per-mesh buckets and caps as configured.
import { request } from "node:http";
import t from "tap";
import { createClient, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { DiscoveryService } from "../../gen/coral/discovery/v1/discovery_pb.js";
import { startServer, type TestServer } from "../fixtures/server.js";
import { until } from "../fixtures/wait.js";

const SERVICE = "coral.discovery.v1.DiscoveryService";

interface RpcResult {
  status: number;
  headers: Headers;
  body: Record<string, unknown>;
}

async function call(server: TestServer, method: string, body: unknown, headers: Record<string, string> = {}): Promise<RpcResult> {
  const res = await fetch(`${server.url}/${SERVICE}/${method}`, {
    method: "POST",
    headers: { "Content-Type": "application/json", "Connect-Protocol-Version": "1", "Connect-Timeout-Ms": "35000", ...headers },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(40_000),
  });
  return { status: res.status, headers: res.headers, body: (await res.json()) as Record<string, unknown> };
}

async function health(server: TestServer): Promise<Record<string, number>> {
  const res = await fetch(`${server.url}/health`);
  return (await res.json()) as Record<string, number>;
}

const b64 = (text: string) => Buffer.from(text).toString("base64");
const TOKEN = b64("write-token-of-32-bytes-........");
const publishBody = (meshId: string, extra: Record<string, unknown> = {}) => ({
  mesh_id: meshId,
  ciphertext: b64("ciphertext"),
  gcm_nonce: b64("nonce-12-byt"),
  write_token: TOKEN,
  ttl_seconds: 90,
  ...extra,
});

t.test("Connect + JSON: the contract's rules", async (t) => {
  const server = await startServer(t);

  t.test("Publish validation order and messages, HTTP 400", async (t) => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{}, /^mesh_id is required$/],
      [{ mesh_id: "m" }, /^ciphertext is required$/],
      [{ mesh_id: "m", ciphertext: b64("x") }, /^gcm_nonce is required$/],
      [{ mesh_id: "m", ciphertext: b64("x"), gcm_nonce: b64("n") }, /^write_token is required$/],
      [publishBody("m", { ciphertext: Buffer.alloc(4097).toString("base64") }), /^ciphertext is 4097 bytes; at most 4096 are allowed$/],
      [publishBody("m", { gcm_nonce: Buffer.alloc(33).toString("base64") }), /^gcm_nonce is 33 bytes; at most 32/],
      [publishBody("m", { write_token: Buffer.alloc(257).toString("base64") }), /^write_token is 257 bytes; at most 256/],
      [publishBody("m", { record_id: "a b" }), /^record_id "a b" is invalid/],
    ];
    for (const [body, message] of cases) {
      const res = await call(server, "PublishBootstrapRendezvous", body);
      t.equal(res.status, 400);
      t.equal(res.body.code, "invalid_argument");
      t.match(res.body.message, message);
    }
  });

  t.test("publish, poll, republish, ack: the JSON shapes", async (t) => {
    const before = Date.now();
    const published = await call(server, "PublishBootstrapRendezvous", publishBody("json-1", { ttl_seconds: 600, verify_reachability: true, probe_endpoint: "203.0.113.1:8444" }));
    t.equal(published.status, 200);
    t.equal(published.body.success, true);
    t.notOk("probeFailed" in published.body, "probing is not done: probe_failed false");
    const recordId = published.body.recordId as string;
    t.match(recordId, /^[0-9A-HJKMNP-TV-Z]{26}$/);
    const expiresMs = Date.parse(published.body.expiresAt as string);
    t.ok(expiresMs >= before + 90_000 && expiresMs <= Date.now() + 90_000, "ttl capped at 90 s");

    const polled = await call(server, "PollBootstrapRendezvous", { mesh_id: "json-1", wait_seconds: 25 });
    t.equal(polled.status, 200);
    const records = polled.body.records as Record<string, unknown>[];
    t.equal(records.length, 1);
    t.same(Object.keys(records[0] as object).sort(), ["ciphertext", "gcmNonce", "publishedAt", "recordId"]);
    t.equal(records[0]?.ciphertext, b64("ciphertext"));
    t.notOk("timedOut" in polled.body, "timed_out false");

    const again = await call(server, "PublishBootstrapRendezvous", publishBody("json-1", { record_id: recordId, ciphertext: b64("second") }));
    t.same({ success: again.body.success, recordId: again.body.recordId }, { success: true, recordId });
    const afterRepublish = await call(server, "PollBootstrapRendezvous", { mesh_id: "json-1" });
    t.equal((afterRepublish.body.records as Record<string, unknown>[])[0]?.ciphertext, b64("second"));

    const unknown = await call(server, "PublishBootstrapRendezvous", publishBody("json-1", { record_id: "01NOTHERE" }));
    t.equal(unknown.status, 200);
    t.same(unknown.body, {}, "success false, probe_failed false, record_id empty: all defaults");

    const mismatch = await call(server, "PublishBootstrapRendezvous", publishBody("json-1", { record_id: recordId, write_token: b64("other") }));
    t.equal(mismatch.status, 403);
    t.same(mismatch.body, { code: "permission_denied", message: "write_token mismatch" });

    const wrongAck = await call(server, "AckBootstrapRendezvous", { mesh_id: "json-1", record_id: recordId, write_token: b64("other") });
    t.same([wrongAck.status, wrongAck.body], [200, {}], "success false, record kept");
    const ack = await call(server, "AckBootstrapRendezvous", { mesh_id: "json-1", record_id: recordId, write_token: TOKEN });
    t.same([ack.status, ack.body], [200, { success: true }]);
    const ackAgain = await call(server, "AckBootstrapRendezvous", { mesh_id: "json-1", record_id: recordId });
    t.same([ackAgain.status, ackAgain.body], [200, { success: true }], "idempotent, token unchecked");
    const empty = await call(server, "PollBootstrapRendezvous", { mesh_id: "json-1" });
    t.same(empty.body, { timedOut: true }, "no wait_seconds: answers at once");
  });

  t.test("Poll and Ack validation", async (t) => {
    const poll = await call(server, "PollBootstrapRendezvous", {});
    t.same([poll.status, poll.body], [400, { code: "invalid_argument", message: "mesh_id is required" }]);
    const ack1 = await call(server, "AckBootstrapRendezvous", {});
    t.same(ack1.body, { code: "invalid_argument", message: "mesh_id is required" });
    const ack2 = await call(server, "AckBootstrapRendezvous", { mesh_id: "m" });
    t.same(ack2.body, { code: "invalid_argument", message: "record_id is required" });
  });

  t.test("a waiting poll wakes when a record is published to its mesh", async (t) => {
    const waiting = call(server, "PollBootstrapRendezvous", { mesh_id: "wake-1", wait_seconds: 25 });
    await until(async () => (await health(server)).rendezvous_polls_waiting === 1, "the poll to wait");
    const published = await call(server, "PublishBootstrapRendezvous", publishBody("wake-1"));
    const res = await waiting;
    t.equal(res.status, 200);
    t.same((res.body.records as Record<string, unknown>[]).map((r) => r.recordId), [published.body.recordId]);
    t.equal((await health(server)).rendezvous_polls_waiting, 0);
  });

  t.test("Connect-Timeout-Ms shorter than the wait: deadline_exceeded (HTTP 504), no waiter left", async (t) => {
    const res = await call(server, "PollBootstrapRendezvous", { mesh_id: "deadline-1", wait_seconds: 25 }, { "Connect-Timeout-Ms": "200" });
    t.equal(res.status, 504);
    t.equal(res.body.code, "deadline_exceeded");
    t.equal((await health(server)).rendezvous_polls_waiting, 0);
  });

  t.test("a wait shorter than the deadline answers timed_out", async (t) => {
    const res = await call(server, "PollBootstrapRendezvous", { mesh_id: "short-1", wait_seconds: 1 });
    t.same([res.status, res.body], [200, { timedOut: true }]);
  });

  t.test("a client that goes away releases its waiter", async (t) => {
    const body = JSON.stringify({ mesh_id: "gone-1", wait_seconds: 25 });
    const req = request(`${server.url}/${SERVICE}/PollBootstrapRendezvous`, {
      method: "POST",
      headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) },
    });
    req.on("error", () => {});
    req.end(body);
    await until(async () => (await health(server)).rendezvous_polls_waiting === 1, "the poll to wait");
    req.destroy();
    await until(async () => (await health(server)).rendezvous_polls_waiting === 0, "the waiter to be released");
    t.pass("released");
  });
});

t.test("Connect + JSON: per-mesh buckets, caps and waiting-poll limits as configured", async (t) => {
  const server = await startServer(t, {
    rendezvousPublishRate: "5:2",
    rendezvousPollRate: "30:2",
    rendezvousMaxRecordsPerMesh: 1,
    rendezvousMaxPollsPerMesh: 1,
  });
  t.equal((await call(server, "PublishBootstrapRendezvous", publishBody("rl-1"))).status, 200);
  const full = await call(server, "PublishBootstrapRendezvous", publishBody("rl-1"));
  t.equal(full.status, 429);
  t.match(full.body.message, /--rendezvous-max-records-per-mesh/);
  const limited = await call(server, "PublishBootstrapRendezvous", publishBody("rl-1"));
  t.equal(limited.status, 429);
  t.equal(limited.body.code, "resource_exhausted");
  t.match(limited.body.message, /^rate limit exceeded: at most 5 publishes per minute on one mesh \(bursts of 2, --rendezvous-publish-rate\)/);
  t.equal(limited.headers.get("retry-after"), "12");

  const waiting = call(server, "PollBootstrapRendezvous", { mesh_id: "wait-1", wait_seconds: 25 });
  await until(async () => (await health(server)).rendezvous_polls_waiting === 1, "the poll to wait");
  const second = await call(server, "PollBootstrapRendezvous", { mesh_id: "wait-1", wait_seconds: 25 });
  t.equal(second.status, 429);
  t.match(second.body.message, /at most 1 \(--rendezvous-max-polls-per-mesh\)/);
  const third = await call(server, "PollBootstrapRendezvous", { mesh_id: "wait-1", wait_seconds: 25 });
  t.match(third.body.message, /^rate limit exceeded: at most 30 polls per minute on one mesh/);
  await call(server, "PublishBootstrapRendezvous", publishBody("wait-1"));
  t.equal((await waiting).status, 200);
});

t.test("Connect + JSON: --rendezvous off answers unimplemented (HTTP 501)", async (t) => {
  const server = await startServer(t, { rendezvous: false });
  const res = await call(server, "PollBootstrapRendezvous", { mesh_id: "m", wait_seconds: 25 });
  t.equal(res.status, 501);
  t.same(res.body, { code: "unimplemented", message: "PollBootstrapRendezvous is not enabled on this server (--rendezvous off)" });
});

t.test("the happy path over every protocol: a long-poll woken by a publish, then ack", async (t) => {
  const server = await startServer(t);
  const transports: Record<string, Transport> = {
    "Connect binary over HTTP/1.1": createConnectTransport({ baseUrl: server.url, httpVersion: "1.1", useBinaryFormat: true }),
    "Connect JSON over h2c": createConnectTransport({ baseUrl: server.url, httpVersion: "2" }),
    "gRPC over h2c": createGrpcTransport({ baseUrl: server.url }),
    "gRPC-Web over HTTP/1.1": createGrpcWebTransport({ baseUrl: server.url, httpVersion: "1.1" }),
  };
  let n = 0;
  for (const [name, transport] of Object.entries(transports)) {
    const client = createClient(DiscoveryService, transport);
    const meshId = `proto-${++n}`;
    const token = new Uint8Array(32).fill(n);
    const waiting = client.pollBootstrapRendezvous({ meshId, waitSeconds: 25 }, { timeoutMs: 35_000 });
    await until(async () => (await health(server)).rendezvous_polls_waiting === 1, `${name}: the poll to wait`);
    const published = await client.publishBootstrapRendezvous({ meshId, ciphertext: new Uint8Array([1, 2, 3]), gcmNonce: new Uint8Array(12), writeToken: token, ttlSeconds: 90 });
    t.equal(published.success, true, `${name}: published`);
    const polled = await waiting;
    t.equal(polled.timedOut, false);
    t.same(polled.records.map((r) => [r.recordId, [...r.ciphertext]]), [[published.recordId, [1, 2, 3]]], `${name}: woken with the record`);
    t.equal((await client.ackBootstrapRendezvous({ meshId, recordId: published.recordId, writeToken: token })).success, true);
    t.equal((await client.pollBootstrapRendezvous({ meshId })).timedOut, true, `${name}: acked`);
  }
  const grpc = createClient(DiscoveryService, transports["gRPC over h2c"] as Transport);
  const late = await grpc.pollBootstrapRendezvous({ meshId: "grpc-deadline", waitSeconds: 25 }, { timeoutMs: 300 }).catch((e: unknown) => e);
  t.match(late, { code: 4 }, "gRPC: grpc-timeout shorter than the wait is deadline_exceeded");
  await until(async () => (await health(server)).rendezvous_polls_waiting === 0, "no waiter left");
});

t.test("a long-poll outlasts --request-timeout, --headers-timeout and --body-timeout (they cover receiving the request only)", async (t) => {
  const server = await startServer(t, { requestTimeoutMs: 1_000, headersTimeoutMs: 1_000, bodyTimeoutMs: 1_000 });
  const started = Date.now();
  const res = await call(server, "PollBootstrapRendezvous", { mesh_id: "long-1", wait_seconds: 3 });
  t.same([res.status, res.body], [200, { timedOut: true }], "HTTP/1.1: answered after its wait, not cut");
  t.ok(Date.now() - started >= 2_900, "it did wait");
  const grpc = createClient(DiscoveryService, createGrpcTransport({ baseUrl: server.url }));
  const polled = await grpc.pollBootstrapRendezvous({ meshId: "long-2", waitSeconds: 3 }, { timeoutMs: 10_000 });
  t.equal(polled.timedOut, true, "h2c (gRPC): answered after its wait, not cut");
});
