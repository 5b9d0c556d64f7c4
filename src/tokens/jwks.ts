import { encodeBase64Url } from "./base64.js";
import { KeyConfigError, type PublicKeyEntry, type SigningKey } from "./signing-key.js";

/** One Ed25519 public key in JWK form (RFC 8037). */
export interface Jwk {
  readonly kid: string;
  readonly kty: "OKP";
  readonly crv: "Ed25519";
  /** The 32-byte public key, base64url without padding. */
  readonly x: string;
  readonly use: "sig";
  readonly alg: "EdDSA";
}

/** The body of `GET /.well-known/jwks.json`. */
export interface Jwks {
  readonly keys: readonly Jwk[];
}

/**
 * The key set verifiers fetch: the current key first, then the previous ones in order. Only public
 * keys are read, so a `SigningKey` can be passed as `current`. Throws `KeyConfigError` (source
 * `"JWKS"`) when a kid appears twice, since verifiers pick keys by kid.
 */
export function buildJwks(current: SigningKey | PublicKeyEntry, previous: readonly PublicKeyEntry[] = []): Jwks {
  const seen = new Set<string>();
  const keys = [current, ...previous].map((entry) => {
    if (seen.has(entry.kid)) {
      throw new KeyConfigError(
        "JWKS",
        `kid ${JSON.stringify(entry.kid)} is used by more than one key (current and previous keys); key ids must be unique`,
      );
    }
    seen.add(entry.kid);
    if (entry.publicKey.length !== 32) {
      throw new RangeError(`public key ${JSON.stringify(entry.kid)} is ${entry.publicKey.length} bytes, expected 32`);
    }
    const jwk: Jwk = { kid: entry.kid, kty: "OKP", crv: "Ed25519", x: encodeBase64Url(entry.publicKey), use: "sig", alg: "EdDSA" };
    return Object.freeze(jwk);
  });
  return Object.freeze({ keys: Object.freeze(keys) });
}

/** `buildJwks` serialized once, for a route that serves it as a constant body. */
export function buildJwksJson(current: SigningKey | PublicKeyEntry, previous: readonly PublicKeyEntry[] = []): string {
  return JSON.stringify(buildJwks(current, previous));
}
