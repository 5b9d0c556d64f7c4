import t from "tap";
import { finiteAtLeast, httpUrl, integerAtLeast, MAX_TIMER_MS, timeoutMs } from "../../src/client/validate.js";

t.test("finiteAtLeast returns a finite number at or above the minimum unchanged", async (t) => {
  t.equal(finiteAtLeast("timeoutMs", 1, 1), 1, "the minimum itself");
  t.equal(finiteAtLeast("timeoutMs", 1.5, 1), 1.5, "fractions are fine");
  t.equal(finiteAtLeast("cacheTtlMs", 0, 0), 0);
  t.equal(finiteAtLeast("offset", -3, -5), -3, "negative minimums work");
  t.equal(finiteAtLeast("big", Number.MAX_VALUE, 0), Number.MAX_VALUE);
});

t.test("finiteAtLeast refuses a number below the minimum, non-finite numbers and non-numbers with a RangeError quoting them", async (t) => {
  const cases: [value: unknown, shown: string][] = [
    [0.999, "0.999"],
    [-1, "-1"],
    [Number.NaN, "NaN"],
    [Number.POSITIVE_INFINITY, "Infinity"],
    [Number.NEGATIVE_INFINITY, "-Infinity"],
    ["5", "5"],
    [undefined, "undefined"],
    [null, "null"],
  ];
  for (const [value, shown] of cases) {
    t.throws(() => finiteAtLeast("timeoutMs", value as number, 1), new RangeError(`timeoutMs must be a finite number >= 1, got ${shown}`), `${typeof value} ${shown}`);
  }
});

t.test("integerAtLeast returns an integer at or above the minimum unchanged", async (t) => {
  t.equal(integerAtLeast("retry.attempts", 1, 1), 1);
  t.equal(integerAtLeast("retry.attempts", 7, 1), 7);
  t.equal(integerAtLeast("n", 2.0, 2), 2, "2.0 is an integer");
});

t.test("integerAtLeast refuses fractions, values below the minimum and non-integers with a RangeError quoting them", async (t) => {
  const cases: [value: unknown, shown: string][] = [
    [0, "0"],
    [1.5, "1.5"],
    [Number.NaN, "NaN"],
    [Number.POSITIVE_INFINITY, "Infinity"],
    ["3", "3"],
  ];
  for (const [value, shown] of cases) {
    t.throws(() => integerAtLeast("retry.attempts", value as number, 1), new RangeError(`retry.attempts must be an integer >= 1, got ${shown}`), `${typeof value} ${shown}`);
  }
});

t.test("httpUrl returns an absolute http or https URL exactly as given", async (t) => {
  for (const url of ["http://127.0.0.1:8080", "https://discovery.coral.io", "HTTPS://Discovery.Coral.IO/base/", "http://[::1]:8080/prefix?x=1"]) {
    t.equal(httpUrl("baseUrl", url), url, url);
  }
});

t.test("httpUrl refuses anything else with a TypeError quoting the value", async (t) => {
  for (const value of ["", "discovery:8080", "127.0.0.1:8080", "/relative", "ftp://example.com", "ws://example.com", "file:///etc/passwd", "http//missing-colon", "http://"]) {
    t.throws(() => httpUrl("baseUrl", value), new TypeError(`baseUrl must be an absolute http:// or https:// URL, got ${JSON.stringify(value)}`), JSON.stringify(value));
  }
});

t.test("timeoutMs accepts what a Node timer can hold, and refuses longer or non-finite values", async (t) => {
  t.equal(timeoutMs("timeoutMs", 1, 1), 1);
  t.equal(timeoutMs("timeoutMs", MAX_TIMER_MS, 1), MAX_TIMER_MS, "2^31-1 ms is the longest");
  t.equal(MAX_TIMER_MS, 2 ** 31 - 1);
  t.throws(() => timeoutMs("timeoutMs", MAX_TIMER_MS + 1, 1), new RangeError(`timeoutMs must be at most ${MAX_TIMER_MS} ms (about 24.8 days), got ${MAX_TIMER_MS + 1}`));
  t.throws(() => timeoutMs("intervalMs", 0, 1), new RangeError("intervalMs must be a finite number >= 1, got 0"));
  t.throws(() => timeoutMs("intervalMs", Number.POSITIVE_INFINITY, 1), /must be a finite number/);
});
