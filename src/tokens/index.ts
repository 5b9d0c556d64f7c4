// Bootstrap tokens: signing-key loading, EdDSA JWT minting and the JWKS; registration proofs (X25519). Pure apart from the
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
export {
  SERVICE_KEY_INFO,
  clampX25519,
  decodeX25519PublicKey,
  deriveServiceKey,
  readWireGuardPrivateKey,
  x25519PrivateKey,
  type KeyTextResult,
  type X25519PrivateKey,
} from "./x25519.js";
export { canonicalRequestBytes, type ProvableRequest } from "./canonical-request.js";
export {
  PROOF_HEADER,
  PROOF_LABEL,
  PROOF_VERSIONS,
  PROVEN_HEADER,
  REQUIRE_PROOF,
  createProofKeyCache,
  createRegistrationProof,
  proofInput,
  proofKey,
  verifyRegistrationProof,
  type ProofKeyCache,
  type ProofResult,
  type RequireProof,
  type VerifyProofOptions,
} from "./registration-proof.js";
