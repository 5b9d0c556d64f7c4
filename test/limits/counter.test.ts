import t from "tap";
import { createCounter } from "../../src/limits/counter.js";

t.test("counts per key, and forgets a key whose count drops to zero or below", async (t) => {
  const counter = createCounter();
  t.equal(counter.get("a"), 0, "an unknown key counts 0");
  counter.add("a", 2);
  counter.add("a", 1);
  counter.add("b", 1);
  t.equal(counter.get("a"), 3);
  t.equal(counter.get("b"), 1);
  counter.add("a", -3);
  t.equal(counter.get("a"), 0);
  counter.add("b", -5);
  t.equal(counter.get("b"), 0, "never negative");
  counter.add("b", 1);
  t.equal(counter.get("b"), 1, "a forgotten key starts again from 0");
  counter.add("c", -1);
  t.equal(counter.get("c"), 0, "a decrement of an unknown key leaves it unknown");
});
