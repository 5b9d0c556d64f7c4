import t from "tap";
import { createExpiryIndex, type ExpiryIndex } from "../../src/registry/expiry-index.js";
import { createRng } from "../fixtures/prng.js";

/** A whole second in Unix ms, so that `S + n` for 0 <= n < 1000 stays in one bucket. */
const S = 1_700_000_000_000;

/**
 * An index together with the truth it indexes: each key's expiry. `isExpired`
 * answers from that truth at the `now` of the current call and counts how
 * often it is asked, which is exactly the work a drain or count does per key.
 */
function setup() {
  const index = createExpiryIndex();
  const expiry = new Map<string, number>();
  let now = 0;
  let calls = 0;
  const isExpired = (key: string): boolean => {
    calls++;
    const expiresAtMs = expiry.get(key);
    if (expiresAtMs === undefined) throw new Error(`isExpired asked about ${key}, which is not filed`);
    return now >= expiresAtMs;
  };
  return {
    index,
    /** Files or renews `key` (moving it from its previous expiry), as a lease table does. */
    file(key: string, expiresAtMs: number) {
      index.add(key, expiresAtMs, expiry.get(key));
      expiry.set(key, expiresAtMs);
    },
    forget(key: string) {
      const expiresAtMs = expiry.get(key);
      if (expiresAtMs === undefined) throw new Error(`${key} is not filed`);
      index.remove(key, expiresAtMs);
      expiry.delete(key);
    },
    drain(nowMs: number, limit?: number): string[] {
      now = nowMs;
      const keys = index.drain(nowMs, isExpired, limit);
      for (const key of keys) expiry.delete(key);
      return keys;
    },
    count(nowMs: number): number {
      now = nowMs;
      return index.countExpired(nowMs, isExpired);
    },
    /** isExpired calls since the last time this was read. */
    takeCalls(): number {
      const taken = calls;
      calls = 0;
      return taken;
    },
    /** Keys still filed whose expiry has passed at `nowMs`, by the truth rather than the index. */
    expiredAt(nowMs: number): string[] {
      return [...expiry].filter(([, at]) => nowMs >= at).map(([key]) => key);
    },
    isFiled: (key: string) => expiry.has(key),
    filed: () => expiry.size,
  };
}

t.test("an empty index drains nothing, counts nothing and asks nothing", async (t) => {
  const ix = setup();
  t.same(ix.drain(S), []);
  t.equal(ix.count(S), 0);
  t.equal(ix.takeCalls(), 0);
});

t.test("keys filed in a second that has passed are drained whole, without asking isExpired", async (t) => {
  const ix = setup();
  ix.file("a", S + 100);
  ix.file("b", S + 900);
  ix.file("c", S + 400);
  const never = (): boolean => {
    throw new Error("a past bucket must not be checked key by key");
  };
  t.equal(ix.index.countExpired(S + 1_000, never), 3, "counted by bucket size");
  t.same(ix.index.drain(S + 1_000, never), ["a", "b", "c"], "insertion order within the bucket");
  t.same(ix.index.drain(S + 1_000, never), [], "drained keys are gone");
});

t.test("keys filed in a later second are neither drained nor counted", async (t) => {
  const ix = setup();
  ix.file("a", S + 1_000);
  t.same(ix.drain(S + 999), [], "one millisecond before its second");
  t.equal(ix.count(S + 999), 0);
  t.equal(ix.takeCalls(), 0, "a later second is not looked into");
  t.same(ix.drain(S + 1_000), ["a"], "due at its own instant");
});

