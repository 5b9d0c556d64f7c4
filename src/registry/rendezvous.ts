// The bootstrap rendezvous records (Coral RFD 108): encrypted records by
// (mesh id, record id), each guarded by the SHA-256 of its write token. Pure:
// no timers, no I/O; time comes from the callers' `nowMs`, hashes from the
// service. Reads check expiry themselves (an expired record is absent whether
// or not a sweep has run); caps count records not yet swept, and a write at a
// cap first frees what has expired.
//
// `RendezvousStore` is the storage contract. This in-memory store is one
// implementation; a shared store (Redis) would implement the same methods
// asynchronously, which is why the service awaits every call.
import { createLeaseTable } from "./lease-table.js";

/** A stored record. Never returned to clients as is: `tokenHash` stays inside. */
export interface RendezvousRecord {
  readonly meshId: string;
  readonly recordId: string;
  readonly ciphertext: Uint8Array;
  readonly gcmNonce: Uint8Array;
  /** SHA-256 of the raw write token (32 bytes). */
  readonly tokenHash: Uint8Array;
  readonly publishedAtMs: number;
  readonly expiresAtMs: number;
}

/** What a publish writes. */
export interface RendezvousWrite {
  readonly ciphertext: Uint8Array;
  readonly gcmNonce: Uint8Array;
  readonly tokenHash: Uint8Array;
  /** Lifetime from `nowMs`. */
  readonly ttlMs: number;
}

/**
 * Which cap refused a new record (or a republish that grows): `registry_bytes`
 * is the registry's byte budget (--max-registry-bytes), which leases and
 * records share.
 */
export type RendezvousCap = "records_per_mesh" | "records" | "bytes" | "registry_bytes";

export type PublishOutcome =
  | { readonly kind: "stored"; readonly record: RendezvousRecord }
  | { readonly kind: "unknown_record" }
  | { readonly kind: "token_mismatch" }
  | { readonly kind: "full"; readonly cap: RendezvousCap };

/** `absent`: no active record under the id; `mismatch`: the token's hash differs; `ok`: it matches. */
export type TokenCheck = "absent" | "mismatch" | "ok";

export interface RendezvousLimits {
  /** Active records in one mesh. */
  readonly recordsPerMesh: number;
  /** Records in all. */
  readonly records: number;
  /** Ciphertext bytes in all. */
  readonly bytes: number;
}

/** The registry's byte budget, shared with the leases: what all entries take now, and the most they may. */
export interface SharedBudget {
  /** Bytes taken by every stored entry, leases and records (the records' `charged` included). */
  used(): number;
  readonly max: number;
}

/** Estimated memory of a stored record beyond its bytes: the record, map and index entries, the id. */
const RECORD_OVERHEAD_BYTES = 400;

/** What a record is charged against the registry's byte budget: its bytes plus the overhead. */
export function recordCharge(ciphertextBytes: number, nonceBytes: number): number {
  return ciphertextBytes + nonceBytes + 32 + RECORD_OVERHEAD_BYTES;
}

type Awaitable<T> = T | Promise<T>;

/** The record storage the rendezvous RPCs need (memory here; a shared store later). */
export interface RendezvousStore {
  /** Compares `tokenHash` with the active record's, in constant time. */
  check(meshId: string, recordId: string, tokenHash: Uint8Array, nowMs: number): Awaitable<TokenCheck>;
  /**
   * With `recordId`: replaces the active record's ciphertext, nonce and times
   * when `tokenHash` matches (id and hash kept). Without: stores a new record
   * under `newRecordId`, unless a cap is reached.
   */
  publish(meshId: string, recordId: string | undefined, newRecordId: string, write: RendezvousWrite, nowMs: number): Awaitable<PublishOutcome>;
  /** The mesh's active records, least recently published first. */
  list(meshId: string, nowMs: number): Awaitable<RendezvousRecord[]>;
  /** Deletes the active record when `tokenHash` matches. */
  ack(meshId: string, recordId: string, tokenHash: Uint8Array, nowMs: number): Awaitable<TokenCheck>;
  /** Frees records expired at `nowMs`, at most `limit`; returns how many. */
  sweep(nowMs: number, limit?: number): Awaitable<number>;
  /**
   * Which cap a new record of `write`'s size would hit on `meshId` now, or
   * undefined when it fits (expired records are freed first, as a publish
   * does): asked before a reachability probe, so a full store never dials.
   */
  room(meshId: string, write: Pick<RendezvousWrite, "ciphertext" | "gcmNonce">, nowMs: number): Awaitable<RendezvousCap | undefined>;
  /** Records held and their ciphertext bytes (what /health reports). */
  stats(nowMs: number): Awaitable<{ readonly records: number; readonly bytes: number }>;
}

