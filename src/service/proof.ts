// The service side of registration proofs: reads the Coral-Registration-Proof
// header of RegisterColony and RegisterAgent, checks it (the construction
// lives in src/tokens/registration-proof.ts) and says whether the
// registration is proven; the registry then applies the ownership rule.
import { Code, ConnectError } from "@connectrpc/connect";
import type { RegisterAgentRequest, RegisterColonyRequest } from "../../gen/coral/discovery/v1/discovery_pb.js";
import { createProofKeyCache, PROOF_HEADER, verifyRegistrationProof, type RequireProof, type X25519PrivateKey } from "../tokens/index.js";
import type { CallContext } from "./call.js";

export interface ProofCheckOptions {
  /** The service's X25519 key (its public half is in /.well-known/coral-discovery.json). */
  readonly serviceKey: X25519PrivateKey;
  /** How far a proof's timestamp may be from the service clock, seconds (`--proof-max-skew`). */
  readonly maxSkewSeconds: number;
  /** Default "off": registrations without a proof are accepted (unproven). */
  readonly require?: RequireProof;
  /** The clock, Unix ms. */
  readonly now: () => number;
}

/** Whether a registration is proven; throws `unauthenticated` for a bad proof, or a missing one that is required. */
export interface ProofCheck {
  colony(req: RegisterColonyRequest, ctx: CallContext): boolean;
  agent(req: RegisterAgentRequest, ctx: CallContext): boolean;
}

/**
 * Pubkeys whose MAC keys are kept (~150 bytes each): a renewal of one of them
 * skips the X25519 agreement, most of a proof's cost.
 */
export const PROOF_KEY_CACHE_ENTRIES = 10_000;

const HOW =
  "send the Coral-Registration-Proof header (made with the WireGuard private key of the pubkey and the service key of " +
  "GET /.well-known/coral-discovery.json; the coral-discovery client does it with wireguardPrivateKey)";

export function createProofCheck(options: ProofCheckOptions): ProofCheck {
  const { serviceKey, maxSkewSeconds, now } = options;
  const require = options.require ?? "off";
  const keyCache = createProofKeyCache(PROOF_KEY_CACHE_ENTRIES);
  function check(req: RegisterColonyRequest | RegisterAgentRequest, ctx: CallContext, required: boolean, what: string): boolean {
    const header = ctx.requestHeader(PROOF_HEADER);
    if (header === undefined || header === "") {
      if (required) throw new ConnectError(`this service requires a registration proof for ${what} (--require-proof ${require}): ${HOW}`, Code.Unauthenticated);
      return false;
    }
    const result = verifyRegistrationProof(header, req, { serviceKey, nowSeconds: Math.floor(now() / 1000), maxSkewSeconds, keyCache });
    if (!result.ok) throw new ConnectError(`the Coral-Registration-Proof header ${result.problem}`, Code.Unauthenticated);
    return true;
  }
  return {
    colony: (req, ctx) => check(req, ctx, require !== "off", "colonies"),
    agent: (req, ctx) => check(req, ctx, require === "all", "agents"),
  };
}
