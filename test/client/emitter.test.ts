import t from "tap";
import { createEmitter } from "../../src/client/emitter.js";

interface Events {
  data: number;
  error: Error;
  done: undefined;
}

/** One macrotask: every queued microtask has run by then. */
const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * Runs `fn` with this test as the only 'uncaughtException' listener and
 * returns what reached that listener by the next macrotask; `fn` gets the same
 * array to watch it fill. The listener is removed and any others put back in
 * `finally`, so nothing leaks into the rest of the run, whatever happens.
 */
async function captureUncaught(fn: (live: readonly unknown[]) => void): Promise<unknown[]> {
  const uncaught: unknown[] = [];
  const record = (error: unknown) => uncaught.push(error);
  const others = process.listeners("uncaughtException");
  for (const listener of others) process.off("uncaughtException", listener);
  process.on("uncaughtException", record);
  try {
    fn(uncaught);
    await nextTurn();
  } finally {
    process.off("uncaughtException", record);
    for (const listener of others) process.on("uncaughtException", listener);
  }
  return uncaught;
}

t.test("emit calls every listener of the event, in the order they were added, with the payload", async (t) => {
  const emitter = createEmitter<Events>();
  const seen: string[] = [];
  emitter.on("data", (n) => seen.push(`first ${n}`));
  emitter.on("data", (n) => seen.push(`second ${n}`));
  emitter.on("error", (e) => seen.push(`error ${e.message}`));
  emitter.emit("data", 1);
  emitter.emit("data", 2);
  t.same(seen, ["first 1", "second 1", "first 2", "second 2"], "listeners of other events are not called");
});

t.test("an event nobody listens to, error included, is dropped without throwing", async (t) => {
  const emitter = createEmitter<Events>();
  const uncaught = await captureUncaught(() => {
    emitter.emit("error", new Error("nobody cares"));
    emitter.emit("done", undefined);
  });
  t.same(uncaught, [], "not thrown later either");
});

t.test("the function on() returns removes that listener only", async (t) => {
  const emitter = createEmitter<Events>();
  const seen: string[] = [];
  const removeA = emitter.on("data", (n) => seen.push(`a${n}`));
  emitter.on("data", (n) => seen.push(`b${n}`));
  emitter.emit("data", 1);
  removeA();
  emitter.emit("data", 2);
  removeA();
  emitter.emit("data", 3);
  t.same(seen, ["a1", "b1", "b2", "b3"], "removing twice is harmless");
});

t.test("off removes a listener; off for an unknown listener or event does nothing", async (t) => {
  const emitter = createEmitter<Events>();
  const seen: number[] = [];
  const listener = (n: number) => seen.push(n);
  emitter.off("data", listener);
  emitter.on("data", listener);
  emitter.off("data", () => {});
  emitter.emit("data", 1);
  emitter.off("data", listener);
  emitter.emit("data", 2);
  t.same(seen, [1]);
});

t.test("the same listener added twice is called once and removed at once", async (t) => {
  const emitter = createEmitter<Events>();
  let calls = 0;
  const listener = () => calls++;
  emitter.on("data", listener);
  emitter.on("data", listener);
  emitter.emit("data", 1);
  t.equal(calls, 1);
  emitter.off("data", listener);
  emitter.emit("data", 2);
  t.equal(calls, 1);
});

t.test("a listener added during an emit is called from the next emit on", async (t) => {
  const emitter = createEmitter<Events>();
  const seen: string[] = [];
  emitter.on("data", (n) => {
    seen.push(`outer ${n}`);
    if (n === 1) emitter.on("data", (m) => seen.push(`inner ${m}`));
  });
  emitter.emit("data", 1);
  emitter.emit("data", 2);
  t.same(seen, ["outer 1", "outer 2", "inner 2"]);
});

t.test("a listener removed during an emit still gets that emit (like node:events), and no later one", async (t) => {
  const emitter = createEmitter<Events>();
  const seen: string[] = [];
  let removeSecond = () => {};
  emitter.on("data", (n) => {
    seen.push(`first ${n}`);
    removeSecond();
  });
  removeSecond = emitter.on("data", (n) => seen.push(`second ${n}`));
  emitter.emit("data", 1);
  emitter.emit("data", 2);
  t.same(seen, ["first 1", "second 1", "first 2"]);
});

t.test("a listener that throws does not stop the others; its error is rethrown on a microtask, not by emit", async (t) => {
  const emitter = createEmitter<Events>();
  const seen: number[] = [];
  const bug = new Error("listener bug");
  const other = new TypeError("second bug");
  emitter.on("data", () => {
    throw bug;
  });
  emitter.on("data", (n) => seen.push(n));
  emitter.on("data", () => {
    throw other;
  });
  let emitThrew = false;
  let seenSynchronously: unknown[] = [];
  const uncaught = await captureUncaught(() => {
    try {
      emitter.emit("data", 7);
    } catch {
      emitThrew = true;
    }
    seenSynchronously = [...seen];
  });
  t.equal(emitThrew, false, "emit itself returns normally");
  t.same(seenSynchronously, [7], "the listener after the throwing one ran within emit");
  t.equal(uncaught.length, 2, "each error surfaces as an uncaught exception");
  t.equal(uncaught[0], bug, "the very error thrown, in order");
  t.equal(uncaught[1], other);
});

t.test("the error is rethrown on a microtask queued by emit: after emit returns, before later microtasks", async (t) => {
  const emitter = createEmitter<Events>();
  emitter.on("done", () => {
    throw new Error("late");
  });
  let duringEmit = -1;
  let atNextMicrotask = -1;
  const uncaught = await captureUncaught((live) => {
    emitter.emit("done", undefined);
    duringEmit = live.length;
    queueMicrotask(() => (atNextMicrotask = live.length));
  });
  t.equal(duringEmit, 0, "nothing thrown synchronously");
  t.equal(atNextMicrotask, 1, "already thrown when a microtask queued after emit runs");
  t.match(uncaught, [{ message: "late" }]);
});
