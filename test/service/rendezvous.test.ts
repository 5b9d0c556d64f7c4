import t, { type Test } from "tap";
import { Code, ConnectError } from "@connectrpc/connect";
import { create } from "@bufbuild/protobuf";
import { timestampMs, type Timestamp } from "@bufbuild/protobuf/wkt";
import {
  AckBootstrapRendezvousRequestSchema,
  PollBootstrapRendezvousRequestSchema,
  PublishBootstrapRendezvousRequestSchema,
} from "../../gen/coral/discovery/v1/discovery_pb.js";
import { createMemoryRendezvousStore } from "../../src/registry/rendezvous.js";
import { createRendezvous, RENDEZVOUS_LIMITS } from "../../src/service/rendezvous.js";
import { createWaiterSet } from "../../src/service/rendezvous-waiters.js";
import { createAddressMatcher } from "../../src/net/address.js";
import type { ProbeTarget } from "../../src/net/probe-target.js";
import { createProbeQuota, PROBE_QUOTA_DEFAULTS } from "../../src/service/probe-quota.js";
import { createFakeClock } from "../fixtures/clock.js";
import { contextOf } from "../fixtures/call.js";
import { createManualTimers } from "../fixtures/manual-timers.js";
import { until } from "../fixtures/wait.js";

const CAPS = { recordsPerMesh: 32, records: 10_000, bytes: 16 * 1024 ** 2 };
const FAST = { perSecond: 1000, burst: 1000 };

function setup(options: { publishRate?: { perSecond: number; burst: number }; pollRate?: { perSecond: number; burst: number }; caps?: typeof CAPS } = {}) {
  const clock = createFakeClock();
  const timers = createManualTimers(clock);
  const caps = options.caps ?? CAPS;
  const store = createMemoryRendezvousStore(caps);
  const waiters = createWaiterSet({ perMesh: 8, total: 1000 }, timers);
  let n = 0;
  const rdv = createRendezvous({
    store,
    waiters,
    caps,
    now: clock.now,
    publishRate: options.publishRate ?? FAST,
    pollRate: options.pollRate ?? FAST,
    randomBytes: (size) => new Uint8Array(size).fill(++n),
  });
  const ctx = contextOf();
  const publish = (init: Parameters<typeof create<typeof PublishBootstrapRendezvousRequestSchema>>[1]) =>
    rdv.publishBootstrapRendezvous(create(PublishBootstrapRendezvousRequestSchema, init), ctx);
  const poll = (init: Parameters<typeof create<typeof PollBootstrapRendezvousRequestSchema>>[1], signal?: AbortSignal) =>
    rdv.pollBootstrapRendezvous(create(PollBootstrapRendezvousRequestSchema, init), signal === undefined ? ctx : contextOf({ signal }));
  const ack = (init: Parameters<typeof create<typeof AckBootstrapRendezvousRequestSchema>>[1]) =>
    rdv.ackBootstrapRendezvous(create(AckBootstrapRendezvousRequestSchema, init), ctx);
  return { clock, timers, store, waiters, rdv, publish, poll, ack };
}

const bytes = (n: number, size = 16) => new Uint8Array(size).fill(n);
const record = { meshId: "mesh-1", ciphertext: bytes(1, 230), gcmNonce: bytes(2, 12), writeToken: bytes(3, 32), ttlSeconds: 90 };

async function rejects(t: Test, promise: Promise<unknown>, code: Code, message: RegExp): Promise<ConnectError> {
  const error = await promise.then(() => undefined, (e: unknown) => e);
  t.ok(error instanceof ConnectError, `rejected with ${Code[code]}`);
  const ce = error as ConnectError;
  t.equal(Code[ce.code], Code[code]);
  t.match(ce.rawMessage, message);
  return ce;
}

const ms = (ts: Timestamp | undefined) => timestampMs(ts as Timestamp);

t.test("Publish validates in the contract's order", async (t) => {
  const { publish } = setup();
  await rejects(t, publish({}), Code.InvalidArgument, /^mesh_id is required$/);
  await rejects(t, publish({ meshId: "m" }), Code.InvalidArgument, /^ciphertext is required$/);
  await rejects(t, publish({ meshId: "m", ciphertext: bytes(1) }), Code.InvalidArgument, /^gcm_nonce is required$/);
  await rejects(t, publish({ meshId: "m", ciphertext: bytes(1), gcmNonce: bytes(1) }), Code.InvalidArgument, /^write_token is required$/);
  await rejects(t, publish({ ...record, meshId: "bad mesh" }), Code.InvalidArgument, /^mesh_id "bad mesh" is invalid: use 1-128 characters/);
});

