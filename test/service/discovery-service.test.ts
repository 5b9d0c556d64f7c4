import t, { type Test } from "tap";
import { Code, ConnectError } from "@connectrpc/connect";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { create } from "@bufbuild/protobuf";
import { FingerprintAlgorithm, NatHint, RegisterAgentRequestSchema, RegisterColonyRequestSchema } from "../../gen/coral/discovery/v1/discovery_pb.js";
import { createRegistrationProof, x25519PrivateKey } from "../../src/tokens/index.js";
import { parseRelays } from "../../src/service/discovery-service.js";
import { KEY_1, KEY_2, KEY_3, KEY_4, OWNER, THIEF } from "../fixtures/keys.js";
import { createServiceFixture } from "../fixtures/service.js";

const colony = { meshId: "my-app-prod", pubkey: KEY_1, endpoints: ["203.0.113.42:41820"] };

async function rejects(t: Test, promise: Promise<unknown>, code: Code, message: string | RegExp) {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  t.ok(error instanceof ConnectError, "rejected with a ConnectError");
  const ce = error as ConnectError;
  t.equal(Code[ce.code], Code[code], `code ${Code[code]}`);
  t.match(ce.rawMessage, message);
}

t.test("RegisterColony validates mesh_id, pubkey, endpoints in that order", async (t) => {
  const { client } = createServiceFixture();
  await rejects(t, client.registerColony({}), Code.InvalidArgument, /^mesh_id is required$/);
  await rejects(t, client.registerColony({ meshId: "m" }), Code.InvalidArgument, /^pubkey is required$/);
  await rejects(t, client.registerColony({ meshId: "m", pubkey: KEY_4 }), Code.InvalidArgument, /^at least one endpoint is required$/);
});

t.test("RegisterColony answers success, ttl, the real expires_at and the STUN servers", async (t) => {
  const { client, clock } = createServiceFixture({ stunServers: ["stun.example.org:3478", "1.2.3.4:3478"] });
  const res = await client.registerColony(colony);
  t.equal(res.success, true);
  t.equal(res.ttl, 300);
  t.equal(timestampMs(res.expiresAt!), clock.now() + 300_000);
  t.same(res.stunServers, ["stun.example.org:3478", "1.2.3.4:3478"]);
  t.equal(res.observedEndpoint, undefined, "no caller address known: no observed endpoint");
});

t.test("RegisterColony reports and stores the public address it sees", async (t) => {
  const { client, caller } = createServiceFixture();
  caller.ip = "198.51.100.7";
  const res = await client.registerColony(colony);
  t.same(
    { ip: res.observedEndpoint?.ip, port: res.observedEndpoint?.port, protocol: res.observedEndpoint?.protocol },
    { ip: "198.51.100.7", port: 0, protocol: "udp" },
  );
  const found = await client.lookupColony({ meshId: colony.meshId });
  t.equal(found.observedEndpoints.length, 1);
  t.equal(found.observedEndpoints[0]?.ip, "198.51.100.7");
  t.equal(found.nat, NatHint.NAT_CONE);
});

t.test("private, loopback and other non-public caller addresses are not reported", async (t) => {
  const { client, caller } = createServiceFixture();
  for (const ip of ["127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.1.1", "::1", "fd00::1", "fe80::1", "2001:db8::1", "224.0.0.1", "0.0.0.0"]) {
    caller.ip = ip;
    const res = await client.registerColony(colony);
    t.equal(res.observedEndpoint, undefined, `${ip} is not public`);
  }
  const found = await client.lookupColony({ meshId: colony.meshId });
  t.same(found.observedEndpoints, []);
  t.equal(found.nat, NatHint.NAT_UNKNOWN);
});

t.test("a client-supplied observed endpoint is stored in preference to the seen address", async (t) => {
  const { client, caller } = createServiceFixture();
  caller.ip = "198.51.100.7";
  const res = await client.registerColony({ ...colony, observedEndpoint: { ip: "203.0.113.9", port: 41820, protocol: "udp" } });
  t.equal(res.observedEndpoint?.ip, "198.51.100.7", "the response reports what the service saw");
  const found = await client.lookupColony({ meshId: colony.meshId });
  t.equal(found.observedEndpoints[0]?.ip, "203.0.113.9");
  t.equal(found.observedEndpoints[0]?.port, 41820);
});

