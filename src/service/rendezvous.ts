// The bootstrap rendezvous RPCs (Coral RFD 108), as the rendezvous contract
// (docs in README "Bootstrap rendezvous") says: validation in its order, the
// per-mesh buckets, the store, the long-poll. The server keeps only the
// SHA-256 of write tokens and never sees plaintext.
import { createHash, randomBytes } from "node:crypto";
import type { DescMessage, MessageInitShape, MessageShape } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import type {
  AckBootstrapRendezvousRequestSchema,
  AckBootstrapRendezvousResponseSchema,
  PollBootstrapRendezvousRequestSchema,
  PollBootstrapRendezvousResponseSchema,
  PublishBootstrapRendezvousRequestSchema,
  PublishBootstrapRendezvousResponseSchema,
} from "../../gen/coral/discovery/v1/discovery_pb.js";
import { createRateLimiter, type Rate } from "../limits/rate-limiter.js";
import type { RendezvousCap, RendezvousRecord, RendezvousStore } from "../registry/rendezvous.js";
import { addressKey, type AddressMatcher } from "../net/address.js";
import type { Dialer } from "../net/probe.js";
import { checkProbeTarget } from "../net/probe-target.js";
import type { CallContext } from "./call.js";
import type { ProbeQuota } from "./probe-quota.js";
import { ulid } from "./ulid.js";
import * as check from "./validate.js";
import type { WaiterSet } from "./rendezvous-waiters.js";

/** The contract's caps on what one record may carry. */
export const RENDEZVOUS_LIMITS = {
  ciphertextBytes: 4096,
  gcmNonceBytes: 32,
  writeTokenBytes: 256,
  /** Longest record lifetime, and the one given when `ttl_seconds` is not positive. */
  maxTtlSeconds: 90,
  /** Longest long-poll. */
  maxWaitSeconds: 25,
  /** The reachability probe's connect timeout. */
  probeTimeoutMs: 2_000,
} as const;

const PROBE_FAILED = { success: false, probeFailed: true, recordId: "" } as const;

export interface RendezvousOptions {
  readonly store: RendezvousStore;
  readonly waiters: WaiterSet;
  /** Publishes per mesh (`--rendezvous-publish-rate`), tokens per second. */
  readonly publishRate: Rate;
  /** Polls per mesh (`--rendezvous-poll-rate`), tokens per second. */
  readonly pollRate: Rate;
  /** Store caps, for the messages of `full` refusals. */
  readonly caps: { readonly recordsPerMesh: number; readonly records: number; readonly bytes: number };
  /** The clock, Unix ms. */
  readonly now: () => number;
  /** Random bytes for record ids. Default crypto.randomBytes. */
  readonly randomBytes?: (size: number) => Uint8Array;
  /** The reachability probe (`--rendezvous-probe on`); without it `verify_reachability` is ignored. */
  readonly probe?: ProbeOptions;
  /**
   * A store shared with other instances (whose publishes wake waiting polls
   * through the store's own channel): a waiting poll looks at the store once
   * more after it started waiting, so a publish made between its first look
   * and its wait is not missed.
   */
  readonly recheck?: boolean;
}

export interface ProbeOptions {
  readonly dial: Dialer;
  /** Ranges allowed despite the address rules (`--rendezvous-probe-allow`). */
  readonly isAllowed: AddressMatcher;
  readonly quota: ProbeQuota;
  /** Connect timeout, ms (2 s). */
  readonly timeoutMs: number;
}

type Req<S extends DescMessage> = MessageShape<S>;

export interface RendezvousHandlers {
  publishBootstrapRendezvous(
    req: Req<typeof PublishBootstrapRendezvousRequestSchema>,
    ctx: CallContext,
  ): Promise<MessageInitShape<typeof PublishBootstrapRendezvousResponseSchema>>;
  pollBootstrapRendezvous(
    req: Req<typeof PollBootstrapRendezvousRequestSchema>,
    ctx: CallContext,
  ): Promise<MessageInitShape<typeof PollBootstrapRendezvousResponseSchema>>;
  ackBootstrapRendezvous(
    req: Req<typeof AckBootstrapRendezvousRequestSchema>,
    ctx: CallContext,
  ): Promise<MessageInitShape<typeof AckBootstrapRendezvousResponseSchema>>;
  /** Drops idle per-mesh buckets (the sweeper's interval). */
  prune(nowMs: number): void;
}

