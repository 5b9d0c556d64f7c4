// The Redis store as configured (`--redis-url`): an ioredis client set to
// fail fast (no offline queue, a command timeout, reconnecting on its own
// with a capped backoff), the discovery payload codecs and entry sizes, and
// log lines when the connection is lost and comes back. ioredis is loaded
// only here, so the in-memory default never reads it.
import type { Config } from "./config/index.js";
import { redactUrl } from "./config/redis.js";
import type { Store } from "./registry/index.js";
import { registryLimits } from "./registry-limits.js";
import type { SharedRendezvous } from "./rendezvous-setup.js";
import type { AgentData, ColonyData, RelayData } from "./service/discovery-service.js";
import { discoveryEntrySizes } from "./service/entry-size.js";
import { agentCodec, colonyCodec, relayCodec } from "./service/lease-codec.js";
import { createRedisRendezvousStore, subscribeWakeups, type Wakeups } from "./store/redis-rendezvous.js";
import { createRedisStore } from "./store/redis-store.js";

/** Longest pause between reconnection attempts, ms. */
const MAX_RECONNECT_DELAY_MS = 2_000;

export interface RedisLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

/** The leases and the rendezvous records in one Redis. */
export interface RedisState {
  readonly store: Store<ColonyData, AgentData, RelayData>;
  readonly rendezvous: SharedRendezvous & {
    /** The wake-up subscription, once `subscribe` was called (tests wait for `subscribed`). */
    readonly wakeups: () => Wakeups | undefined;
  };
}

/**
 * Connects to `config.redisUrl` and returns the stores once connected, or
 * after one connect timeout (they answer `unavailable` until the connection
 * is ready; /readyz says why). `now` is a clock for tests; by default leases
 * are timed by Redis's clock.
 */
export async function openRedis(config: Config, log: RedisLog, now?: () => number): Promise<RedisState> {
  const url = config.redisUrl as string;
  const { Redis } = await import("ioredis");
  const client = new Redis(url, {
    enableOfflineQueue: false,
    commandTimeout: config.redisTimeoutMs,
    connectTimeout: Math.max(config.redisTimeoutMs, 1_000),
    maxRetriesPerRequest: 0,
    retryStrategy: (attempt) => Math.min(attempt * 100, MAX_RECONNECT_DELAY_MS),
    enableAutoPipelining: true,
    // A connection that goes silent (no reset, e.g. a failover behind one name) is dropped and remade.
    socketTimeout: Math.max(config.redisTimeoutMs * 3, 3_000),
    lazyConnect: false,
  });
  const where = redactUrl(url);
  // One line when the connection is lost and one when it is back, however many attempts in between.
  let up: boolean | undefined;
  client.on("ready", () => {
    if (up !== true) log.info({ redis: where }, "state store connected");
    up = true;
  });
  client.on("error", (error: Error) => {
    if (up !== false) log.warn({ redis: where, err: { message: error.message } }, "state store unreachable: calls answer unavailable until it is back");
    up = false;
  });
  // Start serving once connected, or after one connect timeout: then /readyz says unreachable until Redis answers.
  await new Promise<void>((resolve) => {
    const done = () => {
      clearTimeout(timer);
      client.off("ready", done);
      client.off("error", done);
      resolve();
    };
    const timer = setTimeout(done, Math.max(config.redisTimeoutMs, 1_000));
    client.once("ready", done);
    client.once("error", done);
  });
  const describe = `Redis at ${client.options.host}:${client.options.port}`;
  let wakeups: Wakeups | undefined;
  const store = createRedisStore({
    client,
    prefix: config.redisPrefix,
    ttlMs: config.ttlSeconds * 1000,
    relaySessionTtlMs: config.relaySessionTtlSeconds * 1000,
    limits: registryLimits(config),
    sizeOf: discoveryEntrySizes,
    codecs: { colony: colonyCodec, agent: agentCodec, relay: relayCodec },
    describe,
    ...(now === undefined ? {} : { now }),
  });
  const close = store.close;
  return {
    store: {
      ...store,
      // The subscriber connection goes with the store.
      async close() {
        await wakeups?.stop();
        await close();
      },
    },
    rendezvous: {
      store: createRedisRendezvousStore({
        client,
        prefix: config.redisPrefix,
        limits: { recordsPerMesh: config.rendezvousMaxRecordsPerMesh, records: config.rendezvousMaxRecords, bytes: config.rendezvousMaxBytes },
        registryBytes: config.maxRegistryBytes,
        describe,
      }),
      subscribe(wake) {
        wakeups = subscribeWakeups(client, config.redisPrefix, wake);
      },
      wakeups: () => wakeups,
    },
  };
}
