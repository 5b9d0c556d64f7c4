// Open HTTP/2 streams, counted per client address across all its connections
// and in all: the per-connection SETTINGS_MAX_CONCURRENT_STREAMS alone
// multiplies by every connection an address may open.
import { createCounter } from "../limits/counter.js";

export interface StreamBudgetOptions {
  /** Open streams in all; 0 = unlimited. */
  readonly max: number;
  /** Open streams per address key; 0 = unlimited. */
  readonly maxPerAddress: number;
}

export interface StreamBudget {
  /**
   * Takes a stream for the address `key` (see addressKey; undefined: no
   * per-address limit, e.g. a trusted proxy): "ok", or which limit is reached
   * (then nothing is taken).
   */
  open(key: string | undefined): "ok" | "global" | "address";
  /** Gives back a stream `open` took for `key`. */
  close(key: string | undefined): void;
  /** Open streams in all. */
  readonly size: number;
}

/** The stream budget (see the top of this file). */
export function createStreamBudget(options: StreamBudgetOptions): StreamBudget {
  const { max, maxPerAddress } = options;
  const perAddress = createCounter();
  let size = 0;
  return {
    open(key) {
      if (max > 0 && size >= max) return "global";
      if (key !== undefined && maxPerAddress > 0) {
        if (perAddress.get(key) >= maxPerAddress) return "address";
        perAddress.add(key, 1);
      }
      size++;
      return "ok";
    },
    close(key) {
      size--;
      if (key === undefined || maxPerAddress === 0) return;
      perAddress.add(key, -1);
    },
    get size() {
      return size;
    },
  };
}
