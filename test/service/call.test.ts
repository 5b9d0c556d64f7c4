import t from "tap";
import { DiscoveryService } from "../../gen/coral/discovery/v1/discovery_pb.js";
import { chain, type Call, type CallContext, type Step } from "../../src/service/call.js";
import { contextOf } from "../fixtures/call.js";

const ctx: CallContext = contextOf({ clientIp: "192.0.2.7" });

function callOf(input: object): Call {
  return { method: DiscoveryService.method.health, rpc: "coral.discovery.v1.DiscoveryService/Health", input, ctx };
}

/** A step that records when it is entered and left, under `name`. */
function recording(name: string, log: string[]): Step {
  return async (call, next) => {
    log.push(`${name} in`);
    const output = await next(call);
    log.push(`${name} out`);
    return output;
  };
}

t.test("steps run outermost first around the handler and are left in reverse order", async (t) => {
  const log: string[] = [];
  const next = chain([recording("a", log), recording("b", log), recording("c", log)], () => {
    log.push("handler");
    return { status: "ok" };
  });
  t.same(await next(callOf({})), { status: "ok" }, "the handler's response comes out of the chain");
  t.same(log, ["a in", "b in", "c in", "handler", "c out", "b out", "a out"]);
});

t.test("the call each step passes on is the one the next step and the handler see", async (t) => {
  const seen: Call[] = [];
  const stamp: Step = (call, next) => next({ ...call, input: { ...call.input, stamped: true } });
  const next = chain([stamp], (call) => {
    seen.push(call);
    return { echoed: call.input };
  });
  const call = callOf({ meshId: "m" });
  t.same(await next(call), { echoed: { meshId: "m", stamped: true } });
  t.equal(seen.length, 1);
  t.equal(seen[0]?.ctx, ctx, "the context travels with the call");
  t.equal(seen[0]?.method, DiscoveryService.method.health);
  t.equal(seen[0]?.rpc, "coral.discovery.v1.DiscoveryService/Health");
});

t.test("a step can replace the response on its way out", async (t) => {
  const wrap: Step = async (call, next) => ({ wrapped: await next(call) });
  t.same(await chain([wrap, wrap], () => ({ n: 1 }))(callOf({})), { wrapped: { wrapped: { n: 1 } } });
});

t.test("a step can refuse without calling next: the steps inside it and the handler never run", async (t) => {
  const log: string[] = [];
  const refusal = new Error("over budget");
  const refuse: Step = async () => {
    log.push("refuse");
    throw refusal;
  };
  const next = chain([recording("outer", log), refuse, recording("inner", log)], () => {
    log.push("handler");
    return {};
  });
  t.equal(await next(callOf({})).catch((e: unknown) => e), refusal, "the refusal reaches the caller as it was thrown");
  t.same(log, ["outer in", "refuse"], "the outer step saw the refusal pass; nothing inside ran");
});

t.test("an outer step sees the failure of an inner step or the handler and may answer instead", async (t) => {
  const rescue: Step = async (call, next) => {
    try {
      return await next(call);
    } catch (error) {
      return { rescued: (error as Error).message };
    }
  };
  const next = chain([rescue], () => {
    throw new Error("handler broke");
  });
  t.same(await next(callOf({})), { rescued: "handler broke" });
});

t.test("synchronous and asynchronous handlers both answer through a promise", async (t) => {
  const sync = chain([], () => ({ kind: "sync" }));
  const async_ = chain([], async () => {
    await Promise.resolve();
    return { kind: "async" };
  });
  const pending = sync(callOf({}));
  t.ok(pending instanceof Promise, "a synchronous handler's answer still comes as a promise");
  t.same(await pending, { kind: "sync" });
  t.same(await async_(callOf({})), { kind: "async" });
});

t.test("a synchronous handler that throws rejects the chain's promise instead of throwing at the caller", async (t) => {
  const bug = new TypeError("x is undefined");
  const next = chain([], () => {
    throw bug;
  });
  let returned: Promise<object> | undefined;
  t.doesNotThrow(() => {
    returned = next(callOf({}));
  }, "calling the chain does not throw");
  t.equal(await (returned as Promise<object>).catch((e: unknown) => e), bug, "the promise rejects with the handler's error");
});

t.test("with no steps the chain is just the handler", async (t) => {
  const inputs: object[] = [];
  const input = { meshId: "m" };
  const next = chain([], (call) => {
    inputs.push(call.input);
    return { ok: true };
  });
  t.same(await next(callOf(input)), { ok: true });
  t.equal(inputs[0], input, "the very input");
});

t.test("the chain is built once and can be walked by many calls, also at the same time", async (t) => {
  const log: string[] = [];
  let release: () => void = () => {};
  const gate = new Promise<void>((resolve) => (release = resolve));
  const next = chain([recording("a", log), recording("b", log)], async (call) => {
    const { n } = call.input as { n: number };
    log.push(`handler ${n}`);
    if (n === 1) await gate;
    return { n };
  });
  const first = next(callOf({ n: 1 }));
  const second = await next(callOf({ n: 2 }));
  t.same(second, { n: 2 }, "a second call passes while the first is still inside");
  release();
  t.same(await first, { n: 1 }, "the first call gets its own answer");
  t.same(await next(callOf({ n: 3 })), { n: 3 }, "and the chain still works afterwards");
  t.same(log, [
    "a in",
    "b in",
    "handler 1",
    "a in",
    "b in",
    "handler 2",
    "b out",
    "a out",
    "b out",
    "a out",
    "a in",
    "b in",
    "handler 3",
    "b out",
    "a out",
  ]);
});
