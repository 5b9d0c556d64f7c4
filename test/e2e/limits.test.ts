import t from "tap";
import { Code, ConnectError, createClient, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { DiscoveryService } from "../../gen/coral/discovery/v1/discovery_pb.js";
import { createFakeClock } from "../fixtures/clock.js";
import { KEY_1 } from "../fixtures/keys.js";
import { startServer } from "../fixtures/server.js";

const kinds: Record<string, (baseUrl: string) => Transport> = {
  Connect: (baseUrl) => createConnectTransport({ baseUrl, httpVersion: "1.1" }),
  gRPC: (baseUrl) => createGrpcTransport({ baseUrl }),
  "gRPC-Web": (baseUrl) => createGrpcWebTransport({ baseUrl, httpVersion: "1.1" }),
};

for (const [name, make] of Object.entries(kinds)) {
  t.test(`${name}: over budget is resource_exhausted with a retry-after hint, other budgets unaffected`, async (t) => {
    // Every test client is on loopback, which is exempt by default.
    const server = await startServer(t, { rateLimit: true, rateLimitExempt: "none", rateRegister: "1:3", rateToken: "1:1" });
    const client = createClient(DiscoveryService, make(server.url));
    const colony = { meshId: "m", pubkey: KEY_1, endpoints: [":51820"] };
    for (let i = 0; i < 3; i++) t.equal((await client.registerColony(colony)).success, true, `burst ${i + 1}`);
    const error = await client.registerColony(colony).catch((e: unknown) => e);
    t.ok(error instanceof ConnectError, "a ConnectError, not a transport error");
    t.equal((error as ConnectError).code, Code.ResourceExhausted);
    t.match((error as ConnectError).rawMessage, /rate limit exceeded: at most 1 registrations per second \(bursts of 3\)/);
    t.equal((error as ConnectError).metadata.get("retry-after"), "1");
    t.equal((await client.lookupColony({ meshId: "m" })).meshId, "m", "lookups have their own budget");
    await client.createBootstrapToken({ agentId: "a", colonyId: "c" });
    const token = await client.createBootstrapToken({ agentId: "a", colonyId: "c" }).catch((e: unknown) => e);
    t.equal((token as ConnectError).code, Code.ResourceExhausted);
    t.match((token as ConnectError).rawMessage, /token requests/);
  });

  t.test(`${name}: a request over the body limit is resource_exhausted and the server goes on`, async (t) => {
    const server = await startServer(t, { maxBodyBytes: 2048 });
    const client = createClient(DiscoveryService, make(server.url));
    const error = await client.lookupColony({ meshId: "x".repeat(5000) }).catch((e: unknown) => e);
    t.equal((error as ConnectError).code, Code.ResourceExhausted);
    t.match((error as ConnectError).rawMessage, /larger than/);
    const missing = await client.lookupColony({ meshId: "m" }).catch((e: unknown) => e);
    t.equal((missing as ConnectError).code, Code.NotFound, "still serving");
  });
}

t.test("a CI job on one host: 60 agents and 10 colonies registering at once from loopback all succeed with the default limits", async (t) => {
  // The daemon's defaults: rate limits on, loopback exempt.
  const server = await startServer(t, { rateLimit: true });
  t.equal(server.config.rateRegister.burst, 40, "the default burst, which 70 registrations would pass");
  const client = createClient(DiscoveryService, kinds.Connect!(server.url));
  const calls = [
    ...Array.from({ length: 10 }, (_, i) => client.registerColony({ meshId: `ci-${i}`, pubkey: KEY_1, endpoints: [":41820"] })),
    ...Array.from({ length: 60 }, (_, i) =>
      client.registerAgent({ meshId: `ci-${i % 10}`, agentId: `agent-${i}`, pubkey: KEY_1, endpoints: ["192.0.2.1:51820"] }),
    ),
  ];
  const results = await Promise.allSettled(calls);
  t.same(
    results.filter((r) => r.status === "rejected").map((r) => String((r as PromiseRejectedResult).reason)),
    [],
    "every registration succeeded",
  );
  t.equal(results.length, 70);

  // The same from a client that is not exempt: behind a trusted local proxy, its real address counts.
  // (A clock that stands still, so that no token refills while the burst is sent.)
  const proxied = await startServer(t, { rateLimit: true, trustProxy: "loopback", now: createFakeClock().now });
  const remote = createClient(DiscoveryService, createConnectTransport({ baseUrl: proxied.url, httpVersion: "1.1" }));
  const headers = { "x-forwarded-for": "203.0.113.50" };
  const outcomes = await Promise.allSettled(
    Array.from({ length: 60 }, (_, i) =>
      remote.registerAgent({ meshId: "ci", agentId: `agent-${i}`, pubkey: KEY_1, endpoints: ["192.0.2.1:51820"] }, { headers }),
    ),
  );
  const refused = outcomes.filter((o) => o.status === "rejected").map((o) => ConnectError.from((o as PromiseRejectedResult).reason));
  t.equal(outcomes.length - refused.length, 40, "a non-exempt address gets its burst of 40");
  t.ok(refused.every((e) => e.code === Code.ResourceExhausted), "and resource_exhausted beyond it");
});

t.test("a full registry refuses new colonies with resource_exhausted naming the limit; renewals pass", async (t) => {
  const server = await startServer(t, { maxColonies: 2 });
  const client = createClient(DiscoveryService, kinds.Connect!(server.url));
  await client.registerColony({ meshId: "a", pubkey: KEY_1, endpoints: [":1"] });
  await client.registerColony({ meshId: "b", pubkey: KEY_1, endpoints: [":1"] });
  const error = await client.registerColony({ meshId: "c", pubkey: KEY_1, endpoints: [":1"] }).catch((e: unknown) => e);
  t.equal((error as ConnectError).code, Code.ResourceExhausted);
  t.match((error as ConnectError).rawMessage, /--max-colonies/);
  t.equal((await client.registerColony({ meshId: "a", pubkey: KEY_1, endpoints: [":2"] })).success, true);
});

t.test("one address cannot hold more than --max-connections-per-ip; other addresses are still served", async (t) => {
  const { connect } = await import("node:net");
  const server = await startServer(t, { maxConnectionsPerIp: 3 });
  const open = (localAddress: string) =>
    new Promise<import("node:net").Socket>((resolve, reject) => {
      const socket = connect({ host: "127.0.0.1", port: server.port, localAddress }, () => resolve(socket));
      socket.on("error", reject);
      t.teardown(() => socket.destroy());
    });
  const closed = (socket: import("node:net").Socket) =>
    new Promise<boolean>((resolve) => {
      if (socket.destroyed) resolve(true);
      socket.once("close", () => resolve(true));
      setTimeout(() => resolve(false), 1_500);
    });
  const held = [await open("127.0.0.1"), await open("127.0.0.1"), await open("127.0.0.1")];
  const fourth = await open("127.0.0.1");
  fourth.on("error", () => undefined);
  t.equal(await closed(fourth), true, "the fourth connection from 127.0.0.1 is dropped");
  const { get } = await import("node:http");
  const status = await new Promise<number>((resolve, reject) => {
    get({ host: "127.0.0.1", port: server.port, path: "/health", localAddress: "127.0.0.2", agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    }).on("error", reject);
  });
  t.equal(status, 200, "another address (127.0.0.2) is served");
  held[0]?.destroy();
  await new Promise((resolve) => setTimeout(resolve, 50));
  const again = await open("127.0.0.1");
  again.write("GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  const answer = await new Promise<string>((resolve) => {
    let text = "";
    again.on("data", (c: Buffer) => (text += c.toString()));
    again.on("close", () => resolve(text));
  });
  t.match(answer, /^HTTP\/1\.1 200/, "a freed slot can be used again");
});

