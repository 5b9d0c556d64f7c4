// GET /.well-known/jwks.json: the public keys that verify bootstrap tokens.
import { createHash } from "node:crypto";
import type { FastifyInstance } from "fastify";

export const JWKS_PATH = "/.well-known/jwks.json";

export interface JwksRouteOptions {
  /** The JWKS document, serialized (a Buffer: Fastify sends it as is, exactly `application/json`). */
  readonly body: Buffer;
  /**
   * True when the signing key was generated at start (no `--signing-key-file`):
   * it changes at every restart, so caches must revalidate before each use
   * (`no-cache`). A configured key may be cached for 5 minutes.
   */
  readonly ephemeral: boolean;
}

/** The strong entity tag of `body`: a SHA-256 of its bytes, base64url, quoted. */
export function entityTag(body: Uint8Array): string {
  return `"${createHash("sha256").update(body).digest("base64url")}"`;
}

/**
 * Whether an `If-None-Match` header value names `etag` (RFC 9110 §13.1.2:
 * `*` matches any current representation; tags compare weakly, so `W/"x"`
 * matches `"x"`).
 */
export function ifNoneMatchHits(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false;
  return header.split(",").some((raw) => {
    const tag = raw.trim();
    return tag === "*" || (tag.startsWith("W/") ? tag.slice(2) : tag) === etag;
  });
}

/**
 * Serves the JWKS with a strong ETag, answering `304 Not Modified` to a
 * matching `If-None-Match`; `Cache-Control: no-cache` for an ephemeral key,
 * `public, max-age=300` for a configured one.
 */
export function registerJwksRoute(app: FastifyInstance, options: JwksRouteOptions): void {
  registerKeyDocument(app, JWKS_PATH, options);
}

/**
 * Serves a JSON document derived from the keys at `path` (the JWKS, the
 * discovery document): a strong ETag with `304` to a matching
 * `If-None-Match`, `no-cache` while the key is `ephemeral`, else cacheable
 * for 5 minutes.
 */
export function registerKeyDocument(app: FastifyInstance, path: string, options: JwksRouteOptions): void {
  const etag = entityTag(options.body);
  const cacheControl = options.ephemeral ? "no-cache" : "public, max-age=300";
  app.get(path, async (req, reply) => {
    void reply.header("cache-control", cacheControl).header("etag", etag);
    if (ifNoneMatchHits(req.headers["if-none-match"], etag)) return reply.code(304).send();
    void reply.header("content-type", "application/json");
    return options.body;
  });
}
