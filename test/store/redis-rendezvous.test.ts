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
    createRedisRendezvousStore({ client: client(), prefix: `rv-${process.pid}-${next++}:`, limits, registryBytes, describe: "Redis" }),
  );

  t.test("a publish on one connection wakes a subscriber on another (another instance), with the mesh id", async (t) => {
    const prefix = `wake-${process.pid}:`;
    const woken: string[] = [];
    const wakeups = subscribeWakeups(client(), prefix, (meshId) => woken.push(meshId));
    await wakeups.subscribed;
    const other = createRedisRendezvousStore({ client: client(), prefix, limits: LIMITS, registryBytes: 2 ** 40, describe: "Redis" });
    await other.publish("mesh-a", undefined, "A", write(1), S);
    await until(() => woken.length === 1, "the wake-up");
    t.same(woken, ["mesh-a"]);
    const elsewhere = createRedisRendezvousStore({ client: client(), prefix: "another-deployment:", limits: LIMITS, registryBytes: 2 ** 40, describe: "Redis" });
    await elsewhere.publish("mesh-b", undefined, "B", write(1), S);
    await other.publish("mesh-c", undefined, "C", write(1), S);
    await until(() => woken.length === 2, "the second wake-up");
    t.same(woken, ["mesh-a", "mesh-c"], "another prefix's publishes are not heard");
    await wakeups.stop();
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
    message: "the state store (Redis at 192.0.2.1:6379) is unreachable: Connection is closed.; retry shortly",
  });
  await t.rejects(Promise.resolve(fake(Object.assign(new Error("ERR bad script"), { name: "ReplyError" })).list("m", S)), { name: "ReplyError" });
});
