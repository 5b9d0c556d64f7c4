import t from "tap";
import { once } from "node:events";
import { Code, ConnectError, createClient, createHandlerContext, createRouterTransport, type Interceptor } from "@connectrpc/connect";
import { DiscoveryService, HealthResponseSchema, LookupColonyRequestSchema } from "../../gen/coral/discovery/v1/discovery_pb.js";
import { ServerReflection } from "../../gen/grpc/reflection/v1/reflection_pb.js";
import { isMessage } from "@bufbuild/protobuf";
import { clientKey, routerServiceImpl } from "../../src/server/router-service.js";
import type { Call, CallContext, Step, UnaryHandler } from "../../src/service/call.js";

/** A handler for every method answering its empty response, with `overrides` in place of some. */
function handlers(overrides: Record<string, UnaryHandler> = {}): Record<string, UnaryHandler> {
  return { ...Object.fromEntries(DiscoveryService.methods.map((m) => [m.localName, () => ({})])), ...overrides };
}

/** A client of the service served by routerServiceImpl through connect-es's router, in memory; `clientIp` is what the transport saw. */
function serve(impl: Record<string, UnaryHandler>, steps: readonly Step[] = [], clientIp?: string) {
  const setCaller: Interceptor = (next) => (req) => {
    if (clientIp !== undefined) req.contextValues.set(clientKey, { ip: clientIp, observedIp: `observed-${clientIp}` });
    return next(req);
  };
  const transport = createRouterTransport((router) => router.service(DiscoveryService, routerServiceImpl(DiscoveryService, impl, steps)), {
    router: { interceptors: [setCaller] },
  });
  return createClient(DiscoveryService, transport);
}

t.test("every call passes the steps, outermost first, around its handler", async (t) => {
  const log: string[] = [];
  const step =
    (name: string): Step =>
    async (call, next) => {
      log.push(`${name} in ${call.rpc}`);
      const output = await next(call);
      log.push(`${name} out`);
      return output;
    };
  const client = serve(
    handlers({
      health: () => {
        log.push("handler");
        return { status: "ok", version: "1.2.3" };
      },
    }),
    [step("a"), step("b")],
  );
  const response = await client.health({});
  t.equal(response.status, "ok");
  t.equal(response.version, "1.2.3");
  t.same(log, [
    "a in coral.discovery.v1.DiscoveryService/Health",
    "b in coral.discovery.v1.DiscoveryService/Health",
    "handler",
    "b out",
    "a out",
  ]);
});

t.test("the steps see the method, the RPC's full name and the decoded request", async (t) => {
  const calls: Call[] = [];
  const record: Step = (call, next) => {
    calls.push(call);
    return next(call);
  };
  const client = serve(handlers({ lookupColony: (input: { meshId: string }) => ({ meshId: input.meshId, endpoints: ["10.0.0.1:4242"] }) }), [record]);
  const response = await client.lookupColony({ meshId: "mesh-7" });
  t.same(response.endpoints, ["10.0.0.1:4242"], "the handler's response, encoded and decoded");
  t.equal(response.meshId, "mesh-7", "the handler got the decoded request");
  t.equal(calls.length, 1);
  t.equal(calls[0]?.method, DiscoveryService.method.lookupColony);
  t.equal(calls[0]?.rpc, "coral.discovery.v1.DiscoveryService/LookupColony");
  t.ok(isMessage(calls[0]?.input, LookupColonyRequestSchema), "the input is the request message");
  t.equal((calls[0]?.input as { meshId: string }).meshId, "mesh-7");
});

t.test("a step's refusal reaches the client and the handler never runs", async (t) => {
  let ran = false;
  const refuse: Step = async () => {
    throw new ConnectError("rate limit exceeded", Code.ResourceExhausted, { "retry-after": "3" });
  };
  const client = serve(
    handlers({
      health: () => {
        ran = true;
        return {};
      },
    }),
    [refuse],
  );
  const error = await client.health({}).catch((e: unknown) => e);
  t.ok(error instanceof ConnectError);
  t.equal(Code[(error as ConnectError).code], Code[Code.ResourceExhausted]);
  t.equal((error as ConnectError).rawMessage, "rate limit exceeded");
  t.equal((error as ConnectError).metadata.get("retry-after"), "3");
  t.equal(ran, false);
});

t.test("the handler's clientIp and observedIp come from the clientKey context value, undefined when none is set", async (t) => {
  const seen: (string | undefined)[][] = [];
  const impl = handlers({
    health: (_input, ctx: CallContext) => {
      seen.push([ctx.clientIp, ctx.observedIp]);
      return {};
    },
  });
  await serve(impl, [], "203.0.113.9").health({});
  await serve(impl, []).health({});
  t.same(seen, [
    ["203.0.113.9", "observed-203.0.113.9"],
    [undefined, undefined],
  ]);
});

t.test("the steps see the same context as the handler", async (t) => {
  const ips: (string | undefined)[] = [];
  const step: Step = (call, next) => {
    ips.push(call.ctx.clientIp);
    return next(call);
  };
  await serve(handlers(), [step], "198.51.100.4").health({});
  t.same(ips, ["198.51.100.4"]);
});

t.test("the caller's deadline reaches the handler as timeoutMs, undefined without one", async (t) => {
  const seen: (number | undefined)[] = [];
  const client = serve(
    handlers({
      health: (_input, ctx: CallContext) => {
        seen.push(ctx.timeoutMs);
        return {};
      },
    }),
  );
  await client.health({}, { timeoutMs: 3_600_000 });
  await client.health({});
  t.equal(seen.length, 2);
  const [withDeadline, without] = seen;
  t.ok(withDeadline !== undefined && withDeadline > 0 && withDeadline <= 3_600_000, `the time left, within the deadline given (${withDeadline})`);
  t.equal(without, undefined);
});

