// What every unary RPC is, whichever protocol brought it: a decoded request,
// the caller's context, and an ordered list of cross-cutting steps around the
// handler (rate limit, error mapping, logging), defined once.
import type { DescMethodUnary } from "@bufbuild/protobuf";

/** What a handler may know about its caller and the call. */
export interface CallContext {
  /** The caller's IP address (socket peer, or the client named by a trusted proxy), normalized; undefined when unknown. */
  readonly clientIp: string | undefined;
  /** The public address to report as the caller's observed endpoint (see resolveClient); undefined when there is none. */
  readonly observedIp: string | undefined;
  /**
   * Aborted when the caller goes away or its deadline passes (reason: a
   * ConnectError `canceled` or `deadline_exceeded`). Handlers that wait must
   * stop when it aborts.
   */
  readonly signal: AbortSignal;
  /** The caller's deadline, ms from the start of the call (`Connect-Timeout-Ms`, `grpc-timeout`); undefined when none. */
  readonly timeoutMs: number | undefined;
  /** A request header (gRPC: metadata), lower-case name; undefined when absent. */
  requestHeader(name: string): string | undefined;
  /** Sets a response header (gRPC: header metadata). */
  setResponseHeader(name: string, value: string): void;
}

/** One RPC on its way through the steps to its handler. */
export interface Call {
  readonly method: DescMethodUnary;
  /** `package.Service/Method`, for logs. */
  readonly rpc: string;
  readonly input: object;
  readonly ctx: CallContext;
}

/** Runs the rest of the chain (the next steps, then the handler); resolves with the handler's response. */
export type Next = (call: Call) => Promise<object>;

/** A cross-cutting concern around every unary RPC: calls `next` (or refuses by throwing). */
export type Step = (call: Call, next: Next) => Promise<object>;

/** The handler of one method: the decoded request and its context in, the response (init shape) out. */
export type UnaryHandler = (input: never, ctx: CallContext) => object | Promise<object>;

/**
 * Chains `steps` (outermost first) around `handler`. The chain is built once;
 * each call only walks it.
 */
export function chain(steps: readonly Step[], handler: (call: Call) => object | Promise<object>): Next {
  let next: Next = async (call) => handler(call);
  for (let i = steps.length - 1; i >= 0; i--) {
    const step = steps[i] as Step;
    const inner = next;
    next = (call) => step(call, inner);
  }
  return next;
}
