import t, { type Test } from "tap";
import { Code, ConnectError } from "@connectrpc/connect";
import { FingerprintAlgorithm } from "../../gen/coral/discovery/v1/discovery_pb.js";
import { KEY_1, KEY_2 } from "../fixtures/keys.js";
import { createServiceFixture } from "../fixtures/service.js";

async function invalid(t: Test, promise: Promise<unknown>, message: RegExp | string) {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  t.ok(error instanceof ConnectError, `rejected (${String(message)})`);
  t.equal((error as ConnectError).code, Code.InvalidArgument);
  t.match((error as ConnectError).rawMessage, message);
}

const colony = { meshId: "mesh", pubkey: KEY_1, endpoints: ["203.0.113.1:41820"] };

t.test("ids: 1-128 characters from letters, digits and . _ - : @", async (t) => {
  const { client } = createServiceFixture();
  for (const good of ["a", "my-app.prod_1:eu@x", "x".repeat(128)]) {
    t.equal((await client.registerColony({ ...colony, meshId: good })).success, true, `${good.slice(0, 20)} accepted`);
  }
  for (const bad of ["x".repeat(129), "has space", "slash/no", "emoji🙂", "ｍｅｓｈ", "tab\t", "nul\u0000", "mеsh" /* Cyrillic е */]) {
    await invalid(t, client.registerColony({ ...colony, meshId: bad }), /^mesh_id ".*" is invalid: use 1-128 characters from letters, digits and \. _ - : @$/);
  }
  await invalid(t, client.lookupColony({ meshId: "a b" }), /mesh_id "a b" is invalid/);
  await invalid(t, client.lookupAgent({ agentId: "a/b", meshId: "m" }), /agent_id "a\/b" is invalid/);
  await invalid(t, client.createBootstrapToken({ agentId: "a", colonyId: "c c" }), /colony_id "c c" is invalid/);
});