t.test("in the current second, drain takes keys in filing order and stops at the first unexpired one", async (t) => {
  const ix = setup();
  ix.file("a", S + 100);
  ix.file("b", S + 300);
  ix.file("c", S + 700);
  ix.file("d", S + 800);
  t.equal(ix.count(S + 300), 2, "b expires at its instant");
  t.equal(ix.takeCalls(), 3, "a and b, then c stops the count");
  t.same(ix.drain(S + 300), ["a", "b"]);
  t.equal(ix.takeCalls(), 3, "a and b, then c stops the drain");
  t.same(ix.drain(S + 300), [], "nothing more has expired");
  t.equal(ix.takeCalls(), 1, "only c is looked at");
  t.same(ix.drain(S + 800), ["c", "d"], "the rest of the bucket when it is due");
  t.equal(ix.takeCalls(), 2, "an emptied current bucket ends the scan");
  t.equal(ix.filed(), 0);
});

t.test("a renewal moves a key to the bucket of its new expiry", async (t) => {
  const ix = setup();
  ix.file("a", S + 500);
  ix.file("b", S + 600);
  ix.file("a", S + 5_500);
  t.same(ix.drain(S + 1_000), ["b"], "a left its old bucket");
  t.same(ix.drain(S + 5_499), []);
  t.same(ix.drain(S + 5_500), ["a"], "and is found in its new one");
});

t.test("a renewal to an earlier expiry moves the key back", async (t) => {
  const ix = setup();
  ix.file("a", S + 9_500);
  ix.file("a", S + 500);
  t.same(ix.drain(S + 1_000), ["a"]);
  t.same(ix.drain(S + 10_000), [], "not drained a second time from its old bucket");
});

t.test("a renewal inside the same second re-files the key at the end of its bucket", async (t) => {
  const ix = setup();
  ix.file("a", S + 100);
  ix.file("b", S + 200);
  ix.file("a", S + 300);
  t.same(ix.drain(S + 250), ["b"], "b, now first, has expired; a, behind it, has not");
  t.same(ix.drain(S + 300), ["a"]);
});

t.test("a renewal whose previous bucket is already gone still files the key", async (t) => {
  const ix = setup();
  ix.index.add("a", S + 500);
  t.same(ix.index.drain(S + 1_000, () => true), ["a"], "bucket of second S drained and dropped");
  ix.index.add("a", S + 2_500, S + 500);
  t.same(ix.index.drain(S + 3_000, () => true), ["a"]);
});

t.test("remove forgets a key; removing what is not filed changes nothing", async (t) => {
  const ix = setup();
  ix.file("a", S + 500);
  ix.file("b", S + 500);
  ix.file("c", S + 600);
  ix.forget("a");
  ix.index.remove("x", S + 500); // not in that bucket
  ix.index.remove("b", S + 7_500); // no bucket for that second
  t.equal(ix.count(S + 1_000), 2);
  t.same(ix.drain(S + 1_000), ["b", "c"]);
});

t.test("a bucket emptied by removals is dropped when passed, and its second can be filed again", async (t) => {
  const ix = setup();
  ix.file("a", S + 500);
  ix.file("z", S + 3_500);
  ix.forget("a");
  t.same(ix.drain(S + 1_500), [], "the empty bucket of S is passed and dropped");
  t.equal(ix.takeCalls(), 0);
  ix.file("b", S + 700); // a second already passed: the clock went back
  ix.file("c", S + 1_600); // the second drained up to last time
  t.same(ix.drain(S + 2_000), ["b", "c"], "both new buckets come before z");
  t.same(ix.drain(S + 3_500), ["z"]);
});

t.test("an emptied bucket in the current second is dropped and refiled on the next add", async (t) => {
  const ix = setup();
  ix.file("a", S + 100);
  t.same(ix.drain(S + 500), ["a"]);
  ix.file("b", S + 900);
  t.same(ix.drain(S + 500), [], "b is not due");
  t.same(ix.drain(S + 900), ["b"], "filed in a fresh bucket for the same second");
});

