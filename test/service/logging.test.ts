import t from "tap";
import { Code, ConnectError } from "@connectrpc/connect";
import { DiscoveryService } from "../../gen/coral/discovery/v1/discovery_pb.js";
import { chain, type Call } from "../../src/service/call.js";
import { contextOf } from "../fixtures/call.js";
import { createLineBudget } from "../../src/limits/line-budget.js";
import { isClientGone, limitErrorLines, loggingStep, logRpcError, type RpcLogger } from "../../src/service/logging.js";
import { createFakeClock } from "../fixtures/clock.js";

interface Line {
  level: "error" | "debug";
  obj: object;
  msg: string;
}

function recordingLogger(): { log: RpcLogger; lines: Line[] } {
  const lines: Line[] = [];
  return {
    lines,
    log: {
      error: (obj, msg) => lines.push({ level: "error", obj, msg }),
      debug: (obj, msg) => lines.push({ level: "debug", obj, msg }),
    },
  };
}

/** A chain whose only step is the logging one, around `handler`; `call(method)` runs one call. */
function logged(handler: (call: Call) => object | Promise<object>) {
  const { log, lines } = recordingLogger();
  const next = chain([loggingStep(log)], handler);
  const call = (name: keyof typeof DiscoveryService.method, input: object = {}) =>
    next({
      method: DiscoveryService.method[name],
      rpc: `${DiscoveryService.typeName}/${DiscoveryService.method[name].name}`,
      input,
      ctx: contextOf(),
    });
  return { call, lines };
}

async function rejection(promise: Promise<unknown>): Promise<ConnectError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(error instanceof ConnectError)) throw new Error(`expected a ConnectError, got ${String(error)}`);
  return error;
}

t.test("a ConnectError is logged at debug with its code name and reason, and answered unchanged", async (t) => {
  const { log, lines } = recordingLogger();
  const refused = new ConnectError("colony m not found", Code.NotFound);
  t.equal(logRpcError(log, "svc/LookupColony", refused), refused, "the same error");
  t.same(lines, [{ level: "debug", obj: { rpc: "svc/LookupColony", code: "NotFound", reason: "colony m not found" }, msg: "rpc refused" }]);
});

t.test("anything else is logged at error with the thrown value, and answered as a bare internal error", async (t) => {
  for (const thrown of [new TypeError("cannot read properties of undefined (secret path /etc/x)"), "a thrown string", undefined]) {
    const { log, lines } = recordingLogger();
    const answer = logRpcError(log, "svc/Health", thrown);
    t.equal(answer.code, Code.Internal, `${String(thrown)}: internal`);
    t.equal(answer.rawMessage, "internal error", "no detail in the message");
    t.equal(answer.cause, undefined, "nor as a cause the transport could serialize");
    t.same(answer.details, [], "nor in details");
    t.equal(lines.length, 1);
    t.equal(lines[0]?.level, "error");
    t.equal(lines[0]?.msg, "rpc failed unexpectedly");
    t.same(lines[0]?.obj, { rpc: "svc/Health", err: thrown }, "the log keeps the thrown value, stack included");
    t.equal((lines[0]?.obj as { err: unknown }).err, thrown, "the very value");
  }
});

t.test("the step lets answers through without logging", async (t) => {
  const { call, lines } = logged(() => ({ status: "ok" }));
  t.same(await call("health"), { status: "ok" });
  t.same(lines, []);
});

t.test("through the step, a refusal reaches the caller as it is and is logged at debug with the RPC's full name", async (t) => {
  const { call, lines } = logged((c) => {
    throw new ConnectError(`colony ${(c.input as { meshId: string }).meshId} not found`, Code.NotFound);
  });
  const error = await rejection(call("lookupColony", { meshId: "m" }));
  t.equal(error.code, Code.NotFound);
  t.equal(error.rawMessage, "colony m not found");
  t.same(lines, [
    { level: "debug", obj: { rpc: "coral.discovery.v1.DiscoveryService/LookupColony", code: "NotFound", reason: "colony m not found" }, msg: "rpc refused" },
  ]);
});