/** The memory store, and what tests and /health may read of it. */
export interface MemoryRendezvousStore extends RendezvousStore {
  check(meshId: string, recordId: string, tokenHash: Uint8Array, nowMs: number): TokenCheck;
  publish(meshId: string, recordId: string | undefined, newRecordId: string, write: RendezvousWrite, nowMs: number): PublishOutcome;
  list(meshId: string, nowMs: number): RendezvousRecord[];
  ack(meshId: string, recordId: string, tokenHash: Uint8Array, nowMs: number): TokenCheck;
  sweep(nowMs: number, limit?: number): number;
  room(meshId: string, write: Pick<RendezvousWrite, "ciphertext" | "gcmNonce">, nowMs: number): RendezvousCap | undefined;
  /**
   * Records and ciphertext bytes held, and what they are charged against the
   * registry's byte budget; expired-but-unswept ones included.
   */
  readonly size: { readonly records: number; readonly bytes: number; readonly charged: number };
}

/** Expired records a write at a cap may free to make room. */
const CAPACITY_SWEEP_BUDGET = 1_000;

/** True when both hashes are equal; time depends only on the length (32 bytes for SHA-256). */
export function sameHash(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= (a[i] as number) ^ (b[i] as number);
  return diff === 0;
}

/**
 * The records in this process; with `budget`, they also count against the
 * registry's byte budget (the registry adds `size.charged` to its own total).
 */
