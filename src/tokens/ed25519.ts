// The one place that talks to @noble/ed25519. Its synchronous API needs a SHA-512; we give it
// node:crypto's (the project does not depend on @noble/hashes). The hook is installed on first use,
// not at import, and only when nobody has installed one already.
import { createHash } from "node:crypto";
import * as ed from "@noble/ed25519";

function nodeSha512(message: Uint8Array): Uint8Array<ArrayBuffer> {
  return new Uint8Array(createHash("sha512").update(message).digest());
}

function ensureSyncSha512(): void {
  if (ed.hashes.sha512 === undefined) {
    ed.hashes.sha512 = nodeSha512;
  }
}

/** The 32-byte public key of a 32-byte RFC 8032 seed. */
export function derivePublicKey(seed: Uint8Array): Uint8Array {
  ensureSyncSha512();
  return ed.getPublicKey(seed);
}

/** A synchronous signing function bound to `seed`; the returned signature is 64 bytes. */
export function createEd25519Signer(seed: Uint8Array): (message: Uint8Array) => Uint8Array {
  ensureSyncSha512();
  const secret = Uint8Array.from(seed);
  return (message) => ed.sign(message, secret);
}

/** True when `bytes` is a canonical encoding of an Ed25519 point that is not of small order. */
export function isUsablePublicKey(bytes: Uint8Array): boolean {
  try {
    return !ed.Point.fromBytes(bytes, false).isSmallOrder();
  } catch {
    return false;
  }
}

/** Byte equality for public values only: it is not constant-time. */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    if (a[i] !== b[i]) return false;
  }
  return true;
}