t.test("Publish size caps name the field and the limit", async (t) => {
  const { publish } = setup();
  await rejects(t, publish({ ...record, ciphertext: bytes(1, 4097) }), Code.InvalidArgument, /^ciphertext is 4097 bytes; at most 4096 are allowed$/);
  await rejects(t, publish({ ...record, gcmNonce: bytes(1, 33) }), Code.InvalidArgument, /^gcm_nonce is 33 bytes; at most 32/);
  await rejects(t, publish({ ...record, writeToken: bytes(1, 257) }), Code.InvalidArgument, /^write_token is 257 bytes; at most 256/);
  await rejects(t, publish({ ...record, recordId: "no/slash" }), Code.InvalidArgument, /^record_id "no\/slash" is invalid/);
  t.match(await publish({ ...record, ciphertext: bytes(1, 4096), gcmNonce: bytes(1, 32), writeToken: bytes(1, 256) }), { success: true }, "at the caps");
});

t.test("Publish creates a record: a ULID, expires_at = now + ttl, ttl capped at 90 s, not positive = 90 s", async (t) => {
  const { publish, clock } = setup();
  const res = await publish(record);
  t.equal(res.success, true);
  t.match(res.recordId, /^[0-9A-HJKMNP-TV-Z]{26}$/);
  t.equal(ms(res.expiresAt as Timestamp), clock.now() + 90_000);
  t.equal(ms((await publish({ ...record, ttlSeconds: 30 })).expiresAt as Timestamp), clock.now() + 30_000);
  t.equal(ms((await publish({ ...record, ttlSeconds: 3600 })).expiresAt as Timestamp), clock.now() + 90_000);
  t.equal(ms((await publish({ ...record, ttlSeconds: 0 })).expiresAt as Timestamp), clock.now() + 90_000);
  t.equal(ms((await publish({ ...record, ttlSeconds: -5 })).expiresAt as Timestamp), clock.now() + 90_000);
  t.equal(RENDEZVOUS_LIMITS.maxTtlSeconds, 90);
});

t.test("Publish without record_id creates a record each time; one token may guard several", async (t) => {
  const { publish, poll } = setup();
  const a = await publish(record);
  const b = await publish(record);
  t.not(a.recordId, b.recordId);
  t.same((await poll({ meshId: "mesh-1" })).records?.map((r) => r.recordId), [a.recordId, b.recordId]);
});

t.test("Republish: same id and token replaces the record; unknown id is success=false; wrong token is permission_denied", async (t) => {
  const { publish, poll, clock } = setup();
  const first = await publish(record);
  clock.advance(30_000);
  const again = await publish({ ...record, recordId: first.recordId, ciphertext: bytes(9, 200), gcmNonce: bytes(8, 12) });
  t.same({ success: again.success, recordId: again.recordId }, { success: true, recordId: first.recordId });
  t.equal(ms(again.expiresAt as Timestamp), clock.now() + 90_000);
  const [stored] = (await poll({ meshId: "mesh-1" })).records ?? [];
  t.same(stored?.ciphertext, bytes(9, 200));
  t.same(stored?.gcmNonce, bytes(8, 12));
  t.equal(ms(stored?.publishedAt as Timestamp), clock.now());
  t.same(await publish({ ...record, recordId: "01UNKNOWN" }), { success: false, probeFailed: false, recordId: "" });
  t.same(await publish({ ...record, meshId: "other", recordId: first.recordId }), { success: false, probeFailed: false, recordId: "" }, "an id of another mesh is unknown");
  await rejects(t, publish({ ...record, recordId: first.recordId, writeToken: bytes(4, 32), ciphertext: bytes(7) }), Code.PermissionDenied, /^write_token mismatch$/);
  t.same((await poll({ meshId: "mesh-1" })).records?.[0]?.ciphertext, bytes(9, 200), "untouched");
});

t.test("Publish ignores probe_endpoint and verify_reachability (no probing here): success, probe_failed false", async (t) => {
  const { publish } = setup();
  const res = await publish({ ...record, verifyReachability: true, probeEndpoint: "not even host:port" });
  t.equal(res.success, true);
  t.equal(res.probeFailed, undefined);
});

