// ULIDs (https://github.com/ulid/spec): 48 bits of Unix ms then 80 random
// bits, 26 characters of Crockford base32. Rendezvous record ids.

const ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const MAX_TIME = 2 ** 48 - 1;

/** A ULID for `nowMs` with 10 bytes from `random` (crypto.randomBytes in the daemon). */
export function ulid(nowMs: number, random: (size: number) => Uint8Array): string {
  let time = Math.min(Math.max(0, Math.floor(nowMs)), MAX_TIME);
  let head = "";
  for (let i = 0; i < 10; i++) {
    head = (ALPHABET[time % 32] as string) + head;
    time = Math.floor(time / 32);
  }
  const bytes = random(10);
  let tail = "";
  // 80 bits = 16 groups of 5, read from a 10-byte big-endian number.
  let buffer = 0;
  let bits = 0;
  for (let i = 0; i < 10; i++) {
    buffer = (buffer << 8) | (bytes[i] as number);
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      tail += ALPHABET[(buffer >> bits) & 31] as string;
    }
    buffer &= (1 << bits) - 1;
  }
  return head + tail;
}