function invalid(message: string): ConnectError {
  return new ConnectError(message, Code.InvalidArgument);
}

function requiredBytes(value: Uint8Array, field: string): void {
  if (value.length === 0) throw invalid(`${field} is required`);
}

function maxBytes(value: Uint8Array, max: number, field: string): void {
  if (value.length > max) throw invalid(`${field} is ${value.length} bytes; at most ${max} are allowed`);
}

function sha256(bytes: Uint8Array): Uint8Array {
  return createHash("sha256").update(bytes).digest();
}

const QUOTA_REASONS = {
  in_flight: "too many probes in flight on this server",
  rate: "at most 5 probes at once and 20 an hour from one address",
  targets: "at most 10 distinct targets an hour from one address",
} as const;

const perMinute = (rate: Rate) => Math.round(rate.perSecond * 60 * 1000) / 1000;

export function createRendezvous(options: RendezvousOptions): RendezvousHandlers {
  const { store, waiters, now, caps, probe } = options;
  const random = options.randomBytes ?? randomBytes;
  const publishBuckets = createRateLimiter(options.publishRate);
  const pollBuckets = createRateLimiter(options.pollRate);

  function take(buckets: typeof publishBuckets, rate: Rate, meshId: string, what: string, flag: string): void {
    const waitMs = buckets.take(meshId, now());
    if (waitMs === 0) return;
    const retrySeconds = Math.max(1, Math.ceil(waitMs / 1000));
    throw new ConnectError(
      `rate limit exceeded: at most ${perMinute(rate)} ${what} per minute on one mesh (bursts of ${rate.burst}, ${flag}); retry in ${retrySeconds}s`,
      Code.ResourceExhausted,
      { "retry-after": String(retrySeconds) },
    );
  }

  function full(cap: RendezvousCap, meshId: string): ConnectError {
    const message =
      cap === "records_per_mesh"
        ? `mesh ${meshId} already holds ${caps.recordsPerMesh} rendezvous records (--rendezvous-max-records-per-mesh); ack or let some expire`
        : cap === "records"
          ? `the server holds ${caps.records} rendezvous records, its limit (--rendezvous-max-records); retry later`
          : cap === "bytes"
            ? `the server holds its limit of rendezvous ciphertext, ${caps.bytes} bytes (--rendezvous-max-bytes); retry later`
            : "the registry is full: its leases and records take the bytes --max-registry-bytes allows; retry later";
    return new ConnectError(message, Code.ResourceExhausted, { "retry-after": "30" });
  }

  const shape = (record: RendezvousRecord) => ({
    recordId: record.recordId,
    ciphertext: record.ciphertext,
    gcmNonce: record.gcmNonce,
    publishedAt: timestampFromMs(record.publishedAtMs),
  });

  return {
    async publishBootstrapRendezvous(req, ctx) {
      check.required(req.meshId, "mesh_id");
      requiredBytes(req.ciphertext, "ciphertext");
      requiredBytes(req.gcmNonce, "gcm_nonce");
      requiredBytes(req.writeToken, "write_token");
      check.id(req.meshId, "mesh_id");
      maxBytes(req.ciphertext, RENDEZVOUS_LIMITS.ciphertextBytes, "ciphertext");
      maxBytes(req.gcmNonce, RENDEZVOUS_LIMITS.gcmNonceBytes, "gcm_nonce");
      maxBytes(req.writeToken, RENDEZVOUS_LIMITS.writeTokenBytes, "write_token");
      if (req.recordId !== "") check.id(req.recordId, "record_id");
      take(publishBuckets, options.publishRate, req.meshId, "publishes", "--rendezvous-publish-rate");
      const ttlSeconds = req.ttlSeconds <= 0 ? RENDEZVOUS_LIMITS.maxTtlSeconds : Math.min(req.ttlSeconds, RENDEZVOUS_LIMITS.maxTtlSeconds);
      const tokenHash = sha256(req.writeToken);
      if (probe !== undefined && req.verifyReachability) {
        // The record's owner first: nobody may make us dial for a record they cannot write.
        if (req.recordId !== "") {
          const owner = await store.check(req.meshId, req.recordId, tokenHash, now());
          if (owner === "absent") return { success: false, probeFailed: false, recordId: "" };
          if (owner === "mismatch") throw new ConnectError("write_token mismatch", Code.PermissionDenied);
        } else {
          // A new record's caps before the probe too: a full store never dials (the publish checks again after).
          const cap = await store.room(req.meshId, req, now());
          if (cap !== undefined) throw full(cap, req.meshId);
        }
        const target = checkProbeTarget(req.probeEndpoint, probe.isAllowed);
        if (typeof target === "string") return PROBE_FAILED;
        const release = probe.quota.take(addressKey(ctx.clientIp), `${target.ip}:${target.port}`, now());
        if (typeof release === "string") {
          throw new ConnectError(`reachability probe quota exceeded (${QUOTA_REASONS[release]})`, Code.ResourceExhausted, { "retry-after": "60" });
        }
        try {
          if (!(await probe.dial(target, probe.timeoutMs))) return PROBE_FAILED;
        } finally {
          release();
        }
      }
      const nowMs = now();
      // Copies: a decoded `bytes` field may be a view pinning the request's buffer.
      const outcome = await store.publish(
        req.meshId,
        req.recordId === "" ? undefined : req.recordId,
        ulid(nowMs, random),
        { ciphertext: req.ciphertext.slice(), gcmNonce: req.gcmNonce.slice(), tokenHash, ttlMs: ttlSeconds * 1000 },
        nowMs,
      );
      switch (outcome.kind) {
        case "unknown_record":
          return { success: false, probeFailed: false, recordId: "" };
        case "token_mismatch":
          throw new ConnectError("write_token mismatch", Code.PermissionDenied);
        case "full":
          throw full(outcome.cap, req.meshId);
      }
      waiters.wake(req.meshId);
      return { success: true, expiresAt: timestampFromMs(outcome.record.expiresAtMs), recordId: outcome.record.recordId };
    },

    async pollBootstrapRendezvous(req, ctx) {
      check.id(req.meshId, "mesh_id");
      take(pollBuckets, options.pollRate, req.meshId, "polls", "--rendezvous-poll-rate");
      const records = await store.list(req.meshId, now());
      if (records.length > 0) return { records: records.map(shape), timedOut: false };
      const waitSeconds = Math.min(Math.max(req.waitSeconds, 0), RENDEZVOUS_LIMITS.maxWaitSeconds);
      if (waitSeconds === 0) return { records: [], timedOut: true };
      if (options.recheck === true) {
        // Waiting first, then a second look: a publish on another instance between the two is seen either way.
        const stop = new AbortController();
        const waiting = waiters.wait(req.meshId, waitSeconds * 1000, AbortSignal.any([ctx.signal, stop.signal]));
        let early: RendezvousRecord[];
        try {
          early = await store.list(req.meshId, now());
        } catch (error) {
          stop.abort(error);
          await waiting.catch(() => {});
          throw error;
        }
        if (early.length > 0) {
          stop.abort();
          await waiting.catch(() => {});
          return { records: early.map(shape), timedOut: false };
        }
        await waiting;
      } else {
        await waiters.wait(req.meshId, waitSeconds * 1000, ctx.signal);
      }
      const after = await store.list(req.meshId, now());
      return { records: after.map(shape), timedOut: after.length === 0 };
    },

    async ackBootstrapRendezvous(req) {
      check.required(req.meshId, "mesh_id");
      check.required(req.recordId, "record_id");
      check.id(req.meshId, "mesh_id");
      check.id(req.recordId, "record_id");
      const result = await store.ack(req.meshId, req.recordId, sha256(req.writeToken), now());
      return { success: result !== "mismatch" };
    },

    prune(nowMs) {
      publishBuckets.prune(nowMs);
      pollBuckets.prune(nowMs);
    },
  };
}