t.test("Publish stores copies of the request's bytes", async (t) => {
  const { publish, poll } = setup();
  const ciphertext = bytes(1, 20);
  await publish({ ...record, ciphertext });
  ciphertext.fill(0);
  t.same((await poll({ meshId: "mesh-1" })).records?.[0]?.ciphertext, bytes(1, 20));
});

t.test("Publish per-mesh bucket: resource_exhausted 'rate limit exceeded' with Retry-After, spent even when a later step fails", async (t) => {
  const { publish, clock } = setup({ publishRate: { perSecond: 5 / 60, burst: 3 } });
  const { recordId } = await publish(record);
  t.match(await publish({ ...record, recordId: "01UNKNOWN" }), { success: false }, "spends a token");
  await rejects(t, publish({ ...record, recordId, writeToken: bytes(5) }), Code.PermissionDenied, /write_token mismatch/);
  const refused = await rejects(t, publish(record), Code.ResourceExhausted, /^rate limit exceeded: at most 5 publishes per minute on one mesh \(bursts of 3, --rendezvous-publish-rate\); retry in 12s$/);
  t.equal(refused.metadata.get("retry-after"), "12");
  t.match(await publish({ ...record, meshId: "mesh-2" }), { success: true }, "another mesh has its own bucket");
  clock.advance(12_000);
  t.match(await publish(record), { success: true }, "a token later");
});

t.test("Publish caps: records per mesh, in all and bytes answer resource_exhausted naming the flag", async (t) => {
  const { publish } = setup({ caps: { recordsPerMesh: 2, records: 3, bytes: 1000 } });
  await publish(record);
  await publish(record);
  const perMesh = await rejects(t, publish(record), Code.ResourceExhausted, /^mesh mesh-1 already holds 2 rendezvous records \(--rendezvous-max-records-per-mesh\)/);
  t.equal(perMesh.metadata.get("retry-after"), "30");
  await rejects(t, publish({ ...record, meshId: "m2", ciphertext: bytes(1, 600) }), Code.ResourceExhausted, /rendezvous ciphertext, 1000 bytes \(--rendezvous-max-bytes\)/);
  await publish({ ...record, meshId: "m2" });
  await rejects(t, publish({ ...record, meshId: "m3" }), Code.ResourceExhausted, /holds 3 rendezvous records, its limit \(--rendezvous-max-records\)/);
});

t.test("Poll validates mesh_id; its per-mesh bucket refuses with rate limit exceeded", async (t) => {
  const { poll } = setup({ pollRate: { perSecond: 0.5, burst: 2 } });
  await rejects(t, poll({}), Code.InvalidArgument, /^mesh_id is required$/);
  await poll({ meshId: "m" });
  await poll({ meshId: "m" });
  const refused = await rejects(t, poll({ meshId: "m" }), Code.ResourceExhausted, /^rate limit exceeded: at most 30 polls per minute on one mesh \(bursts of 2, --rendezvous-poll-rate\); retry in 2s$/);
  t.equal(refused.metadata.get("retry-after"), "2");
});

t.test("Poll with records answers them at once, oldest first, without waiting; reading does not consume", async (t) => {
  const { publish, poll, timers, clock } = setup();
  const a = await publish(record);
  clock.advance(1000);
  const b = await publish({ ...record, ciphertext: bytes(5) });
  const res = await poll({ meshId: "mesh-1", waitSeconds: 25 });
  t.equal(res.timedOut, false);
  t.same(res.records?.map((r) => r.recordId), [a.recordId, b.recordId]);
  t.same(Object.keys(res.records?.[0] ?? {}).sort(), ["ciphertext", "gcmNonce", "publishedAt", "recordId"], "no token, hash or expiry");
  t.equal(timers.pending(), 0, "no wait");
  t.equal((await poll({ meshId: "mesh-1" })).records?.length, 2);
});

t.test("Poll without records: wait 0 or absent or negative answers timed_out at once", async (t) => {
  const { poll, timers } = setup();
  t.same(await poll({ meshId: "m" }), { records: [], timedOut: true });
  t.same(await poll({ meshId: "m", waitSeconds: -3 }), { records: [], timedOut: true });
  t.equal(timers.pending(), 0);
});

