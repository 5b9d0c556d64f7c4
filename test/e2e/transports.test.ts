import t from "tap";
import { Code, ConnectError, createClient, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { DiscoveryService } from "../../gen/coral/discovery/v1/discovery_pb.js";
import { KEY_1, KEY_2, KEY_3 } from "../fixtures/keys.js";
import { startServer } from "../fixtures/server.js";

const server = await startServer(t);

const transports: Record<string, Transport> = {
  "Connect JSON over HTTP/1.1": createConnectTransport({ baseUrl: server.url, httpVersion: "1.1", useBinaryFormat: false }),
  "Connect binary over HTTP/1.1": createConnectTransport({ baseUrl: server.url, httpVersion: "1.1", useBinaryFormat: true }),
  "Connect JSON over h2c": createConnectTransport({ baseUrl: server.url, httpVersion: "2", useBinaryFormat: false }),
  "Connect binary over h2c": createConnectTransport({ baseUrl: server.url, httpVersion: "2", useBinaryFormat: true }),
  "gRPC over h2c": createGrpcTransport({ baseUrl: server.url }),
  "gRPC with JSON over h2c": createGrpcTransport({ baseUrl: server.url, useBinaryFormat: false }),
  "gRPC-Web over HTTP/1.1": createGrpcWebTransport({ baseUrl: server.url, httpVersion: "1.1" }),
  "gRPC-Web over h2c": createGrpcWebTransport({ baseUrl: server.url, httpVersion: "2" }),
};

let n = 0;
for (const [name, transport] of Object.entries(transports)) {
  t.test(`${name}: register, look up, renew, split-brain and not found`, async (t) => {
    const client = createClient(DiscoveryService, transport);
    const meshId = `mesh-${++n}`;
    const reg = await client.registerColony({ meshId, pubkey: KEY_1, endpoints: ["203.0.113.42:41820"], metadata: { via: name } });
    t.equal(reg.success, true);
    t.equal(reg.ttl, 300);
    const found = await client.lookupColony({ meshId });
    t.equal(found.pubkey, KEY_1);
    t.same(found.endpoints, ["203.0.113.42:41820"]);
    t.same(found.metadata, { via: name });
    t.equal((await client.registerColony({ meshId, pubkey: KEY_1, endpoints: ["203.0.113.42:41820"] })).success, true);

    const clash = await client.registerColony({ meshId, pubkey: KEY_2, endpoints: ["198.51.100.1:1"] }).catch((e: unknown) => e);
    t.ok(clash instanceof ConnectError);
    t.equal((clash as ConnectError).code, Code.AlreadyExists);
    t.match((clash as ConnectError).rawMessage, /already registered.*split-brain/);

    const missing = await client.lookupColony({ meshId: `${meshId}-missing` }).catch((e: unknown) => e);
    t.equal((missing as ConnectError).code, Code.NotFound);
    t.equal((missing as ConnectError).rawMessage, `colony ${meshId}-missing not found`);

    const agent = await client.registerAgent({ agentId: "a1", meshId, pubkey: KEY_3, endpoints: ["198.51.100.9:51820"] });
    t.equal(agent.success, true);
    t.equal((await client.lookupAgent({ agentId: "a1", meshId })).pubkey, KEY_3);

    const health = await client.health({});
    t.equal(health.status, "ok");
    t.ok(health.registeredColonies >= 1);
  });
}

t.test("every transport sees the same registry", async (t) => {
  const grpc = createClient(DiscoveryService, transports["gRPC over h2c"] as Transport);
  const json = createClient(DiscoveryService, transports["Connect JSON over HTTP/1.1"] as Transport);
  await grpc.registerColony({ meshId: "shared", pubkey: KEY_1, endpoints: [":51820"] });
  t.same((await json.lookupColony({ meshId: "shared" })).endpoints, [":51820"]);
  t.equal((await json.health({})).registeredColonies, n + 1);
});
