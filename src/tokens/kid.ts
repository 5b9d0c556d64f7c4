import { randomBytes as nodeRandomBytes } from "node:crypto";

const CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const MAX_TIME_MS = 2 ** 48 - 1;

/** Where a generated kid gets its time and randomness; both default to the real ones. */
export interface KidSource {
  /** Current time in milliseconds since the Unix epoch. Default `Date.now`. */
  now?: () => number;
  /** `n` cryptographically random bytes. Default node:crypto `randomBytes`. */
  randomBytes?: (n: number) => Uint8Array;
}

/**
 * A ULID-style key id: 26 characters of Crockford base32, 10 for the 48-bit millisecond time
 * followed by 16 for 80 random bits, so kids sort by creation time (to the millisecond).
 */
export function generateKid(source: KidSource = {}): string {
  const time = (source.now ?? Date.now)();
  if (!Number.isInteger(time) || time < 0 || time > MAX_TIME_MS) {
    throw new RangeError(`kid time must be an integer between 0 and 2^48-1 milliseconds, got ${time}`);
  }
  const random = (source.randomBytes ?? nodeRandomBytes)(10);
  if (random.length !== 10) {
    throw new RangeError(`randomBytes(10) returned ${random.length} bytes`);
  }
  let out = "";
  let t = time;
  for (let i = 0; i < 10; i++) {
    out = CROCKFORD.charAt(t % 32) + out;
    t = Math.floor(t / 32);
  }
  // 80 bits = 16 groups of 5 bits, most significant first.
  let bits = 0;
  let value = 0;
  for (const byte of random) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out += CROCKFORD.charAt((value >> bits) & 31);
    }
    value &= (1 << bits) - 1;
  }
  return out;
}