t.test("Poll waits at most 25 s, then answers timed_out", async (t) => {
  const { poll, timers, waiters } = setup();
  const waiting = poll({ meshId: "m", waitSeconds: 3600 });
  await timers.settle();
  t.equal(waiters.countFor("m"), 1);
  t.equal(await timers.next(), 25_000);
  t.same(await waiting, { records: [], timedOut: true });
  t.equal(waiters.size, 0);
});

t.test("a publish wakes every poll waiting on its mesh at once, with the record", async (t) => {
  const { publish, poll, timers, waiters } = setup();
  const first = poll({ meshId: "mesh-1", waitSeconds: 25 });
  const second = poll({ meshId: "mesh-1", waitSeconds: 10 });
  const elsewhere = poll({ meshId: "mesh-2", waitSeconds: 25 });
  await timers.settle();
  t.equal(waiters.size, 3);
  const published = await publish(record);
  const [a, b] = await Promise.all([first, second]);
  t.equal(a.timedOut, false);
  t.same(a.records?.map((r) => r.recordId), [published.recordId]);
  t.same(b.records?.map((r) => r.recordId), [published.recordId]);
  t.equal(waiters.countFor("mesh-2"), 1, "another mesh's poll keeps waiting");
  waiters.releaseAll();
  t.same(await elsewhere, { records: [], timedOut: true }, "released by a server close: answers what there is");
});

t.test("a failed publish (unknown id, wrong token) wakes nobody; an ack wakes nobody", async (t) => {
  const { publish, poll, ack, timers, waiters } = setup();
  const other = await publish({ ...record, meshId: "mesh-2" });
  const waiting = poll({ meshId: "mesh-1", waitSeconds: 25 });
  await timers.settle();
  await publish({ ...record, recordId: other.recordId });
  await ack({ meshId: "mesh-1", recordId: other.recordId, writeToken: record.writeToken });
  await timers.settle();
  t.equal(waiters.countFor("mesh-1"), 1);
  await timers.next();
  t.same(await waiting, { records: [], timedOut: true });
});

t.test("a poll whose deadline passes, or whose client goes away, rejects with the signal's reason and leaves no waiter", async (t) => {
  const { poll, timers, waiters } = setup();
  const controller = new AbortController();
  const waiting = poll({ meshId: "m", waitSeconds: 25 }, controller.signal);
  await timers.settle();
  t.equal(waiters.size, 1);
  controller.abort(new ConnectError("the operation timed out", Code.DeadlineExceeded));
  await rejects(t, waiting, Code.DeadlineExceeded, /timed out/);
  t.equal(waiters.size, 0);
  t.equal(timers.pending(), 0);
});

t.test("Ack: validation order; unknown is success (idempotent); wrong or empty token is success=false and keeps the record", async (t) => {
  const { publish, poll, ack } = setup();
  await rejects(t, ack({}), Code.InvalidArgument, /^mesh_id is required$/);
  await rejects(t, ack({ meshId: "m" }), Code.InvalidArgument, /^record_id is required$/);
  await rejects(t, ack({ meshId: "bad mesh", recordId: "r" }), Code.InvalidArgument, /^mesh_id "bad mesh" is invalid/);
  await rejects(t, ack({ meshId: "m", recordId: "bad id" }), Code.InvalidArgument, /^record_id "bad id" is invalid/);
  t.same(await ack({ meshId: "m", recordId: "01NOPE" }), { success: true }, "no record, token not even given");
  const { recordId } = await publish(record);
  t.same(await ack({ meshId: "mesh-1", recordId, writeToken: bytes(4, 32) }), { success: false });
  t.same(await ack({ meshId: "mesh-1", recordId }), { success: false }, "empty token");
  t.equal((await poll({ meshId: "mesh-1" })).records?.length, 1, "kept");
  t.same(await ack({ meshId: "other", recordId, writeToken: record.writeToken }), { success: true }, "another mesh: unknown");
  t.equal((await poll({ meshId: "mesh-1" })).records?.length, 1, "still kept");
  t.same(await ack({ meshId: "mesh-1", recordId, writeToken: record.writeToken }), { success: true });
  t.same(await poll({ meshId: "mesh-1" }), { records: [], timedOut: true }, "acked records never appear");
  t.same(await ack({ meshId: "mesh-1", recordId, writeToken: bytes(4, 32) }), { success: true }, "twice: success, token unchecked");
});

