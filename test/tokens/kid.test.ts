import t from "tap";
import { generateKid } from "../../src/tokens/kid.js";

const CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const KID_SHAPE = /^[0-9A-HJKMNP-TV-Z]{26}$/;

/** An independent ULID encoder: the 128-bit number time << 80 | random, in 26 base-32 digits. */
function referenceKid(timeMs: number, random: Uint8Array): string {
  let value = BigInt(timeMs);
  for (const byte of random) value = (value << 8n) | BigInt(byte);
  let out = "";
  for (let i = 0; i < 26; i++) {
    out = CROCKFORD.charAt(Number(value & 31n)) + out;
    value >>= 5n;
  }
  return out;
}

/** Deterministic non-trivial bytes. */
const pattern = (seed: number) => (n: number) => Uint8Array.from({ length: n }, (_, i) => (seed * 31 + i * 97 + 13) & 0xff);

t.test("a kid is the ULID of the time and the ten random bytes", async (t) => {
  const cases: [timeMs: number, random: Uint8Array][] = [
    [0, new Uint8Array(10)],
    [1, Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 0, 0, 1)],
    [1469918176385, pattern(1)(10)],
    [1_767_225_600_000, pattern(2)(10)],
    [2 ** 48 - 1, new Uint8Array(10).fill(0xff)],
    [2 ** 32 + 5, Uint8Array.of(0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0)],
  ];
  for (const [timeMs, random] of cases) {
    const kid = generateKid({ now: () => timeMs, randomBytes: () => random });
    t.equal(kid, referenceKid(timeMs, random), `time ${timeMs}`);
    t.match(kid, KID_SHAPE);
  }
  t.equal(generateKid({ now: () => 0, randomBytes: (n) => new Uint8Array(n) }), "0".repeat(26));
  t.equal(generateKid({ now: () => 2 ** 48 - 1, randomBytes: (n) => new Uint8Array(n).fill(0xff) }), `7${"Z".repeat(25)}`);
  t.equal(generateKid({ now: () => 1469918176385, randomBytes: pattern(3) }).slice(0, 10), "01ARYZ6S41", "the ULID spec's example time");
});

t.test("randomBytes is asked for exactly ten bytes", async (t) => {
  const asked: number[] = [];
  generateKid({ now: () => 0, randomBytes: (n) => (asked.push(n), new Uint8Array(n)) });
  t.same(asked, [10]);
});

t.test("kids sort by time, across digit carries, whatever their random part", async (t) => {
  const times = [31, 32, 1023, 1024, 1_700_000_000_000, 1_700_000_000_001, 2 ** 41, 2 ** 48 - 2];
  // Descending random parts, so that only the time part can give the order.
  const kids = times.map((ms, i) => generateKid({ now: () => ms, randomBytes: (n) => new Uint8Array(n).fill(255 - i) }));
  t.same([...kids].sort(), kids);
});

t.test("a time that does not fit 48 bits of whole milliseconds is refused with the value", async (t) => {
  const message = (v: string) => `kid time must be an integer between 0 and 2^48-1 milliseconds, got ${v}`;
  t.throws(() => generateKid({ now: () => -1 }), new RangeError(message("-1")));
  t.throws(() => generateKid({ now: () => 1.5 }), new RangeError(message("1.5")));
  t.throws(() => generateKid({ now: () => 2 ** 48 }), new RangeError(message(String(2 ** 48))));
  t.throws(() => generateKid({ now: () => Number.NaN }), new RangeError(message("NaN")));
  t.throws(() => generateKid({ now: () => Number.POSITIVE_INFINITY }), new RangeError(message("Infinity")));
});

t.test("a randomBytes that returns the wrong number of bytes is refused", async (t) => {
  t.throws(() => generateKid({ now: () => 0, randomBytes: () => new Uint8Array(9) }), new RangeError("randomBytes(10) returned 9 bytes"));
  t.throws(() => generateKid({ now: () => 0, randomBytes: () => new Uint8Array(11) }), new RangeError("randomBytes(10) returned 11 bytes"));
});

t.test("by default the time is Date.now and the random part comes from node:crypto", async (t) => {
  const realNow = Date.now;
  Date.now = () => 1469918176385;
  let kids: string[];
  try {
    kids = [generateKid(), generateKid({})];
  } finally {
    Date.now = realNow;
  }
  for (const kid of kids) {
    t.match(kid, KID_SHAPE);
    t.equal(kid.slice(0, 10), "01ARYZ6S41", "the time part is Date.now()'s");
  }
  t.not(kids[0]?.slice(10), kids[1]?.slice(10), "two kids in the same millisecond differ in their random part");
});