export function createMemoryRendezvousStore(limits: RendezvousLimits, budget?: SharedBudget): MemoryRendezvousStore {
  const table = createLeaseTable<RendezvousRecord>();
  /** Record keys of each mesh, least recently published first; unswept expired ones included. */
  const meshes = new Map<string, Set<string>>();
  let bytes = 0;
  let charged = 0;
  const chargeOf = (record: { ciphertext: Uint8Array; gcmNonce: Uint8Array }) => recordCharge(record.ciphertext.length, record.gcmNonce.length);
  /** True when `growth` more bytes pass the registry's budget. */
  const overBudget = (growth: number) => budget !== undefined && growth > 0 && budget.used() + growth > budget.max;

  const keyOf = (meshId: string, recordId: string) => `${meshId.length}:${meshId}/${recordId}`;

  function forget(record: RendezvousRecord, key: string): void {
    bytes -= record.ciphertext.length;
    charged -= chargeOf(record);
    const keys = meshes.get(record.meshId);
    keys?.delete(key);
    if (keys?.size === 0) meshes.delete(record.meshId);
  }

  /** Removes a stored record (the caller knows it is stored). */
  function remove(key: string): void {
    const record = table.peek(key) as RendezvousRecord;
    table.delete(key);
    forget(record, key);
  }

  function sweep(nowMs: number, limit?: number): number {
    const removed = table.sweep(nowMs, limit);
    for (const record of removed) forget(record, keyOf(record.meshId, record.recordId));
    return removed.length;
  }

  /** Frees the mesh's own expired records (at most the per-mesh cap plus what is unswept). */
  function pruneMesh(meshId: string, nowMs: number): Set<string> | undefined {
    const keys = meshes.get(meshId);
    if (keys === undefined) return undefined;
    for (const key of [...keys]) {
      if (table.get(key, nowMs) === undefined) remove(key);
    }
    return meshes.get(meshId);
  }

  function check(meshId: string, recordId: string, tokenHash: Uint8Array, nowMs: number): TokenCheck {
    const record = table.get(keyOf(meshId, recordId), nowMs);
    if (record === undefined) return "absent";
    return sameHash(record.tokenHash, tokenHash) ? "ok" : "mismatch";
  }

  function store(key: string, record: RendezvousRecord, previous: RendezvousRecord | undefined): void {
    if (previous !== undefined) forget(previous, key);
    table.set(key, record);
    let keys = meshes.get(record.meshId);
    if (keys === undefined) {
      keys = new Set();
      meshes.set(record.meshId, keys);
    }
    keys.add(key);
    bytes += record.ciphertext.length;
    charged += chargeOf(record);
  }

  function room(meshId: string, write: Pick<RendezvousWrite, "ciphertext" | "gcmNonce">, nowMs: number): RendezvousCap | undefined {
    const inMesh = pruneMesh(meshId, nowMs)?.size ?? 0;
    if (inMesh >= limits.recordsPerMesh) return "records_per_mesh";
    const size = write.ciphertext.length;
    const charge = chargeOf(write);
    if (table.size >= limits.records || bytes + size > limits.bytes || overBudget(charge)) sweep(nowMs, CAPACITY_SWEEP_BUDGET);
    if (table.size >= limits.records) return "records";
    if (bytes + size > limits.bytes) return "bytes";
    if (overBudget(charge)) return "registry_bytes";
    return undefined;
  }

  return {
    check,
    publish(meshId, recordId, newRecordId, write, nowMs) {
      const fields = {
        meshId,
        ciphertext: write.ciphertext,
        gcmNonce: write.gcmNonce,
        publishedAtMs: nowMs,
        expiresAtMs: nowMs + write.ttlMs,
      };
      if (recordId !== undefined) {
        const key = keyOf(meshId, recordId);
        const previous = table.get(key, nowMs);
        if (previous === undefined) return { kind: "unknown_record" };
        if (!sameHash(previous.tokenHash, write.tokenHash)) return { kind: "token_mismatch" };
        const growth = write.ciphertext.length - previous.ciphertext.length;
        const chargeGrowth = chargeOf(write) - chargeOf(previous);
        if ((growth > 0 && bytes + growth > limits.bytes) || overBudget(chargeGrowth)) {
          sweep(nowMs, CAPACITY_SWEEP_BUDGET);
          if (growth > 0 && bytes + growth > limits.bytes) return { kind: "full", cap: "bytes" };
          if (overBudget(chargeGrowth)) return { kind: "full", cap: "registry_bytes" };
        }
        const record: RendezvousRecord = { ...fields, recordId, tokenHash: previous.tokenHash };
        store(key, record, previous);
        return { kind: "stored", record };
      }
      const cap = room(meshId, write, nowMs);
      if (cap !== undefined) return { kind: "full", cap };
      const key = keyOf(meshId, newRecordId);
      // A fresh id never collides; should one, the old record is replaced wholesale.
      const record: RendezvousRecord = { ...fields, recordId: newRecordId, tokenHash: write.tokenHash.slice() };
      store(key, record, table.peek(key));
      return { kind: "stored", record };
    },
    list(meshId, nowMs) {
      const keys = pruneMesh(meshId, nowMs);
      if (keys === undefined) return [];
      return [...keys].map((key) => table.peek(key) as RendezvousRecord);
    },
    ack(meshId, recordId, tokenHash, nowMs) {
      const result = check(meshId, recordId, tokenHash, nowMs);
      if (result === "ok") remove(keyOf(meshId, recordId));
      return result;
    },
    sweep,
    room,
    stats: () => ({ records: table.size, bytes }),
    get size() {
      return { records: table.size, bytes, charged };
    },
  };
}
