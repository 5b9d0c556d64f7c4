// A scripted sequence of real calls over Connect JSON (HTTP/1.1) and gRPC
// (h2c), then one scrape of /metrics: every count must be exact.
import t from "tap";
import { Code, createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { DiscoveryService } from "../../gen/coral/discovery/v1/discovery_pb.js";
import { KEY_1, KEY_2, KEY_3 } from "../fixtures/keys.js";
import { parseExposition } from "../fixtures/prometheus.js";
import { startServer } from "../fixtures/server.js";

const P = "coral_discovery_";

t.test("after 3 new colonies, 2 renewals, 1 split-brain and 4 lookups (1 not found) /metrics has the exact counts", async (t) => {
  const server = await startServer(t);
  const json = createClient(DiscoveryService, createConnectTransport({ baseUrl: server.url, httpVersion: "1.1" }));
  const grpc = createClient(DiscoveryService, createGrpcTransport({ baseUrl: server.url }));
  const colony = (meshId: string, pubkey: string) => ({ meshId, pubkey, endpoints: ["203.0.113.5:51820"] });

  await json.registerColony(colony("m1", KEY_1)); // new
  await json.registerColony(colony("m2", KEY_2)); // new
  await grpc.registerColony(colony("m3", KEY_3)); // new
  await grpc.registerColony(colony("m1", KEY_1)); // renewal
  await json.registerColony(colony("m2", KEY_2)); // renewal
  await t.rejects(json.registerColony(colony("m1", KEY_2)), { code: Code.AlreadyExists }); // split-brain
  await json.lookupColony({ meshId: "m1" });
  await grpc.lookupColony({ meshId: "m2" });
  await grpc.lookupColony({ meshId: "m3" });
  await t.rejects(json.lookupColony({ meshId: "m4" }), { code: Code.NotFound });

  const res = await fetch(`${server.url}/metrics`);
  t.equal(res.status, 200);
  t.equal(res.headers.get("content-type"), "text/plain; version=0.0.4; charset=utf-8");
  const m = parseExposition(await res.text());
  const rpcs = (method: string, protocol: string, code: string) => m.value(`${P}rpc_requests_total`, { method, protocol, code });

  t.equal(rpcs("RegisterColony", "connect", "ok"), 3);
  t.equal(rpcs("RegisterColony", "connect", "already_exists"), 1);
  t.equal(rpcs("RegisterColony", "grpc", "ok"), 2);
  t.equal(rpcs("LookupColony", "connect", "ok"), 1);
  t.equal(rpcs("LookupColony", "connect", "not_found"), 1);
  t.equal(rpcs("LookupColony", "grpc", "ok"), 2);
  const rpcSeries = m.samples.filter((s) => s.name === `${P}rpc_requests_total`);
  t.equal(rpcSeries.length, 6, "no other RPC series");
  t.equal(rpcSeries.reduce((sum, s) => sum + s.value, 0), 10, "10 RPCs in all");
  t.equal(m.value(`${P}rpc_duration_seconds_count`, { method: "RegisterColony" }), 6);
  t.equal(m.value(`${P}rpc_duration_seconds_count`, { method: "LookupColony" }), 4);

  t.equal(m.value(`${P}registrations_total`, { kind: "colony", outcome: "new" }), 3);
  t.equal(m.value(`${P}registrations_total`, { kind: "colony", outcome: "renewal" }), 2);
  t.equal(m.value(`${P}registrations_total`, { kind: "agent", outcome: "new" }), 0);
  t.equal(m.value(`${P}registrations_refused_total`, { kind: "colony", reason: "split_brain" }), 1);
  t.equal(m.value(`${P}registrations_refused_total`, { kind: "colony", reason: "capacity" }), 0);
  t.equal(m.value(`${P}leases`, { kind: "colony" }), 3);
  t.equal(m.value(`${P}leases`, { kind: "agent" }), 0);
  t.equal(m.value(`${P}registry_bytes`), server.registry.counts().bytes);
  t.equal(m.value(`${P}registry_bytes_limit`), server.config.maxRegistryBytes);
  t.equal(m.value(`${P}http2_sessions`), 1, "the gRPC client's session");
  t.ok((m.value(`${P}connections`, { state: "active" }) ?? 0) >= 1, "the scrape itself is in flight");

  const labels = new Set(m.samples.flatMap((s) => Object.values(s.labels)));
  for (const id of ["m1", "m2", "m3", "m4", KEY_1, "127.0.0.1"]) t.notOk(labels.has(id), `no label value is an id or address (${id})`);
});

t.test("--metrics off: GET /metrics is a 404 and RPCs still work", async (t) => {
  const server = await startServer(t, { metrics: false });
  const res = await fetch(`${server.url}/metrics`);
  t.equal(res.status, 404);
  await res.arrayBuffer();
  const json = createClient(DiscoveryService, createConnectTransport({ baseUrl: server.url, httpVersion: "1.1" }));
  t.equal((await json.health({})).status, "ok");
});