t.test("LookupColony returns what was stored, last_seen and the configured relays", async (t) => {
  const { client, clock } = createServiceFixture({ relays: ["relay.example.org:3478"] });
  const full = {
    ...colony,
    endpoints: ["203.0.113.42:41820", "[2001:4860::1]:41820"],
    meshIpv4: "100.64.0.1",
    meshIpv6: "fd7a::1",
    connectPort: 9000,
    metadata: { region: "eu", version: "1.2.3" },
    publicPort: 8443,
    publicEndpoint: { enabled: true, url: "https://colony.example.org:8443", caCert: "PEM" },
  };
  await client.registerColony(full);
  const registeredAt = clock.now();
  clock.advance(5_000);
  const found = await client.lookupColony({ meshId: full.meshId });
  t.equal(found.meshId, full.meshId);
  t.equal(found.pubkey, full.pubkey);
  t.same(found.endpoints, full.endpoints);
  t.equal(found.meshIpv4, "100.64.0.1");
  t.equal(found.meshIpv6, "fd7a::1");
  t.equal(found.connectPort, 9000);
  t.same(found.metadata, full.metadata);
  t.equal(timestampMs(found.lastSeen!), registeredAt);
  t.equal(found.publicPort, 8443);
  t.equal(found.publicEndpoint?.url, "https://colony.example.org:8443");
  t.equal(found.relays.length, 1);
  t.equal(found.relays[0]?.relayId, "relay.example.org:3478");
  t.equal(found.relays[0]?.endpoint?.port, 3478);
});

t.test("LookupColony returns the public endpoint's CA fingerprint and update time as registered", async (t) => {
  const { client } = createServiceFixture();
  const value = Uint8Array.from({ length: 32 }, (_, i) => i);
  await client.registerColony({
    ...colony,
    publicEndpoint: {
      enabled: true,
      url: "https://colony.example.org",
      caFingerprint: { algorithm: FingerprintAlgorithm.SHA256, value },
      updatedAt: { seconds: 1_767_225_600n, nanos: 500 },
    },
  });
  const found = await client.lookupColony({ meshId: colony.meshId });
  t.equal(found.publicEndpoint?.caFingerprint?.algorithm, FingerprintAlgorithm.SHA256);
  t.same([...(found.publicEndpoint?.caFingerprint?.value ?? [])], [...value]);
  t.same([found.publicEndpoint?.updatedAt?.seconds, found.publicEndpoint?.updatedAt?.nanos], [1_767_225_600n, 500]);
});

t.test("LookupColony: mesh_id required; unknown and expired say not found", async (t) => {
  const { client, clock } = createServiceFixture();
  await rejects(t, client.lookupColony({}), Code.InvalidArgument, /^mesh_id is required$/);
  await rejects(t, client.lookupColony({ meshId: "nope" }), Code.NotFound, /^colony nope not found$/);
  await client.registerColony(colony);
  clock.advance(300_000);
  await rejects(t, client.lookupColony({ meshId: colony.meshId }), Code.NotFound, /not found/);
});

t.test("a renewal replaces the entry wholesale: fields left out are cleared", async (t) => {
  const { client } = createServiceFixture();
  await client.registerColony({ ...colony, metadata: { a: "1" }, meshIpv4: "100.64.0.1" });
  await client.registerColony(colony);
  const found = await client.lookupColony({ meshId: colony.meshId });
  t.same(found.metadata, {});
  t.equal(found.meshIpv4, "");
});

t.test("split-brain: another pubkey is refused with already_exists and the entry is untouched", async (t) => {
  const { client, clock } = createServiceFixture();
  const first = await client.registerColony(colony);
  clock.advance(1_000);
  await rejects(
    t,
    client.registerColony({ ...colony, pubkey: KEY_2, endpoints: ["198.51.100.1:1"] }),
    Code.AlreadyExists,
    /my-app-prod.*already registered.*split-brain/,
  );
  const err = await client.registerColony({ ...colony, pubkey: KEY_2 }).catch((e: ConnectError) => e);
  t.match((err as ConnectError).rawMessage, new Date(timestampMs(first.expiresAt!)).toISOString());
  const found = await client.lookupColony({ meshId: colony.meshId });
  t.equal(found.pubkey, KEY_1);
  t.same(found.endpoints, colony.endpoints);
  clock.advance(299_000);
  const taken = await client.registerColony({ ...colony, pubkey: KEY_2 });
  t.equal(taken.success, true, "after expiry another colony may take the mesh");
});

