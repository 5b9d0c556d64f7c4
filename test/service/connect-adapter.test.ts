import t from "tap";
import { Code, ConnectError, createClient, createContextValues, createRouterTransport, type Interceptor } from "@connectrpc/connect";
import { DiscoveryService } from "../../gen/coral/discovery/v1/discovery_pb.js";
import { toServiceImpl } from "../../src/service/connect-adapter.js";
import { clientIpKey } from "../../src/service/context.js";
import type { DiscoveryHandlers } from "../../src/service/discovery-service.js";

const METHODS = DiscoveryService.methods.map((m) => m.localName);

interface Call {
  method: string;
  request: unknown;
  clientIp: string | undefined;
}

/** Handlers for every RPC that record their arguments; `answer` decides what they return. */
function recordingHandlers(answer: (method: string, request: unknown) => unknown = () => ({})) {
  const calls: Call[] = [];
  const handlers = Object.fromEntries(
    METHODS.map((method) => [
      method,
      (request: unknown, clientIp: string | undefined) => {
        calls.push({ method, request, clientIp });
        return answer(method, request);
      },
    ]),
  ) as unknown as DiscoveryHandlers;
  return { handlers, calls };
}

/** A generated client reaching `handlers` through toServiceImpl; `caller.ip` is what the app would put in the context. */
function serve(handlers: DiscoveryHandlers, setsIp = true) {
  const caller = { ip: undefined as string | undefined };
  const setCaller: Interceptor = (next) => (req) => {
    req.contextValues.set(clientIpKey, caller.ip);
    return next(req);
  };
  const transport = createRouterTransport((router) => router.service(DiscoveryService, toServiceImpl(handlers)), {
    router: { interceptors: setsIp ? [setCaller] : [] },
  });
  return { client: createClient(DiscoveryService, transport), caller };
}

/** Calls `method` with an empty request through the generated client. */
function call(client: ReturnType<typeof serve>["client"], method: string): Promise<unknown> {
  const fn = (client as unknown as Record<string, (request: object) => Promise<unknown>>)[method];
  if (fn === undefined) throw new Error(`no client method ${method}`);
  return fn({});
}

t.test("the service implementation has exactly one method per RPC", async (t) => {
  t.equal(METHODS.length, 11);
  t.same(Object.keys(toServiceImpl(recordingHandlers().handlers)).sort(), [...METHODS].sort());
});

t.test("every RPC reaches its handler with the decoded request and the caller's IP from the context", async (t) => {
  const { handlers, calls } = recordingHandlers();
  const { client, caller } = serve(handlers);
  for (const [i, method] of METHODS.entries()) {
    caller.ip = `203.0.113.${i + 1}`;
    await call(client, method);
  }
  t.same(
    calls.map((c) => [c.method, c.clientIp]),
    METHODS.map((method, i) => [method, `203.0.113.${i + 1}`]),
    "each call saw the address set for it",
  );
  for (const c of calls) {
    const schema = DiscoveryService.methods.find((m) => m.localName === c.method)?.input;
    t.equal((c.request as { $typeName?: string }).$typeName, schema?.typeName, `${c.method} got its decoded request message`);
  }
});

t.test("the request fields arrive as sent and the handler's answer is the response", async (t) => {
  const { handlers, calls } = recordingHandlers((method, request) =>
    method === "lookupColony" ? { meshId: (request as { meshId: string }).meshId, endpoints: ["203.0.113.42:41820"] } : {},
  );
  const { client } = serve(handlers);
  const found = await client.lookupColony({ meshId: "mesh-a" });
  t.equal(found.meshId, "mesh-a");
  t.same(found.endpoints, ["203.0.113.42:41820"]);
  t.match(calls[0]?.request, { meshId: "mesh-a" });
});

t.test("without an address in the context the handler gets undefined", async (t) => {
  const { handlers, calls } = recordingHandlers();
  const { client } = serve(handlers, false);
  await client.health({});
  t.equal(calls.length, 1);
  t.equal(calls[0]?.clientIp, undefined);
});

t.test("a handler's error and an async handler's answer pass through unchanged", async (t) => {
  const { handlers } = recordingHandlers((method) => {
    if (method === "lookupAgent") throw new ConnectError("agent a not found", Code.NotFound);
    if (method === "health") return Promise.resolve({ status: "ok" });
    return {};
  });
  const { client } = serve(handlers);
  t.equal((await client.health({})).status, "ok");
  const error = await client.lookupAgent({ agentId: "a", meshId: "m" }).catch((e: unknown) => e);
  t.ok(error instanceof ConnectError);
  t.equal((error as ConnectError).code, Code.NotFound);
  t.equal((error as ConnectError).rawMessage, "agent a not found");
});

t.test("clientIpKey defaults to undefined and is named for debugging", async (t) => {
  t.equal(clientIpKey.defaultValue, undefined);
  t.equal(createContextValues().get(clientIpKey), undefined);
  t.equal(clientIpKey.id.description, "client IP address");
  t.equal(createContextValues().set(clientIpKey, "198.51.100.7").get(clientIpKey), "198.51.100.7");
});
