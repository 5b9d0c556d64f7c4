import t from "tap";
import { decodeBase64, encodeBase64, encodeBase64Url, type DecodeResult } from "../../src/tokens/base64.js";

/** The bytes of a successful decode; fails the test with the problem otherwise. */
function bytesOf(result: DecodeResult): number[] {
  if (!result.ok) throw new Error(`expected bytes, got the problem ${JSON.stringify(result.problem)}`);
  return [...result.bytes];
}

/** The problem of a refused decode; fails the test when it decoded. */
function problemOf(result: DecodeResult): string {
  if (result.ok) throw new Error(`expected a problem, got ${result.bytes.length} bytes`);
  return result.problem;
}

t.test("standard base64 and base64url decode, padded or not, to the same bytes", async (t) => {
  // 0xfb 0xff uses the two characters the alphabets disagree on.
  for (const text of ["+/8=", "+/8", "-_8=", "-_8"]) {
    t.same(bytesOf(decodeBase64(text)), [0xfb, 0xff], text);
  }
  t.same(bytesOf(decodeBase64("YQ==")), [0x61], "one byte, two padding characters");
  t.same(bytesOf(decodeBase64("YWI=")), [0x61, 0x62], "two bytes, one padding character");
  t.same(bytesOf(decodeBase64("YWJj")), [0x61, 0x62, 0x63], "three bytes, no padding needed");
});

t.test("every byte string from 1 to 40 bytes survives both encoders", async (t) => {
  const all = Uint8Array.from({ length: 40 }, (_, i) => (i * 37 + 11) & 0xff);
  for (let n = 1; n <= all.length; n++) {
    const bytes = all.subarray(0, n);
    const standard = encodeBase64(bytes);
    const url = encodeBase64Url(bytes);
    t.equal(standard, Buffer.from(bytes).toString("base64"), `${n} bytes: padded standard base64`);
    t.equal(url, Buffer.from(bytes).toString("base64url"), `${n} bytes: unpadded base64url`);
    t.notMatch(url, /[=+/]/, `${n} bytes: base64url has no padding and no + or /`);
    t.same(bytesOf(decodeBase64(standard)), [...bytes], `${n} bytes: standard decodes back`);
    t.same(bytesOf(decodeBase64(url)), [...bytes], `${n} bytes: base64url decodes back`);
  }
});

t.test("the encoders read only the view they are given, not its whole buffer", async (t) => {
  const view = new Uint8Array([0xff, 0xfb, 0xff, 0x00]).subarray(1, 3);
  t.equal(encodeBase64(view), "+/8=");
  t.equal(encodeBase64Url(view), "-_8");
});

t.test("the decoded bytes are a plain Uint8Array, not a Buffer", async (t) => {
  const result = decodeBase64("YWJj");
  t.ok(result.ok);
  if (result.ok) {
    t.equal(Object.getPrototypeOf(result.bytes), Uint8Array.prototype);
    t.equal(Buffer.isBuffer(result.bytes), false);
  }
});

t.test("an empty text is refused", async (t) => {
  t.equal(problemOf(decodeBase64("")), "is empty");
});

t.test("PEM is refused with a hint to give the raw key bytes", async (t) => {
  const pem = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----\n";
  t.equal(problemOf(decodeBase64(pem)), "looks like PEM; give the raw key bytes as base64 or base64url instead");
});

t.test("a character outside both alphabets is named with its position, and the rest of the input is not quoted", async (t) => {
  const problem = problemOf(decodeBase64("secretvalue!AAA"));
  t.equal(
    problem,
    'is not base64 or base64url: character "!" at position 11 (allowed: A-Z a-z 0-9 + / or - _, with optional = padding at the end)',
  );
  t.notMatch(problem, /secret/, "the input, which may be a key, is not echoed");
  t.match(problemOf(decodeBase64(" YQ==")), /character " " at position 0/, "leading whitespace is not trimmed");
  t.match(problemOf(decodeBase64("YWJj\n")), /character "\\n" at position 4/, "a trailing newline is refused, JSON-quoted");
  t.match(problemOf(decodeBase64("YQ==YQ==")), /character "=" at position 2/, "padding is only allowed at the end");
});

t.test("mixing the base64 and base64url alphabets is refused", async (t) => {
  t.equal(problemOf(decodeBase64("ab+_")), "mixes the base64 (+ /) and base64url (- _) alphabets; use one of them");
  t.match(problemOf(decodeBase64("ab/-")), /mixes the base64/);
});

t.test("a length that cannot encode whole bytes is refused", async (t) => {
  t.equal(problemOf(decodeBase64("YWJjZ")), "is not base64 or base64url: 5 characters cannot encode whole bytes");
  t.equal(problemOf(decodeBase64("Y===")), "is not base64 or base64url: 1 characters cannot encode whole bytes");
});

t.test("a wrong number of = padding characters is refused", async (t) => {
  const wrong = "is not base64 or base64url: wrong number of = padding characters";
  t.equal(problemOf(decodeBase64("YQ=")), wrong, "too few: the padded length is not a multiple of 4");
  t.equal(problemOf(decodeBase64("YQ===")), wrong, "too many: the padded length is not a multiple of 4");
  t.equal(problemOf(decodeBase64("YWJj====")), wrong, "a multiple of 4, but no padding was needed");
  t.equal(problemOf(decodeBase64("YQ======")), wrong, "a multiple of 4, but two padding characters were needed");
  t.equal(problemOf(decodeBase64("=")), wrong, "padding alone");
  t.equal(problemOf(decodeBase64("====")), wrong, "four padding characters alone");
});

t.test("a last character with non-zero unused bits is refused, so one key has one spelling", async (t) => {
  const notCanonical = "is not canonical base64: the last character has non-zero unused bits";
  t.equal(problemOf(decodeBase64("YR==")), notCanonical, "YR decodes to the same byte as YQ in Node");
  t.equal(problemOf(decodeBase64("YR")), notCanonical, "unpadded too");
  t.equal(problemOf(decodeBase64("YWJ=")), notCanonical, "two bytes: the 2 unused bits of J are set");
  t.equal(problemOf(decodeBase64("-_9")), notCanonical, "base64url too");
  t.same(bytesOf(decodeBase64("YWI")), [0x61, 0x62], "the canonical spelling of those bytes decodes");
});