t.test("RegisterAgent validates agent_id, mesh_id, pubkey in that order", async (t) => {
  const { client } = createServiceFixture();
  await rejects(t, client.registerAgent({}), Code.InvalidArgument, /^agent_id is required$/);
  await rejects(t, client.registerAgent({ agentId: "a" }), Code.InvalidArgument, /^mesh_id is required$/);
  await rejects(t, client.registerAgent({ agentId: "a", meshId: "m" }), Code.InvalidArgument, /^pubkey is required$/);
});

t.test("an agent without endpoints needs an observed endpoint with a port (STUN)", async (t) => {
  const { client, caller } = createServiceFixture();
  const agent = { agentId: "agent-1", meshId: "mesh", pubkey: KEY_3 };
  await rejects(t, client.registerAgent(agent), Code.InvalidArgument, /STUN/);
  caller.ip = "198.51.100.7"; // seen address has port 0: still not enough
  await rejects(t, client.registerAgent(agent), Code.InvalidArgument, /observed_endpoint/);
  await rejects(
    t,
    client.registerAgent({ ...agent, observedEndpoint: { ip: "198.51.100.7", port: 0 } }),
    Code.InvalidArgument,
    /non-zero port/,
  );
  const ok = await client.registerAgent({ ...agent, observedEndpoint: { ip: "198.51.100.7", port: 51820, protocol: "udp" } });
  t.equal(ok.success, true);
  t.equal(ok.observedEndpoint?.port, 51820, "the stored endpoint is returned");
});

t.test("RegisterAgent with endpoints returns the stored observed endpoint and lease", async (t) => {
  const { client, caller, clock } = createServiceFixture();
  caller.ip = "2001:4860::8";
  const res = await client.registerAgent({ agentId: "agent-1", meshId: "mesh", pubkey: KEY_4, endpoints: ["10.0.0.5:51820"] });
  t.equal(res.success, true);
  t.equal(res.ttl, 300);
  t.equal(timestampMs(res.expiresAt!), clock.now() + 300_000);
  t.equal(res.observedEndpoint?.ip, "2001:4860::8");
  t.same(res.stunServers, ["stun.cloudflare.com:3478"]);
});

t.test("LookupAgent: ids required, found in its mesh only, returns the real mesh_id", async (t) => {
  const { client, clock } = createServiceFixture();
  await client.registerAgent({ agentId: "agent-1", meshId: "mesh-a", pubkey: KEY_3, endpoints: ["198.51.100.2:51820"], metadata: { os: "linux" } });
  await rejects(t, client.lookupAgent({}), Code.InvalidArgument, /^agent_id is required$/);
  await rejects(t, client.lookupAgent({ agentId: "agent-1" }), Code.InvalidArgument, /^mesh_id is required$/);
  await rejects(t, client.lookupAgent({ agentId: "agent-1", meshId: "mesh-b" }), Code.NotFound, /^agent agent-1 not found$/);
  const found = await client.lookupAgent({ agentId: "agent-1", meshId: "mesh-a" });
  t.equal(found.meshId, "mesh-a");
  t.equal(found.agentId, "agent-1");
  t.equal(found.pubkey, KEY_3);
  t.same(found.endpoints, ["198.51.100.2:51820"]);
  t.same(found.metadata, { os: "linux" });
  t.equal(timestampMs(found.lastSeen!), clock.now());
  t.equal(found.nat, NatHint.NAT_UNKNOWN);
  clock.advance(300_000);
  await rejects(t, client.lookupAgent({ agentId: "agent-1", meshId: "mesh-a" }), Code.NotFound, /not found/);
});

t.test("LookupAgent reports the agent's observed endpoint with a cone NAT hint", async (t) => {
  const { client } = createServiceFixture();
  await client.registerAgent({ agentId: "agent-1", meshId: "mesh", pubkey: KEY_3, observedEndpoint: { ip: "203.0.113.8", port: 51820, protocol: "udp" } });
  const found = await client.lookupAgent({ agentId: "agent-1", meshId: "mesh" });
  t.same(
    found.observedEndpoints.map((e) => [e.ip, e.port, e.protocol]),
    [["203.0.113.8", 51820, "udp"]],
  );
  t.equal(found.nat, NatHint.NAT_CONE);
});

