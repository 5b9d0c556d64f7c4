// Bootstrap tokens: signing-key loading, EdDSA JWT minting and the JWKS. Pure apart from the
// defaults of `generateSigningKey`/`generateKid` (real clock and randomness, both injectable).
export {
  KeyConfigError,
  formatSigningKey,
  generateSigningKey,
  parsePreviousKeys,
  parseSigningKey,
  type GenerateSigningKeyOptions,
  type PublicKeyEntry,
  type SigningKey,
} from "./signing-key.js";
export { generateKid, type KidSource } from "./kid.js";
export {
  TOKEN_AUDIENCE,
  TOKEN_ISSUER,
  createTokenSigner,
  type BootstrapClaims,
  type SignedToken,
  type TokenSigner,
  type TokenSignerOptions,
} from "./jwt.js";
export { buildJwks, buildJwksJson, type Jwk, type Jwks } from "./jwks.js";