t.test("a long bad value is quoted by a short, escaped prefix only", async (t) => {
  const { client } = createServiceFixture();
  const error = (await client.lookupColony({ meshId: `"${"z".repeat(5000)}` }).catch((e: unknown) => e)) as ConnectError;
  t.ok(error.rawMessage.length < 200, `message is ${error.rawMessage.length} characters`);
  t.match(error.rawMessage, /mesh_id "\\"z+…" is invalid/);
});

t.test("pubkeys must be canonical WireGuard keys; --pubkey-check off accepts placeholders up to 256", async (t) => {
  const { client } = createServiceFixture();
  const notAKey = /^pubkey ".*" is not a WireGuard public key: use standard base64 of exactly 32 bytes \(44 characters ending in =/;
  await invalid(t, client.registerColony({ ...colony, pubkey: "dGVzdC1wdWJrZXk=" }), notAKey);
  await invalid(t, client.registerColony({ ...colony, pubkey: "not base64!!" }), notAKey);
  await invalid(t, client.registerColony({ ...colony, pubkey: KEY_1.replace(/=$/, "") }), notAKey);
  await invalid(t, client.registerColony({ ...colony, pubkey: Buffer.from(KEY_1, "base64").toString("base64url") }), notAKey);
  await invalid(t, client.registerColony({ ...colony, pubkey: `${KEY_1.slice(0, 42)}B=` }), notAKey); // non-canonical last character
  await invalid(t, client.registerColony({ ...colony, pubkey: Buffer.alloc(33).toString("base64") }), notAKey);
  await invalid(t, client.registerAgent({ agentId: "a", meshId: "m", pubkey: "short" }), /^pubkey "short"/);
  await invalid(t, client.registerColony({ ...colony, pubkey: "dGVzdC1wdWJrZXk=" }), /a test rig with placeholder keys can start the service with --pubkey-check off$/);
  t.equal((await client.registerColony({ ...colony, pubkey: Buffer.alloc(32, 255).toString("base64") })).success, true, "+ and / accepted");
  const lax = createServiceFixture({ pubkeyCheck: false }).client;
  t.equal((await lax.registerColony({ ...colony, pubkey: "dGVzdC1wdWJrZXk=" })).success, true);
  await invalid(t, lax.registerColony({ ...colony, pubkey: "k".repeat(257) }), /pubkey is 257 characters; at most 256/);
});

t.test("the contract's order holds with format checks: mesh_id, pubkey, endpoints", async (t) => {
  const { client } = createServiceFixture();
  await invalid(t, client.registerColony({ meshId: "bad id", pubkey: "bad" }), /^mesh_id/);
  await invalid(t, client.registerColony({ meshId: "m", pubkey: "bad" }), /^pubkey/);
  await invalid(t, client.registerColony({ meshId: "m", pubkey: KEY_1 }), /^at least one endpoint is required$/);
});

t.test("endpoints: at most 16, host:port with empty, IPv4, [IPv6] or DNS host, port 1-65535", async (t) => {
  const { client } = createServiceFixture();
  const good = [":51820", "203.0.113.1:41820", "[2001:db8::1]:41820", "colony.example.org:41820", "localhost:1"];
  t.equal((await client.registerColony({ ...colony, endpoints: good })).success, true);
  await invalid(t, client.registerColony({ ...colony, endpoints: Array(17).fill(":1") }), /endpoints has 17 entries; at most 16/);
  for (const bad of ["1.2.3.4", "1.2.3.4:0", "1.2.3.4:65536", "2001:db8::1:80", "[1.2.3.4]:80", "a b:1", `${"a".repeat(300)}:1`, "-bad-.com:1", "[::1:80"]) {
    await invalid(t, client.registerColony({ ...colony, endpoints: [":1", bad] }), /^endpoints\[1\] ".*" is invalid: use host:port/);
  }
  await invalid(t, client.registerAgent({ agentId: "a", meshId: "m", pubkey: KEY_1, endpoints: ["nope"] }), /endpoints\[0\]/);
});

t.test("observed_endpoint: an IP, port 0-65535, protocol udp, tcp or empty", async (t) => {
  const { client } = createServiceFixture();
  t.equal((await client.registerColony({ ...colony, observedEndpoint: { ip: "203.0.113.5", port: 0, protocol: "" } })).success, true);
  await invalid(t, client.registerColony({ ...colony, observedEndpoint: { ip: "example.org", port: 1 } }), /observed_endpoint.ip "example.org" is not an IPv4 or IPv6 address/);
  await invalid(t, client.registerColony({ ...colony, observedEndpoint: { ip: "203.0.113.5", port: 70000 } }), /observed_endpoint.port 70000 is invalid: ports are 0-65535/);
  await invalid(t, client.registerColony({ ...colony, observedEndpoint: { ip: "203.0.113.5", port: 1, protocol: "sctp" } }), /observed_endpoint.protocol "sctp" is invalid: use udp, tcp/);
  await invalid(t, client.registerAgent({ agentId: "a", meshId: "m", pubkey: KEY_1, observedEndpoint: { ip: "x", port: 5 } }), /observed_endpoint.ip/);
});

t.test("metadata: at most 32 entries, keys 1-64 characters, values at most 512 bytes, 4 KiB in all", async (t) => {
  const { client } = createServiceFixture();
  const many = Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`k${i}`, "v"]));
  await invalid(t, client.registerColony({ ...colony, metadata: many }), /metadata has more than 32 entries/);
  await invalid(t, client.registerColony({ ...colony, metadata: { ["k".repeat(65)]: "v" } }), /metadata key "k+…" is invalid: keys are 1-64 characters/);
  await invalid(t, client.registerColony({ ...colony, metadata: { "": "v" } }), /metadata key "" is invalid/);
  await invalid(t, client.registerColony({ ...colony, metadata: { k: "é".repeat(257) } }), /metadata\["k"\] is 514 bytes; values are at most 512 bytes/);
  const big = Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`k${i}`, "v".repeat(500)]));
  await invalid(t, client.registerColony({ ...colony, metadata: big }), /metadata is 5020 bytes in all; at most 4096/);
  await invalid(t, client.registerAgent({ agentId: "a", meshId: "m", pubkey: KEY_1, endpoints: [":1"], metadata: many }), /metadata has more/);
});

t.test("mesh addresses, ports and the public endpoint", async (t) => {
  const { client } = createServiceFixture();
  await invalid(t, client.registerColony({ ...colony, meshIpv4: "fd00::1" }), /mesh_ipv4 "fd00::1" is not an IPv4 address/);
  await invalid(t, client.registerColony({ ...colony, meshIpv6: "10.0.0.1" }), /mesh_ipv6 "10.0.0.1" is not an IPv6 address/);
  await invalid(t, client.registerColony({ ...colony, connectPort: 65536 }), /connect_port 65536 is invalid/);
  await invalid(t, client.registerColony({ ...colony, publicPort: 4_000_000_000 }), /public_port 4000000000 is invalid/);
  await invalid(t, client.registerColony({ ...colony, publicEndpoint: { url: "ftp://x" } }), /public_endpoint.url "ftp:\/\/x" is invalid: use an http\(s\) URL/);
  await invalid(t, client.registerColony({ ...colony, publicEndpoint: { url: `https://x/${"a".repeat(2048)}` } }), /public_endpoint.url/);
  await invalid(t, client.registerColony({ ...colony, publicEndpoint: { caCert: "c".repeat(16 * 1024 + 1) } }), /ca_cert is 16385 bytes; at most 16384/);
  await invalid(
    t,
    client.registerColony({ ...colony, publicEndpoint: { caFingerprint: { algorithm: FingerprintAlgorithm.SHA256, value: new Uint8Array(31) } } }),
    /ca_fingerprint.value is 31 bytes; a SHA256 fingerprint is 32 bytes/,
  );
  const ok = await client.registerColony({
    ...colony,
    meshIpv4: "100.64.0.1",
    meshIpv6: "fd7a::1",
    publicEndpoint: { url: "https://colony.example.org:8443/", caFingerprint: { algorithm: FingerprintAlgorithm.SHA256, value: new Uint8Array(32) } },
  });
  t.equal(ok.success, true);
});

