// Registration proofs (v1): a colony or agent proves it holds the WireGuard
// private key of the pubkey it registers, with no PKI. Both sides compute the
// same X25519 secret (client private key x service public key = service
// private key x client public key), derive a MAC key from it and MAC the
// request. The construction, exactly (the README repeats it with a test vector):
//
//   header = "v1." || ts || "." || base64url_unpadded(mac)     (Coral-Registration-Proof)
//   ts     = Unix seconds, decimal, no sign, no leading zeros
//   shared = X25519(client_private, service_public)             (32 bytes)
//   key    = HKDF-SHA256(IKM = shared, salt = empty, info = "coral-discovery registration v1", L = 32)
//   input  = "coral-discovery registration v1" LF path LF mesh_id LF agent_id LF pubkey LF ts LF hex(SHA-256(canonical))
//   mac    = HMAC-SHA256(key, input)
//
// path is "/coral.discovery.v1.DiscoveryService/RegisterColony" or ".../RegisterAgent",
// agent_id is empty for colonies, pubkey is the request's pubkey text as sent,
// hex is lowercase, and canonical is canonicalRequestBytes (canonical-request.ts).
import { createHash, createHmac, hkdfSync, timingSafeEqual } from "node:crypto";
import { canonicalRequestBytes, type ProvableRequest } from "./canonical-request.js";
import { decodeX25519PublicKey, type X25519PrivateKey } from "./x25519.js";

/** The request header carrying a proof (gRPC: metadata key), lower-case. */
export const PROOF_HEADER = "coral-registration-proof";
/** The response header saying whether the entry is proven (`true` / `false`), lower-case. */
export const PROVEN_HEADER = "coral-registration-proven";
/** Proof versions this code makes and checks. */
export const PROOF_VERSIONS: readonly string[] = ["v1"];
/** The HKDF `info` of the MAC key, and the first line of the MAC input. */
export const PROOF_LABEL = "coral-discovery registration v1";

/** Which registrations must carry a proof (`--require-proof`). */
export const REQUIRE_PROOF = ["off", "colonies", "all"] as const;
export type RequireProof = (typeof REQUIRE_PROOF)[number];

const PATHS = {
  "coral.discovery.v1.RegisterColonyRequest": "/coral.discovery.v1.DiscoveryService/RegisterColony",
  "coral.discovery.v1.RegisterAgentRequest": "/coral.discovery.v1.DiscoveryService/RegisterAgent",
} as const;

const HEADER_SHAPE = "v1.<unix-seconds>.<base64url HMAC-SHA256, 43 characters>";

/** The bytes the MAC covers, for `request` at `timestamp` (the header's decimal text). */
export function proofInput(request: ProvableRequest, timestamp: string): Buffer {
  const digest = createHash("sha256").update(canonicalRequestBytes(request)).digest("hex");
  const agentId = request.$typeName === "coral.discovery.v1.RegisterAgentRequest" ? request.agentId : "";
  return Buffer.from([PROOF_LABEL, PATHS[request.$typeName], request.meshId, agentId, request.pubkey, timestamp, digest].join("\n"));
}

/** The MAC key of a shared X25519 secret. */
export function proofKey(sharedSecret: Uint8Array): Buffer {
  return Buffer.from(hkdfSync("sha256", sharedSecret, new Uint8Array(0), PROOF_LABEL, 32));
}

function mac(key: Buffer, request: ProvableRequest, timestamp: string): Buffer {
  return createHmac("sha256", key).update(proofInput(request, timestamp)).digest();
}

/**
 * MAC keys of pubkeys whose proofs verified (the X25519 agreement is most of
 * a proof's cost, and a colony renews with the same pubkey every minute).
 * Bounded: past `maxEntries` the least recently used key is dropped. Only
 * keys of verified proofs are kept, so nobody fills it without key pairs.
 */
export interface ProofKeyCache {
  get(pubkey: string): Buffer | undefined;
  set(pubkey: string, key: Buffer): void;
  readonly size: number;
}

