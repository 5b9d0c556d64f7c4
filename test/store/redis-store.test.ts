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