t.test("public_endpoint.url must parse as a URL at all", async (t) => {
  const { client } = createServiceFixture();
  for (const url of ["https://", "//colony.example.org", "https://colony example.org", "http://[::1"]) {
    await invalid(t, client.registerColony({ ...colony, publicEndpoint: { url } }), `public_endpoint.url ${JSON.stringify(url)} is invalid: use an http(s) URL`);
  }
});

t.test("public_endpoint.updated_at must be a Timestamp JSON can express: years 1-9999, nanos 0-999999999", async (t) => {
  const { client } = createServiceFixture();
  const min = -62_135_596_800n; // 0001-01-01T00:00:00Z
  const max = 253_402_300_799n; // 9999-12-31T23:59:59Z
  for (const updatedAt of [
    { seconds: max + 1n, nanos: 0 },
    { seconds: min - 1n, nanos: 0 },
    { seconds: 0n, nanos: -1 },
    { seconds: 0n, nanos: 1_000_000_000 },
  ]) {
    await invalid(
      t,
      client.registerColony({ ...colony, publicEndpoint: { updatedAt } }),
      /^public_endpoint\.updated_at is out of range: seconds must lie in 0001-01-01\.\.9999-12-31 \(-62135596800\.\.253402300799\) and nanos in 0\.\.999999999$/,
    );
  }
  for (const updatedAt of [
    { seconds: max, nanos: 999_999_999 },
    { seconds: min, nanos: 0 },
  ]) {
    t.equal((await client.registerColony({ ...colony, publicEndpoint: { updatedAt } })).success, true, `${updatedAt.seconds}s is in range`);
  }
});

t.test("required fields: an empty one is named", async (t) => {
  const { client } = createServiceFixture({ relays: ["198.51.100.1:1"] });
  await invalid(t, client.registerColony({ ...colony, meshId: "" }), /^mesh_id is required$/);
  await invalid(t, client.registerColony({ ...colony, pubkey: "" }), /^pubkey is required$/);
  await invalid(t, client.releaseRelay({ sessionId: "" }), /^session_id is required$/);
});

t.test("relay and token fields", async (t) => {
  const { client } = createServiceFixture({ relays: ["198.51.100.1:1"] });
  await invalid(t, client.requestRelay({ meshId: "m", agentPubkey: KEY_1, colonyPubkey: "x" }), /^colony_pubkey "x"/);
  await invalid(t, client.releaseRelay({ sessionId: "s".repeat(129) }), /session_id ".*" is too long: at most 128/);
  await invalid(t, client.releaseRelay({ sessionId: "s", meshId: "bad mesh" }), /mesh_id "bad mesh" is invalid/);
  await invalid(t, client.createBootstrapToken({ agentId: "a", colonyId: "c", intent: "i".repeat(65) }), /intent ".*" is too long: at most 64/);
  await invalid(t, client.createBootstrapToken({ agentId: "a", colonyId: "c", reefId: "r".repeat(65) }), /reef_id/);
  t.ok((await client.requestRelay({ meshId: "m", agentPubkey: KEY_1, colonyPubkey: KEY_2 })).sessionId);
});

t.test("a refused registration never changes the registry", async (t) => {
  const { client, registry } = createServiceFixture();
  await client.registerColony(colony);
  const before = registry.lookupColony("mesh");
  await client.registerColony({ ...colony, endpoints: ["bad"] }).catch(() => undefined);
  await client.registerColony({ ...colony, metadata: { "": "" } }).catch(() => undefined);
  t.equal(registry.lookupColony("mesh"), before, "same lease object");
  t.same({ ...registry.counts(), bytes: undefined }, { colonies: 1, agents: 0, relaySessions: 0, bytes: undefined });
  t.equal(registry.counts().bytes, before?.bytes, "only the accepted colony's bytes");
});
