import t from "tap";
import { parseDuration } from "../../src/cli/duration.js";

t.test("each unit converts to milliseconds", async (t) => {
  t.equal(parseDuration("500ms"), 500);
  t.equal(parseDuration("30s"), 30_000);
  t.equal(parseDuration("2m"), 120_000);
  t.equal(parseDuration("1h"), 3_600_000);
});

t.test("a bare number is seconds", async (t) => {
  t.equal(parseDuration("45"), 45_000);
  t.equal(parseDuration("0"), 0);
  t.equal(parseDuration("0.25"), 250);
});

t.test("decimals are allowed and the result is rounded to whole milliseconds", async (t) => {
  t.equal(parseDuration("1.5s"), 1500);
  t.equal(parseDuration("0.5m"), 30_000);
  t.equal(parseDuration("0.1h"), 360_000);
  t.equal(parseDuration("1.4ms"), 1);
  t.equal(parseDuration("2.5ms"), 3, "halves round up");
  t.equal(parseDuration("0.0001s"), 0, "less than half a millisecond rounds to 0");
});

t.test("spaces around the number and between number and unit are allowed", async (t) => {
  t.equal(parseDuration("  10s  "), 10_000);
  t.equal(parseDuration("10 s"), 10_000);
  t.equal(parseDuration("\t2\tm\n"), 120_000);
});

t.test("anything that is not a non-negative decimal with one of the units is undefined", async (t) => {
  for (const text of ["", " ", "s", "ms", "abc", "-1s", "+1s", "1d", "1S", "1MS", "1sec", "1min", ".5s", "1.s", "1e3", "1e3ms", "0x10", "1,5s", "1 000ms", "1s2", "1m30s", "Infinity", "NaN"]) {
    t.equal(parseDuration(text), undefined, JSON.stringify(text));
  }
});

t.test("a number too large to be finite in milliseconds is undefined", async (t) => {
  t.equal(parseDuration("9".repeat(400)), undefined, "Infinity seconds");
  t.equal(parseDuration(`${"9".repeat(306)}h`), undefined, "finite as a number, infinite once multiplied");
  t.equal(parseDuration(`${"9".repeat(300)}ms`), Number("9".repeat(300)), "large but finite is kept");
});