t.test("through the step, a crash reaches the caller as internal error and is logged at error", async (t) => {
  const bug = new Error("registry invariant broken: lease 42 in two buckets");
  const { call, lines } = logged(async () => {
    await Promise.resolve();
    throw bug;
  });
  const error = await rejection(call("registerColony", { meshId: "m" }));
  t.equal(error.code, Code.Internal);
  t.equal(error.rawMessage, "internal error");
  t.notMatch(error.message, /invariant|lease 42/, "nothing internal leaks");
  t.equal(lines.length, 1);
  t.equal(lines[0]?.level, "error");
  t.equal((lines[0]?.obj as { err: unknown }).err, bug, "the log has the original error");
  t.match(lines[0]?.obj, { rpc: "coral.discovery.v1.DiscoveryService/RegisterColony" });
});

/** A Node error as Node makes them: a message and a string `code`. */
function nodeError(code: string, message = code): Error {
  return Object.assign(new Error(message), { code });
}

t.test("a client that went away is canceled: logged at debug without the error object, and answered canceled", async (t) => {
  const cases: [unknown, string][] = [
    [new ConnectError("the client closed the request", Code.Canceled), "the client closed the request"],
    [nodeError("ERR_STREAM_PREMATURE_CLOSE", "Premature close"), "Premature close"],
    [nodeError("ECONNRESET", "aborted"), "aborted"],
    [new ConnectError("write failed", Code.Aborted, undefined, undefined, nodeError("ERR_HTTP2_INVALID_STREAM")), "write failed"],
  ];
  for (const [thrown, reason] of cases) {
    const { log, lines } = recordingLogger();
    const answer = logRpcError(log, "svc/LookupColony", thrown);
    t.equal(answer.code, Code.Canceled, `${reason}: canceled`);
    if (thrown instanceof ConnectError && thrown.code === Code.Canceled) t.equal(answer, thrown, "a canceled ConnectError is kept");
    t.same(lines, [{ level: "debug", obj: { rpc: "svc/LookupColony", code: "Canceled", reason }, msg: "rpc canceled" }], `${reason}: one debug line, no stack`);
  }
});

t.test("isClientGone looks through causes, but not forever, and knows nothing else", async (t) => {
  t.ok(isClientGone(new Error("wrapped", { cause: new Error("again", { cause: nodeError("EPIPE") }) })));
  t.notOk(isClientGone(new Error("bug")), "a plain error");
  t.notOk(isClientGone(nodeError("ENOENT")), "another Node error");
  t.notOk(isClientGone(Object.assign(new Error("numeric code"), { code: 42 })), "a code that is not a string");
  t.notOk(isClientGone(new ConnectError("refused", Code.Aborted)), "aborted for reasons of its own");
  t.notOk(isClientGone("ECONNRESET"), "a thrown string");
  const loop: Error & { cause?: unknown } = new Error("loop");
  loop.cause = loop;
  t.notOk(isClientGone(loop), "a cause chain that loops ends");
});

t.test("limitErrorLines writes error lines within the budget and reports what it dropped in the next one", async (t) => {
  const clock = createFakeClock();
  const { log: inner, lines } = recordingLogger();
  const log = limitErrorLines(inner, createLineBudget({ perSecond: 10, burst: 2, now: clock.now }));
  for (let i = 0; i < 1_000; i++) logRpcError(log, "svc/Health", new Error(`bug ${i}`));
  t.equal(lines.length, 2, "the burst of a 1,000-error flood");
  t.same(lines.map((l) => l.obj), [{ rpc: "svc/Health", err: new Error("bug 0") }, { rpc: "svc/Health", err: new Error("bug 1") }], "the first ones, whole");
  clock.advance(100);
  logRpcError(log, "svc/Health", new Error("bug 1000"));
  t.equal(lines.length, 3);
  t.match(lines[2], { level: "error", msg: "rpc failed unexpectedly", obj: { rpc: "svc/Health", suppressed: 998 } }, "the next line counts the 998 dropped");
  log.debug({ rpc: "svc/Health" }, "rpc refused");
  t.same(lines[3], { level: "debug", obj: { rpc: "svc/Health" }, msg: "rpc refused" }, "debug lines pass unlimited");
});
