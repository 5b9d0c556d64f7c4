import t from "tap";
import { createSortedKeys } from "../../src/registry/sorted-keys.js";

t.test("keys come out in code-unit order, each once, whatever order they were added in", async (t) => {
  const live = new Set(["b", "a", "c", "B"]);
  const sorted = createSortedKeys((key) => live.has(key));
  for (const key of ["b", "a", "c", "a", "B", "b"]) sorted.add(key);
  t.equal(sorted.seek(""), 0);
  t.same(sorted.keys(), ["B", "a", "b", "c"]);
});

t.test("removed keys are dropped at the next merge, and a key added again comes back", async (t) => {
  const live = new Set(["a", "b"]);
  const sorted = createSortedKeys((key) => live.has(key));
  sorted.add("a");
  sorted.add("b");
  sorted.seek("");
  live.delete("a");
  t.same(sorted.keys(), ["a", "b"], "not tracked until something merges");
  live.add("c");
  sorted.add("c");
  sorted.seek("");
  t.same(sorted.keys(), ["b", "c"], "the merge dropped the removed key");
  live.add("a");
  sorted.add("a");
  sorted.seek("");
  t.same(sorted.keys(), ["a", "b", "c"]);
});

t.test("seek starts at a prefix, or after the last key of the previous page when that is later", async (t) => {
  const keys = ["mesh-a", "mesh-b", "mesh-c", "other"];
  const sorted = createSortedKeys(() => true);
  for (const key of keys) sorted.add(key);
  t.equal(sorted.seek("mesh-"), 0, "first key with the prefix");
  t.equal(sorted.seek("mesh-", "mesh-a"), 1, "after the previous page's last key");
  t.equal(sorted.seek("mesh-", "mesh-b0"), 2, "after a key that is gone");
  t.equal(sorted.seek("n"), 3);
  t.equal(sorted.seek("mesh-c", "a"), 2, "a token before the prefix does not move the start back");
  t.equal(sorted.seek("", "zzz"), 4, "past the end");
});

t.test("pending keys are merged without a reader once they outnumber the sorted ones, so they never pile up", async (t) => {
  const sorted = createSortedKeys(() => true);
  for (let i = 0; i < 1_024; i++) sorted.add(`k${String(i).padStart(5, "0")}`);
  t.equal(sorted.keys().length, 0, "up to 1,024 pending keys wait for a reader");
  sorted.add("k99999");
  t.equal(sorted.keys().length, 1_025, "one more and they are merged");
  t.equal(sorted.keys()[0], "k00000");
  t.equal(sorted.keys()[1_024], "k99999");
  for (let i = 0; i < 1_025; i++) sorted.add(`j${i}`);
  t.equal(sorted.keys().length, 1_025, "then they wait until they outnumber the sorted keys");
  sorted.add("j-last");
  t.equal(sorted.keys().length, 2_051);
});
