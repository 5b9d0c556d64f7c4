// The JWKS route alone, on a bare Fastify (a plain HTTP route: inject is fine).
import t from "tap";
import fastify from "fastify";
import { createHash } from "node:crypto";
import { entityTag, ifNoneMatchHits, JWKS_PATH, registerJwksRoute } from "../../src/server/jwks-route.js";

const BODY = Buffer.from('{"keys":[{"kid":"k1"}]}');
const ETAG = `"${createHash("sha256").update(BODY).digest("base64url")}"`;

async function serve(ephemeral: boolean) {
  const app = fastify();
  registerJwksRoute(app, { body: BODY, ephemeral });
  return app;
}

t.test("the entity tag is the quoted base64url SHA-256 of the body: strong, and it changes with the body", async (t) => {
  t.equal(entityTag(BODY), ETAG);
  t.match(entityTag(BODY), /^"[A-Za-z0-9_-]{43}"$/);
  t.not(entityTag(Buffer.from("{}")), ETAG);
});

t.test("If-None-Match matches the tag, weakly, in a list, or as *", async (t) => {
  t.equal(ifNoneMatchHits(undefined, ETAG), false, "no header");
  t.equal(ifNoneMatchHits(ETAG, ETAG), true);
  t.equal(ifNoneMatchHits(`W/${ETAG}`, ETAG), true, "weak comparison (RFC 9110 13.1.2)");
  t.equal(ifNoneMatchHits(`"other", ${ETAG}`, ETAG), true, "in a list");
  t.equal(ifNoneMatchHits("*", ETAG), true);
  t.equal(ifNoneMatchHits('"other"', ETAG), false);
  t.equal(ifNoneMatchHits(ETAG.slice(1, -1), ETAG), false, "unquoted is another tag");
  t.equal(ifNoneMatchHits("", ETAG), false);
});

t.test("an ephemeral key's JWKS is no-cache with its ETag, exactly application/json", async (t) => {
  const app = await serve(true);
  t.teardown(() => app.close());
  const res = await app.inject({ method: "GET", url: JWKS_PATH });
  t.equal(res.statusCode, 200);
  t.equal(res.headers["content-type"], "application/json");
  t.equal(res.headers["cache-control"], "no-cache");
  t.equal(res.headers.etag, ETAG);
  t.equal(res.body, BODY.toString());
});

t.test("a configured key's JWKS stays cacheable for 5 minutes, with the ETag too", async (t) => {
  const app = await serve(false);
  t.teardown(() => app.close());
  const res = await app.inject({ method: "GET", url: JWKS_PATH });
  t.equal(res.statusCode, 200);
  t.equal(res.headers["content-type"], "application/json");
  t.equal(res.headers["cache-control"], "public, max-age=300");
  t.equal(res.headers.etag, ETAG);
});

t.test("a matching If-None-Match gets 304 with no body and the same validators; a stale one gets the document", async (t) => {
  for (const ephemeral of [true, false]) {
    const app = await serve(ephemeral);
    t.teardown(() => app.close());
    const fresh = await app.inject({ method: "GET", url: JWKS_PATH, headers: { "if-none-match": ETAG } });
    t.equal(fresh.statusCode, 304, `ephemeral ${ephemeral}`);
    t.equal(fresh.body, "");
    t.equal(fresh.headers.etag, ETAG);
    t.equal(fresh.headers["cache-control"], ephemeral ? "no-cache" : "public, max-age=300");
    const stale = await app.inject({ method: "GET", url: JWKS_PATH, headers: { "if-none-match": '"an-old-key-set"' } });
    t.equal(stale.statusCode, 200);
    t.equal(stale.headers["content-type"], "application/json");
    t.equal(stale.body, BODY.toString());
  }
});