t.test("the handler's signal aborts when the caller gives up", async (t) => {
  let started: (signal: AbortSignal) => void = () => {};
  const handlerSignal = new Promise<AbortSignal>((resolve) => (started = resolve));
  const client = serve(
    handlers({
      health: async (_input, ctx: CallContext) => {
        started(ctx.signal);
        await once(ctx.signal, "abort");
        return {};
      },
    }),
  );
  const caller = new AbortController();
  const call = client.health({}, { signal: caller.signal }).catch((e: unknown) => e);
  const signal = await handlerSignal;
  t.equal(signal.aborted, false, "not aborted while the caller waits");
  const aborted = once(signal, "abort");
  caller.abort();
  await aborted; // (never resolving would fail the test by its timeout)
  const reason = signal.reason instanceof ConnectError ? `ConnectError ${Code[signal.reason.code]}` : String(signal.reason);
  t.equal(reason, "ConnectError Canceled", "the reason is a ConnectError canceled, as CallContext.signal documents");
  const error = await call;
  t.equal(Code[(error as ConnectError).code], Code[Code.Canceled], "the caller sees canceled");
});

t.test("request headers reach the handler by any case, absent ones are undefined", async (t) => {
  const seen: Record<string, string | undefined> = {};
  const client = serve(
    handlers({
      health: (_input, ctx: CallContext) => {
        seen.lower = ctx.requestHeader("x-trace-id");
        seen.mixed = ctx.requestHeader("X-Trace-Id");
        seen.absent = ctx.requestHeader("x-absent");
        return {};
      },
    }),
  );
  await client.health({}, { headers: { "X-Trace-Id": "trace-42" } });
  t.same(seen, { lower: "trace-42", mixed: "trace-42", absent: undefined });
});

t.test("response headers the handler sets reach the caller", async (t) => {
  const client = serve(
    handlers({
      health: (_input, ctx: CallContext) => {
        ctx.setResponseHeader("X-Served-By", "node-1");
        return { status: "ok" };
      },
    }),
  );
  let headers: Headers | undefined;
  const response = await client.health({}, { onHeader: (h) => (headers = h) });
  t.ok(isMessage(response, HealthResponseSchema));
  t.equal(headers?.get("x-served-by"), "node-1");
});

t.test("a handler may answer synchronously or asynchronously, and its failure reaches the caller", async (t) => {
  const client = serve(
    handlers({
      health: async () => ({ status: "async" }),
      lookupColony: () => {
        throw new ConnectError("colony m not found", Code.NotFound);
      },
    }),
  );
  t.equal((await client.health({})).status, "async");
  const error = await client.lookupColony({ meshId: "m" }).catch((e: unknown) => e);
  t.equal(Code[(error as ConnectError).code], Code[Code.NotFound]);
  t.equal((error as ConnectError).rawMessage, "colony m not found");
});

t.test("a method without a handler is an error when the service is built, naming the method", async (t) => {
  const { health: _health, ...withoutHealth } = handlers();
  t.throws(() => routerServiceImpl(DiscoveryService, withoutHealth, []), { message: "no handler for Health" });
  t.throws(() => routerServiceImpl(DiscoveryService, {}, []), { message: "no handler for RegisterColony" }, "the first missing one, in the service's order");
});

t.test("streaming methods are not served and need no handler", async (t) => {
  t.same(ServerReflection.methods.map((m) => m.methodKind), ["bidi_streaming"], "the reflection service has only a streaming method");
  t.same(routerServiceImpl(ServerReflection, {}, []), {}, "no method implemented, and no error");
});

t.test("the service implements exactly the unary methods, each walking its own chain", async (t) => {
  const rpcs: string[] = [];
  const record: Step = (call, next) => {
    rpcs.push(call.rpc);
    return next(call);
  };
  const impl = routerServiceImpl(DiscoveryService, handlers(), [record]);
  t.same(Object.keys(impl).sort(), DiscoveryService.methods.map((m) => m.localName).sort());
  const client = serve(handlers(), [record]);
  await client.registerColony({});
  await client.lookupAgent({});
  t.same(rpcs, ["coral.discovery.v1.DiscoveryService/RegisterColony", "coral.discovery.v1.DiscoveryService/LookupAgent"]);
});

t.test("the handler's signal keeps a ConnectError reason (connect-es's deadline) and is aborted at once when the call already is", async (t) => {
  let seen: AbortSignal | undefined;
  const impl = routerServiceImpl(DiscoveryService, handlers({ health: (_input, ctx: CallContext) => ((seen = ctx.signal), {}) }), []) as unknown as Record<
    string,
    (input: object, ctx: ReturnType<typeof createHandlerContext>) => Promise<object>
  >;
  const deadline = new ConnectError("the operation timed out", Code.DeadlineExceeded);
  const requestSignal = AbortSignal.abort(deadline);
  const ctx = createHandlerContext({
    service: DiscoveryService,
    method: DiscoveryService.method.health,
    protocolName: "test",
    requestMethod: "POST",
    url: "http://test/health",
    requestSignal,
  });
  await impl.health?.({}, ctx);
  t.equal(seen?.aborted, true, "already aborted when the handler looks");
  t.equal(seen?.reason, deadline, "connect-es's own ConnectError is kept as the reason");
});
