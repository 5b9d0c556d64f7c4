#!/usr/bin/env node
// Checks the registration-proof test vector of the README (the block between
// <!-- proof-vector --> and <!-- /proof-vector -->) with node:crypto alone:
// nothing of coral-discovery and no protobuf library, the way a Go or Python
// client would implement the construction from the README. It recomputes every
// derived line from the inputs (signing key seed, colony private key, request,
// timestamp) and exits 1 when one differs. `--print` prints the block instead.
//
//   node scripts/verify-proof-vector.mjs [--print] [README path]
import { createHash, createHmac, createPrivateKey, createPublicKey, diffieHellman, hkdfSync } from "node:crypto";
import { readFileSync } from "node:fs";

const args = process.argv.slice(2);
const print = args.includes("--print");
const readmePath = args.find((a) => a !== "--print") ?? new URL("../README.md", import.meta.url);

// ---- inputs of the vector ------------------------------------------------
const INPUTS = {
  signing_key_seed: "hXIqNNX5M2H9WuNmTPcAYgwRSWpJMqONpL3HPPoxsdo=", // the wire contract's signing key test vector
  colony_private_key: "IDS3tCCC8Guzux943C01KxSBZAmI4CVaSijO06CtmHI=", // SHA-256("coral-discovery test colony"), clamped
  timestamp: "1767225600",
};
const REQUEST = {
  meshId: "prod-mesh",
  endpoints: ["203.0.113.7:41820", "[2001:db8::7]:41820"],
  meshIpv4: "10.42.0.1",
  connectPort: 9000,
  metadata: { zone: "eu-west", 9: "nine", 10: "ten" },
};

// ---- X25519, HKDF, HMAC with node:crypto -------------------------------
const b64 = (bytes) => Buffer.from(bytes).toString("base64");
const hex = (bytes) => Buffer.from(bytes).toString("hex");
const clamp = (raw) => {
  const key = Buffer.from(raw);
  key[0] &= 248;
  key[31] = (key[31] & 127) | 64;
  return key;
};
const privateKeyObject = (raw) =>
  createPrivateKey({ key: Buffer.concat([Buffer.from("302e020100300506032b656e04220420", "hex"), raw]), format: "der", type: "pkcs8" });
const publicKeyOf = (raw) => Buffer.from(createPublicKey(privateKeyObject(raw)).export({ format: "jwk" }).x, "base64url");
const x25519 = (privateRaw, publicRaw) =>
  diffieHellman({
    privateKey: privateKeyObject(privateRaw),
    publicKey: createPublicKey({ key: Buffer.concat([Buffer.from("302a300506032b656e032100", "hex"), publicRaw]), format: "der", type: "spki" }),
  });
const hkdf = (ikm, info) => Buffer.from(hkdfSync("sha256", ikm, Buffer.alloc(0), info, 32));

// ---- protobuf, by hand: deterministic encoding of RegisterColonyRequest --
const varint = (n) => {
  const out = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  out.push(n);
  return Buffer.from(out);
};
const lengthDelimited = (field, bytes) => Buffer.concat([varint((field << 3) | 2), varint(bytes.length), bytes]);
const string = (field, text) => (text === "" ? Buffer.alloc(0) : lengthDelimited(field, Buffer.from(text, "utf8")));
const uint32 = (field, n) => (n === 0 ? Buffer.alloc(0) : Buffer.concat([varint(field << 3), varint(n)]));
const entry = (key, value) =>
  Buffer.concat([lengthDelimited(1, Buffer.from(key, "utf8")), lengthDelimited(2, Buffer.from(value, "utf8"))]);
function canonicalColonyRequest(req) {
  // Map keys sorted bytewise (UTF-8): "10" < "9" < "zone", unlike JavaScript's property order.
  const keys = Object.keys(req.metadata).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  return Buffer.concat([
    string(1, req.meshId),
    string(2, req.pubkey),
    ...req.endpoints.map((e) => lengthDelimited(3, Buffer.from(e, "utf8"))),
    string(4, req.meshIpv4),
    uint32(6, req.connectPort),
    ...keys.map((k) => lengthDelimited(7, entry(k, req.metadata[k]))),
  ]);
}

// ---- the construction --------------------------------------------------
const seed = Buffer.from(INPUTS.signing_key_seed, "base64");
const servicePrivate = clamp(hkdf(seed, "coral-discovery service key v1"));
const servicePublic = publicKeyOf(servicePrivate);
const colonyPrivate = Buffer.from(INPUTS.colony_private_key, "base64");
const colonyPublic = publicKeyOf(colonyPrivate);
const request = { ...REQUEST, pubkey: b64(colonyPublic) };
const canonical = canonicalColonyRequest(request);
const shared = x25519(colonyPrivate, servicePublic);
if (!shared.equals(x25519(servicePrivate, colonyPublic))) throw new Error("X25519 is not symmetric?");
const macKey = hkdf(shared, "coral-discovery registration v1");
const input = [
  "coral-discovery registration v1",
  "/coral.discovery.v1.DiscoveryService/RegisterColony",
  request.meshId,
  "", // agent_id: empty for colonies
  request.pubkey,
  INPUTS.timestamp,
  createHash("sha256").update(canonical).digest("hex"),
].join("\n");
const mac = createHmac("sha256", macKey).update(input).digest();

const requestJson = JSON.stringify({
  meshId: request.meshId,
  pubkey: request.pubkey,
  endpoints: request.endpoints,
  meshIpv4: request.meshIpv4,
  connectPort: request.connectPort,
  metadata: { zone: "eu-west", 9: "nine", 10: "ten" },
});
const lines = [
  ["signing_key_seed", INPUTS.signing_key_seed],
  ["service_private_key", b64(servicePrivate)],
  ["service_public_key", b64(servicePublic)],
  ["colony_private_key", INPUTS.colony_private_key],
  ["colony_public_key", b64(colonyPublic)],
  ["request", requestJson],
  ["canonical_bytes", hex(canonical)],
  ["canonical_sha256", createHash("sha256").update(canonical).digest("hex")],
  ["timestamp", INPUTS.timestamp],
  ["shared_secret", hex(shared)],
  ["mac_key", hex(macKey)],
  ["mac_input", JSON.stringify(input)],
  ["mac", hex(mac)],
  ["header", `Coral-Registration-Proof: v1.${INPUTS.timestamp}.${mac.toString("base64url")}`],
];
const block = lines.map(([name, value]) => `${name.padEnd(20)} ${value}`).join("\n");

if (print) {
  console.log(block);
  process.exit(0);
}
const readme = readFileSync(readmePath, "utf8");
const found = /<!-- proof-vector -->\n```text\n([\s\S]*?)\n```\n<!-- \/proof-vector -->/.exec(readme);
if (found === null) {
  console.error("verify-proof-vector: the README has no <!-- proof-vector --> block");
  process.exit(1);
}
const stated = new Map(found[1].split("\n").map((line) => [line.slice(0, 20).trim(), line.slice(21)]));
let bad = 0;
for (const [name, value] of lines) {
  if (stated.get(name) !== value) {
    console.error(`verify-proof-vector: ${name}: README says ${JSON.stringify(stated.get(name))}, node:crypto computes ${JSON.stringify(value)}`);
    bad++;
  }
}
if (bad > 0) process.exit(1);
console.log(`verify-proof-vector: all ${lines.length} lines of the README's vector check out with node:crypto alone`);