t.test("expired records are absent for all three RPCs, swept or not", async (t) => {
  const { publish, poll, ack, clock } = setup();
  const { recordId } = await publish({ ...record, ttlSeconds: 10 });
  clock.advance(10_000);
  t.same(await poll({ meshId: "mesh-1" }), { records: [], timedOut: true });
  t.same(await publish({ ...record, recordId }), { success: false, probeFailed: false, recordId: "" });
  t.same(await ack({ meshId: "mesh-1", recordId, writeToken: bytes(4, 32) }), { success: true }, "expired: unknown, token unchecked");
});

t.test("prune drops idle per-mesh buckets", async (t) => {
  const { publish, rdv, clock } = setup({ publishRate: { perSecond: 1, burst: 1 } });
  await publish(record);
  await rejects(t, publish(record), Code.ResourceExhausted, /rate limit exceeded/);
  clock.advance(60_000);
  rdv.prune(clock.now());
  t.match(await publish(record), { success: true });
});

t.test("record ids default to crypto randomness: distinct ULIDs in one millisecond", async (t) => {
  const clock = createFakeClock();
  const store = createMemoryRendezvousStore(CAPS);
  const rdv = createRendezvous({ store, waiters: createWaiterSet({ perMesh: 1, total: 1 }, createManualTimers(clock)), caps: CAPS, now: clock.now, publishRate: FAST, pollRate: FAST });
  const req = create(PublishBootstrapRendezvousRequestSchema, record);
  const a = await rdv.publishBootstrapRendezvous(req, contextOf());
  const b = await rdv.publishBootstrapRendezvous(req, contextOf());
  t.match(a.recordId, /^[0-9A-HJKMNP-TV-Z]{26}$/);
  t.not(a.recordId, b.recordId);
  t.equal(a.recordId?.slice(0, 10), b.recordId?.slice(0, 10), "same time part");
});

function probeSetup(dialResult: boolean | (() => Promise<boolean>) = true, quotaLimits = PROBE_QUOTA_DEFAULTS, caps = CAPS) {
  const clock = createFakeClock();
  const dialled: ProbeTarget[] = [];
  const store = createMemoryRendezvousStore(caps);
  const quota = createProbeQuota(quotaLimits);
  const rdv = createRendezvous({
    store,
    waiters: createWaiterSet({ perMesh: 8, total: 8 }, createManualTimers(clock)),
    caps,
    now: clock.now,
    publishRate: FAST,
    pollRate: FAST,
    probe: {
      dial: async (target, timeoutMs) => {
        dialled.push(target);
        t.equal(timeoutMs, 2_000);
        return typeof dialResult === "boolean" ? dialResult : dialResult();
      },
      isAllowed: createAddressMatcher(["198.18.0.0/15"]),
      quota,
      timeoutMs: RENDEZVOUS_LIMITS.probeTimeoutMs,
    },
  });
  const publish = (init: Parameters<typeof create<typeof PublishBootstrapRendezvousRequestSchema>>[1], clientIp = "198.51.100.1") =>
    rdv.publishBootstrapRendezvous(create(PublishBootstrapRendezvousRequestSchema, init), contextOf({ clientIp }));
  return { publish, dialled, store, quota, clock };
}

const PROBE_FAILED = { success: false, probeFailed: true, recordId: "" };

t.test("probe on: a reachable public target is dialled once, then the record is stored", async (t) => {
  const { publish, dialled, store, quota } = probeSetup(true);
  const res = await publish({ ...record, verifyReachability: true, probeEndpoint: "203.0.113.9:8444" });
  t.equal(res.success, true);
  t.same(dialled, [{ ip: "203.0.113.9", port: 8444 }]);
  t.equal(store.size.records, 1);
  t.equal(quota.inFlight, 0, "the slot is released");
  await publish({ ...record, probeEndpoint: "203.0.113.9:8444" });
  t.equal(dialled.length, 1, "verify_reachability false never dials");
});

t.test("probe on: refused targets answer probe_failed, store nothing, and are never dialled", async (t) => {
  const { publish, dialled, store } = probeSetup(true);
  for (const probeEndpoint of ["", "localhost:8444", "127.0.0.1:8444", "[::1]:8444", "[::ffff:127.0.0.1]:8444", "10.0.0.1:22", "169.254.169.254:80", "0.0.0.0:8444", "100.64.0.1:1", "203.0.113.9"]) {
    t.same(await publish({ ...record, verifyReachability: true, probeEndpoint }), PROBE_FAILED, probeEndpoint);
  }
  t.same(dialled, [], "nothing dialled");
  t.equal(store.size.records, 0);
  t.match(await publish({ ...record, verifyReachability: true, probeEndpoint: "198.18.0.1:9" }), { success: true }, "an allowed range");
  t.same(dialled, [{ ip: "198.18.0.1", port: 9 }]);
});

