// The same handlers and steps served through connect-es's own router instead
// of the road: for the in-memory transport of the service tests, and as the
// reference the road is compared with (buildApp's `unaryRoad: false`).
import type { DescMethodUnary, DescService } from "@bufbuild/protobuf";
import { Code, ConnectError, createContextKey, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import type { ClientAddress } from "../net/address.js";
import { chain, type CallContext, type Step, type UnaryHandler } from "../service/call.js";

/** Where the request comes from (see resolveClient). Set per request through the router's `contextValues`. */
export const clientKey = createContextKey<ClientAddress>({ ip: undefined, observedIp: undefined }, { description: "client address" });

/**
 * connect-es's signal with the reason CallContext promises: a ConnectError
 * (its own deadline already is one; a caller that went away becomes `canceled`).
 */
function connectSignal(signal: AbortSignal): AbortSignal {
  const controller = new AbortController();
  const forward = () => {
    const reason: unknown = signal.reason;
    controller.abort(reason instanceof ConnectError ? reason : new ConnectError("the client went away", Code.Canceled, undefined, undefined, reason));
  };
  if (signal.aborted) forward();
  else signal.addEventListener("abort", forward, { once: true });
  return controller.signal;
}

function callContext(ctx: HandlerContext): CallContext {
  let signal: AbortSignal | undefined;
  return {
    clientIp: ctx.values.get(clientKey).ip,
    observedIp: ctx.values.get(clientKey).observedIp,
    get signal() {
      signal ??= connectSignal(ctx.signal);
      return signal;
    },
    timeoutMs: ctx.timeoutMs(),
    requestHeader: (name) => ctx.requestHeader.get(name) ?? undefined,
    setResponseHeader: (name, value) => ctx.responseHeader.set(name, value),
  };
}

/** A connect-es ServiceImpl running each call through `steps` to its handler. */
export function routerServiceImpl<S extends DescService>(
  service: S,
  handlers: Readonly<Record<string, UnaryHandler>>,
  steps: readonly Step[],
): ServiceImpl<S> {
  const impl: Record<string, (req: object, ctx: HandlerContext) => Promise<object>> = {};
  for (const method of service.methods) {
    if (method.methodKind !== "unary") continue;
    const handler = handlers[method.localName];
    if (handler === undefined) throw new Error(`no handler for ${method.name}`);
    const rpc = `${service.typeName}/${method.name}`;
    const next = chain(steps, (call) => handler(call.input as never, call.ctx));
    impl[method.localName] = (input, ctx) => next({ method: method as DescMethodUnary, rpc, input, ctx: callContext(ctx) });
  }
  // The method names are the service's own; the compiler cannot see through the loop.
  return impl as unknown as ServiceImpl<S>;
}
