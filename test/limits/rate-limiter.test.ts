import t from "tap";
import { createRateLimiter } from "../../src/limits/rate-limiter.js";

t.test("a bucket allows its burst, then one token per 1/rate seconds", async (t) => {
  const limiter = createRateLimiter({ perSecond: 10, burst: 3 });
  t.same([0, 0, 0].map(() => limiter.take("a", 1_000)), [0, 0, 0], "the burst");
  t.equal(limiter.take("a", 1_000), 100, "the fourth waits 100 ms");
  t.equal(limiter.take("a", 1_050), 50, "half a token refilled; 50 ms to go");
  t.equal(limiter.take("a", 1_100), 0, "a token has refilled");
  t.equal(limiter.take("b", 1_100), 0, "keys are independent");
});

t.test("a bucket refills to its burst and no further", async (t) => {
  const limiter = createRateLimiter({ perSecond: 1, burst: 2 });
  limiter.take("a", 0);
  limiter.take("a", 0);
  t.ok(limiter.take("a", 0) > 0);
  const allowed = [0, 0, 0].map(() => limiter.take("a", 3_600_000)).filter((w) => w === 0).length;
  t.equal(allowed, 2, "after an hour idle, still only the burst");
});

t.test("idle buckets are pruned, at a cost proportional to what is pruned", async (t) => {
  const limiter = createRateLimiter({ perSecond: 10, burst: 20 }); // refills in 2 s
  for (let i = 0; i < 1000; i++) limiter.take(`old-${i}`, 0);
  limiter.take("recent", 1_500);
  t.equal(limiter.size, 1001);
  t.equal(limiter.prune(1_999), 0, "nothing has refilled yet");
  t.equal(limiter.prune(2_000), 1000, "the old buckets have");
  t.equal(limiter.size, 1);
  t.equal(limiter.prune(3_499), 0);
  t.equal(limiter.prune(3_500), 1);
});

t.test("state is capped: the least recently seen key is forgotten", async (t) => {
  const limiter = createRateLimiter({ perSecond: 1, burst: 1, maxKeys: 3 });
  limiter.take("a", 0);
  limiter.take("b", 0);
  limiter.take("c", 0);
  limiter.take("a", 1); // "a" is now the most recent
  limiter.take("d", 2);
  t.equal(limiter.size, 3);
  t.ok(limiter.take("a", 3) > 0, "a is still tracked (and empty)");
  t.equal(limiter.take("b", 3), 0, "b was forgotten: a fresh bucket");
});

t.test("new keys also prune a little, so a flood of addresses does not grow state", async (t) => {
  const limiter = createRateLimiter({ perSecond: 100, burst: 1 }); // refills in 10 ms
  for (let i = 0; i < 10_000; i++) limiter.take(`ip-${i}`, i * 20);
  t.ok(limiter.size < 10, `size ${limiter.size}`);
});

t.test("wait says how long until a key has a token, without taking one", async (t) => {
  const limiter = createRateLimiter({ perSecond: 1, burst: 2 });
  t.equal(limiter.wait("a", 0), 0, "an unknown key has its burst");
  t.equal(limiter.size, 0, "and asking creates no bucket");
  t.equal(limiter.take("a", 0), 0);
  t.equal(limiter.wait("a", 0), 0, "one token left");
  t.equal(limiter.wait("a", 0), 0, "asking again does not take it");
  t.equal(limiter.take("a", 0), 0);
  t.equal(limiter.wait("a", 0), 1000);
  t.equal(limiter.wait("a", 400), 600, "refilling as time passes");
  t.equal(limiter.wait("a", 1000), 0);
  t.equal(limiter.wait("a", -5), 1000, "a clock gone back refills nothing");
});