t.test("an HTTP/2 stream that trickles its request is cancelled at --request-timeout; the session goes on", async (t) => {
  const http2 = await import("node:http2");
  const server = await startServer(t, { headersTimeoutMs: 1000, requestTimeoutMs: 1000 });
  const session = http2.connect(server.url);
  t.teardown(() => session.destroy());
  const slow = session.request({ ":method": "POST", ":path": "/coral.discovery.v1.DiscoveryService/LookupColony", "content-type": "application/json" });
  slow.on("error", () => undefined);
  const started = Date.now();
  const trickle = setInterval(() => {
    if (!slow.destroyed) slow.write(" ");
  }, 150);
  t.teardown(() => clearInterval(trickle));
  const code = await new Promise<number>((resolve) => slow.once("close", () => resolve(slow.rstCode)));
  clearInterval(trickle);
  const elapsed = Date.now() - started;
  t.equal(code, http2.constants.NGHTTP2_CANCEL, "reset with CANCEL");
  t.ok(elapsed >= 900 && elapsed < 3_000, `cancelled after ${elapsed} ms`);
  const ok = session.request({ ":method": "GET", ":path": "/health" });
  const status = await new Promise<number>((resolve) => ok.once("response", (h) => resolve(Number(h[":status"]))));
  ok.resume();
  t.equal(status, 200, "the same session still serves requests");
});