t.test("a different agent pubkey replaces the agent record", async (t) => {
  const { client } = createServiceFixture();
  const agent = { agentId: "agent-1", meshId: "mesh", endpoints: ["198.51.100.2:51820"] };
  await client.registerAgent({ ...agent, pubkey: KEY_1 });
  await client.registerAgent({ ...agent, pubkey: KEY_2 });
  t.equal((await client.lookupAgent(agent)).pubkey, KEY_2);
});

t.test("agents and colonies are separate", async (t) => {
  const { client } = createServiceFixture();
  await client.registerAgent({ agentId: "my-app-prod", meshId: "my-app-prod", pubkey: KEY_4, endpoints: ["198.51.100.2:1"] });
  await rejects(t, client.lookupColony({ meshId: "my-app-prod" }), Code.NotFound, /not found/);
  const health = await client.health({});
  t.equal(health.registeredColonies, 0);
});

t.test("relay RPCs are unimplemented without a relay", async (t) => {
  const { client } = createServiceFixture();
  await rejects(t, client.requestRelay({ meshId: "m", agentPubkey: KEY_1, colonyPubkey: KEY_2 }), Code.Unimplemented, /no relay configured/);
  await rejects(t, client.releaseRelay({ sessionId: "s" }), Code.Unimplemented, /no relay configured/);
});

t.test("with relays: RequestRelay validates, allocates a 30-minute session; ReleaseRelay ends it once", async (t) => {
  const relays = ["198.51.100.10:3478", "relay2.example.org:3478"];
  const { client, clock } = createServiceFixture({ relays });
  await rejects(t, client.requestRelay({}), Code.InvalidArgument, /^mesh_id is required$/);
  await rejects(t, client.requestRelay({ meshId: "m" }), Code.InvalidArgument, /^agent_pubkey is required$/);
  await rejects(t, client.requestRelay({ meshId: "m", agentPubkey: KEY_1 }), Code.InvalidArgument, /^colony_pubkey is required$/);
  const req = { meshId: "m", agentPubkey: KEY_1, colonyPubkey: KEY_2 };
  const first = await client.requestRelay(req);
  const second = await client.requestRelay(req);
  t.not(first.sessionId, second.sessionId);
  t.equal(timestampMs(first.expiresAt!), clock.now() + 30 * 60_000);
  t.same([first.relayId, second.relayId], ["198.51.100.10:3478", "relay2.example.org:3478"], "relays used in turn");
  t.equal(first.relayEndpoint?.ip, "198.51.100.10");
  t.equal(first.relayEndpoint?.port, 3478);
  await rejects(t, client.releaseRelay({}), Code.InvalidArgument, /^session_id is required$/);
  await rejects(t, client.releaseRelay({ sessionId: first.sessionId, meshId: "other" }), Code.PermissionDenied, /does not belong/);
  t.equal((await client.releaseRelay({ sessionId: first.sessionId, meshId: "m" })).success, true);
  await rejects(t, client.releaseRelay({ sessionId: first.sessionId }), Code.NotFound, /not found/);
  await rejects(t, client.releaseRelay({ sessionId: "never" }), Code.NotFound, /not found/);
});

t.test("Health reports ok, version, uptime and active colonies only", async (t) => {
  const { client, clock } = createServiceFixture();
  await client.registerColony(colony);
  await client.registerColony({ ...colony, meshId: "second" });
  clock.advance(200_000);
  await client.registerColony({ ...colony, meshId: "third" });
  clock.advance(100_000); // the first two expire now
  const health = await client.health({});
  t.equal(health.status, "ok");
  t.equal(health.version, "9.9.9");
  t.equal(health.uptimeSeconds, 300n);
  t.equal(health.registeredColonies, 1);
});

t.test("CreateBootstrapToken validates agent_id, colony_id, reef_id and intent in that order", async (t) => {
  const { client } = createServiceFixture();
  const long = "x".repeat(65);
  await rejects(t, client.createBootstrapToken({}), Code.InvalidArgument, /^agent_id is required$/);
  await rejects(t, client.createBootstrapToken({ agentId: "a1" }), Code.InvalidArgument, /^colony_id is required$/);
  await rejects(t, client.createBootstrapToken({ agentId: "a 1", colonyId: "c1" }), Code.InvalidArgument, /^agent_id "a 1" is invalid/);
  await rejects(t, client.createBootstrapToken({ agentId: "a1", colonyId: "c1", reefId: long, intent: long }), Code.InvalidArgument, /^reef_id "x+…" is too long: at most 64/);
  await rejects(t, client.createBootstrapToken({ agentId: "a1", colonyId: "c1", intent: long }), Code.InvalidArgument, /^intent "x+…" is too long: at most 64/);
});

