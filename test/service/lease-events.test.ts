import t from "tap";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { DiscoveryService } from "../../gen/coral/discovery/v1/discovery_pb.js";
import { createConfiguredRegistry } from "../../src/app.js";
import { resolveConfig, type ConfigInput } from "../../src/config/index.js";
import { memoryStore, RegistryError } from "../../src/registry/index.js";
import { chain, type UnaryHandler } from "../../src/service/call.js";
import { createDiscoveryService } from "../../src/service/discovery-service.js";
import { errorMappingStep } from "../../src/service/errors.js";
import { leaseEventsStep, NO_LEASE_EVENTS, refusalReason, registrationObserver, type LeaseEvents } from "../../src/service/lease-events.js";
import { createRateLimit } from "../../src/service/rate-limit.js";
import { callOf } from "../fixtures/call.js";
import { createFakeClock } from "../fixtures/clock.js";
import { KEY_1, KEY_2, KEY_3 } from "../fixtures/keys.js";

const M = DiscoveryService.method;

/** The service behind the lease-events, error-mapping and rate-limit steps, in that order (as the app has them). */
function setup(options: ConfigInput = {}, maxRegistryBytes?: number) {
  const clock = createFakeClock();
  const config = resolveConfig(options);
  // The option's floor is 1 MiB; a registry of a few bytes is built directly.
  const registry = createConfiguredRegistry(maxRegistryBytes === undefined ? config : { ...config, maxRegistryBytes }, clock.now);
  const events: string[] = [];
  const sink: LeaseEvents = {
    registered: (kind, outcome) => events.push(`${kind} ${outcome}`),
    refused: (kind, reason) => events.push(`${kind} refused ${reason}`),
    evicted: (kind, count) => events.push(`${kind} evicted ${count}`),
  };
  const logged: { level: string; obj: object; msg: string }[] = [];
  const log = {
    info: (obj: object, msg: string) => logged.push({ level: "info", obj, msg }),
    debug: (obj: object, msg: string) => logged.push({ level: "debug", obj, msg }),
  };
  const handlers = createDiscoveryService({
    store: memoryStore(registry),
    onRegistered: registrationObserver(sink, log),
    ttlSeconds: config.ttlSeconds,
    stunServers: [],
    relays: [],
    version: "1",
    startedAtMs: clock.now(),
    now: clock.now,
    randomId: () => "id",
  }) as unknown as Record<string, UnaryHandler>;
  const rateLimit = createRateLimit({ register: config.rateRegister, lookup: config.rateLookup, token: config.rateToken }, clock.now, () => false);
  const steps = [leaseEventsStep(sink, log), errorMappingStep, rateLimit.step];
  const call = (method: (typeof M)[keyof typeof M], input: object) =>
    chain(steps, (c) => (handlers[c.method.localName] as UnaryHandler)(c.input as never, c.ctx))(
      callOf(method as never, create(method.input, input as never), { clientIp: "198.51.100.7" }),
    );
  const colony = (meshId: string, pubkey = KEY_1) => call(M.registerColony, { meshId, pubkey, endpoints: ["203.0.113.1:51820"], metadata: {} });
  const agent = (meshId: string, agentId: string, pubkey = KEY_3) => call(M.registerAgent, { meshId, agentId, pubkey, endpoints: ["203.0.113.2:51820"], metadata: {} });
  return { clock, events, logged, call, colony, agent, registry };
}

t.test("new registrations and renewals of colonies and agents are told apart, counted and logged", async (t) => {
  const { events, logged, colony, agent, clock } = setup();
  await colony("m1");
  await colony("m1");
  await agent("m1", "a1");
  await agent("m1", "a1");
  await agent("m1", "a1", KEY_2); // another pubkey takes the active agent over: a renewal of the key
  clock.advance(301_000); // past the 300 s lease: the next registration is new again
  await colony("m1");
  t.same(events, ["colony new", "colony renewal", "agent new", "agent renewal", "agent renewal", "colony new"]);
  t.same(
    logged.map((l) => [l.level, l.msg, l.obj]),
    [
      ["info", "lease created", { kind: "colony", meshId: "m1" }],
      ["debug", "lease renewed", { kind: "colony", meshId: "m1" }],
      ["info", "lease created", { kind: "agent", meshId: "m1", agentId: "a1" }],
      ["debug", "lease renewed", { kind: "agent", meshId: "m1", agentId: "a1" }],
      ["debug", "lease renewed", { kind: "agent", meshId: "m1", agentId: "a1" }],
      ["info", "lease created", { kind: "colony", meshId: "m1" }],
    ],
  );
});

