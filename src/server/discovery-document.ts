// GET /.well-known/coral-discovery.json: what a client needs to prove its
// registrations (the service's X25519 public key, the proof versions and
// rules) and where the token verification keys are.
import type { FastifyInstance } from "fastify";
import { PROOF_VERSIONS, type RequireProof } from "../tokens/index.js";
import { JWKS_PATH, registerKeyDocument } from "./jwks-route.js";

export const DISCOVERY_DOCUMENT_PATH = "/.well-known/coral-discovery.json";

export interface DiscoveryDocumentOptions {
  readonly version: string;
  /** The service's 32-byte X25519 public key. */
  readonly servicePublicKey: Uint8Array;
  readonly maxSkewSeconds: number;
  readonly requireProof: RequireProof;
}

/** The document, serialized (a Buffer: Fastify sends it as is, exactly `application/json`). */
export function buildDiscoveryDocument(options: DiscoveryDocumentOptions): Buffer {
  return Buffer.from(
    JSON.stringify({
      service: "coral-discovery",
      version: options.version,
      // A relative reference, resolved against this document's URL (RFC 3986 §5): right behind any proxy.
      jwks_url: JWKS_PATH,
      proof_versions: PROOF_VERSIONS,
      proof_header: "Coral-Registration-Proof",
      service_public_key: Buffer.from(options.servicePublicKey).toString("base64"),
      proof_max_skew_seconds: options.maxSkewSeconds,
      require_proof: options.requireProof,
    }),
  );
}

/**
 * Serves the document with a strong ETag (304 to a matching If-None-Match);
 * `no-cache` when the key lasts only as long as the process (`ephemeral`),
 * else `public, max-age=300`, like the JWKS.
 */
export function registerDiscoveryDocumentRoute(app: FastifyInstance, options: { readonly body: Buffer; readonly ephemeral: boolean }): void {
  registerKeyDocument(app, DISCOVERY_DOCUMENT_PATH, options);
}
