// X25519 on raw 32-byte keys (WireGuard's key format) with node:crypto, and
// the derivation of the service's registration-proof key from the token
// signing key's seed. See the README's "Registration proofs".
import { createPrivateKey, createPublicKey, diffieHellman, hkdfSync } from "node:crypto";
import { decodeBase64 } from "./base64.js";

/** DER prefixes of an X25519 key (PKCS #8 private, SPKI public), up to the 32 raw bytes. */
const PKCS8_PREFIX = Buffer.from("302e020100300506032b656e04220420", "hex");
const SPKI_PREFIX = Buffer.from("302a300506032b656e032100", "hex");

/** HKDF-SHA256 `info` of the service key derived from the Ed25519 signing seed. */
export const SERVICE_KEY_INFO = "coral-discovery service key v1";

/** An X25519 private key, ready to agree on shared secrets. Never log it. */
export interface X25519PrivateKey {
  /** The 32-byte public key (what WireGuard calls the public key). */
  readonly publicKey: Uint8Array;
  /**
   * X25519(this key, `peer`): 32 bytes. Throws a RangeError when `peer` is not
   * 32 bytes or is a low-order point (the result would be all zero, which
   * anyone could compute: OpenSSL refuses it).
   */
  sharedSecret(peer: Uint8Array): Uint8Array;
}

/** Curve25519 clamping (RFC 7748 §5), as `wg genkey` applies it; returns a copy. */
export function clampX25519(raw: Uint8Array): Uint8Array {
  const key = Uint8Array.from(raw);
  key[0] = (key[0] as number) & 248;
  key[31] = ((key[31] as number) & 127) | 64;
  return key;
}

/** The key object of 32 raw private bytes (X25519 clamps them itself). */
export function x25519PrivateKey(raw: Uint8Array): X25519PrivateKey {
  if (raw.length !== 32) throw new RangeError(`an X25519 private key is 32 bytes, got ${raw.length}`);
  const key = createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, raw]), format: "der", type: "pkcs8" });
  const { x } = createPublicKey(key).export({ format: "jwk" });
  return {
    publicKey: new Uint8Array(Buffer.from(x as string, "base64url")),
    sharedSecret(peer) {
      if (peer.length !== 32) throw new RangeError(`an X25519 public key is 32 bytes, got ${peer.length}`);
      const publicKey = createPublicKey({ key: Buffer.concat([SPKI_PREFIX, peer]), format: "der", type: "spki" });
      try {
        return new Uint8Array(diffieHellman({ privateKey: key, publicKey }));
      } catch {
        throw new RangeError("the public key is a low-order X25519 point: no secret can be agreed with it");
      }
    },
  };
}

/**
 * The service's X25519 private key derived from the token signing key's
 * 32-byte Ed25519 seed: HKDF-SHA256(IKM = seed, salt = empty, info =
 * "coral-discovery service key v1", L = 32), clamped. Every instance with the
 * same signing key has the same service key.
 */
export function deriveServiceKey(ed25519Seed: Uint8Array): Uint8Array {
  return clampX25519(new Uint8Array(hkdfSync("sha256", ed25519Seed, new Uint8Array(0), SERVICE_KEY_INFO, 32)));
}

export type KeyTextResult = { ok: true; bytes: Uint8Array } | { ok: false; problem: string };

const KEY_RULE =
  "give the base64 of a 32-byte WireGuard (X25519) private key, as `wg genkey` or `coral-discovery wg-key` write it " +
  "(a file may hold the key alone or a `PrivateKey = <key>` line)";

/**
 * A WireGuard private key from text: the base64 key alone (`wg genkey`), or
 * the first `PrivateKey = <key>` line (`coral-discovery wg-key`, a wg-quick
 * config). Problems never quote the text: it is a secret.
 */
export function readWireGuardPrivateKey(text: string): KeyTextResult {
  const line = /^[ \t]*PrivateKey[ \t]*=(.*)$/im.exec(text);
  const candidate = (line === null ? text : (line[1] as string)).trim();
  if (candidate === "") return { ok: false, problem: `is empty; ${KEY_RULE}` };
  const decoded = decodeBase64(candidate);
  if (!decoded.ok) return { ok: false, problem: `${decoded.problem}; ${KEY_RULE}` };
  if (decoded.bytes.length !== 32) return { ok: false, problem: `decodes to ${decoded.bytes.length} bytes, not 32; ${KEY_RULE}` };
  return decoded;
}

/** 32 bytes from base64 (standard or url, padded or not), or undefined: for public keys on the wire. */
export function decodeX25519PublicKey(text: string): Uint8Array | undefined {
  const decoded = decodeBase64(text);
  return decoded.ok && decoded.bytes.length === 32 ? decoded.bytes : undefined;
}
