import t from "tap";
import { Code, ConnectError } from "@connectrpc/connect";
import { backgroundTimers, canceledError, realTimers, sleep } from "../src/timers.js";
import { createFakeClock } from "./fixtures/clock.js";
import { createManualTimers } from "./fixtures/manual-timers.js";

t.test("sleep resolves after the timer fires, on whatever timers it is given", async (t) => {
  const timers = createManualTimers(createFakeClock());
  let done = false;
  const slept = sleep(250, timers).then(() => (done = true));
  await timers.settle();
  t.equal(done, false);
  t.equal(await timers.next(), 250);
  await slept;
  t.equal(done, true);
});

t.test("an abort rejects the sleep with canceled and clears its timer", async (t) => {
  const timers = createManualTimers(createFakeClock());
  const controller = new AbortController();
  const slept = sleep(1_000, timers, controller.signal);
  controller.abort(new Error("stop"));
  const error = (await slept.catch((e: unknown) => e)) as ConnectError;
  t.equal(error.code, Code.Canceled);
  t.equal((error.cause as Error).message, "stop", "the abort reason is the cause");
  t.equal(timers.pending(), 0);
  const already = await sleep(1, timers, controller.signal).catch((e: unknown) => e);
  t.equal((already as ConnectError).code, Code.Canceled, "an aborted signal rejects at once");
  t.equal(timers.pending(), 0, "without scheduling anything");
});

t.test("a sleep that ran its course ignores a later abort", async (t) => {
  const timers = createManualTimers(createFakeClock());
  let clears = 0;
  const counting = { ...timers, clearTimeout: (handle: unknown) => (clears++, timers.clearTimeout(handle)) };
  const controller = new AbortController();
  const slept = sleep(100, counting, controller.signal);
  t.equal(await timers.next(), 100);
  await slept;
  controller.abort(new Error("too late"));
  t.equal(clears, 0, "the abort listener was removed when the timer fired");
});

t.test("canceledError keeps a canceled ConnectError reason as it is", async (t) => {
  const reason = new ConnectError("bye", Code.Canceled);
  const controller = new AbortController();
  controller.abort(reason);
  t.equal(canceledError(controller.signal), reason);
  const other = new AbortController();
  other.abort(new ConnectError("late", Code.DeadlineExceeded));
  t.equal(canceledError(other.signal).code, Code.Canceled, "another code becomes the cause");
});

t.test("the real timers fire and clear; background timers never keep the process alive", async (t) => {
  const fired = await new Promise<boolean>((resolve) => realTimers.setTimeout(() => resolve(true), 1));
  t.ok(fired);
  let cleared = true;
  const handle = realTimers.setTimeout(() => (cleared = false), 1);
  realTimers.clearTimeout(handle);
  const background = backgroundTimers.setTimeout(() => (cleared = false), 1) as NodeJS.Timeout;
  t.equal(background.hasRef(), false, "unref'd");
  backgroundTimers.clearTimeout(background);
  // Timers of one duration fire in the order they were set: this one comes after both would have.
  await new Promise((resolve) => setTimeout(resolve, 1));
  t.ok(cleared, "cleared timers never fire");
});
