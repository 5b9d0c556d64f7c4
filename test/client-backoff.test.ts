import t from "tap";
import { Code, ConnectError } from "@connectrpc/connect";
import { backoffDelayMs, defaultBackoffPolicy, scheduledDelayMs } from "../src/client/backoff.js";
import { isFinalRegistrationError, isNetworkError, isRetryableLookupError } from "../src/client/errors.js";

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

t.test("which errors are retried", async (t) => {
  const reset = Object.assign(new Error("socket hang up"), { code: "ECONNRESET" });
  const viaReset = new ConnectError("stream closed", Code.Aborted, undefined, undefined, reset);
  t.ok(isNetworkError(viaReset), "ECONNRESET in the cause chain");
  t.ok(isRetryableLookupError(viaReset), "connect-node reports a reset as aborted; still a network error");
  t.notOk(isRetryableLookupError(new ConnectError("stream closed", Code.Aborted)), "aborted without a network cause");
  for (const code of [Code.Unavailable, Code.DeadlineExceeded, Code.ResourceExhausted, Code.NotFound]) {
    t.ok(isRetryableLookupError(new ConnectError("x", code)), `lookup retries ${Code[code]}`);
  }
  for (const code of [Code.InvalidArgument, Code.Canceled]) {
    t.notOk(isRetryableLookupError(new ConnectError("x", code, undefined, undefined, reset)), `lookup never retries ${Code[code]}, network cause or not`);
  }
  for (const code of [Code.PermissionDenied, Code.Internal, Code.Unimplemented]) {
    t.notOk(isRetryableLookupError(new ConnectError("x", code)), `lookup does not retry ${Code[code]} from the service`);
  }
  const pipe = new ConnectError("write EPIPE", Code.Internal, undefined, undefined, Object.assign(new Error("write EPIPE"), { code: "EPIPE" }));
  t.ok(isRetryableLookupError(pipe), "connect-node reports some socket errors as internal: the cause decides");
  t.ok(isFinalRegistrationError(new ConnectError("x", Code.InvalidArgument)));
  t.ok(isFinalRegistrationError(new ConnectError("x", Code.AlreadyExists)));
  t.notOk(isFinalRegistrationError(new ConnectError("x", Code.Unavailable)));
});
