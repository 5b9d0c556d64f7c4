import t from "tap";
import { createPrivateKey, createPublicKey, diffieHellman, generateKeyPairSync, hkdfSync } from "node:crypto";
import {
  clampX25519,
  decodeX25519PublicKey,
  deriveServiceKey,
  readWireGuardPrivateKey,
  SERVICE_KEY_INFO,
  x25519PrivateKey,
} from "../../src/tokens/x25519.js";

/** node:crypto's own view of a raw key pair, independent of the module. */
function nodePair() {
  const { privateKey, publicKey } = generateKeyPairSync("x25519");
  const raw = (jwk: { d?: string; x?: string }, field: "d" | "x") => new Uint8Array(Buffer.from(jwk[field] as string, "base64url"));
  return { privateKey, publicKey, d: raw(privateKey.export({ format: "jwk" }), "d"), x: raw(publicKey.export({ format: "jwk" }), "x") };
}

t.test("a raw private key gives node:crypto's public key and the shared secret both sides agree on", async (t) => {
  const a = nodePair();
  const b = nodePair();
  const key = x25519PrivateKey(a.d);
  t.same([...key.publicKey], [...a.x], "the public key node:crypto derives");
  const shared = key.sharedSecret(b.x);
  t.equal(shared.length, 32);
  t.same([...shared], [...diffieHellman({ privateKey: b.privateKey, publicKey: a.publicKey })], "X25519(a, B) = X25519(b, A)");
});

t.test("bad sizes and low-order points are refused with a RangeError that says why", async (t) => {
  t.throws(() => x25519PrivateKey(new Uint8Array(31)), { name: "RangeError", message: "an X25519 private key is 32 bytes, got 31" });
  const key = x25519PrivateKey(nodePair().d);
  t.throws(() => key.sharedSecret(new Uint8Array(33)), { name: "RangeError", message: "an X25519 public key is 32 bytes, got 33" });
  const one = new Uint8Array(32);
  one[0] = 1;
  for (const [name, point] of [["zero", new Uint8Array(32)], ["one", one]] as const) {
    t.throws(() => key.sharedSecret(point), { name: "RangeError", message: /low-order X25519 point/ }, name);
  }
});

t.test("clamping is RFC 7748's, on a copy", async (t) => {
  const raw = new Uint8Array(32).fill(0xff);
  const clamped = clampX25519(raw);
  t.equal(clamped[0], 0xf8);
  t.equal(clamped[31], 0x7f);
  t.equal(raw[0], 0xff, "the input is untouched");
  t.equal(clampX25519(new Uint8Array(32))[31], 0x40);
});

t.test("the service key is HKDF-SHA256 of the signing seed, clamped: the README's vector", async (t) => {
  const seed = new Uint8Array(Buffer.from("hXIqNNX5M2H9WuNmTPcAYgwRSWpJMqONpL3HPPoxsdo=", "base64"));
  const derived = deriveServiceKey(seed);
  const expected = Buffer.from(hkdfSync("sha256", seed, Buffer.alloc(0), "coral-discovery service key v1", 32));
  expected[0] = (expected[0] as number) & 248;
  expected[31] = ((expected[31] as number) & 127) | 64;
  t.equal(SERVICE_KEY_INFO, "coral-discovery service key v1");
  t.equal(Buffer.from(derived).toString("base64"), expected.toString("base64"));
  t.equal(Buffer.from(derived).toString("base64"), "UKUjR7ylp3LMci5x5z0mHjZo14yWpWniFwt8rduD61M=");
  t.equal(Buffer.from(x25519PrivateKey(derived).publicKey).toString("base64"), "Vok7Gju/M07tvRrKfKS3J3Xz7httyRjzkrrLhRKlxx4=");
  const node = createPublicKey(
    createPrivateKey({ key: Buffer.concat([Buffer.from("302e020100300506032b656e04220420", "hex"), derived]), format: "der", type: "pkcs8" }),
  ).export({ format: "jwk" });
  t.equal(Buffer.from(node.x as string, "base64url").toString("base64"), "Vok7Gju/M07tvRrKfKS3J3Xz7httyRjzkrrLhRKlxx4=");
  t.not(Buffer.from(deriveServiceKey(new Uint8Array(32))).toString("base64"), Buffer.from(derived).toString("base64"), "another seed, another key");
});

t.test("WireGuard private keys are read from wg genkey, wg-key and wg-quick texts; problems never quote the key", async (t) => {
  const key = "IDS3tCCC8Guzux943C01KxSBZAmI4CVaSijO06CtmHI=";
  const bytes = [...Buffer.from(key, "base64")];
  for (const text of [`${key}\n`, `  ${key}  `, `PrivateKey = ${key}\nPublicKey = abc\n`, `[Interface]\nAddress = 10.0.0.1/24\nprivatekey=${key}\n`]) {
    const read = readWireGuardPrivateKey(text);
    t.same(read.ok ? [...read.bytes] : read.problem, bytes, JSON.stringify(text));
  }
  const problems: [string, RegExp][] = [
    ["", /^is empty; give the base64 of a 32-byte WireGuard/],
    ["PrivateKey = \n", /^is empty/],
    ["not a key!", /^is not base64 or base64url: character " "/],
    ["AAAA", /^decodes to 3 bytes, not 32; give the base64/],
  ];
  for (const [text, problem] of problems) {
    const read = readWireGuardPrivateKey(text);
    t.match(read.ok ? "decoded" : read.problem, problem, JSON.stringify(text));
  }
  const secret = readWireGuardPrivateKey(`${key.slice(0, 40)}`);
  t.notMatch(secret.ok ? "" : secret.problem, key.slice(0, 40), "the key text is never quoted");
});

t.test("public keys on the wire: 32 bytes of base64, or undefined", async (t) => {
  t.equal(decodeX25519PublicKey("tGZy4L2LJCycJpyaptrrRoWiNrDYcNHgd6JU4u3a708=")?.length, 32);
  t.equal(decodeX25519PublicKey("tGZy4L2LJCycJpyaptrrRoWiNrDYcNHgd6JU4u3a708")?.length, 32, "unpadded");
  t.equal(decodeX25519PublicKey("AAAA"), undefined, "3 bytes");
  t.equal(decodeX25519PublicKey("not base64!"), undefined);
});