t.test("drain returns at most limit keys, oldest first, and the next drain resumes there", async (t) => {
  const ix = setup();
  ix.file("s0-a", S + 100);
  ix.file("s0-b", S + 200);
  ix.file("s1-a", S + 1_100);
  ix.file("s1-b", S + 1_200);
  ix.file("s2-a", S + 2_100);
  ix.file("s2-b", S + 2_900);
  const now = S + 2_500; // s2-a expired in the current second, s2-b not
  t.same(ix.drain(now, 0), [], "a limit of 0 removes nothing");
  t.equal(ix.count(now), 5, "countExpired has no limit");
  t.same(ix.drain(now, 3), ["s0-a", "s0-b", "s1-a"], "stops inside a bucket");
  t.same(ix.drain(now, 1), ["s1-b"], "stops exactly at the end of a bucket");
  t.same(ix.drain(now, 10), ["s2-a"], "the current second still stops at the first unexpired key");
  t.same(ix.drain(now, 10), []);
  t.same(ix.drain(S + 2_900, 10), ["s2-b"]);
});

t.test("a limit that falls inside the current second leaves the rest for the next drain", async (t) => {
  const ix = setup();
  for (const key of ["a", "b", "c"]) ix.file(key, S + 100);
  t.same(ix.drain(S + 500, 2), ["a", "b"]);
  t.equal(ix.takeCalls(), 2, "the limit stops before asking about c");
  t.same(ix.drain(S + 500, 2), ["c"]);
});

t.test("keys filed out of order of their seconds drain in order of their seconds", async (t) => {
  const ix = setup();
  const seconds = [30, 10, 20, 5, 25, 40, 15, 1, 35];
  for (const second of seconds) ix.file(`k${second}`, S + second * 1_000 + 500);
  ix.file("k10-again", S + 10_000 + 900); // a second that already has a bucket
  const expected = [1, 5, 10, "10-again", 15, 20, 25, 30, 35, 40].map((s) => `k${s}`);
  t.equal(ix.count(S + 60_000), expected.length);
  t.same(ix.drain(S + 60_000), expected);
});

t.test("out-of-order seconds drain in order one step at a time", async (t) => {
  const ix = setup();
  for (const second of [3, 1, 2]) ix.file(`k${second}`, S + second * 1_000);
  t.same(ix.drain(S + 1_000), ["k1"]);
  t.same(ix.drain(S + 2_000), ["k2"]);
  t.same(ix.drain(S + 2_999), []);
  t.same(ix.drain(S + 3_000), ["k3"]);
});

t.test("after the clock went back, an expired key behind an unexpired one waits for its second to pass", async (t) => {
  const ix = setup();
  ix.file("late", S + 800); // filed at S + 500 with a 300 ms lease
  ix.file("early", S + 400); // filed after the clock went back to S + 100
  t.same(ix.drain(S + 500), [], "late has not expired and stops the scan");
  t.equal(ix.count(S + 500), 0, "countExpired agrees with drain, not with the truth");
  t.same(ix.expiredAt(S + 500), ["early"], "(which is that early has expired)");
  t.same(ix.drain(S + 800), ["late", "early"], "freed when the first key of the bucket is due");
});

t.test("after the clock went back, a stuck key is freed once its second has passed, never early", async (t) => {
  const ix = setup();
  ix.file("late", S + 900);
  ix.file("early", S + 400);
  t.same(ix.drain(S + 899), []);
  t.same(ix.drain(S + 1_000), ["late", "early"], "a whole past bucket");
});

