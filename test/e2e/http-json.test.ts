// End to end over plain HTTP/1.1 with hand-written JSON, the way the Coral Go
// client (connect-go, Connect protocol + JSON) talks to the service: these
// tests pin the JSON wire shape that generated clients hide.
import t from "tap";
import { VERSION } from "../../src/version.js";
import { createFakeClock } from "../fixtures/clock.js";
import { KEY_1, KEY_2, KEY_3, KEY_4 } from "../fixtures/keys.js";
import { startServer, type TestServer } from "../fixtures/server.js";

const SERVICE = "coral.discovery.v1.DiscoveryService";

/** The headers connect-go sends on a unary Connect + JSON call. */
const GO_CLIENT_HEADERS = {
  "Content-Type": "application/json",
  "Connect-Protocol-Version": "1",
  "Connect-Timeout-Ms": "10000",
  "Accept-Encoding": "gzip",
};

interface RpcResult {
  status: number;
  contentType: string | null;
  body: Record<string, unknown>;
}

/** POSTs `body` (an object, or raw text sent as is) to a DiscoveryService method. */
async function call(
  server: TestServer,
  method: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<RpcResult> {
  const res = await fetch(`${server.url}/${SERVICE}/${method}`, {
    method: "POST",
    headers: { ...GO_CLIENT_HEADERS, ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await res.text();
  let parsed: Record<string, unknown>;
  try {
    parsed = JSON.parse(text) as Record<string, unknown>;
  } catch {
    throw new Error(`${method} answered ${res.status} with a body that is not JSON: ${text.slice(0, 200)}`);
  }
  return { status: res.status, contentType: res.headers.get("content-type"), body: parsed };
}

async function getJson(server: TestServer, path: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${server.url}${path}`, { signal: AbortSignal.timeout(10_000) });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

const colony = (meshId: string, extra: Record<string, unknown> = {}) => ({
  mesh_id: meshId,
  pubkey: KEY_1,
  endpoints: ["203.0.113.42:41820"],
  ...extra,
});

t.test("Connect + JSON over HTTP/1.1", async (t) => {
  const server = await startServer(t);

  t.test("snake_case fields are accepted and answered in camelCase with exactly application/json", async (t) => {
    const reg = await call(
      server,
      "RegisterColony",
      colony("snake", {
        mesh_ipv4: "10.42.0.1",
        connect_port: 9000,
        public_port: 8443,
        metadata: { region: "eu-west" },
        observed_endpoint: { ip: "203.0.113.9", port: 41820, protocol: "udp" },
      }),
    );
    t.equal(reg.status, 200);
    t.equal(reg.contentType, "application/json");
    t.equal(reg.body.success, true);
    t.equal(reg.body.ttl, 300);
    t.ok(Date.parse(String(reg.body.expiresAt)) > Date.now());
    t.same(reg.body.stunServers, ["stun.cloudflare.com:3478"]);

    const found = await call(server, "LookupColony", { mesh_id: "snake" });
    t.equal(found.status, 200);
    t.equal(found.contentType, "application/json");
    t.strictSame(found.body.endpoints, ["203.0.113.42:41820"]);
    t.equal(found.body.meshIpv4, "10.42.0.1");
    t.equal(found.body.connectPort, 9000);
    t.equal(found.body.publicPort, 8443);
    t.strictSame(found.body.metadata, { region: "eu-west" });
    t.strictSame(found.body.observedEndpoints, [{ ip: "203.0.113.9", port: 41820, protocol: "udp" }]);
    t.equal(found.body.nat, "NAT_CONE");
  });

  t.test("camelCase fields are accepted too", async (t) => {
    const reg = await call(server, "RegisterColony", {
      meshId: "camel",
      pubkey: KEY_3,
      endpoints: ["203.0.113.43:41820"],
      connectPort: 9001,
    });
    t.equal(reg.status, 200);
    const found = await call(server, "LookupColony", { meshId: "camel" });
    t.equal(found.body.meshId, "camel");
    t.equal(found.body.pubkey, KEY_3);
    t.equal(found.body.connectPort, 9001);
  });

  t.test("unknown fields are ignored", async (t) => {
    const reg = await call(server, "RegisterColony", colony("extra", { colony_name: "x", future: { nested: [1, 2] } }));
    t.equal(reg.status, 200, JSON.stringify(reg.body));
    const found = await call(server, "LookupColony", { mesh_id: "extra", also_unknown: true });
    t.equal(found.status, 200);
    t.equal(found.body.pubkey, KEY_1);
  });

  t.test("absent fields are empty: optional ones stay unset, required ones are reported", async (t) => {
    t.equal((await call(server, "RegisterColony", colony("minimal"))).status, 200);
    const found = await call(server, "LookupColony", { mesh_id: "minimal" });
    t.equal(found.body.meshIpv4, undefined);
    t.equal(found.body.connectPort, undefined);
    t.equal(found.body.metadata, undefined);
    t.equal(found.body.observedEndpoints, undefined, "a loopback peer is no observed endpoint");
    t.equal(found.body.nat, undefined, "NAT_UNKNOWN is the zero value");

    const empty = await call(server, "RegisterColony", {});
    t.equal(empty.status, 400);
    t.equal(empty.contentType, "application/json");
    t.equal(empty.body.code, "invalid_argument");
    t.match(empty.body.message, /mesh_id is required/);

    const noPubkey = await call(server, "RegisterColony", { mesh_id: "m" });
    t.match(noPubkey.body.message, /pubkey is required/);
    const noEndpoints = await call(server, "RegisterColony", { mesh_id: "m", pubkey: KEY_1 });
    t.match(noEndpoints.body.message, /at least one endpoint is required/);
  });

  t.test("an unknown colony is a Connect not_found envelope with HTTP 404", async (t) => {
    const res = await call(server, "LookupColony", { mesh_id: "x" });
    t.equal(res.status, 404);
    t.equal(res.contentType, "application/json");
    t.strictSame(res.body, { code: "not_found", message: "colony x not found" });
  });

  t.test("a split-brain registration is already_exists with HTTP 409", async (t) => {
    const res = await call(server, "RegisterColony", { ...colony("snake"), pubkey: KEY_2 });
    t.equal(res.status, 409);
    t.equal(res.contentType, "application/json");
    t.equal(res.body.code, "already_exists");
    t.match(res.body.message, /already registered/);
    t.match(res.body.message, /split-brain/);
    t.equal((await call(server, "LookupColony", { mesh_id: "snake" })).body.pubkey, KEY_1, "the stored entry is untouched");
  });

  t.test("an unimplemented RPC is unimplemented with HTTP 501", async (t) => {
    const relay = await call(server, "RequestRelay", { mesh_id: "snake", agent_pubkey: KEY_4, colony_pubkey: KEY_1 });
    t.equal(relay.status, 501);
    t.equal(relay.body.code, "unimplemented");
    t.match(relay.body.message, /no relay configured/);
  });

  t.test("a malformed JSON body is invalid_argument with HTTP 400, and the server keeps serving", async (t) => {
    const truncated = await call(server, "LookupColony", '{"mesh_id":');
    t.equal(truncated.status, 400);
    t.equal(truncated.contentType, "application/json");
    t.equal(truncated.body.code, "invalid_argument");
    t.type(truncated.body.message, "string");

    const wrongType = await call(server, "RegisterColony", { mesh_id: "m", pubkey: KEY_1, endpoints: "not-a-list" });
    t.equal(wrongType.status, 400);
    t.equal(wrongType.body.code, "invalid_argument");

    const after = await call(server, "LookupColony", { mesh_id: "camel" });
    t.equal(after.status, 200);
    t.equal(after.body.pubkey, KEY_3);
  });

  t.test("an unknown path is 404", async (t) => {
    const res = await fetch(`${server.url}/no/such/route`, { signal: AbortSignal.timeout(10_000) });
    await res.arrayBuffer();
    t.equal(res.status, 404);
    const method = await fetch(`${server.url}/${SERVICE}/NoSuchMethod`, {
      method: "POST",
      headers: GO_CLIENT_HEADERS,
      body: "{}",
      signal: AbortSignal.timeout(10_000),
    });
    await method.arrayBuffer();
    t.equal(method.status, 404);
  });
});

t.test("Health and GET /health", async (t) => {
  const clock = createFakeClock(Date.now());
  const server = await startServer(t, { now: clock.now });
  clock.advance(90_061_000);

  t.test("Health reports int64 uptimeSeconds as a JSON string", async (t) => {
    const res = await call(server, "Health", {});
    t.equal(res.status, 200);
    t.equal(res.contentType, "application/json");
    t.strictSame(res.body, { status: "ok", version: VERSION, uptimeSeconds: "90061" });
  });

  t.test("GET /health answers 200 JSON whose counts follow registrations", async (t) => {
    const before = await getJson(server, "/health");
    t.equal(before.status, 200);
    t.strictSame(before.body, { status: "ok", version: VERSION, uptime_seconds: 90061, colonies: 0, agents: 0, rendezvous_records: 0, rendezvous_polls_waiting: 0 });

    t.equal((await call(server, "RegisterColony", colony("h1"))).status, 200);
    t.equal((await call(server, "RegisterColony", colony("h2"))).status, 200);
    const agent = await call(server, "RegisterAgent", {
      agent_id: "agent-1",
      mesh_id: "h1",
      pubkey: KEY_4,
      endpoints: ["198.51.100.9:51820"],
    });
    t.equal(agent.status, 200, JSON.stringify(agent.body));

    const after = await getJson(server, "/health");
    t.equal(after.body.colonies, 2);
    t.equal(after.body.agents, 1);
    t.equal((await call(server, "Health", {})).body.registeredColonies, 2);
  });
});

t.test("observed endpoint behind a trusted proxy", async (t) => {
  const server = await startServer(t, { trustProxy: "loopback" });

  t.test("the rightmost X-Forwarded-For hop that is no trusted proxy is the observed endpoint, with NAT_CONE", async (t) => {
    // A client-supplied "10.0.0.1" and "6.6.6.6" on the left, appended by the proxy: only the proxy's entry counts.
    const reg = await call(server, "RegisterColony", colony("xff"), { "X-Forwarded-For": "6.6.6.6, 10.0.0.1, 198.51.100.23" });
    t.equal(reg.status, 200);
    t.strictSame(reg.body.observedEndpoint, { ip: "198.51.100.23", protocol: "udp" });
    const found = await call(server, "LookupColony", { mesh_id: "xff" });
    t.strictSame(found.body.observedEndpoints, [{ ip: "198.51.100.23", protocol: "udp" }]);
    t.equal(found.body.nat, "NAT_CONE");
  });

  t.test("X-Real-IP is honoured when X-Forwarded-For is absent", async (t) => {
    const reg = await call(server, "RegisterColony", colony("real-ip"), { "X-Real-IP": "203.0.113.77" });
    t.strictSame(reg.body.observedEndpoint, { ip: "203.0.113.77", protocol: "udp" });
    const found = await call(server, "LookupColony", { mesh_id: "real-ip" });
    t.strictSame(found.body.observedEndpoints, [{ ip: "203.0.113.77", protocol: "udp" }]);
  });

  t.test("a garbage X-Forwarded-For is ignored", async (t) => {
    const alone = await call(server, "RegisterColony", colony("garbage"), { "X-Forwarded-For": "not-an-ip, <script>" });
    t.equal(alone.status, 200);
    t.equal(alone.body.observedEndpoint, undefined, "falls back to the loopback peer, which is not public");
    const found = await call(server, "LookupColony", { mesh_id: "garbage" });
    t.equal(found.body.observedEndpoints, undefined);
    t.equal(found.body.nat, undefined);

    const withRealIp = await call(server, "RegisterColony", colony("garbage-real"), {
      "X-Forwarded-For": "unknown",
      "X-Real-IP": "203.0.113.78",
    });
    t.strictSame(withRealIp.body.observedEndpoint, { ip: "203.0.113.78", protocol: "udp" });
  });

  t.test("a private client hop is no observed endpoint, unless X-Real-IP holds a public address", async (t) => {
    const reg = await call(server, "RegisterColony", colony("private"), { "X-Forwarded-For": "10.1.2.3" });
    t.equal(reg.status, 200);
    t.equal(reg.body.observedEndpoint, undefined);
    const withRealIp = await call(server, "RegisterColony", colony("private-real"), { "X-Forwarded-For": "10.1.2.3", "X-Real-IP": "203.0.113.79" });
    t.strictSame(withRealIp.body.observedEndpoint, { ip: "203.0.113.79", protocol: "udp" }, "a proxy chain with a private hop first, as the Go server reports it");
  });
});

t.test("without --trust-proxy forwarding headers are ignored", async (t) => {
  const server = await startServer(t);
  const reg = await call(server, "RegisterColony", colony("spoofed"), {
    "X-Forwarded-For": "198.51.100.23, 10.0.0.1",
    "X-Real-IP": "203.0.113.77",
  });
  t.equal(reg.status, 200);
  t.equal(reg.body.observedEndpoint, undefined);
  const found = await call(server, "LookupColony", { mesh_id: "spoofed" });
  t.equal(found.body.observedEndpoints, undefined);
  t.equal(found.body.nat, undefined);
});
