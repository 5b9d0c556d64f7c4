import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from "node:crypto";
import t from "tap";
import * as ed from "@noble/ed25519";
import { bytesEqual, createEd25519Signer, derivePublicKey, isUsablePublicKey } from "../../src/tokens/ed25519.js";

// Read before any test runs: importing the module must not touch noble's hooks.
const hookAtImport = ed.hashes.sha512;

/** node:crypto's private key for an RFC 8032 seed (PKCS#8 DER: a fixed prefix, then the seed). */
function nodePrivateKey(seed: Uint8Array): KeyObject {
  const der = Buffer.concat([Buffer.from("302e020100300506032b657004220420", "hex"), seed]);
  return createPrivateKey({ key: der, format: "der", type: "pkcs8" });
}

/** node:crypto's raw 32-byte public key for a seed. */
function nodePublicKey(seed: Uint8Array): Uint8Array {
  const jwk = createPublicKey(nodePrivateKey(seed)).export({ format: "jwk" });
  return new Uint8Array(Buffer.from(String(jwk.x), "base64url"));
}

/** A fresh key pair from node:crypto: the seed and the raw public key. */
function nodeKeyPair(): { seed: Uint8Array; publicKey: Uint8Array } {
  const { privateKey } = generateKeyPairSync("ed25519");
  const jwk = privateKey.export({ format: "jwk" });
  return { seed: new Uint8Array(Buffer.from(String(jwk.d), "base64url")), publicKey: new Uint8Array(Buffer.from(String(jwk.x), "base64url")) };
}

/** 32 bytes, little-endian, as Ed25519 encodes y: `low` in byte 0, `fill` in bytes 1-30, `high` in byte 31. */
function encoding(low: number, fill: number, high: number): Uint8Array {
  const bytes = new Uint8Array(32).fill(fill);
  bytes[0] = low;
  bytes[31] = high;
  return bytes;
}

t.test("importing installs no SHA-512 hook; the first use installs node:crypto's", async (t) => {
  t.equal(hookAtImport, undefined, "nothing installed at import");
  const seed = new Uint8Array(32).fill(7);
  derivePublicKey(seed);
  const hook = ed.hashes.sha512;
  t.type(hook, "function", "installed on first use");
  const message = new TextEncoder().encode("coral");
  t.same([...(hook?.(message) ?? [])], [...createHash("sha512").update(message).digest()], "it is node:crypto's SHA-512");
  createEd25519Signer(seed);
  t.equal(ed.hashes.sha512, hook, "later uses keep the same hook");
});

t.test("a SHA-512 hook installed by someone else is kept and used", async (t) => {
  const installed = ed.hashes.sha512;
  if (installed === undefined) throw new Error("the previous test installs the hook");
  let calls = 0;
  const theirs = (message: Uint8Array) => {
    calls++;
    return installed(message);
  };
  ed.hashes.sha512 = theirs;
  try {
    const seed = new Uint8Array(32).fill(9);
    derivePublicKey(seed);
    createEd25519Signer(seed)(new Uint8Array([1, 2, 3]));
    t.equal(ed.hashes.sha512, theirs, "not replaced");
    t.ok(calls >= 2, `their hook did the hashing (${calls} calls)`);
  } finally {
    ed.hashes.sha512 = installed;
  }
});

t.test("derivePublicKey agrees with node:crypto", async (t) => {
  const seeds = [new Uint8Array(32), new Uint8Array(32).fill(0xff), Uint8Array.from({ length: 32 }, (_, i) => i), nodeKeyPair().seed];
  for (const seed of seeds) {
    const publicKey = derivePublicKey(seed);
    t.equal(publicKey.length, 32);
    t.same([...publicKey], [...nodePublicKey(seed)], `seed ${Buffer.from(seed).toString("hex").slice(0, 8)}...`);
  }
  const pair = nodeKeyPair();
  t.same([...derivePublicKey(pair.seed)], [...pair.publicKey], "a key pair node:crypto generated");
});

t.test("signatures are 64 bytes, verify with node:crypto and equal node:crypto's (Ed25519 is deterministic)", async (t) => {
  const { seed, publicKey } = nodeKeyPair();
  const signer = createEd25519Signer(seed);
  const nodePublic = createPublicKey(nodePrivateKey(seed));
  for (const text of ["", "header.payload", "x".repeat(1000)]) {
    const message = new TextEncoder().encode(text);
    const signature = signer(message);
    t.equal(signature.length, 64, `${text.length}-byte message`);
    t.ok(verify(null, message, nodePublic, signature), "node:crypto verifies it");
    t.same([...signature], [...sign(null, message, nodePrivateKey(seed))], "the same bytes node:crypto signs");
    t.notOk(verify(null, new TextEncoder().encode(`${text}!`), nodePublic, signature), "it does not verify another message");
  }
  t.same([...derivePublicKey(seed)], [...publicKey]);
});

t.test("the signer keeps its own copy of the seed", async (t) => {
  const seed = new Uint8Array(32).fill(3);
  const message = new TextEncoder().encode("m");
  const expected = sign(null, message, nodePrivateKey(seed));
  const signer = createEd25519Signer(seed);
  seed.fill(4);
  t.same([...signer(message)], [...expected], "changing the caller's seed afterwards changes nothing");
});

t.test("a real public key is usable", async (t) => {
  for (let i = 0; i < 5; i++) t.ok(isUsablePublicKey(nodeKeyPair().publicKey));
  t.ok(isUsablePublicKey(encoding(3, 0, 0)), "the point with y = 3");
});

t.test("small-order points are not usable", async (t) => {
  t.notOk(isUsablePublicKey(encoding(1, 0, 0)), "the identity (y = 1)");
  t.notOk(isUsablePublicKey(encoding(0, 0, 0)), "y = 0, order 4");
  t.notOk(isUsablePublicKey(encoding(0xec, 0xff, 0x7f)), "y = -1, order 2");
});

t.test("bytes that are no canonical point encoding are not usable, and nothing is thrown", async (t) => {
  t.notOk(isUsablePublicKey(encoding(2, 0, 0)), "y = 2 is not on the curve");
  t.notOk(isUsablePublicKey(encoding(0xf0, 0xff, 0x7f)), "y = p + 3: a non-canonical spelling of the usable y = 3");
  t.notOk(isUsablePublicKey(new Uint8Array(31)), "31 bytes");
  t.notOk(isUsablePublicKey(new Uint8Array(33)), "33 bytes");
  t.notOk(isUsablePublicKey(new Uint8Array(0)), "no bytes");
});

t.test("bytesEqual compares length and every byte", async (t) => {
  t.ok(bytesEqual(new Uint8Array(0), new Uint8Array(0)), "empty");
  t.ok(bytesEqual(Uint8Array.of(1, 2, 3), Uint8Array.of(1, 2, 3)), "same bytes");
  t.notOk(bytesEqual(Uint8Array.of(1, 2, 3), Uint8Array.of(1, 2)), "a prefix");
  t.notOk(bytesEqual(Uint8Array.of(1, 2), Uint8Array.of(1, 2, 3)), "longer");
  t.notOk(bytesEqual(Uint8Array.of(1, 2, 3), Uint8Array.of(1, 2, 4)), "the last byte differs");
  t.notOk(bytesEqual(Uint8Array.of(0, 2, 3), Uint8Array.of(1, 2, 3)), "the first byte differs");
  t.ok(bytesEqual(Uint8Array.of(9, 1, 2).subarray(1), Uint8Array.of(1, 2)), "views compare by their own bytes");
});
