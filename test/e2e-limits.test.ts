import t from "tap";
import { Code, ConnectError, createClient, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { DiscoveryService } from "../gen/coral/discovery/v1/discovery_pb.js";
import { KEY_1 } from "./fixtures/keys.js";
import { startServer } from "./fixtures/server.js";

const kinds: Record<string, (baseUrl: string) => Transport> = {
  Connect: (baseUrl) => createConnectTransport({ baseUrl, httpVersion: "1.1" }),
  gRPC: (baseUrl) => createGrpcTransport({ baseUrl }),
  "gRPC-Web": (baseUrl) => createGrpcWebTransport({ baseUrl, httpVersion: "1.1" }),
};

for (const [name, make] of Object.entries(kinds)) {
  t.test(`${name}: over budget is resource_exhausted with a retry-after hint, other budgets unaffected`, async (t) => {
    const server = await startServer(t, ["--rate-limit", "on", "--rate-register", "1:3", "--rate-token", "1:1"]);
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
    const server = await startServer(t, ["--max-body-bytes", "2048"]);
    const client = createClient(DiscoveryService, make(server.url));
    const error = await client.lookupColony({ meshId: "x".repeat(5000) }).catch((e: unknown) => e);
    t.equal((error as ConnectError).code, Code.ResourceExhausted);
    t.match((error as ConnectError).rawMessage, /larger than/);
    const missing = await client.lookupColony({ meshId: "m" }).catch((e: unknown) => e);
    t.equal((missing as ConnectError).code, Code.NotFound, "still serving");
  });
}

t.test("a full registry refuses new colonies with resource_exhausted naming the limit; renewals pass", async (t) => {
  const server = await startServer(t, ["--max-colonies", "2"]);
  const client = createClient(DiscoveryService, kinds.Connect!(server.url));
  await client.registerColony({ meshId: "a", pubkey: KEY_1, endpoints: [":1"] });
  await client.registerColony({ meshId: "b", pubkey: KEY_1, endpoints: [":1"] });
  const error = await client.registerColony({ meshId: "c", pubkey: KEY_1, endpoints: [":1"] }).catch((e: unknown) => e);
  t.equal((error as ConnectError).code, Code.ResourceExhausted);
  t.match((error as ConnectError).rawMessage, /--max-colonies/);
  t.equal((await client.registerColony({ meshId: "a", pubkey: KEY_1, endpoints: [":2"] })).success, true);
});