t.test("a split-brain refusal is counted and logged at info; the error goes on unchanged", async (t) => {
  const { events, logged, colony } = setup();
  await colony("m1", KEY_1);
  const error = await colony("m1", KEY_2).catch((e: unknown) => e);
  t.ok(error instanceof ConnectError && error.code === Code.AlreadyExists, "the caller still gets already_exists");
  t.same(events, ["colony new", "colony refused split_brain"]);
  t.same(logged[1], { level: "info", obj: { kind: "colony", meshId: "m1", reason: "split_brain" }, msg: "registration refused" });
});

t.test("capacity, byte budget and rate-limit refusals are counted by reason and logged at debug", async (t) => {
  let s = setup({ maxColonies: 1, maxAgentsPerMesh: 1 });
  await s.colony("m1");
  await t.rejects(s.colony("m2"), { code: Code.ResourceExhausted });
  await s.agent("m1", "a1");
  await t.rejects(s.agent("m1", "a2"), { code: Code.ResourceExhausted });
  t.same(s.events, ["colony new", "colony refused capacity", "agent new", "agent refused capacity"]);
  t.same(s.logged[1], { level: "debug", obj: { kind: "colony", meshId: "m2", reason: "capacity" }, msg: "registration refused" });

  s = setup({}, 100);
  await t.rejects(s.colony("m1"), { code: Code.ResourceExhausted, message: /--max-registry-bytes/ });
  t.same(s.events, ["colony refused budget"]);

  s = setup({ rateRegister: "1:2" });
  await s.agent("m1", "a1");
  await s.agent("m1", "a1");
  await t.rejects(s.agent("m1", "a1"), { code: Code.ResourceExhausted, message: /rate limit/ });
  t.same(s.events, ["agent new", "agent renewal", "agent refused rate_limit"]);
});

t.test("invalid registrations are not refusals, and other RPCs pass untouched", async (t) => {
  const { events, logged, call, colony } = setup();
  await t.rejects(colony("bad mesh id!"), { code: Code.InvalidArgument });
  await t.rejects(call(M.lookupColony, { meshId: "m9" }), { code: Code.NotFound });
  t.same(events, []);
  t.same(logged, []);
});

t.test("refusalReason reads the error as the steps leave it", async (t) => {
  const mapped = (code: "split_brain" | "capacity_exceeded" | "session_not_found", message: string) =>
    new ConnectError(message, Code.Internal, undefined, undefined, new RegistryError(code, message));
  t.equal(refusalReason(mapped("split_brain", "x")), "split_brain");
  t.equal(refusalReason(mapped("capacity_exceeded", "it holds 5 colonies (--max-colonies)")), "capacity");
  t.equal(refusalReason(mapped("capacity_exceeded", "entries take 9 of the 8 bytes --max-registry-bytes allows")), "budget");
  t.equal(refusalReason(mapped("session_not_found", "x")), undefined, "not a registration refusal");
  t.equal(refusalReason(new ConnectError("slow down", Code.ResourceExhausted)), "rate_limit");
  t.equal(refusalReason(new ConnectError("bad", Code.InvalidArgument)), undefined);
  t.equal(refusalReason(new Error("bug")), undefined);
});

t.test("NO_LEASE_EVENTS drops everything", async (t) => {
  t.doesNotThrow(() => {
    NO_LEASE_EVENTS.registered("colony", "new");
    NO_LEASE_EVENTS.refused("agent", "budget");
    NO_LEASE_EVENTS.evicted("relay_session", 2);
  });
});
