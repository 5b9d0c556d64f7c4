import t from "tap";
import { Code, ConnectError } from "@connectrpc/connect";
import { DiscoveryService } from "../../gen/coral/discovery/v1/discovery_pb.js";
import { chain, type Call } from "../../src/service/call.js";
import { contextOf } from "../fixtures/call.js";
import { loggingStep, logRpcError, type RpcLogger } from "../../src/service/logging.js";

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
