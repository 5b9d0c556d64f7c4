import t from "tap";
import { Redis } from "ioredis";
import { createRedisRendezvousStore, subscribeWakeups } from "../../src/store/redis-rendezvous.js";
import { hasRedis, REDIS_MISSING, startRedis } from "../fixtures/redis.js";
import { LIMITS, rendezvousContract, S, write } from "../fixtures/rendezvous-contract.js";
import { until } from "../fixtures/wait.js";

if (!hasRedis) {
  t.test("the Redis rendezvous store", { skip: REDIS_MISSING }, async () => {});
} else {
  const redis = await startRedis(t);
  const clients: Redis[] = [];
  t.teardown(() => Promise.all(clients.map((c) => c.quit())));
  const client = () => {
    const c = new Redis(redis.url, { maxRetriesPerRequest: 0 });
    clients.push(c);
    return c;
  };
  let next = 0;
  rendezvousContract(t, async (_t, limits, registryBytes = 2 ** 40) =>
    createRedisRendezvousStore({ client: client(), prefix: `rv-${process.pid}-${next++}:`, limits, registryBytes, describe: "Redis", clock: "caller" }),
  );

  t.test("a publish on one connection wakes a subscriber on another (another instance), with the mesh id", async (t) => {
    const prefix = `wake-${process.pid}:`;
    const woken: string[] = [];
    const wakeups = subscribeWakeups(client(), prefix, (meshId) => woken.push(meshId));
    await wakeups.subscribed;
    const other = createRedisRendezvousStore({ client: client(), prefix, limits: LIMITS, registryBytes: 2 ** 40, describe: "Redis", clock: "caller" });
    await other.publish("mesh-a", undefined, "A", write(1), S);
    await until(() => woken.length === 1, "the wake-up");
    t.same(woken, ["mesh-a"]);
    const elsewhere = createRedisRendezvousStore({ client: client(), prefix: "another-deployment:", limits: LIMITS, registryBytes: 2 ** 40, describe: "Redis", clock: "caller" });
    await elsewhere.publish("mesh-b", undefined, "B", write(1), S);
    await other.publish("mesh-c", undefined, "C", write(1), S);
    await until(() => woken.length === 2, "the second wake-up");
    t.same(woken, ["mesh-a", "mesh-c"], "another prefix's publishes are not heard");
    await wakeups.stop();
  });

  t.test("records are timed by Redis's clock by default: the caller's nowMs is not used", async (t) => {
    const store = createRedisRendezvousStore({ client: client(), prefix: `clock-${process.pid}:`, limits: LIMITS, registryBytes: 2 ** 40, describe: "Redis" });
    const before = Date.now();
    const stored = await store.publish("m", undefined, "A", write(1, 10, 60_000), 0);
    t.match(stored, { kind: "stored" });
    const publishedAtMs = stored.kind === "stored" ? stored.record.publishedAtMs : 0;
    t.ok(publishedAtMs >= before - 1_000 && publishedAtMs <= Date.now() + 1_000, "published at Redis's now, not at the 0 passed in");
    t.equal((await store.list("m", 10 ** 15)).length, 1, "nor is a far-future nowMs used to expire it");
  });

  t.test("a subscription made while Redis is down takes effect once it is up", async (t) => {
    const own = await startRedis(t);
    await own.kill();
    const c = new Redis(own.url, { maxRetriesPerRequest: 0, enableOfflineQueue: false, retryStrategy: () => 50 });
    c.on("error", () => {});
    t.teardown(() => c.disconnect());
    const woken: string[] = [];
    const wakeups = subscribeWakeups(c, "down:", (meshId) => woken.push(meshId));
    t.teardown(() => wakeups.stop());
    // Several failed reconnections first (what lost the SUBSCRIBE before): counted on the main client, whose retry policy the subscriber copies.
    let attempts = 0;
    c.on("reconnecting", () => attempts++);
    await until(() => attempts >= 3, "three failed reconnections");
    await own.restart();
    await wakeups.subscribed;
    const publisher = new Redis(own.url);
    t.teardown(() => publisher.disconnect());
    await until(async () => (await publisher.publish("down:rv-wake", "mesh-x")) === 1, "the subscription to be in place");
    await until(() => woken.includes("mesh-x"), "the wake-up");
    t.pass("woken after Redis came up");
  });
}

t.test("faults: out of reach is unavailable; a script error stays an error", async (t) => {
  const fake = (error: Error) => {
    const c: Record<string, unknown> = {
      defineCommand(name: string) {
        c[name] = async () => {
          throw error;
        };
      },
    };
    return createRedisRendezvousStore({ client: c as never, prefix: "p:", limits: LIMITS, registryBytes: 2 ** 40, describe: "Redis at 192.0.2.1:6379" });
  };
  await t.rejects(Promise.resolve(fake(new Error("Connection is closed.")).list("m", S)), {
    code: "unavailable",
    message: "the state store (Redis at 192.0.2.1:6379) is unreachable: not connected (reconnecting); retry shortly",
  });
  await t.rejects(Promise.resolve(fake(Object.assign(new Error("BUSY Redis is busy running a script"), { name: "ReplyError" })).list("m", S)), { code: "unavailable" }, "a busy Redis, as for leases");
  await t.rejects(Promise.resolve(fake(Object.assign(new Error("ERR bad script"), { name: "ReplyError" })).list("m", S)), { name: "ReplyError" });
});
