import { Code, ConnectError } from "@connectrpc/connect";
import type { ByteBudget } from "../../limits/byte-budget.js";

/**
 * What one request holds of the buffered-bytes budget (`--max-buffered-bytes`,
 * `--max-buffered-bytes-per-ip`): its headers from the start, its body chunk
 * by chunk as it arrives, all given back once it is answered. A class: one
 * small object per request, its methods shared.
 */
export class RequestCharge {
  #held = 0;
  readonly #budget: ByteBudget;
  readonly #key: string;

  constructor(budget: ByteBudget, key: string) {
    this.#budget = budget;
    this.#key = key;
  }

  /** Takes `bytes` more; throws `resource_exhausted` naming the limit when it would pass one. */
  readonly add = (bytes: number): void => {
    const taken = this.#budget.take(this.#key, bytes);
    if (taken === "ok") {
      this.#held += bytes;
      return;
    }
    const { max, maxPerKey } = this.#budget.options;
    const message =
      taken === "key"
        ? `too many unfinished requests from your address: they hold ${this.#budget.held(this.#key)} bytes and this one needs more, ` +
          `past the ${maxPerKey} bytes --max-buffered-bytes-per-ip allows; send fewer requests at once`
        : `the server holds ${this.#budget.total} bytes of unfinished requests and this one needs more, ` +
          `past the ${max} bytes --max-buffered-bytes allows; retry later`;
    throw new ConnectError(message, Code.ResourceExhausted, { "retry-after": "1" });
  };

  /** Gives back everything it took. */
  release(): void {
    this.#budget.give(this.#key, this.#held);
    this.#held = 0;
  }
}
