import { Code, ConnectError } from "@connectrpc/connect";
import type { IncomingHttpHeaders } from "node:http";
import type { ClientAddress } from "../../net/address.js";
import type { CallContext } from "../../service/call.js";
import type { RawResponse } from "./respond.js";

/** A CallContext for one request, and what the road needs back from it. */
export interface RoadContext extends CallContext {
  /** The deadline, once the protocol's header is parsed. */
  timeoutMs: number | undefined;
  /** Headers the handler set, if any. */
  readonly responseHeaders: Record<string, string> | undefined;
  /** Stops the deadline timer and forgets the response (call once the answer is written). */
  dispose(): void;
}

function first(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/**
 * The context of one call. The abort signal is made only when a handler asks
 * for it (most never do), so a call that answers at once pays for no
 * AbortController, timer or listener. A class: one allocation per call, its
 * methods shared.
 */
class Context implements RoadContext {
  timeoutMs: number | undefined = undefined;
  #controller: AbortController | undefined;
  #timer: NodeJS.Timeout | undefined;
  #responseHeaders: Record<string, string> | undefined;
  readonly #headers: IncomingHttpHeaders;
  readonly #res: RawResponse;
  readonly #onClose = () => {
    if (!this.#res.writableEnded) this.#controller?.abort(new ConnectError("the client went away", Code.Canceled));
  };

  readonly clientIp: string | undefined;
  readonly observedIp: string | undefined;

  constructor(headers: IncomingHttpHeaders, res: RawResponse, client: ClientAddress) {
    this.#headers = headers;
    this.#res = res;
    this.clientIp = client.ip;
    this.observedIp = client.observedIp;
  }

  get signal(): AbortSignal {
    if (this.#controller === undefined) {
      const made = new AbortController();
      this.#controller = made;
      const timeoutMs = this.timeoutMs;
      if (timeoutMs !== undefined) {
        const expire = () => made.abort(new ConnectError("the operation timed out", Code.DeadlineExceeded));
        if (timeoutMs <= 0) expire();
        else this.#timer = setTimeout(expire, timeoutMs);
      }
      this.#res.once("close", this.#onClose);
    }
    return this.#controller.signal;
  }

  requestHeader(name: string): string | undefined {
    return first(this.#headers[name.toLowerCase()]);
  }

  setResponseHeader(name: string, value: string): void {
    this.#responseHeaders ??= {};
    this.#responseHeaders[name.toLowerCase()] = value;
  }

  get responseHeaders(): Record<string, string> | undefined {
    return this.#responseHeaders;
  }

  dispose(): void {
    clearTimeout(this.#timer);
    if (this.#controller !== undefined) this.#res.off("close", this.#onClose);
  }
}

/** The context of one call (see Context). */
export function createRoadContext(headers: IncomingHttpHeaders, res: RawResponse, client: ClientAddress): RoadContext {
  return new Context(headers, res, client);
}
