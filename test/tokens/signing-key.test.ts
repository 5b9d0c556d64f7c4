import { createPrivateKey, createPublicKey, randomBytes } from "node:crypto";
import t from "tap";
import {
  KeyConfigError,
  buildJwks,
  buildJwksJson,
  formatSigningKey,
  generateKid,
  generateSigningKey,
  parsePreviousKeys,
  parseSigningKey,
} from "../../src/tokens/index.js";

// The wire contract's test vector.
const KID = "01H7X0X7X0X7X0X7X0X7X0X7X0";
const FULL = "hXIqNNX5M2H9WuNmTPcAYgwRSWpJMqONpL3HPPoxsdoitbpmLL7H2ArTXJV0YXj89bxfbePj0GTKqEB+N9g8SA==";
const SEED = "hXIqNNX5M2H9WuNmTPcAYgwRSWpJMqONpL3HPPoxsdo=";
const X = "IrW6Ziy-x9gK01yVdGF4_PW8X23j49BkyqhAfjfYPEg";
const SOURCE = "DISCOVERY_SIGNING_KEY";

const keyJson = (privateKey: unknown, id: unknown = KID): string => JSON.stringify({ id, privateKey });
/** `b64` with the low bit of byte `index` flipped. */
function flipped(b64: string, index: number): string {
  const bytes = Buffer.from(b64, "base64");
  bytes[index] = (bytes[index] ?? 0) ^ 1;
  return bytes.toString("base64");
}
const toUrl = (b64: string): string => b64.replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");

/** The public key node:crypto derives from a seed (independent of noble). */
function nodePublicX(seed: Uint8Array): string {
  const der = Buffer.concat([Buffer.from("302e020100300506032b657004220420", "hex"), seed]);
  const jwk = createPublicKey(createPrivateKey({ key: der, format: "der", type: "pkcs8" })).export({ format: "jwk" });
  return String(jwk.x);
}

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

t.test("the 64-byte test vector gives the contract's kid and JWKS x", async (t) => {
  const key = parseSigningKey(keyJson(FULL), SOURCE);
  t.equal(key.kid, KID);
  t.equal(key.seed.length, 32);
  t.equal(Buffer.from(key.seed).toString("base64"), SEED);
  t.equal(Buffer.from(key.publicKey).toString("base64url"), X);
  t.same(buildJwks(key, []), { keys: [{ kid: KID, kty: "OKP", crv: "Ed25519", x: X, use: "sig", alg: "EdDSA" }] });
});

t.test("the 32-byte seed alone gives the same JWKS x", async (t) => {
  const key = parseSigningKey(keyJson(SEED), SOURCE);
  t.equal(buildJwks(key, []).keys[0]?.x, X);
  t.equal(nodePublicX(key.seed), X, "node:crypto derives the same public key");
});

t.test("base64url and unpadded spellings are accepted and give the same key", async (t) => {
  const spellings = [FULL.replace(/=+$/, ""), toUrl(FULL), `${toUrl(FULL)}==`, SEED.replace(/=+$/, ""), toUrl(SEED)];
  for (const spelling of spellings) {
    const key = parseSigningKey(keyJson(spelling), SOURCE);
    t.equal(Buffer.from(key.publicKey).toString("base64url"), X, spelling);
  }
});

t.test("every bad signing key input gets its own message naming the source and what is allowed", async (t) => {
  const cases: [name: string, json: string, expected: string[]][] = [
    ["empty", "  ", ["is empty", '"privateKey"']],
    ["malformed JSON", `{"id": "${KID}", "privateKey": "${FULL}"`, ["is not valid JSON", '"privateKey"']],
    ["a bare base64 key", FULL, ["is not valid JSON", "bare base64 key"]],
    ["an array", "[]", ["must be a JSON object", "got an array"]],
    ["null", "null", ["must be a JSON object", "got null"]],
    ["a JSON string", JSON.stringify(FULL), ["must be a JSON object", "got a string"]],
    ["missing id", JSON.stringify({ privateKey: FULL }), ['is missing "id"', "non-empty string"]],
    ["numeric id", keyJson(FULL, 7), ["id must be a non-empty string", "got number 7"]],
    ["empty id", keyJson(FULL, ""), ["id is empty", "non-empty string"]],
    ["blank id", keyJson(FULL, "   "), ["id is only whitespace", "non-empty string"]],
    ["missing privateKey", JSON.stringify({ id: KID }), ['is missing "privateKey"', "32-byte Ed25519 seed", "64 bytes"]],
    ["numeric privateKey", keyJson(12), ["privateKey must be a string", "got number 12"]],
    ["empty privateKey", keyJson(""), ["privateKey is empty"]],
    ["invalid character", keyJson(`${SEED.slice(0, 10)}!${SEED.slice(11)}`), ['character "!" at position 10', "A-Z a-z 0-9 + / or - _"]],
    ["mixed alphabets", keyJson(`${SEED.slice(0, 10)}-+${SEED.slice(12)}`), ["mixes the base64 (+ /) and base64url (- _) alphabets"]],
    ["impossible length", keyJson(SEED.slice(0, 41)), ["41 characters cannot encode whole bytes"]],
    ["bad padding", keyJson(`${SEED}=`), ["wrong number of = padding"]],
    ["non-canonical last character", keyJson(`${SEED.slice(0, 42)}p=`), ["not canonical base64"]],
    ["PEM", keyJson("-----BEGIN PRIVATE KEY-----\nMC4CAQ=="), ["looks like PEM"]],
    ["16 bytes", keyJson(Buffer.alloc(16, 1).toString("base64")), ["decodes to 16 bytes", "expected 32 (the Ed25519 seed) or 64"]],
    ["48 bytes (hex)", keyJson(Buffer.alloc(32, 7).toString("hex")), ["decodes to 48 bytes"]],
    ["wrong public half", keyJson(flipped(FULL, 40)), ["public half does not match the seed"]],
  ];
  const messages = new Set<string>();
  for (const [name, json, expected] of cases) {
    const err = keyConfigError(() => parseSigningKey(json, SOURCE));
    t.equal(err.source, SOURCE, `${name}: source`);
    t.ok(err.message.startsWith(`${SOURCE}: `), `${name}: message starts with the source`);
    for (const fragment of expected) {
      t.match(err.message, fragment, `${name}: mentions ${fragment}`);
    }
    t.notMatch(err.message, SEED.slice(0, 20), `${name}: no key material in the message`);
    t.notMatch(err.message, toUrl(SEED).slice(0, 20), `${name}: no key material in the message`);
    messages.add(err.problem);
  }
  t.equal(messages.size, cases.length, "no two inputs share a message");
});

