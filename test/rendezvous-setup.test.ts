import t from "tap";
import { create } from "@bufbuild/protobuf";
import { PollBootstrapRendezvousRequestSchema, PublishBootstrapRendezvousRequestSchema } from "../gen/coral/discovery/v1/discovery_pb.js";
import { resolveConfig } from "../src/config/index.js";
import { createConfiguredRendezvous } from "../src/rendezvous-setup.js";
import { createMemoryRendezvousStore } from "../src/registry/rendezvous.js";
import { contextOf } from "./fixtures/call.js";
import { createFakeClock } from "./fixtures/clock.js";
import { createManualTimers } from "./fixtures/manual-timers.js";

const publishReq = (meshId: string) =>
  create(PublishBootstrapRendezvousRequestSchema, { meshId, ciphertext: new Uint8Array(100), gcmNonce: new Uint8Array(12), writeToken: new Uint8Array(16), ttlSeconds: 10 });

t.test("the configured caps and rates apply; health counts records and waiting polls; sweep frees expired records", async (t) => {
  const clock = createFakeClock();
  const timers = createManualTimers(clock);
  const config = resolveConfig({ rendezvousMaxRecordsPerMesh: 1, rendezvousMaxPollsPerMesh: 1, rendezvousPublishRate: "60:2" });
  const rdv = createConfiguredRendezvous(config, clock.now, timers);
  await rdv.handlers.publishBootstrapRendezvous(publishReq("m"), contextOf());
  await t.rejects(rdv.handlers.publishBootstrapRendezvous(publishReq("m"), contextOf()), { message: /--rendezvous-max-records-per-mesh/ });
  await t.rejects(rdv.handlers.publishBootstrapRendezvous(publishReq("m"), contextOf()), { message: /at most 60 publishes per minute on one mesh \(bursts of 2/ });
  const waiting = rdv.handlers.pollBootstrapRendezvous(create(PollBootstrapRendezvousRequestSchema, { meshId: "n", waitSeconds: 5 }), contextOf());
  await timers.settle();
  await t.rejects(rdv.handlers.pollBootstrapRendezvous(create(PollBootstrapRendezvousRequestSchema, { meshId: "n", waitSeconds: 5 }), contextOf()), { message: /at most 1 \(--rendezvous-max-polls-per-mesh\)/ });
  t.same(await rdv.health(), { rendezvous_records: 1, rendezvous_polls_waiting: 1 });
  t.equal(rdv.charged(), 100 + 12 + 32 + 400, "what the record is charged against the registry's byte budget");
  await timers.next();
  await waiting;
  clock.advance(10_000);
  await rdv.sweep(clock.now());
  t.same(await rdv.health(), { rendezvous_records: 0, rendezvous_polls_waiting: 0 });
  t.equal((await rdv.store.stats(clock.now())).bytes, 0);
  t.equal(rdv.waiters.size, 0);
  await rdv.handlers.publishBootstrapRendezvous(publishReq("m"), contextOf());
  t.equal((await rdv.store.stats(clock.now())).records, 1, "the bucket refilled and was pruned");
});

t.test("without timers it waits on Node's", async (t) => {
  const rdv = createConfiguredRendezvous(resolveConfig({}), Date.now);
  const controller = new AbortController();
  const waiting = rdv.handlers.pollBootstrapRendezvous(create(PollBootstrapRendezvousRequestSchema, { meshId: "m", waitSeconds: 25 }), contextOf({ signal: controller.signal }));
  t.equal(rdv.waiters.size, 0, "the store read comes first");
  await new Promise((resolve) => setImmediate(resolve));
  t.equal(rdv.waiters.size, 1);
  controller.abort(new Error("gone"));
  await t.rejects(waiting, { message: "gone" });
  t.equal(rdv.waiters.size, 0);
});

t.test("--rendezvous-probe on dials through the given dialer, within --rendezvous-probe-allow", async (t) => {
  const dialled: string[] = [];
  const config = resolveConfig({ rendezvousProbe: true, rendezvousProbeAllow: ["127.0.0.0/8"] });
  const rdv = createConfiguredRendezvous(config, Date.now, undefined, async (target, timeoutMs) => {
    dialled.push(`${target.ip}:${target.port}/${timeoutMs}`);
    return true;
  });
  const probed = (probeEndpoint: string) =>
    rdv.handlers.publishBootstrapRendezvous(create(PublishBootstrapRendezvousRequestSchema, { ...publishReq("m"), verifyReachability: true, probeEndpoint }), contextOf());
  t.match(await probed("127.0.0.5:8444"), { success: true });
  t.match(await probed("[::1]:8444"), { success: false, probeFailed: true });
  t.same(dialled, ["127.0.0.5:8444/2000"]);
});

t.test("--rendezvous-probe off (the default) never dials", async (t) => {
  const rdv = createConfiguredRendezvous(resolveConfig({}), Date.now, undefined, async () => t.fail("dialled") as never);
  const res = await rdv.handlers.publishBootstrapRendezvous(create(PublishBootstrapRendezvousRequestSchema, { ...publishReq("m"), verifyReachability: true, probeEndpoint: "203.0.113.1:8444" }), contextOf());
  t.equal(res.success, true);
  t.equal(res.probeFailed, undefined);
});

t.test("a shared store (Redis): records go there, publishes elsewhere wake polls here", async (t) => {
  const clock = createFakeClock();
  const timers = createManualTimers(clock);
  const store = createMemoryRendezvousStore({ recordsPerMesh: 32, records: 100, bytes: 1 << 20 });
  let wake: ((meshId: string) => void) | undefined;
  const rdv = createConfiguredRendezvous(resolveConfig({}), clock.now, timers, undefined, { store, subscribe: (fn) => (wake = fn) });
  t.equal(rdv.store, store, "the shared store holds the records");
  const waiting = rdv.handlers.pollBootstrapRendezvous(create(PollBootstrapRendezvousRequestSchema, { meshId: "m", waitSeconds: 5 }), contextOf());
  await timers.settle();
  t.equal(rdv.waiters.size, 1);
  store.publish("m", undefined, "01OTHER", { ciphertext: new Uint8Array(3), gcmNonce: new Uint8Array(12), tokenHash: new Uint8Array(32), ttlMs: 10_000 }, clock.now());
  wake?.("m"); // what the subscription calls for a publish on another instance
  const answer = await waiting;
  t.same(answer.records?.map((r) => r.recordId), ["01OTHER"]);
  t.same(await rdv.health(), { rendezvous_records: 1, rendezvous_polls_waiting: 0 });
  t.equal(rdv.charged(), 0, "a shared store counts its records itself");
});

t.test("records in this process within the registry's byte budget: past it, a publish is refused naming it", async (t) => {
  const rdv = createConfiguredRendezvous(resolveConfig({}), Date.now, undefined, undefined, { budget: { used: () => 2_000, max: 2_000 } });
  await t.rejects(rdv.handlers.publishBootstrapRendezvous(publishReq("m"), contextOf()), { message: /--max-registry-bytes/ });
  t.equal(rdv.charged(), 0);
});

t.test("the sweep frees expired records in batches, a turn each, until a batch comes back short", async (t) => {
  const memory = createMemoryRendezvousStore({ recordsPerMesh: 32, records: 100, bytes: 1 << 20 });
  const batches: (number | undefined)[] = [];
  const left = [1_000, 1_000, 7];
  const store = { ...memory, sweep: async (_nowMs: number, limit?: number) => (batches.push(limit), left.shift() ?? 0) };
  const rdv = createConfiguredRendezvous(resolveConfig({}), Date.now, undefined, undefined, { store, subscribe: () => {} });
  await rdv.sweep(Date.now());
  t.same(batches, [1_000, 1_000, 1_000]);
});
