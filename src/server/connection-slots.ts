// The connection budget: a global cap on open connections, per-address caps
// (an IPv4 address, an IPv6 /64, and the /56 and /48 around it, each with its
// own limit), and, when every slot is taken, the oldest idle connection is
// reclaimed for the newcomer, so idle connections never keep a client out.
import { createCounter, type Counter } from "../limits/counter.js";
import { addressKey } from "../net/address.js";

/** A per-address cap: at most `max` open connections per group of addresses (0 = off). */
export interface AddressCap {
  readonly max: number;
  /**
   * How IPv6 addresses are grouped: 64 (a /64), 56 or 48. Under a /64 cap an
   * IPv4 address is its own group; wider caps count IPv6 only.
   */
  readonly ipv6PrefixBits: number;
}

export interface ConnectionSlotsOptions {
  /** Open connections in all; 0 = unlimited. */
  readonly maxConnections: number;
  readonly caps: readonly AddressCap[];
  /** Addresses no per-address cap applies to (trusted proxies: their clients share the address). The global cap still does. */
  readonly isExempt?: (ip: string) => boolean;
}

/** Why a connection was not admitted. */
export type Refusal = { readonly reason: "global" } | { readonly reason: "address"; readonly cap: AddressCap };

/** One admitted connection. */
export interface ConnectionSlot {
  /** Called when the slot is taken back for a newcomer (the connection is idle). Set it as the connection changes hands. */
  reclaim: () => void;
  /** A request or stream started on the connection: it is not idle until every one is done. */
  busy(): void;
  /** One finished. */
  done(): void;
  /** The connection closed: frees the slot. Idempotent; a reclaimed slot is already free. */
  release(): void;
}

export interface ConnectionSlots {
  /** A slot for a new connection from `ip`, or why not. May reclaim an idle connection's slot (calling its `reclaim`). */
  admit(ip: string | undefined, reclaim: () => void): ConnectionSlot | Refusal;
  /** Open connections. */
  readonly size: number;
  /** Open connections with nothing in flight. */
  readonly idle: number;
}

/**
 * A slot: a class so that a connection costs one small object. `keys` are
 * the per-address groups it counts in (none when exempt).
 */
class Slot implements ConnectionSlot {
  active = 0;
  released = false;
  constructor(
    readonly owner: Slots,
    readonly keys: readonly (readonly [Counter, string])[],
    public reclaim: () => void,
  ) {}

  busy(): void {
    if (this.active++ === 0) this.owner.idleSlots.delete(this);
  }

  done(): void {
    if (this.active > 0 && --this.active === 0 && !this.released) this.owner.idleSlots.add(this);
  }

  release(): void {
    if (this.released) return;
    this.released = true;
    this.owner.idleSlots.delete(this);
    this.owner.open--;
    for (const [counts, key] of this.keys) counts.add(key, -1);
  }
}

class Slots implements ConnectionSlots {
  open = 0;
  /** Idle slots, longest idle first (a Set keeps insertion order; a slot re-enters at the end). */
  readonly idleSlots = new Set<Slot>();
  readonly #counts: readonly Counter[];
  readonly #options: ConnectionSlotsOptions;

  constructor(options: ConnectionSlotsOptions) {
    this.#options = options;
    this.#counts = options.caps.map(() => createCounter());
  }

  get size(): number {
    return this.open;
  }

  get idle(): number {
    return this.idleSlots.size;
  }

  admit(ip: string | undefined, reclaim: () => void): ConnectionSlot | Refusal {
    const { caps, maxConnections, isExempt } = this.#options;
    const keys: [Counter, string][] = [];
    if (ip !== undefined && isExempt?.(ip) !== true) {
      const v6 = ip.includes(":");
      for (let i = 0; i < caps.length; i++) {
        const cap = caps[i] as AddressCap;
        if (cap.max === 0 || (!v6 && cap.ipv6PrefixBits < 64)) continue;
        const counts = this.#counts[i] as Counter;
        const key = addressKey(ip, cap.ipv6PrefixBits);
        if (counts.get(key) >= cap.max) return { reason: "address", cap };
        keys.push([counts, key]);
      }
    }
    if (maxConnections > 0 && this.open >= maxConnections) {
      const oldest = this.idleSlots.values().next();
      if (oldest.done) return { reason: "global" };
      oldest.value.release();
      oldest.value.reclaim();
    }
    for (const [counts, key] of keys) counts.add(key, 1);
    this.open++;
    const slot = new Slot(this, keys, reclaim);
    this.idleSlots.add(slot);
    return slot;
  }
}

/** The connection budget (see the top of this file). */
export function createConnectionSlots(options: ConnectionSlotsOptions): ConnectionSlots {
  return new Slots(options);
}

export function isRefusal(admitted: ConnectionSlot | Refusal): admitted is Refusal {
  return "reason" in admitted;
}
