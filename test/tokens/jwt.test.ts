import { createPrivateKey, createPublicKey, randomUUID, sign as nodeSign, verify as nodeVerify, type KeyObject } from "node:crypto";
import t from "tap";
import { buildJwks, createTokenSigner, generateSigningKey, parseSigningKey, type SigningKey } from "../../src/tokens/index.js";

// The wire contract's test vector.
const KID = "01H7X0X7X0X7X0X7X0X7X0X7X0";
const FULL = "hXIqNNX5M2H9WuNmTPcAYgwRSWpJMqONpL3HPPoxsdoitbpmLL7H2ArTXJV0YXj89bxfbePj0GTKqEB+N9g8SA==";
const KEY = parseSigningKey(JSON.stringify({ id: KID, privateKey: FULL }), "test vector");
const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const FIXED_UUID = "9b2f6c1e-3d4a-4f5b-8c7d-0e1f2a3b4c5d";
const NOW_MS = 1_700_000_000_999;

const unb64u = (part: string | undefined): string => Buffer.from(part ?? "", "base64url").toString("utf8");

/** A verifier that shares nothing with the signer: node:crypto fed the JWK from buildJwks. */
function verifierFor(key: SigningKey): KeyObject {
  const jwk = buildJwks(key, []).keys[0];
  if (jwk === undefined) throw new Error("empty JWKS");
  return createPublicKey({ key: { ...jwk }, format: "jwk" });
}

function split(jwt: string): { data: Buffer; signature: Buffer; parts: string[] } {
  const parts = jwt.split(".");
  if (parts.length !== 3) throw new Error(`expected three parts, got ${parts.length}`);
  return { data: Buffer.from(`${parts[0]}.${parts[1]}`, "ascii"), signature: Buffer.from(parts[2] ?? "", "base64url"), parts };
}

t.test("header and claims are exact for a fixed clock and UUID", async (t) => {
  const signer = createTokenSigner({ key: KEY, ttlSeconds: 60, now: () => NOW_MS, randomUUID: () => FIXED_UUID });
  t.equal(signer.kid, KID);
  const { jwt, expiresAt } = signer.sign({ agentId: "agent-7", colonyId: "colony-1", reefId: "reef-9", intent: "join" });
  const { parts } = split(jwt);
  t.equal(unb64u(parts[0]), `{"alg":"EdDSA","typ":"JWT","kid":"${KID}"}`);
  t.equal(
    unb64u(parts[1]),
    `{"iss":"coral-discovery","aud":["coral-colony"],"sub":"agent:agent-7","iat":1700000000,"exp":1700000060,` +
      `"jti":"${FIXED_UUID}","reef_id":"reef-9","colony_id":"colony-1","agent_id":"agent-7","intent":"join"}`,
  );
  t.equal(expiresAt, 1_700_000_060, "expiresAt is exp in Unix seconds");
  for (const part of parts) t.match(part, /^[A-Za-z0-9_-]+$/, "base64url without padding");

  // Ed25519 is deterministic, so node:crypto must produce the very same token from the same key.
  const privateKey = createPrivateKey({
    key: { kty: "OKP", crv: "Ed25519", d: Buffer.from(KEY.seed).toString("base64url"), x: Buffer.from(KEY.publicKey).toString("base64url") },
    format: "jwk",
  });
  const expectedData = `${parts[0]}.${parts[1]}`;
  t.equal(jwt, `${expectedData}.${nodeSign(null, Buffer.from(expectedData), privateKey).toString("base64url")}`);
});

t.test("reef_id and intent are always present, empty by default", async (t) => {
  const signer = createTokenSigner({ key: KEY, ttlSeconds: 60, now: () => NOW_MS, randomUUID: () => FIXED_UUID });
  const claims = JSON.parse(unb64u(signer.sign({ agentId: "a", colonyId: "c" }).jwt.split(".")[1])) as Record<string, unknown>;
  t.equal(claims.reef_id, "");
  t.equal(claims.intent, "");
  t.same(Object.keys(claims), ["iss", "aud", "sub", "iat", "exp", "jti", "reef_id", "colony_id", "agent_id", "intent"]);
});

t.test("claims with quotes and non-ASCII text survive encoding", async (t) => {
  const signer = createTokenSigner({ key: KEY, ttlSeconds: 60, now: () => NOW_MS, randomUUID: () => FIXED_UUID });
  const agentId = 'a"gent\\ü🐠\n';
  const { jwt } = signer.sign({ agentId, colonyId: "c", intent: "é" });
  const claims = JSON.parse(unb64u(jwt.split(".")[1])) as Record<string, unknown>;
  t.equal(claims.agent_id, agentId);
  t.equal(claims.sub, `agent:${agentId}`);
  t.equal(claims.intent, "é");
  const { data, signature } = split(jwt);
  t.ok(nodeVerify(null, data, verifierFor(KEY), signature));
});