t.test("CreateBootstrapToken signs the request's claims, expiring after the token TTL", async (t) => {
  const { client, clock } = createServiceFixture({ tokenTtlSeconds: 90 });
  clock.advance(1_500);
  const res = await client.createBootstrapToken({ agentId: "a1", colonyId: "c1", reefId: "r1", intent: "join" });
  const nowSeconds = Math.floor(clock.now() / 1000);
  t.equal(res.expiresAt, BigInt(nowSeconds + 90));
  const [header, payload] = res.jwt.split(".").slice(0, 2).map((part) => JSON.parse(Buffer.from(part, "base64url").toString()) as Record<string, unknown>);
  t.match(header, { alg: "EdDSA", kid: "01H7X0X7X0X7X0X7X0X7X0X7X0" });
  t.match(payload, { sub: "agent:a1", agent_id: "a1", colony_id: "c1", reef_id: "r1", intent: "join", iat: nowSeconds, exp: nowSeconds + 90 });
});

t.test("without a token signer CreateBootstrapToken answers unimplemented, before validating", async (t) => {
  const { client } = createServiceFixture({}, { omit: ["tokens"] });
  await rejects(t, client.createBootstrapToken({ agentId: "a1", colonyId: "c1" }), Code.Unimplemented, /^CreateBootstrapToken is not enabled on this server$/);
  await rejects(t, client.createBootstrapToken({}), Code.Unimplemented, /not enabled/);
});

t.test("pubkeys must be WireGuard keys unless the service is told otherwise", async (t) => {
  const strictByDefault = createServiceFixture({}, { omit: ["strictPubkeys"] });
  await rejects(t, strictByDefault.client.registerColony({ ...colony, pubkey: "placeholder" }), Code.InvalidArgument, /^pubkey "placeholder" is not a WireGuard public key/);
  const lax = createServiceFixture({ pubkeyCheck: false });
  t.equal((await lax.client.registerColony({ ...colony, pubkey: "placeholder" })).success, true, "--pubkey-check off accepts a placeholder");
});

t.test("parseRelays reads each host:port, keeping the text as the relay id, and refuses one that is not", async (t) => {
  t.same(parseRelays(["198.51.100.1:3478", "[2001:db8::1]:3479"]), [
    { id: "198.51.100.1:3478", host: "198.51.100.1", port: 3478 },
    { id: "[2001:db8::1]:3479", host: "2001:db8::1", port: 3479 },
  ]);
  t.throws(() => parseRelays(["198.51.100.1:3478", "relay-without-port"]), { name: "RangeError", message: 'relay "relay-without-port" is not host:port' });
});

t.test("with --rendezvous off the bootstrap rendezvous RPCs answer unimplemented", async (t) => {
  const { client } = createServiceFixture({ rendezvous: false });
  await rejects(t, client.publishBootstrapRendezvous({ meshId: "m" }), Code.Unimplemented, /^PublishBootstrapRendezvous is not enabled on this server \(--rendezvous off\)$/);
  await rejects(t, client.pollBootstrapRendezvous({ meshId: "m" }), Code.Unimplemented, /PollBootstrapRendezvous/);
  await rejects(t, client.ackBootstrapRendezvous({ meshId: "m" }), Code.Unimplemented, /AckBootstrapRendezvous/);
});

t.test("the bootstrap rendezvous RPCs reach their handlers: publish, poll, ack", async (t) => {
  const { client } = createServiceFixture();
  const token = new Uint8Array(32).fill(7);
  const { recordId, success } = await client.publishBootstrapRendezvous({ meshId: "m", ciphertext: new Uint8Array(8), gcmNonce: new Uint8Array(12), writeToken: token });
  t.equal(success, true);
  const polled = await client.pollBootstrapRendezvous({ meshId: "m", waitSeconds: 25 });
  t.same(polled.records.map((r) => r.recordId), [recordId]);
  t.equal((await client.ackBootstrapRendezvous({ meshId: "m", recordId, writeToken: token })).success, true);
  t.equal((await client.pollBootstrapRendezvous({ meshId: "m" })).timedOut, true);
});

