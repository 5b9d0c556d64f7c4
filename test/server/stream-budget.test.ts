import t from "tap";
import { createStreamBudget } from "../../src/server/stream-budget.js";

t.test("streams are counted per address key and in all; refusals take nothing", async (t) => {
  const budget = createStreamBudget({ max: 3, maxPerAddress: 2 });
  t.equal(budget.open("a"), "ok");
  t.equal(budget.open("a"), "ok");
  t.equal(budget.open("a"), "address");
  t.equal(budget.open("b"), "ok");
  t.equal(budget.open("c"), "global");
  t.equal(budget.open(undefined), "global", "the total applies to unkeyed (exempt) streams too");
  t.equal(budget.size, 3);
  budget.close("a");
  t.equal(budget.open("a"), "ok", "a closed stream gives its address a slot back");
  budget.close("a");
  budget.close("a");
  t.equal(budget.size, 1);
  t.equal(budget.open("a"), "ok");
  t.equal(budget.open("a"), "ok", "the key was forgotten at zero and counts from zero");
});

t.test("undefined keys and a 0 limit skip the per-address count", async (t) => {
  const exempt = createStreamBudget({ max: 0, maxPerAddress: 1 });
  for (let i = 0; i < 5; i++) t.equal(exempt.open(undefined), "ok");
  exempt.close(undefined);
  t.equal(exempt.size, 4);
  const unlimited = createStreamBudget({ max: 0, maxPerAddress: 0 });
  for (let i = 0; i < 5; i++) t.equal(unlimited.open("a"), "ok");
  unlimited.close("a");
  t.equal(unlimited.size, 4);
});