t.test("probe on: an unreachable target answers probe_failed and stores or changes nothing", async (t) => {
  const { publish, store } = probeSetup(false);
  t.same(await publish({ ...record, verifyReachability: true, probeEndpoint: "203.0.113.9:8444" }), PROBE_FAILED);
  t.equal(store.size.records, 0);
});

t.test("probe on: the record's owner is checked before any dial", async (t) => {
  let reachable = true;
  const { publish, dialled } = probeSetup(async () => reachable);
  const { recordId } = await publish({ ...record, verifyReachability: true, probeEndpoint: "203.0.113.9:1" });
  t.same(await publish({ ...record, recordId: "01UNKNOWN", verifyReachability: true, probeEndpoint: "203.0.113.9:2" }), { success: false, probeFailed: false, recordId: "" });
  await rejects(t, publish({ ...record, recordId, writeToken: bytes(9), verifyReachability: true, probeEndpoint: "203.0.113.9:3" }), Code.PermissionDenied, /^write_token mismatch$/);
  t.same(dialled.map((d) => d.port), [1], "neither the unknown id nor the wrong token made it dial");
  reachable = false;
  t.same(await publish({ ...record, recordId, ciphertext: bytes(9), verifyReachability: true, probeEndpoint: "203.0.113.9:4" }), PROBE_FAILED);
  reachable = true;
  t.match(await publish({ ...record, recordId, verifyReachability: true, probeEndpoint: "203.0.113.9:4" }), { success: true, recordId });
});

t.test("probe on: quotas per client address answer resource_exhausted with Retry-After 60; refused targets spend none", async (t) => {
  const { publish, dialled } = probeSetup(true);
  for (let i = 0; i < 20; i++) await publish({ ...record, verifyReachability: true, probeEndpoint: "127.0.0.1:1" });
  for (let i = 0; i < 5; i++) await publish({ ...record, meshId: `m${i}`, verifyReachability: true, probeEndpoint: "203.0.113.9:8444" });
  const refused = await rejects(t, publish({ ...record, meshId: "m9", verifyReachability: true, probeEndpoint: "203.0.113.9:8444" }), Code.ResourceExhausted, /^reachability probe quota exceeded \(at most 5 probes at once and 20 an hour from one address\)$/);
  t.equal(refused.metadata.get("retry-after"), "60");
  t.equal(dialled.length, 5);
  t.match(await publish({ ...record, meshId: "m9", verifyReachability: true, probeEndpoint: "203.0.113.9:8444" }, "198.51.100.2"), { success: true }, "another address");
});

t.test("probe on: in-flight and distinct-target quotas name their reason", async (t) => {
  let open!: (value: boolean) => void;
  const { publish, quota } = probeSetup(() => new Promise<boolean>((resolve) => (open = resolve)), { ...PROBE_QUOTA_DEFAULTS, inFlight: 1, targetsPerAddressPerHour: 1 });
  const first = publish({ ...record, verifyReachability: true, probeEndpoint: "203.0.113.9:1" });
  await new Promise((resolve) => setImmediate(resolve));
  t.equal(quota.inFlight, 1);
  await rejects(t, publish({ ...record, verifyReachability: true, probeEndpoint: "203.0.113.9:1" }, "198.51.100.7"), Code.ResourceExhausted, /\(too many probes in flight on this server\)/);
  open(true);
  t.match(await first, { success: true });
  await rejects(t, publish({ ...record, verifyReachability: true, probeEndpoint: "203.0.113.9:2" }), Code.ResourceExhausted, /\(at most 10 distinct targets an hour from one address\)/);
});

t.test("probe on: a dial that throws still releases its slot", async (t) => {
  const { publish, quota } = probeSetup(() => Promise.reject(new Error("boom")));
  await t.rejects(publish({ ...record, verifyReachability: true, probeEndpoint: "203.0.113.9:1" }), /boom/);
  t.equal(quota.inFlight, 0);
});