t.test("countExpired equals what drain removes, whatever the clock does", async (t) => {
  for (const seed of [1, 2, 3, 0xc0ffee]) {
    const rng = createRng(seed);
    const ix = setup();
    let now = S;
    let mismatches = 0;
    let early = 0;
    let drained = 0;
    for (let step = 0; step < 3_000; step++) {
      now += rng.int(-400, 600); // goes back now and then
      const roll = rng.next();
      if (roll < 0.55) {
        ix.file(`k${rng.int(0, 199)}`, now + rng.int(0, 3_000)); // lease lengths vary too
      } else if (roll < 0.65) {
        const key = `k${rng.int(0, 199)}`;
        if (ix.isFiled(key)) ix.forget(key);
      } else {
        const counted = ix.count(now);
        const expiredBefore = new Set(ix.expiredAt(now));
        const keys = ix.drain(now);
        if (counted !== keys.length) mismatches++;
        early += keys.filter((key) => !expiredBefore.has(key)).length;
        drained += keys.length;
      }
    }
    t.equal(mismatches, 0, `seed ${seed}: countExpired matched every drain (${drained} keys drained)`);
    t.equal(early, 0, `seed ${seed}: no key was drained before its expiry`);
    ix.drain(Infinity);
    t.equal(ix.filed(), 0, `seed ${seed}: everything drains once its second has passed`);
  }
});

t.test("with one lease length and a clock that only goes forward, drain and countExpired are exact", async (t) => {
  const ttlMs = 2_500;
  for (const seed of [7, 8, 9]) {
    const rng = createRng(seed);
    const ix = setup();
    let now = S;
    let wrongCounts = 0;
    let wrongDrains = 0;
    for (let step = 0; step < 3_000; step++) {
      now += rng.int(0, 400);
      const roll = rng.next();
      if (roll < 0.6) {
        ix.file(`k${rng.int(0, 299)}`, now + ttlMs);
      } else {
        const expired = ix.expiredAt(now);
        if (ix.count(now) !== expired.length) wrongCounts++;
        const limit = rng.chance(0.5) ? rng.int(0, 5) : undefined;
        const keys = ix.drain(now, limit);
        const want = Math.min(expired.length, limit ?? Infinity);
        if (keys.length !== want || keys.some((key) => !expired.includes(key))) wrongDrains++;
      }
    }
    t.equal(wrongCounts, 0, `seed ${seed}: countExpired counted exactly the expired keys`);
    t.equal(wrongDrains, 0, `seed ${seed}: every drain took min(limit, expired) expired keys`);
  }
});

t.test("draining 10 expiries among 50,013 keys asks isExpired about those 10 and one more", async (t) => {
  const ix = setup();
  for (let i = 0; i < 5; i++) ix.file(`past-${i}`, S + 300);
  for (let i = 0; i < 50_000; i++) ix.file(`long-${i}`, S + 3_600_000);
  for (let i = 0; i < 5; i++) ix.file(`current-${i}`, S + 1_200);
  for (let i = 0; i < 3; i++) ix.file(`pending-${i}`, S + 1_800);
  const now = S + 1_500;
  t.equal(ix.count(now), 10);
  const countCalls = ix.takeCalls();
  t.ok(countCalls <= 11, `countExpired asked isExpired ${countCalls} times`);
  const keys = ix.drain(now);
  const drainCalls = ix.takeCalls();
  t.equal(keys.length, 10);
  t.ok(drainCalls <= 11, `drain asked isExpired ${drainCalls} times`);
  t.equal(ix.filed(), 50_003);
});

t.test("20,001 keys in the current second with one expired: counting and draining ask about two", async (t) => {
  const ix = setup();
  ix.file("early", S + 100);
  for (let i = 0; i < 20_000; i++) ix.file(`same-second-${i}`, S + 500);
  const now = S + 200;
  t.equal(ix.count(now), 1);
  const countCalls = ix.takeCalls();
  t.ok(countCalls <= 2, `countExpired asked isExpired ${countCalls} times`);
  t.same(ix.drain(now), ["early"]);
  const drainCalls = ix.takeCalls();
  t.ok(drainCalls <= 2, `drain asked isExpired ${drainCalls} times`);
});

t.test("indexes are independent", async (t) => {
  const one: ExpiryIndex = createExpiryIndex();
  const two: ExpiryIndex = createExpiryIndex();
  one.add("a", S);
  t.same(two.drain(S + 1_000, () => true), []);
  t.same(one.drain(S + 1_000, () => true), ["a"]);
});
