import { encodeBase64Url } from "./base64.js";
import { createEd25519Signer } from "./ed25519.js";
import type { SigningKey } from "./signing-key.js";

/** `iss` of every bootstrap token. */
export const TOKEN_ISSUER = "coral-discovery";
/** `aud` of every bootstrap token (always an array). */
export const TOKEN_AUDIENCE: readonly string[] = ["coral-colony"];

export interface TokenSignerOptions {
  /** The key to sign with; its `kid` goes into every header. */
  key: SigningKey;
  /** Token lifetime in whole seconds: `exp = iat + ttlSeconds` (`--token-ttl`; the wire contract says 60). */
  ttlSeconds: number;
  /** Current time in milliseconds since the Unix epoch (e.g. `Date.now`). `iat` is its floor in seconds. */
  now: () => number;
  /** A fresh random UUID v4 per call (e.g. node:crypto `randomUUID`), used as `jti`. */
  randomUUID: () => string;
}

/** Who the token is for. `reefId` and `intent` are optional and default to "". */
export interface BootstrapClaims {
  agentId: string;
  colonyId: string;
  reefId?: string;
  intent?: string;
}

export interface SignedToken {
  /** Compact JWS: `base64url(header).base64url(claims).base64url(signature)`. */
  jwt: string;
  /** The token's `exp`, in Unix seconds (the RPC's `expires_at`). */
  expiresAt: number;
}

export interface TokenSigner {
  /** The signing key's id, as put in every header. */
  readonly kid: string;
  /** Mints one token. Does not validate the claims: that happens at the RPC edge. */
  sign(claims: BootstrapClaims): SignedToken;
}

/** Creates an EdDSA (Ed25519) JWT signer for bootstrap tokens. */
export function createTokenSigner(options: TokenSignerOptions): TokenSigner {
  const { key, now, randomUUID } = options;
  const ttlSeconds = options.ttlSeconds;
  if (!Number.isSafeInteger(ttlSeconds) || ttlSeconds <= 0) {
    throw new RangeError(`ttlSeconds must be a positive whole number of seconds, got ${ttlSeconds}`);
  }
  const signBytes = createEd25519Signer(key.seed);
  // The header never changes: encode it once.
  const headerPrefix = `${encodeJson({ alg: "EdDSA", typ: "JWT", kid: key.kid })}.`;

  return {
    kid: key.kid,
    sign(claims) {
      const iat = Math.floor(now() / 1000);
      const exp = iat + ttlSeconds;
      const payload = encodeJson({
        iss: TOKEN_ISSUER,
        aud: TOKEN_AUDIENCE,
        sub: `agent:${claims.agentId}`,
        iat,
        exp,
        jti: randomUUID(),
        reef_id: claims.reefId ?? "",
        colony_id: claims.colonyId,
        agent_id: claims.agentId,
        intent: claims.intent ?? "",
      });
      const signingInput = headerPrefix + payload;
      // The signing input is pure ASCII (base64url and "."), so latin1 is its exact byte form.
      const signature = signBytes(Buffer.from(signingInput, "latin1"));
      return { jwt: `${signingInput}.${encodeBase64Url(signature)}`, expiresAt: exp };
    },
  };
}

function encodeJson(value: unknown): string {
  return Buffer.from(JSON.stringify(value), "utf8").toString("base64url");
}
