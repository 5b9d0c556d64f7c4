import t from "tap";
import { backoffDelayMs, defaultBackoffPolicy, scheduledDelayMs } from "../../src/client/backoff.js";

const policy = defaultBackoffPolicy;

t.test("without jitter the waits are 2 s, 4 s, 8 s, ... capped at 120 s", async (t) => {
  const exact = () => 0.5;
  t.same([1, 2, 3, 4, 5, 6, 7, 8, 20].map((n) => backoffDelayMs(n, policy, exact)), [2000, 4000, 8000, 16_000, 32_000, 64_000, 120_000, 120_000, 120_000]);
  t.equal(backoffDelayMs(1, { ...policy, jitter: 0 }, () => 0.99), 2000, "jitter 0 ignores randomness");
});

t.test("jitter spreads each wait over ±20 % and never past the cap", async (t) => {
  for (let n = 1; n <= 10; n++) {
    const base = Math.min(120_000, 2000 * 2 ** (n - 1));
    const low = backoffDelayMs(n, policy, () => 0);
    const high = backoffDelayMs(n, policy, () => 0.999_999);
    t.equal(low, Math.round(base * 0.8), `attempt ${n}: lowest is -20 %`);
    t.equal(high, Math.min(120_000, Math.round(base * 1.2)), `attempt ${n}: highest is +20 %, capped`);
    for (let i = 0; i < 50; i++) {
      const d = backoffDelayMs(n, policy, Math.random);
      if (d < low || d > high) t.fail(`attempt ${n}: ${d} outside [${low}, ${high}]`);
    }
  }
});

t.test("a fixed schedule repeats its last entry", async (t) => {
  const delays = [1000, 2000, 4000, 8000];
  t.same([1, 2, 3, 4, 5, 6].map((n) => scheduledDelayMs(n, delays)), [1000, 2000, 4000, 8000, 8000, 8000]);
  t.equal(scheduledDelayMs(1, []), 0);
});
