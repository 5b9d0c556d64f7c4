import t from "tap";
import { ulid } from "../../src/service/ulid.js";

const bytes = (fill: number) => () => new Uint8Array(10).fill(fill);

t.test("a ULID is 26 Crockford base32 characters: 10 of time, 16 of randomness", async (t) => {
  t.equal(ulid(0, bytes(0)), "0".repeat(26));
  t.equal(ulid(2 ** 48 - 1, bytes(255)), "7ZZZZZZZZZ" + "Z".repeat(16));
  // The spec's example time: 1469918176385 ms = 01ARYZ6S41.
  t.equal(ulid(1469918176385, bytes(0)).slice(0, 10), "01ARYZ6S41");
  t.match(ulid(Date.now(), bytes(0x5a)), /^[0-9A-HJKMNP-TV-Z]{26}$/);
});

t.test("times out of range are clamped; randomness is read from the source", async (t) => {
  t.equal(ulid(-5, bytes(0)).slice(0, 10), "0000000000");
  t.equal(ulid(2 ** 60, bytes(0)).slice(0, 10), "7ZZZZZZZZZ");
  const random = Uint8Array.from([0x80, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
  t.equal(ulid(0, () => random).slice(10), "G000000000000001");
  t.equal(ulid(1, bytes(0)) < ulid(2, bytes(0)), true, "lexicographic order follows time");
});