t.test("a 64-byte key whose public half belongs to another key is refused", async (t) => {
  const other = generateSigningKey();
  const mixed = Buffer.concat([Buffer.from(SEED, "base64"), other.publicKey]).toString("base64");
  const err = keyConfigError(() => parseSigningKey(keyJson(mixed), "/etc/coral/signing-key.json"));
  t.equal(err.message.split(":")[0], "/etc/coral/signing-key.json", "a file path works as the source");
  t.match(err.message, "privateKey is 64 bytes but its public half does not match the seed");
});

t.test("formatSigningKey round-trips through parseSigningKey", async (t) => {
  const key = generateSigningKey();
  const json = formatSigningKey(key);
  t.same(Object.keys(JSON.parse(json) as object), ["id", "privateKey"]);
  t.equal(Buffer.from((JSON.parse(json) as { privateKey: string }).privateKey, "base64").length, 64);
  const back = parseSigningKey(json, "keygen");
  t.equal(back.kid, key.kid);
  t.same(back.seed, key.seed);
  t.same(back.publicKey, key.publicKey);
  t.equal(formatSigningKey(parseSigningKey(keyJson(SEED), SOURCE)), keyJson(FULL), "the test vector formats as its 64-byte form");
});

t.test("generated keys are fresh, valid and use injected randomness", async (t) => {
  const a = generateSigningKey();
  const b = generateSigningKey();
  t.not(a.kid, b.kid);
  t.notSame(a.seed, b.seed);
  t.equal(Buffer.from(a.publicKey).toString("base64url"), nodePublicX(a.seed), "public key matches node:crypto's derivation");

  const fixed = generateSigningKey({ kid: "fixed", randomBytes: (n) => new Uint8Array(n).fill(0x85) });
  t.equal(fixed.kid, "fixed");
  t.same(fixed.seed, new Uint8Array(32).fill(0x85));
  t.throws(() => generateSigningKey({ kid: "" }), RangeError);
});

t.test("injected randomness that returns the wrong number of bytes is refused, not used as a short seed", async (t) => {
  for (const length of [31, 33, 0]) {
    t.throws(() => generateSigningKey({ kid: "k", randomBytes: () => new Uint8Array(length).fill(1) }), {
      name: "RangeError",
      message: `randomBytes(32) returned ${length} bytes`,
    });
  }
});

t.test("generated kids are 26 Crockford base32 characters that sort by time", async (t) => {
  t.equal(generateKid({ now: () => 0, randomBytes: (n) => new Uint8Array(n) }), "0".repeat(26));
  t.equal(generateKid({ now: () => 2 ** 48 - 1, randomBytes: (n) => new Uint8Array(n).fill(255) }), `7${"Z".repeat(25)}`);
  // The ULID spec's example timestamp.
  t.equal(generateKid({ now: () => 1469918176385 }).slice(0, 10), "01ARYZ6S41");

  const times = [1_700_000_000_000, 1_700_000_000_001, 1_700_000_000_032, 1_700_000_060_000, 1_800_000_000_000, 1_600_000_000_000];
  const kids = times.map((ms) => generateKid({ now: () => ms, randomBytes }));
  for (const kid of kids) t.match(kid, /^[0-9A-HJKMNP-TV-Z]{26}$/);
  const byString = [...kids].sort();
  const byTime = times.map((ms, i) => [ms, kids[i]] as const).sort((x, y) => x[0] - y[0]).map(([, kid]) => kid);
  t.same(byString, byTime);
  t.equal(generateSigningKey({ now: () => 1469918176385 }).kid.slice(0, 10), "01ARYZ6S41", "generateSigningKey passes the clock on");
  t.throws(() => generateKid({ now: () => -1 }), RangeError);
  t.throws(() => generateKid({ now: () => 1.5 }), RangeError);
});

