import t from "tap";
import { discoveryEntrySizes, stringBytes } from "../../src/service/entry-size.js";

const colony = (extra: object = {}) => ({
  endpoints: [":51820"],
  meshIpv4: "",
  meshIpv6: "",
  connectPort: 0,
  metadata: {},
  observedEndpoint: undefined,
  publicPort: 0,
  publicEndpoint: undefined,
  ...extra,
});

t.test("a string costs a header plus 1 byte per Latin-1 character, 2 otherwise, in 8-byte steps", async (t) => {
  t.equal(stringBytes(""), 20);
  t.equal(stringBytes("a"), 28);
  t.equal(stringBytes("abcdefgh"), 28);
  t.equal(stringBytes("abcdefghi"), 36);
  t.equal(stringBytes("é".repeat(8)), 28, "Latin-1 is one byte a character");
  t.equal(stringBytes("ж".repeat(8)), 36, "beyond Latin-1, two");
  t.equal(stringBytes("x".repeat(1000) + "ж"), 20 + 2008, "one character past Latin-1 makes the whole string two-byte");
});

t.test("every part of a colony adds to its estimate", async (t) => {
  const base = discoveryEntrySizes.colony("m", "k", colony());
  t.ok(base > 400, `a minimal colony still costs its lease, map and index entries (${base})`);
  const grows = (name: string, extra: object) => t.ok(discoveryEntrySizes.colony("m", "k", colony(extra)) > base, name);
  grows("endpoints", { endpoints: [":51820", "203.0.113.1:51820"] });
  grows("mesh addresses", { meshIpv4: "10.0.0.1", meshIpv6: "fd00::1" });
  grows("metadata", { metadata: { region: "eu" } });
  grows("an observed endpoint", { observedEndpoint: { ip: "203.0.113.1", port: 1, protocol: "udp" } });
  grows("a public endpoint", { publicEndpoint: { enabled: true, url: "https://x.example", caCert: "" } });
  const full = discoveryEntrySizes.colony("m", "k", colony({ publicEndpoint: { url: "u", caFingerprint: { value: new Uint8Array(32) }, updatedAt: { seconds: 1n } } }));
  const bare = discoveryEntrySizes.colony("m", "k", colony({ publicEndpoint: { url: "u" } }));
  t.equal(full - bare, 56 + 32 + 32 + 56, "a fingerprint and a timestamp are counted too");
  t.equal(discoveryEntrySizes.colony("m".repeat(100), "k", colony()) - base, stringBytes("m".repeat(100)) - stringBytes("m"), "the mesh id");
  const metadata = discoveryEntrySizes.colony("m", "k", colony({ metadata: { key: "value" } })) - base;
  t.equal(metadata, 24 + stringBytes("key") + stringBytes("value"), "a metadata entry: a property and its two strings");
});

t.test("an agent counts both ids twice (its composite key), a relay session its ids and keys", async (t) => {
  const agent = (meshId: string, agentId: string) =>
    discoveryEntrySizes.agent(meshId, agentId, "k", { endpoints: [], metadata: {}, observedEndpoint: undefined });
  t.equal(agent("m", "a".repeat(100)) - agent("m", "a"), 2 * (stringBytes("a".repeat(100)) - stringBytes("a")));
  t.ok(
    discoveryEntrySizes.agent("m", "a", "k", { endpoints: [":1"], metadata: { a: "b" }, observedEndpoint: { ip: "198.51.100.1" } }) > agent("m", "a"),
    "its endpoints, metadata and observed endpoint",
  );
  const relay = { id: "r:1", host: "r", port: 1 };
  const small = discoveryEntrySizes.relay("s", "m", { relay, agentPubkey: "a", colonyPubkey: "c" });
  t.equal(discoveryEntrySizes.relay("s", "m", { relay, agentPubkey: "a".repeat(44), colonyPubkey: "c" }) - small, stringBytes("a".repeat(44)) - stringBytes("a"));
});

t.test("fields an init shape leaves out count as empty", async (t) => {
  const base = discoveryEntrySizes.colony("m", "k", colony());
  t.equal(discoveryEntrySizes.colony("m", "k", colony({ observedEndpoint: {} })) - base, 56 + 2 * stringBytes(""));
  t.equal(discoveryEntrySizes.colony("m", "k", colony({ publicEndpoint: {} })) - base, 56 + 2 * stringBytes(""));
  t.equal(discoveryEntrySizes.colony("m", "k", colony({ publicEndpoint: { caFingerprint: {} } })) - base, 56 + 2 * stringBytes("") + 56 + 32);
});
