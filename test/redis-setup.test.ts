import t from "tap";
import { resolveConfig } from "../src/config/index.js";
import { openRedis } from "../src/redis-setup.js";
import { formatSigningKey, generateSigningKey } from "../src/tokens/index.js";
import { KEY_1 } from "./fixtures/keys.js";
import { freePort, hasRedis, REDIS_MISSING, startRedis } from "./fixtures/redis.js";
import { until } from "./fixtures/wait.js";

const configFor = (redisUrl: string, extra: object = {}) =>
  resolveConfig({ redisUrl, redisPrefix: `setup-${process.pid}:`, redisTimeoutMs: 500, ...extra }, { env: { DISCOVERY_SIGNING_KEY: formatSigningKey(generateSigningKey()) } });

function recorder() {
  const lines: { level: string; obj: Record<string, unknown>; msg: string }[] = [];
  return {
    lines,
    log: {
      info: (obj: object, msg: string) => lines.push({ level: "info", obj: obj as Record<string, unknown>, msg }),
      warn: (obj: object, msg: string) => lines.push({ level: "warn", obj: obj as Record<string, unknown>, msg }),
    },
  };
}

if (!hasRedis) {
  t.test("the configured Redis store", { skip: REDIS_MISSING }, async () => {});
} else {
  t.test("connects, serves, logs one line when Redis goes away and one when it is back", async (t) => {
    const redis = await startRedis(t);
    const { lines, log } = recorder();
    const { store } = await openRedis(configFor(`redis://:secret@127.0.0.1:${redis.port}`), log);
    t.teardown(() => store.close());
    t.equal(store.ready(), true, "connected before it is handed out");
    t.same(lines.map((l) => l.msg), ["state store connected"]);
    t.equal(lines[0]?.obj.redis, `redis://:***@127.0.0.1:${redis.port}`, "the URL is logged without its password");
    t.equal((await store.registerColony("m", KEY_1, { endpoints: [":1"], meshIpv4: "", meshIpv6: "", connectPort: 0, metadata: {}, observedEndpoint: undefined, publicPort: 0, publicEndpoint: undefined })).renewed, false);
    t.equal((await store.counts()).colonies, 1, "timed by Redis's clock");

    await redis.kill();
    await until(() => store.ready() !== true, "the store to notice");
    t.match(store.ready(), /^the state store \(Redis at 127\.0\.0\.1:\d+\) is unreachable$/);
    await t.rejects(Promise.resolve(store.lookupColony("m")), { code: "unavailable", message: /not connected \(reconnecting\)/ }, "fails at once, no queue");
    await until(() => lines.some((l) => l.level === "warn"), "the warning");
    await redis.restart();
    await until(() => store.ready() === true, "the reconnection", 10_000);
    t.same(
      lines.map((l) => l.msg),
      ["state store connected", "state store unreachable: calls answer unavailable until it is back", "state store connected"],
      "one line each way, however many attempts",
    );
    t.equal(await store.lookupColony("m"), undefined, "a Redis without persistence came back empty: that is Redis's configuration");
  });
}

if (hasRedis) {
  t.test("the rendezvous records share the connection; publishes wake subscribers; closing the store ends the subscription", async (t) => {
    const redis = await startRedis(t);
    const { lines, log } = recorder();
    const { store, rendezvous } = await openRedis(configFor(redis.url), log);
    t.equal(rendezvous.wakeups(), undefined, "no subscription until asked");
    const woken: string[] = [];
    rendezvous.subscribe((meshId) => woken.push(meshId));
    await rendezvous.wakeups()?.subscribed;
    const write = { ciphertext: new Uint8Array(4), gcmNonce: new Uint8Array(12), tokenHash: new Uint8Array(32), ttlMs: 60_000 };
    t.match(await rendezvous.store.publish("m", undefined, "01A", write, Date.now()), { kind: "stored" });
    await until(() => woken.length === 1, "the wake-up");
    t.same(woken, ["m"]);
    await store.close();
    t.same(lines.map((l) => l.msg), ["state store connected"], "closing is not an outage");
  });
}

t.test("a Redis that is not there: start-up waits one connect timeout, then serves unavailable", async (t) => {
  const port = await freePort();
  const { lines, log } = recorder();
  const { store } = await openRedis(configFor(`redis://127.0.0.1:${port}`), log, () => Date.now());
  t.teardown(() => store.close());
  t.match(store.ready(), /unreachable/);
  t.equal(lines[0]?.level, "warn");
  await t.rejects(Promise.resolve(store.counts()), { code: "unavailable" });
});
