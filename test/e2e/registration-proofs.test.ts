// Registration proofs end to end, on every protocol: the owner (the client
// library with its WireGuard private key) registers and renews; a third party
// that knows only the public pubkey cannot change the proven colony or agent;
// clients that send no proof work as before.
import t from "tap";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { DiscoveryService, FingerprintAlgorithm, RegisterAgentRequestSchema, RegisterColonyRequestSchema } from "../../gen/coral/discovery/v1/discovery_pb.js";
import { createDiscoveryClient, type TransportOptions } from "../../src/client/index.js";
import { createRegistrationProof, x25519PrivateKey } from "../../src/tokens/index.js";
import { KEY_1, OWNER, THIEF } from "../fixtures/keys.js";
import { startServer } from "../fixtures/server.js";

const server = await startServer(t);
const reference = await startServer(t, { deps: { unaryRoad: false } });

const protocols: Record<string, { options: Omit<TransportOptions, "baseUrl">; transport: (baseUrl: string) => Transport }> = {
  "Connect JSON": { options: { protocol: "connect", binary: false }, transport: (baseUrl) => createConnectTransport({ baseUrl, httpVersion: "1.1" }) },
  "Connect binary": { options: { protocol: "connect", binary: true }, transport: (baseUrl) => createConnectTransport({ baseUrl, httpVersion: "1.1", useBinaryFormat: true }) },
  gRPC: { options: { protocol: "grpc" }, transport: (baseUrl) => createGrpcTransport({ baseUrl }) },
  "gRPC-Web": { options: { protocol: "grpc-web", httpVersion: "2" }, transport: (baseUrl) => createGrpcWebTransport({ baseUrl, httpVersion: "1.1" }) },
};

/** A server's public key, as its discovery document publishes it (each test server has its own). */
async function serviceKeyOf(url: string): Promise<Uint8Array> {
  const document = (await (await fetch(`${url}/.well-known/coral-discovery.json`)).json()) as { service_public_key: string };
  return new Uint8Array(Buffer.from(document.service_public_key, "base64"));
}
const thiefKey = x25519PrivateKey(new Uint8Array(Buffer.from(THIEF.private, "base64")));

async function refusal(promise: Promise<unknown>): Promise<{ code: string; message: string }> {
  const error = await promise.then(() => undefined, (e: unknown) => e);
  if (!(error instanceof ConnectError)) return { code: "none", message: String(error) };
  return { code: Code[error.code], message: error.rawMessage };
}

