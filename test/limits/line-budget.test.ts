import t from "tap";
import { createLineBudget } from "../../src/limits/line-budget.js";
import { createFakeClock } from "../fixtures/clock.js";

t.test("lines pass up to the burst, then one per 1/rate seconds; the next line through reports how many were dropped", async (t) => {
  const clock = createFakeClock();
  const budget = createLineBudget({ perSecond: 10, burst: 3, now: clock.now });
  t.same([budget.take(), budget.take(), budget.take()], [0, 0, 0], "the burst, nothing dropped");
  t.same([budget.take(), budget.take()], [undefined, undefined], "over the burst: dropped");
  clock.advance(99);
  t.equal(budget.take(), undefined, "not yet a line's worth of time");
  clock.advance(1);
  t.equal(budget.take(), 3, "100 ms later a line passes and reports the 3 dropped");
  clock.advance(100);
  t.equal(budget.take(), 0, "the count starts over");
});

t.test("a flood costs a bounded number of lines however long it lasts", async (t) => {
  const clock = createFakeClock();
  const budget = createLineBudget({ perSecond: 10, burst: 20, now: clock.now });
  let written = 0;
  let reported = 0;
  // 1,000 lines a second for 10 s.
  for (let ms = 0; ms < 10_000; ms++) {
    const taken = budget.take();
    if (taken !== undefined) {
      written++;
      reported += taken;
    }
    clock.advance(1);
  }
  t.ok(written <= 20 + 10 * 10 + 1, `${written} lines written`);
  clock.advance(1_000);
  const last = budget.take();
  t.equal(written + reported + (last ?? NaN), 10_000, "every line of the flood is written or counted by a later line");
});

t.test("an idle budget refills to its burst and no further", async (t) => {
  const clock = createFakeClock();
  const budget = createLineBudget({ perSecond: 1, burst: 2, now: clock.now });
  budget.take();
  budget.take();
  t.equal(budget.take(), undefined);
  clock.advance(3_600_000);
  t.same([budget.take(), budget.take(), budget.take()], [1, 0, undefined], "an hour later: the burst again, the first reporting the drop");
});