t.test("per-address quotas: agents per mesh and relay sessions are charged to the caller's address (IPv6: its /64)", async (t) => {
  const { client, caller } = createServiceFixture({ maxAgentsPerMeshPerIp: 1, maxRelaySessionsPerIp: 1, relays: ["198.51.100.1:1"] });
  const agent = { meshId: "m", pubkey: KEY_3, endpoints: ["198.51.100.2:51820"] };
  caller.ip = "2001:db8:1:2::1";
  await client.registerAgent({ ...agent, agentId: "a1" });
  caller.ip = "2001:db8:1:2::ffff";
  await rejects(t, client.registerAgent({ ...agent, agentId: "a2" }), Code.ResourceExhausted, /your address already holds 1 agents in mesh m \(--max-agents-per-mesh-per-ip\)/);
  await client.requestRelay({ meshId: "m", agentPubkey: KEY_1, colonyPubkey: KEY_2 });
  await rejects(
    t,
    client.requestRelay({ meshId: "m", agentPubkey: KEY_1, colonyPubkey: KEY_2 }),
    Code.ResourceExhausted,
    /your address already holds 1 open relay sessions \(--max-relay-sessions-per-ip\)/,
  );
  caller.ip = "2001:db8:1:3::1";
  t.ok(await client.registerAgent({ ...agent, agentId: "a2" }), "the next /64 has its own quota");
  t.ok(await client.requestRelay({ meshId: "m", agentPubkey: KEY_1, colonyPubkey: KEY_2 }));
});

t.test("expected errors are logged at debug, not error", async (t) => {
  const { client, logged } = createServiceFixture();
  await client.lookupColony({ meshId: "x" }).catch(() => undefined);
  t.equal(logged.length, 1);
  t.equal(logged[0]?.level, "debug");
  t.match(logged[0]?.obj, { rpc: "coral.discovery.v1.DiscoveryService/LookupColony", code: "NotFound" });
});

t.test("capacity refusals are resource_exhausted naming the limit, for colonies, agents and relays", async (t) => {
  const { client } = createServiceFixture({
    maxColonies: 1,
    maxAgentsPerMesh: 1,
    maxRelaySessions: 1,
    relays: ["198.51.100.1:1"],
  });
  await client.registerColony(colony);
  await rejects(t, client.registerColony({ ...colony, meshId: "second" }), Code.ResourceExhausted, /--max-colonies/);
  const agent = { meshId: "m", pubkey: KEY_3, endpoints: ["198.51.100.2:51820"] };
  await client.registerAgent({ ...agent, agentId: "a1" });
  await rejects(t, client.registerAgent({ ...agent, agentId: "a2" }), Code.ResourceExhausted, /mesh m is full.*--max-agents-per-mesh/);
  await client.requestRelay({ meshId: "m", agentPubkey: KEY_1, colonyPubkey: KEY_2 });
  await rejects(
    t,
    client.requestRelay({ meshId: "m", agentPubkey: KEY_1, colonyPubkey: KEY_2 }),
    Code.ResourceExhausted,
    /--max-relay-sessions/,
  );
});

// ---- registration proofs -------------------------------------------------

/** Call options carrying a fresh proof of `request` made with `key` (a private key) for the fixture's service key. */
function proofOf(
  fixture: ReturnType<typeof createServiceFixture>,
  schema: typeof RegisterColonyRequestSchema | typeof RegisterAgentRequestSchema,
  request: object,
  privateKey: string,
  onHeader?: (headers: Headers) => void,
) {
  const message = create(schema as typeof RegisterColonyRequestSchema, request as never);
  const key = x25519PrivateKey(new Uint8Array(Buffer.from(privateKey, "base64")));
  const proof = createRegistrationProof(message, key, fixture.serviceKey.publicKey, fixture.clock.now() / 1000);
  return { headers: { "coral-registration-proof": proof }, ...(onHeader && { onHeader }) };
}

function provenHeader() {
  const seen: { value: string | null } = { value: null };
  return { seen, onHeader: (headers: Headers) => void (seen.value = headers.get("coral-registration-proven")) };
}