export function createProofKeyCache(maxEntries: number): ProofKeyCache {
  const keys = new Map<string, Buffer>();
  return {
    get(pubkey) {
      const key = keys.get(pubkey);
      if (key !== undefined) {
        keys.delete(pubkey);
        keys.set(pubkey, key);
      }
      return key;
    },
    set(pubkey, key) {
      keys.delete(pubkey);
      keys.set(pubkey, key);
      if (keys.size > maxEntries) keys.delete(keys.keys().next().value as string);
    },
    get size() {
      return keys.size;
    },
  };
}

/**
 * The Coral-Registration-Proof value for `request`, made with the client's
 * private key (whose public key must be `request.pubkey`) and the service's
 * public key, at `nowSeconds` (Unix seconds).
 */
export function createRegistrationProof(request: ProvableRequest, clientKey: X25519PrivateKey, servicePublicKey: Uint8Array, nowSeconds: number): string {
  const timestamp = String(Math.floor(nowSeconds));
  return `v1.${timestamp}.${mac(proofKey(clientKey.sharedSecret(servicePublicKey)), request, timestamp).toString("base64url")}`;
}

export interface VerifyProofOptions {
  /** The service's private key. */
  readonly serviceKey: X25519PrivateKey;
  /** The service's clock, Unix seconds. */
  readonly nowSeconds: number;
  /** How far the proof's timestamp may be from `nowSeconds`, either way. */
  readonly maxSkewSeconds: number;
  /** MAC keys of pubkeys already proven with `serviceKey` (and only with it); none: every proof pays the X25519 agreement. */
  readonly keyCache?: ProofKeyCache;
}

export type ProofResult = { ok: true } | { ok: false; problem: string };

/**
 * Checks a Coral-Registration-Proof value against the decoded request. The
 * problem says what is wrong and what is expected; it quotes nothing secret.
 */
export function verifyRegistrationProof(header: string, request: ProvableRequest, options: VerifyProofOptions): ProofResult {
  const parts = header.split(".");
  if (parts.length !== 3) return { ok: false, problem: `is not ${HEADER_SHAPE}` };
  const [version, timestamp, encoded] = parts as [string, string, string];
  if (!PROOF_VERSIONS.includes(version)) {
    return { ok: false, problem: `has version ${JSON.stringify(version.slice(0, 16))}; this service supports ${PROOF_VERSIONS.join(", ")} (${HEADER_SHAPE})` };
  }
  if (!/^(0|[1-9][0-9]{0,14})$/.test(timestamp)) {
    return { ok: false, problem: `has timestamp ${JSON.stringify(timestamp.slice(0, 20))}: give Unix seconds in decimal, without sign or leading zeros (${HEADER_SHAPE})` };
  }
  if (!/^[A-Za-z0-9_-]{43}$/.test(encoded)) {
    return { ok: false, problem: `has a MAC that is not 43 characters of unpadded base64url (a 32-byte HMAC-SHA256; ${HEADER_SHAPE})` };
  }
  const skew = Number(timestamp) - options.nowSeconds;
  if (Math.abs(skew) > options.maxSkewSeconds) {
    return {
      ok: false,
      problem:
        `is stale: its timestamp ${timestamp} is ${Math.abs(skew)}s ${skew < 0 ? "behind" : "ahead of"} the service clock (${options.nowSeconds}); ` +
        `at most ${options.maxSkewSeconds}s either way is accepted (--proof-max-skew): make a fresh proof for each request and keep the clock in sync (NTP)`,
    };
  }
  const cached = options.keyCache?.get(request.pubkey);
  let key = cached;
  if (key === undefined) {
    const peer = decodeX25519PublicKey(request.pubkey);
    if (peer === undefined) return { ok: false, problem: "cannot be checked: the request's pubkey is not the base64 of a 32-byte X25519 (WireGuard) public key" };
    try {
      key = proofKey(options.serviceKey.sharedSecret(peer));
    } catch (error) {
      return { ok: false, problem: `cannot be checked: ${(error as Error).message}` };
    }
  }
  const expected = mac(key, request, timestamp);
  if (!timingSafeEqual(expected, Buffer.from(encoded, "base64url"))) {
    return {
      ok: false,
      problem:
        "does not match this request: make it with the WireGuard private key of the request's pubkey and the service public key of " +
        "GET /.well-known/coral-discovery.json, over the request exactly as sent (see the README's Registration proofs)",
    };
  }
  if (cached === undefined) options.keyCache?.set(request.pubkey, key);
  return { ok: true };
}