/** A shared store as another instance sees it: `onList` runs before each list (a publish elsewhere may land there). */
function sharedSetup(onList: (call: number) => void | Promise<void>) {
  const clock = createFakeClock();
  const timers = createManualTimers(clock);
  const memory = createMemoryRendezvousStore(CAPS);
  const waiters = createWaiterSet({ perMesh: 8, total: 1000 }, timers);
  let lists = 0;
  const store = {
    ...memory,
    async list(meshId: string, nowMs: number) {
      await onList(++lists);
      return memory.list(meshId, nowMs);
    },
  };
  const rdv = createRendezvous({ store, waiters, caps: CAPS, now: clock.now, publishRate: FAST, pollRate: FAST, recheck: true });
  const poll = (signal?: AbortSignal) =>
    rdv.pollBootstrapRendezvous(create(PollBootstrapRendezvousRequestSchema, { meshId: "mesh-1", waitSeconds: 25 }), signal === undefined ? contextOf() : contextOf({ signal }));
  const publishElsewhere = () =>
    memory.publish("mesh-1", undefined, "01ELSEWHERE", { ciphertext: bytes(1), gcmNonce: bytes(2, 12), tokenHash: bytes(3, 32), ttlMs: 90_000 }, clock.now());
  return { timers, waiters, poll, publishElsewhere, lists: () => lists };
}

t.test("shared store: a publish on another instance between a poll's first look and its wait is found by the second look", async (t) => {
  const s = sharedSetup((call) => {
    if (call === 2) s.publishElsewhere(); // after the first (empty) look, before the second: the wake-up went nowhere
  });
  const answer = await s.poll();
  t.equal(answer.timedOut, false);
  t.same(answer.records?.map((r) => r.recordId), ["01ELSEWHERE"]);
  t.equal(s.waiters.size, 0, "the wait it started is released");
  t.equal(s.timers.pending(), 0, "and its timer cleared");
});

t.test("shared store: nothing on the second look: the poll waits and a wake-up ends it", async (t) => {
  const s = sharedSetup(() => {});
  const answer = s.poll();
  await until(() => s.lists() === 2 && s.waiters.size === 1, "the poll to wait");
  s.publishElsewhere();
  t.equal(s.waiters.wake("mesh-1"), 1, "a wake-up from the channel");
  t.same((await answer).records?.map((r) => r.recordId), ["01ELSEWHERE"]);
  t.equal(s.lists(), 3);
});

t.test("shared store: the second look failing (store out of reach) fails the poll and leaves no waiter", async (t) => {
  const s = sharedSetup((call) => {
    if (call === 2) throw new Error("the state store is unreachable");
  });
  await t.rejects(s.poll(), { message: "the state store is unreachable" });
  t.equal(s.waiters.size, 0);
  t.equal(s.timers.pending(), 0);
});

t.test("shared store: a client gone while waiting still ends the poll at once", async (t) => {
  const s = sharedSetup(() => {});
  const gone = new AbortController();
  const answer = s.poll(gone.signal);
  await until(() => s.waiters.size === 1, "the poll to wait");
  gone.abort(new ConnectError("gone", Code.Canceled));
  await t.rejects(answer, { code: Code.Canceled });
  t.equal(s.waiters.size, 0);
});

t.test("probe on: a new record the store has no room for is refused before any dial (the caps come first)", async (t) => {
  const { publish, dialled } = probeSetup(true, PROBE_QUOTA_DEFAULTS, { ...CAPS, recordsPerMesh: 1 });
  t.equal((await publish({ ...record, verifyReachability: true, probeEndpoint: "203.0.113.9:8444" })).success, true);
  await rejects(t, publish({ ...record, verifyReachability: true, probeEndpoint: "203.0.113.9:8444" }), Code.ResourceExhausted, /--rendezvous-max-records-per-mesh/);
  t.equal(dialled.length, 1, "the refused publish dialled nothing");
});

t.test("a record past the registry's byte budget is refused naming --max-registry-bytes", async (t) => {
  const store = createMemoryRendezvousStore(CAPS, { used: () => 10_000, max: 10_000 });
  const clock = createFakeClock();
  const rdv = createRendezvous({ store, waiters: createWaiterSet({ perMesh: 8, total: 8 }, createManualTimers(clock)), caps: CAPS, now: clock.now, publishRate: FAST, pollRate: FAST });
  await rejects(t, rdv.publishBootstrapRendezvous(create(PublishBootstrapRendezvousRequestSchema, record), contextOf()), Code.ResourceExhausted, /the registry is full: its leases and records take the bytes --max-registry-bytes allows; retry later/);
});
