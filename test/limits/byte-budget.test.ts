import t from "tap";
import { createByteBudget } from "../../src/limits/byte-budget.js";

t.test("bytes are held per key and in all; a take past either limit takes nothing", async (t) => {
  const budget = createByteBudget({ max: 1_000, maxPerKey: 600 });
  t.equal(budget.take("a", 500), "ok");
  t.equal(budget.take("a", 101), "key");
  t.equal(budget.take("a", 100), "ok", "exactly at the key's limit");
  t.equal(budget.take("b", 401), "total");
  t.equal(budget.take("b", 400), "ok", "exactly at the total");
  t.same([budget.total, budget.held("a"), budget.held("b"), budget.held("c")], [1_000, 600, 400, 0]);
  t.same(budget.options, { max: 1_000, maxPerKey: 600 });
});

t.test("give returns bytes and forgets a key at zero; giving nothing is a no-op", async (t) => {
  const budget = createByteBudget({ max: 1_000, maxPerKey: 600 });
  budget.take("a", 300);
  budget.give("a", 100);
  t.equal(budget.held("a"), 200);
  budget.give("a", 0);
  t.equal(budget.total, 200);
  budget.give("a", 200);
  t.same([budget.total, budget.held("a")], [0, 0]);
  t.equal(budget.take("a", 600), "ok", "the whole key budget is back");
});

t.test("a give never returns more than its key holds: stray gives make no room for others", async (t) => {
  const budget = createByteBudget({ max: 100, maxPerKey: 100 });
  budget.give("nobody", 50);
  t.equal(budget.total, 0, "a key that holds nothing gives nothing");
  t.equal(budget.take("a", 60), "ok");
  budget.give("a", 80);
  t.equal(budget.held("a"), 0);
  t.equal(budget.total, 0, "only the 60 bytes a held");
  t.equal(budget.take("b", 101), "total", "and the budget is what it was");
});