let n = 0;
for (const [name, { options, transport }] of Object.entries(protocols)) {
  for (const [where, target] of [["the road", server], ["connect-es's router", reference]] as const) {
    if (where === "connect-es's router" && name !== "Connect JSON" && name !== "gRPC") continue;
    t.test(`${name} (${where}): a proven colony and agent take changes from their owner only`, async (t) => {
      const meshId = `proven-${++n}`;
      const servicePublicKey = await serviceKeyOf(target.url);
      const owner = createDiscoveryClient({ baseUrl: target.url, ...options, wireguardPrivateKey: OWNER.private });
      const raw = createClient(DiscoveryService, transport(target.url));
      // Metadata whose JavaScript order is not Go's, and a public endpoint with bytes and a timestamp: JSON and binary decode to the same canonical bytes.
      const colony = {
        meshId,
        endpoints: ["203.0.113.7:41820"],
        metadata: { zone: "eu", "9": "nine", "10": "ten" },
        publicEndpoint: {
          enabled: true,
          url: "https://colony.example",
          caFingerprint: { algorithm: FingerprintAlgorithm.SHA256, value: new Uint8Array(32).fill(0xab) },
          updatedAt: { seconds: 1_767_225_600n, nanos: 120_000_000 },
        },
      };
      t.equal((await owner.registerColony(colony)).success, true);
      let proven: string | null = null;
      const found = await raw.lookupColony({ meshId }, { onHeader: (h) => void (proven = h.get("coral-registration-proven")) });
      t.equal(found.pubkey, OWNER.public);
      t.equal(proven, "true", "the lookup's response header says proven");

      // The third party knows the pubkey (it just looked it up).
      const hijack = { meshId, pubkey: found.pubkey, endpoints: ["6.6.6.6:6"], publicEndpoint: { enabled: true, url: "https://evil.example" } };
      t.match(await refusal(raw.registerColony(hijack)), { code: "PermissionDenied", message: /a registration proof is required/ });
      const forged = createRegistrationProof(create(RegisterColonyRequestSchema, hijack), thiefKey, servicePublicKey, Date.now() / 1000);
      t.match(await refusal(raw.registerColony(hijack, { headers: { "coral-registration-proof": forged } })), { code: "Unauthenticated", message: /does not match this request/ });
      const own = { ...hijack, pubkey: THIEF.public };
      const ownProof = createRegistrationProof(create(RegisterColonyRequestSchema, own), thiefKey, servicePublicKey, Date.now() / 1000);
      t.match(await refusal(raw.registerColony(own, { headers: { "coral-registration-proof": ownProof } })), { code: "AlreadyExists", message: /already registered.*split-brain/ });
      const after = await raw.lookupColony({ meshId });
      t.same([after.endpoints, after.publicEndpoint?.url], [["203.0.113.7:41820"], "https://colony.example"], "the owner's record is untouched");

      t.equal((await owner.registerColony({ ...colony, endpoints: ["203.0.113.8:41820"] })).success, true, "the owner renews");
      t.same((await raw.lookupColony({ meshId })).endpoints, ["203.0.113.8:41820"]);

      const agent = { agentId: "agent-1", meshId, endpoints: ["198.51.100.4:51820"], metadata: { b: "2", a: "1" } };
      t.equal((await owner.registerAgent(agent)).success, true);
      let agentProven: string | null = null;
      await raw.lookupAgent({ agentId: "agent-1", meshId }, { onHeader: (h) => void (agentProven = h.get("coral-registration-proven")) });
      t.equal(agentProven, "true");
      t.match(await refusal(raw.registerAgent({ ...agent, pubkey: OWNER.public, endpoints: ["6.6.6.6:6"] })), { code: "PermissionDenied", message: /proof is required/ });
      const agentOwn = { ...agent, pubkey: THIEF.public };
      const agentProof = createRegistrationProof(create(RegisterAgentRequestSchema, agentOwn), thiefKey, servicePublicKey, Date.now() / 1000);
      t.match(await refusal(raw.registerAgent(agentOwn, { headers: { "coral-registration-proof": agentProof } })), { code: "PermissionDenied", message: /another pubkey cannot replace it/ });
      t.equal((await raw.lookupAgent({ agentId: "agent-1", meshId })).pubkey, OWNER.public);
      t.equal((await owner.registerAgent({ ...agent, endpoints: ["198.51.100.5:51820"] })).success, true, "the owner renews its agent");
      t.same((await raw.lookupAgent({ agentId: "agent-1", meshId })).endpoints, ["198.51.100.5:51820"]);
    });
  }

  t.test(`${name}: clients without proofs behave as before`, async (t) => {
    const meshId = `plain-${++n}`;
    const raw = createClient(DiscoveryService, transport(server.url));
    t.equal((await raw.registerColony({ meshId, pubkey: KEY_1, endpoints: ["203.0.113.9:1"] })).success, true);
    t.equal((await raw.registerColony({ meshId, pubkey: KEY_1, endpoints: ["203.0.113.10:1"] })).success, true, "renews");
    let proven: string | null = null;
    t.same((await raw.lookupColony({ meshId }, { onHeader: (h) => void (proven = h.get("coral-registration-proven")) })).endpoints, ["203.0.113.10:1"]);
    t.equal(proven, "false");
  });
}

t.test("--require-proof all: unproven registrations are refused on the wire; proven ones pass", async (t) => {
  const strict = await startServer(t, { requireProof: "all" });
  const raw = createClient(DiscoveryService, createConnectTransport({ baseUrl: strict.url, httpVersion: "1.1" }));
  t.match(await refusal(raw.registerColony({ meshId: "m", pubkey: KEY_1, endpoints: [":1"] })), { code: "Unauthenticated", message: /requires a registration proof for colonies/ });
  t.match(await refusal(raw.registerAgent({ agentId: "a", meshId: "m", pubkey: KEY_1, endpoints: [":1"] })), { code: "Unauthenticated", message: /requires a registration proof for agents/ });
  const owner = createDiscoveryClient({ baseUrl: strict.url, wireguardPrivateKey: OWNER.private });
  t.equal((await owner.registerColony({ meshId: "m", endpoints: [":1"] })).success, true);
  t.equal((await owner.registerAgent({ agentId: "a", meshId: "m", endpoints: [":1"] })).success, true);
});