t.test("proofs: a proven colony renews with proofs; a third party knowing only its pubkey cannot change it", async (t) => {
  const fixture = createServiceFixture();
  const { client, clock } = fixture;
  const owned = { meshId: "prod-mesh", pubkey: OWNER.public, endpoints: ["203.0.113.7:41820"] };
  const registered = provenHeader();
  await client.registerColony(owned, proofOf(fixture, RegisterColonyRequestSchema, owned, OWNER.private, registered.onHeader));
  t.equal(registered.seen.value, "true", "the registration answer says proven");
  const lookedUp = provenHeader();
  await client.lookupColony({ meshId: "prod-mesh" }, { onHeader: lookedUp.onHeader });
  t.equal(lookedUp.seen.value, "true", "the lookup says proven");

  clock.advance(10_000);
  const hijack = { ...owned, endpoints: ["6.6.6.6:6"], publicEndpoint: { enabled: true, url: "https://evil.example" } };
  await rejects(t, client.registerColony(hijack), Code.PermissionDenied, /held by a proven registration: a registration proof is required/);
  await rejects(t, client.registerColony(hijack, proofOf(fixture, RegisterColonyRequestSchema, hijack, THIEF.private)), Code.Unauthenticated, /does not match this request/);
  const replayed = proofOf(fixture, RegisterColonyRequestSchema, owned, OWNER.private);
  await rejects(t, client.registerColony(hijack, replayed), Code.Unauthenticated, /does not match this request/);
  await rejects(t, client.registerColony({ ...hijack, pubkey: THIEF.public }, proofOf(fixture, RegisterColonyRequestSchema, { ...hijack, pubkey: THIEF.public }, THIEF.private)), Code.AlreadyExists, /already registered.*split-brain/);
  const found = await client.lookupColony({ meshId: "prod-mesh" });
  t.same(found.endpoints, owned.endpoints, "the owner's endpoints are untouched");
  t.equal(found.publicEndpoint, undefined);

  clock.advance(50_000);
  const renewal = { ...owned, endpoints: ["203.0.113.8:41820"] };
  const res = await client.registerColony(renewal, proofOf(fixture, RegisterColonyRequestSchema, renewal, OWNER.private));
  t.equal(timestampMs(res.expiresAt!), clock.now() + 300_000, "the owner renews as before");
  t.same((await client.lookupColony({ meshId: "prod-mesh" })).endpoints, ["203.0.113.8:41820"]);
});

t.test("proofs: a stale proof is refused; the window is --proof-max-skew", async (t) => {
  const fixture = createServiceFixture({ proofMaxSkewSeconds: 30 });
  const owned = { meshId: "m", pubkey: OWNER.public, endpoints: ["203.0.113.7:41820"] };
  const options = proofOf(fixture, RegisterColonyRequestSchema, owned, OWNER.private);
  fixture.clock.advance(31_000);
  await rejects(t, fixture.client.registerColony(owned, options), Code.Unauthenticated, /is stale: its timestamp \d+ is 31s behind the service clock .* at most 30s either way/);
  await rejects(t, fixture.client.lookupColony({ meshId: "m" }), Code.NotFound, /not found/);
});

t.test("proofs: unproven clients behave exactly as before, and lookups say unproven", async (t) => {
  const fixture = createServiceFixture();
  const { client, clock } = fixture;
  const registered = provenHeader();
  await client.registerColony(colony, { onHeader: registered.onHeader });
  t.equal(registered.seen.value, "false");
  clock.advance(1_000);
  await client.registerColony({ ...colony, endpoints: ["198.51.100.9:1"] });
  const lookedUp = provenHeader();
  t.same((await client.lookupColony({ meshId: colony.meshId }, { onHeader: lookedUp.onHeader })).endpoints, ["198.51.100.9:1"]);
  t.equal(lookedUp.seen.value, "false");
  await rejects(t, client.registerColony({ ...colony, pubkey: KEY_2 }), Code.AlreadyExists, /already registered/);
  const agent = { agentId: "agent-1", meshId: "mesh", endpoints: ["198.51.100.2:51820"] };
  await client.registerAgent({ ...agent, pubkey: KEY_1 });
  await client.registerAgent({ ...agent, pubkey: KEY_2 });
  const agentLookup = provenHeader();
  t.equal((await client.lookupAgent(agent, { onHeader: agentLookup.onHeader })).pubkey, KEY_2, "last writer wins");
  t.equal(agentLookup.seen.value, "false");
});