t.test("previous keys accept publicKey or privateKey entries and follow the current key in the JWKS", async (t) => {
  const current = generateSigningKey({ kid: "current" });
  const older = generateSigningKey({ kid: "older" });
  const previous = parsePreviousKeys(
    JSON.stringify([
      { id: KID, privateKey: toUrl(SEED) },
      { id: "older", publicKey: Buffer.from(older.publicKey).toString("base64") },
    ]),
    "DISCOVERY_PREVIOUS_KEYS",
  );
  t.same(previous.map((entry) => entry.kid), [KID, "older"]);
  t.notOk("seed" in (previous[0] ?? {}), "a previous private key keeps only its public half");
  const jwks = buildJwks(current, previous);
  t.same(jwks.keys.map((k) => k.kid), ["current", KID, "older"]);
  t.same(jwks.keys.map((k) => k.x), [Buffer.from(current.publicKey).toString("base64url"), X, Buffer.from(older.publicKey).toString("base64url")]);
  t.equal(buildJwksJson(current, previous), JSON.stringify(jwks));
  t.same(parsePreviousKeys("[]", "DISCOVERY_PREVIOUS_KEYS"), []);
  t.equal(buildJwksJson(previous[0]!, []), `{"keys":[{"kid":"${KID}","kty":"OKP","crv":"Ed25519","x":"${X}","use":"sig","alg":"EdDSA"}]}`,
    "a public-only entry can be the current key, and the body is exact");
});

t.test("duplicate kids are refused among previous keys and against the current key", async (t) => {
  const pub = Buffer.from(generateSigningKey().publicKey).toString("base64");
  const dup = keyConfigError(() =>
    parsePreviousKeys(JSON.stringify([{ id: "a", publicKey: pub }, { id: "b", publicKey: pub }, { id: "a", privateKey: SEED }]), "prev.json"),
  );
  t.match(dup.message, 'prev.json: [2].id "a" is already used by [0]; key ids must be unique');

  const current = parseSigningKey(keyJson(SEED), SOURCE);
  const clash = keyConfigError(() => buildJwks(current, [{ kid: KID, publicKey: current.publicKey }]));
  t.match(clash.message, `kid "${KID}" is used by more than one key`);
});

t.test("every bad previous-keys input gets its own message", async (t) => {
  const pub = Buffer.from(generateSigningKey().publicKey).toString("base64");
  const smallOrder = Buffer.alloc(32); // the identity point, 0x01 followed by zeros
  smallOrder[0] = 1;
  const cases: [name: string, json: string, expected: string][] = [
    ["malformed JSON", "[{", "is not valid JSON"],
    ["an object", JSON.stringify({ id: "a", publicKey: pub }), "must be a JSON array"],
    ["a string entry", JSON.stringify([pub]), "[0] must be an object"],
    ["missing id", JSON.stringify([{ publicKey: pub }]), 'is missing "[0].id"'],
    ["empty id", JSON.stringify([{ id: "", publicKey: pub }]), "[0].id is empty"],
    ["neither key", JSON.stringify([{ id: "a" }]), '[0] has neither "publicKey" nor "privateKey"'],
    ["both keys", JSON.stringify([{ id: "a", publicKey: pub, privateKey: SEED }]), '[0] has both "publicKey" and "privateKey"'],
    ["public key not base64", JSON.stringify([{ id: "a", publicKey: "not*base64" }]), "[0].publicKey is not base64"],
    ["public key too short", JSON.stringify([{ id: "a", publicKey: Buffer.alloc(31).toString("base64") }]), "[0].publicKey decodes to 31 bytes; expected 32"],
    ["public key of small order", JSON.stringify([{ id: "a", publicKey: smallOrder.toString("base64") }]), "[0].publicKey is not a valid Ed25519 public key"],
    ["private key wrong length", JSON.stringify([{ id: "a", publicKey: pub }, { id: "b", privateKey: Buffer.alloc(33).toString("base64") }]), "[1].privateKey decodes to 33 bytes"],
    ["private key wrong public half", JSON.stringify([{ id: "a", privateKey: flipped(FULL, 63) }]), "[0].privateKey is 64 bytes but its public half does not match the seed"],
  ];
  const messages = new Set<string>();
  for (const [name, json, expected] of cases) {
    const err = keyConfigError(() => parsePreviousKeys(json, "DISCOVERY_PREVIOUS_KEYS"));
    t.ok(err.message.startsWith("DISCOVERY_PREVIOUS_KEYS: "), `${name}: names the source`);
    t.match(err.message, expected, name);
    messages.add(err.problem);
  }
  t.equal(messages.size, cases.length, "no two inputs share a message");
});
