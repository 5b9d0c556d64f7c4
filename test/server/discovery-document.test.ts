// The discovery document route alone, on a bare Fastify (a plain HTTP route: inject is fine).
import t from "tap";
import fastify from "fastify";
import { buildDiscoveryDocument, DISCOVERY_DOCUMENT_PATH, registerDiscoveryDocumentRoute } from "../../src/server/discovery-document.js";
import { entityTag } from "../../src/server/jwks-route.js";

const body = buildDiscoveryDocument({ version: "1.2.3", servicePublicKey: new Uint8Array(32).fill(1), maxSkewSeconds: 90, requireProof: "all" });

t.test("the document names the service key (base64), the proof rules and the JWKS", async (t) => {
  t.same(JSON.parse(body.toString()), {
    service: "coral-discovery",
    version: "1.2.3",
    jwks_url: "/.well-known/jwks.json",
    proof_versions: ["v1"],
    proof_header: "Coral-Registration-Proof",
    service_public_key: Buffer.alloc(32, 1).toString("base64"),
    proof_max_skew_seconds: 90,
    require_proof: "all",
  });
});

t.test("served as exactly application/json with a strong ETag; 304 on a match; no-cache when ephemeral", async (t) => {
  for (const ephemeral of [false, true]) {
    const app = fastify();
    registerDiscoveryDocumentRoute(app, { body, ephemeral });
    t.teardown(() => app.close());
    const res = await app.inject({ method: "GET", url: DISCOVERY_DOCUMENT_PATH });
    t.equal(res.statusCode, 200);
    t.equal(res.headers["content-type"], "application/json");
    t.equal(res.headers["cache-control"], ephemeral ? "no-cache" : "public, max-age=300");
    t.equal(res.headers.etag, entityTag(body));
    t.equal(res.body, body.toString());
    const again = await app.inject({ method: "GET", url: DISCOVERY_DOCUMENT_PATH, headers: { "if-none-match": entityTag(body) } });
    t.equal(again.statusCode, 304);
    t.equal(again.body, "");
  }
});
