import t from "tap";
import { Redis } from "ioredis";
import { createRedisStore } from "../../src/store/redis-store.js";
import { discoveryEntrySizes } from "../../src/service/entry-size.js";
import { agentCodec, colonyCodec, relayCodec } from "../../src/service/lease-codec.js";
import { hasRedis, REDIS_MISSING, startRedis } from "../fixtures/redis.js";
import { RELAY_TTL_MS, storeContract, TTL_MS } from "../fixtures/store-contract.js";

if (!hasRedis) {
  t.test("the Redis store", { skip: REDIS_MISSING }, async () => {});
} else {
  const redis = await startRedis(t);
  let next = 0;
  storeContract(t, async (_t, clock, limits) =>
    createRedisStore({
      client: new Redis(redis.url, { enableOfflineQueue: true, maxRetriesPerRequest: 0 }),
      prefix: `test-${process.pid}-${next++}:`,
      ttlMs: TTL_MS,
      relaySessionTtlMs: RELAY_TTL_MS,
      limits,
      sizeOf: discoveryEntrySizes,
      codecs: { colony: colonyCodec, agent: agentCodec, relay: relayCodec },
      describe: `Redis at 127.0.0.1:${redis.port}`,
      now: clock.now,
    }),
  );
}

/** A stand-in ioredis client whose every script answers with `answer` (a reply or a thrown error). */
function fakeClient(answer: () => unknown, status = "ready") {
  const client: Record<string, unknown> = {
    status,
    defined: [] as string[],
    quitted: 0,
    defineCommand(name: string) {
      (client.defined as string[]).push(name);
      client[name] = async () => answer();
    },
    quit: async () => {
      client.quitted = (client.quitted as number) + 1;
      throw new Error("already closed");
    },
    disconnect: () => (client.quitted = (client.quitted as number) + 10),
  };
  return client;
}

function storeOn(client: Record<string, unknown>) {
  return createRedisStore({
    client: client as never,
    prefix: "p:",
    ttlMs: TTL_MS,
    relaySessionTtlMs: RELAY_TTL_MS,
    limits: { colonies: 1, agentsPerMesh: 1, agents: 1, relaySessions: 1, bytes: 1, agentsPerMeshPerOwner: 1, relaySessionsPerOwner: 1 },
    sizeOf: discoveryEntrySizes,
    codecs: { colony: colonyCodec, agent: agentCodec, relay: relayCodec },
    describe: "Redis at 192.0.2.1:6379",
  });
}

const replyError = (message: string) => Object.assign(new Error(message), { name: "ReplyError" });

t.test("faults: out of reach or busy is unavailable, saying so; a script error stays an error", async (t) => {
  const refused = async (client: Record<string, unknown>) => {
    try {
      await storeOn(client).lookupColony("m");
      return undefined;
    } catch (error) {
      return error as Error & { code?: string };
    }
  };
  const down = await refused(fakeClient(() => Promise.reject(new Error("Stream isn't writeable and enableOfflineQueue options is false")), "reconnecting"));
  t.equal(down?.code, "unavailable");
  t.equal(down?.message, "the state store (Redis at 192.0.2.1:6379) is unreachable: not connected (reconnecting); retry shortly");
  const slow = await refused(fakeClient(() => Promise.reject(new Error("Command timed out"))));
  t.equal(slow?.message, "the state store (Redis at 192.0.2.1:6379) is unreachable: no answer in time (--redis-timeout); retry shortly");
  const loading = await refused(fakeClient(() => Promise.reject(replyError("LOADING Redis is loading the dataset in memory"))));
  t.equal(loading?.code, "unavailable", "a Redis that is loading is unavailable");
  t.match(loading?.message, /LOADING Redis is loading/);
  const oom = await refused(fakeClient(() => Promise.reject(replyError("OOM command not allowed when used memory > 'maxmemory'."))));
  t.equal(oom?.code, "unavailable");
  const bug = await refused(fakeClient(() => Promise.reject(replyError("ERR user_script:1: Script attempted to access nonexistent global variable"))));
  t.equal(bug?.name, "ReplyError", "a script error is not dressed up as an outage (it answers internal)");
});

t.test("the store defines its scripts once, says what it is, is ready with its client and closes it", async (t) => {
  const client = fakeClient(() => []);
  const store = storeOn(client);
  t.equal(store.kind, "redis");
  t.ok((client.defined as string[]).includes("cdRegisterColony"));
  const count = (client.defined as string[]).length;
  storeOn(client);
  t.equal((client.defined as string[]).length, count, "a second store on one client reuses the scripts");
  t.equal(store.ready(), true);
  client.status = "reconnecting";
  t.equal(store.ready(), "the state store (Redis at 192.0.2.1:6379) is unreachable");
  await store.close();
  t.equal(client.quitted, 11, "quit, and when that fails, disconnect");
});