t.test("a token verifies with node:crypto and the JWKS key, and fails when any byte changes", async (t) => {
  const signer = createTokenSigner({ key: KEY, ttlSeconds: 60, now: Date.now, randomUUID });
  const { jwt } = signer.sign({ agentId: "agent-7", colonyId: "colony-1", reefId: "reef-9", intent: "join" });
  const { data, signature } = split(jwt);
  const publicKey = verifierFor(KEY);
  t.ok(nodeVerify(null, data, publicKey, signature), "untouched token verifies");

  const payloadStart = data.indexOf(".") + 1;
  let payloadRejected = 0;
  for (let i = payloadStart; i < data.length; i++) {
    const tampered = Buffer.from(data);
    tampered[i] = (tampered[i] ?? 0) ^ 1;
    if (!nodeVerify(null, tampered, publicKey, signature)) payloadRejected++;
  }
  t.equal(payloadRejected, data.length - payloadStart, "every changed payload byte is rejected");

  let signatureRejected = 0;
  for (let i = 0; i < signature.length; i++) {
    const tampered = Buffer.from(signature);
    tampered[i] = (tampered[i] ?? 0) ^ 0x80;
    if (!nodeVerify(null, data, publicKey, tampered)) signatureRejected++;
  }
  t.equal(signatureRejected, 64, "every changed signature byte is rejected");

  const other = generateSigningKey({ kid: KID });
  t.notOk(nodeVerify(null, data, verifierFor(other), signature), "another key with the same kid does not verify it");
});

t.test("exp - iat equals the configured ttl, and iat is the floor of now in seconds", async (t) => {
  for (const [ttlSeconds, nowMs] of [[60, NOW_MS], [1, 999], [300, 1_699_999_999_000], [86_400, 1_700_000_000_500]] as const) {
    const signer = createTokenSigner({ key: KEY, now: () => nowMs, randomUUID, ttlSeconds });
    const { jwt, expiresAt } = signer.sign({ agentId: "a", colonyId: "c" });
    const claims = JSON.parse(unb64u(jwt.split(".")[1])) as { iat: number; exp: number };
    t.equal(claims.iat, Math.floor(nowMs / 1000), `iat for now=${nowMs}`);
    t.equal(claims.exp - claims.iat, ttlSeconds, `ttl ${ttlSeconds}`);
    t.equal(expiresAt, claims.exp);
  }
});

t.test("the clock is read on every token", async (t) => {
  let nowMs = NOW_MS;
  const signer = createTokenSigner({ key: KEY, ttlSeconds: 60, now: () => nowMs, randomUUID });
  const first = signer.sign({ agentId: "a", colonyId: "c" }).expiresAt;
  nowMs += 10_000;
  t.equal(signer.sign({ agentId: "a", colonyId: "c" }).expiresAt, first + 10);
});

t.test("a bad ttl is refused when the signer is created", async (t) => {
  for (const ttlSeconds of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
    t.throws(() => createTokenSigner({ key: KEY, ttlSeconds, now: Date.now, randomUUID }), RangeError, `ttl ${ttlSeconds}`);
  }
});

t.test("jti is a UUID v4, unique across 1000 tokens", async (t) => {
  const signer = createTokenSigner({ key: generateSigningKey(), ttlSeconds: 60, now: () => NOW_MS, randomUUID });
  const jtis = new Set<string>();
  let notV4 = 0;
  const started = process.hrtime.bigint();
  for (let i = 0; i < 1000; i++) {
    const claims = JSON.parse(unb64u(signer.sign({ agentId: `agent-${i}`, colonyId: "c" }).jwt.split(".")[1])) as { jti: string };
    if (!UUID_V4.test(claims.jti)) notV4++;
    jtis.add(claims.jti);
  }
  const perTokenMs = Number(process.hrtime.bigint() - started) / 1e6 / 1000;
  t.equal(notV4, 0, "every jti matches the UUID v4 pattern");
  t.equal(jtis.size, 1000, "no jti repeats");
  t.comment(`sign + decode: ${perTokenMs.toFixed(3)} ms per token`);
});

t.test("the signer keeps its own copy of the seed", async (t) => {
  const key = generateSigningKey();
  const seed = Uint8Array.from(key.seed);
  const signer = createTokenSigner({ key: { ...key, seed }, ttlSeconds: 60, now: () => NOW_MS, randomUUID });
  seed.fill(0);
  const { data, signature } = split(signer.sign({ agentId: "a", colonyId: "c" }).jwt);
  t.ok(nodeVerify(null, data, verifierFor(key), signature));
});
