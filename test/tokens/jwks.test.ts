import { createPublicKey, generateKeyPairSync, sign, verify } from "node:crypto";
import t from "tap";
import { buildJwks, buildJwksJson } from "../../src/tokens/jwks.js";
import { KeyConfigError, type PublicKeyEntry, type SigningKey } from "../../src/tokens/signing-key.js";

/** A signing key made by node:crypto (independent of the code under test), and its node private key. */
function nodeSigningKey(kid: string) {
  const { privateKey } = generateKeyPairSync("ed25519");
  const jwk = privateKey.export({ format: "jwk" });
  const key: SigningKey = {
    kid,
    seed: new Uint8Array(Buffer.from(String(jwk.d), "base64url")),
    publicKey: new Uint8Array(Buffer.from(String(jwk.x), "base64url")),
  };
  return { key, privateKey, x: String(jwk.x) };
}

const entry = (kid: string): PublicKeyEntry => ({ kid, publicKey: nodeSigningKey(kid).key.publicKey });

/** Runs `fn` and returns the KeyConfigError it throws; anything else fails the test. */
function keyConfigError(fn: () => unknown): KeyConfigError {
  try {
    fn();
  } catch (err) {
    if (err instanceof KeyConfigError) return err;
    throw new Error(`expected a KeyConfigError, got ${String(err)}`);
  }
  throw new Error("expected a KeyConfigError, but nothing was thrown");
}

t.test("each key becomes an RFC 8037 Ed25519 JWK whose x is the unpadded base64url public key", async (t) => {
  const { key, x } = nodeSigningKey("k1");
  t.same(buildJwks(key), { keys: [{ kid: "k1", kty: "OKP", crv: "Ed25519", x, use: "sig", alg: "EdDSA" }] });
  t.notMatch(x, /=/);
});

t.test("node:crypto verifies a signature with the key rebuilt from the published JWK", async (t) => {
  const { key, privateKey } = nodeSigningKey("k1");
  const [jwk] = buildJwks(key).keys;
  if (jwk === undefined) throw new Error("no key published");
  const verifier = createPublicKey({ key: { kty: jwk.kty, crv: jwk.crv, x: jwk.x }, format: "jwk" });
  const message = Buffer.from("header.payload");
  t.ok(verify(null, message, verifier, sign(null, message, privateKey)));
});

t.test("the current key comes first, then the previous keys in their order", async (t) => {
  const current = nodeSigningKey("current").key;
  const previous = [entry("p1"), entry("p2"), entry("p3")];
  const jwks = buildJwks(current, previous);
  t.same(jwks.keys.map((k) => k.kid), ["current", "p1", "p2", "p3"]);
  t.same(
    jwks.keys.map((k) => k.x),
    [current, ...previous].map((k) => Buffer.from(k.publicKey).toString("base64url")),
  );
});

t.test("only public keys are published: a signing key's seed never appears", async (t) => {
  const { key } = nodeSigningKey("current");
  const json = buildJwksJson(key);
  for (const encoding of ["base64", "base64url", "hex"] as const) {
    t.notOk(json.includes(Buffer.from(key.seed).toString(encoding).replace(/=+$/, "")), `no ${encoding} of the seed`);
  }
  t.same(Object.keys(buildJwks(key).keys[0] ?? {}), ["kid", "kty", "crv", "x", "use", "alg"], "no other member, no d");
});

t.test("the key set, its list and every key are frozen", async (t) => {
  const jwks = buildJwks(nodeSigningKey("a").key, [entry("b")]);
  t.ok(Object.isFrozen(jwks));
  t.ok(Object.isFrozen(jwks.keys));
  for (const jwk of jwks.keys) t.ok(Object.isFrozen(jwk), jwk.kid);
});

t.test("a kid used twice is a KeyConfigError from JWKS, current against previous or among previous", async (t) => {
  const current = nodeSigningKey("same").key;
  const clash = keyConfigError(() => buildJwks(current, [entry("other"), entry("same")]));
  t.equal(clash.source, "JWKS");
  t.equal(clash.code, "KEY_CONFIG_INVALID");
  t.equal(clash.message, 'JWKS: kid "same" is used by more than one key (current and previous keys); key ids must be unique');
  const among = keyConfigError(() => buildJwksJson(entry("a"), [entry("b"), entry("b")]));
  t.equal(among.problem, 'kid "b" is used by more than one key (current and previous keys); key ids must be unique');
});

t.test("a public key that is not 32 bytes is refused with its kid and length", async (t) => {
  t.throws(() => buildJwks({ kid: "short", publicKey: new Uint8Array(31) }), new RangeError('public key "short" is 31 bytes, expected 32'));
  t.throws(() => buildJwks(entry("ok"), [{ kid: "long", publicKey: new Uint8Array(64) }]), new RangeError('public key "long" is 64 bytes, expected 32'));
});

t.test("buildJwksJson is buildJwks serialized, previous keys defaulting to none", async (t) => {
  const current = entry("c");
  const previous = [entry("p")];
  t.equal(buildJwksJson(current, previous), JSON.stringify(buildJwks(current, previous)));
  t.equal(buildJwksJson(current), JSON.stringify(buildJwks(current, [])));
  const x = Buffer.from(current.publicKey).toString("base64url");
  t.equal(buildJwksJson(current), `{"keys":[{"kid":"c","kty":"OKP","crv":"Ed25519","x":"${x}","use":"sig","alg":"EdDSA"}]}`, "the exact body");
});