t.test("proofs: an unproven colony becomes proven by a proven renewal of its owner", async (t) => {
  const fixture = createServiceFixture();
  const owned = { meshId: "m", pubkey: OWNER.public, endpoints: ["203.0.113.7:41820"] };
  await fixture.client.registerColony(owned);
  await fixture.client.registerColony(owned, proofOf(fixture, RegisterColonyRequestSchema, owned, OWNER.private));
  await rejects(t, fixture.client.registerColony(owned), Code.PermissionDenied, /proof is required/);
});

t.test("proofs: a proven agent renews with proofs; nobody else can renew or replace it", async (t) => {
  const fixture = createServiceFixture();
  const { client, clock } = fixture;
  const owned = { agentId: "agent-1", meshId: "prod-mesh", pubkey: OWNER.public, endpoints: ["198.51.100.2:51820"] };
  const registered = provenHeader();
  await client.registerAgent(owned, proofOf(fixture, RegisterAgentRequestSchema, owned, OWNER.private, registered.onHeader));
  t.equal(registered.seen.value, "true");
  clock.advance(5_000);
  await rejects(t, client.registerAgent({ ...owned, endpoints: ["6.6.6.6:6"] }), Code.PermissionDenied, /agent agent-1 of mesh prod-mesh is held by a proven registration/);
  const other = { ...owned, pubkey: THIEF.public, endpoints: ["6.6.6.6:6"] };
  await rejects(t, client.registerAgent(other, proofOf(fixture, RegisterAgentRequestSchema, other, THIEF.private)), Code.PermissionDenied, /another pubkey cannot replace it/);
  const lookedUp = provenHeader();
  const found = await client.lookupAgent({ agentId: "agent-1", meshId: "prod-mesh" }, { onHeader: lookedUp.onHeader });
  t.same([found.pubkey, found.endpoints], [OWNER.public, owned.endpoints]);
  t.equal(lookedUp.seen.value, "true");
  const renewal = { ...owned, endpoints: ["198.51.100.3:51820"] };
  await client.registerAgent(renewal, proofOf(fixture, RegisterAgentRequestSchema, renewal, OWNER.private));
  t.same((await client.lookupAgent({ agentId: "agent-1", meshId: "prod-mesh" })).endpoints, ["198.51.100.3:51820"]);
});

t.test("proofs: --require-proof colonies refuses unproven colonies only; all refuses agents too", async (t) => {
  const colonies = createServiceFixture({ requireProof: "colonies" });
  await rejects(t, colonies.client.registerColony(colony), Code.Unauthenticated, /requires a registration proof for colonies \(--require-proof colonies\)/);
  const agent = { agentId: "a", meshId: "m", pubkey: KEY_1, endpoints: ["198.51.100.2:51820"] };
  t.equal((await colonies.client.registerAgent(agent)).success, true);
  const all = createServiceFixture({ requireProof: "all" });
  await rejects(t, all.client.registerAgent(agent), Code.Unauthenticated, /requires a registration proof for agents \(--require-proof all\)/);
  const owned = { ...agent, pubkey: OWNER.public };
  t.equal((await all.client.registerAgent(owned, proofOf(all, RegisterAgentRequestSchema, owned, OWNER.private))).success, true);
});

t.test("proofs: a configured service key is the one proofs are checked against; without the check the header is ignored", async (t) => {
  const fixture = createServiceFixture({ serviceKey: THIEF.private });
  t.equal(Buffer.from(fixture.serviceKey.publicKey).toString("base64"), THIEF.public);
  const owned = { meshId: "m", pubkey: OWNER.public, endpoints: ["203.0.113.7:41820"] };
  t.equal((await fixture.client.registerColony(owned, proofOf(fixture, RegisterColonyRequestSchema, owned, OWNER.private))).success, true);
  const unchecked = createServiceFixture({}, { omit: ["proofs"] });
  const seen = provenHeader();
  await unchecked.client.registerColony(owned, { headers: { "coral-registration-proof": "garbage" }, onHeader: seen.onHeader });
  t.equal(seen.seen.value, "false");
  const agent = { agentId: "a", meshId: "m", pubkey: OWNER.public, endpoints: ["198.51.100.2:51820"] };
  const agentSeen = provenHeader();
  await unchecked.client.registerAgent(agent, { headers: { "coral-registration-proof": "garbage" }, onHeader: agentSeen.onHeader });
  t.equal(agentSeen.seen.value, "false");
});
