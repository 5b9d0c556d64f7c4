// The bootstrap rendezvous records in Redis, beside the leases, for several
// instances: each operation one Lua script (atomic, one round trip), token
// hashes compared in constant time inside the script, records expiring by
// themselves (PX). A publish also announces its mesh on a pub/sub channel,
// so a poll waiting on any instance wakes (see `subscribeWakeups`).
//
// Layout under the prefix P:
//   P rv:<#mesh>:<mesh>/<id>   hash c ciphertext, n nonce, t token hash (base64), p published,
//                              e expires, q publish sequence (list order)          PX
//   P rvm:<#mesh>:<mesh>       sorted set record id -> expiry: a mesh's records     PX
//   P rv-all                   sorted set record key -> expiry: active count, reaping
//   P rv-sizes, P rv-bytes     ciphertext bytes per record key, and their total
//   P rv-charges               what each record is charged against the registry's byte
//                              budget, added to the leases' total (P bytes, see redis-scripts.ts)
//   P rv-seq                   the publish sequence
//   P rv-wake                  the pub/sub channel: a mesh id per publish
import type { Redis } from "ioredis";
import { redisFault } from "./redis-fault.js";
import { PREFIX_AND_CLOCK } from "./redis-scripts.js";
import { recordCharge, type PublishOutcome, type RendezvousCap, type RendezvousLimits, type RendezvousRecord, type RendezvousStore, type TokenCheck } from "../registry/rendezvous.js";

const PRELUDE = `${PREFIX_AND_CLOCK}
local ALL, SIZES, BYTES = P .. 'rv-all', P .. 'rv-sizes', P .. 'rv-bytes'
local CHARGES, REGISTRY_BYTES = P .. 'rv-charges', P .. 'bytes'
local function total(key) return tonumber(redis.call('GET', key) or '0') end
local function chargeOf(key) return tonumber(redis.call('HGET', CHARGES, key) or '0') end
local function recordKey(mesh, id) return #mesh .. ':' .. mesh .. '/' .. id end
local function meshKey(mesh) return P .. 'rvm:' .. #mesh .. ':' .. mesh end
local function active(expires) return expires and now < tonumber(expires) end
local function bytesOf(key) return tonumber(redis.call('HGET', SIZES, key) or '0') end
-- Equal in time that depends only on the lengths.
local function same(a, b)
  if #a ~= #b then return false end
  local diff = 0
  for i = 1, #a do diff = bit.bor(diff, bit.bxor(string.byte(a, i), string.byte(b, i))) end
  return diff == 0
end
local function drop(key, mesh, id)
  redis.call('DEL', P .. 'rv:' .. key)
  redis.call('DECRBY', BYTES, bytesOf(key))
  redis.call('HDEL', SIZES, key)
  redis.call('DECRBY', REGISTRY_BYTES, chargeOf(key))
  redis.call('HDEL', CHARGES, key)
  redis.call('ZREM', ALL, key)
  if mesh then redis.call('ZREM', meshKey(mesh), id) end
end
-- Drops a mesh's expired records (what a list or a new record of the mesh finds).
local function pruneMesh(mesh)
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', meshKey(mesh), '-inf', now)) do drop(recordKey(mesh, id), mesh, id) end
end
local function reap(limit)
  local keys = redis.call('ZRANGEBYSCORE', ALL, '-inf', now, 'LIMIT', 0, limit)
  for _, key in ipairs(keys) do
    local n, rest = string.match(key, '^(%d+):(.*)$')
    drop(key, string.sub(rest, 1, tonumber(n)), string.sub(rest, tonumber(n) + 2))
  end
  return #keys
end
-- The cap a new record of 'size' ciphertext bytes, charged 'charge', would hit; nil when it fits.
local function roomFor(mesh, size, charge, maxMesh, maxRecords, maxBytes, maxRegistry)
  pruneMesh(mesh)
  if redis.call('ZCARD', meshKey(mesh)) >= maxMesh then return 'records_per_mesh' end
  local function over() return total(BYTES) + size > maxBytes end
  local function overRegistry() return total(REGISTRY_BYTES) + charge > maxRegistry end
  if redis.call('ZCARD', ALL) >= maxRecords or over() or overRegistry() then reap(1000) end
  if redis.call('ZCARD', ALL) >= maxRecords then return 'records' end
  if over() then return 'bytes' end
  if overRegistry() then return 'registry_bytes' end
  return nil
end
`;

/** ARGV: P, now, mesh, ciphertext length, charge, max per mesh, max records, max bytes, max registry bytes. Reply: a cap, or ''. */
const ROOM = `
return roomFor(ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9])) or ''
`;

/** ARGV: P, now, mesh, id, token hash. Reply: 'absent' | 'mismatch' | 'ok'. */
const CHECK = `
local t = redis.call('HMGET', P .. 'rv:' .. recordKey(ARGV[3], ARGV[4]), 't', 'e')
if not active(t[2]) then return 'absent' end
return same(t[1], ARGV[5]) and 'ok' or 'mismatch'
`;

/**
 * ARGV: P, now, mesh, id ('' for new), new id, ciphertext, nonce, token hash,
 * ciphertext length, ttl, max per mesh, max records, max bytes, charge, max registry bytes.
 * Reply: {'stored', id, token hash, published, expires} | {'unknown_record'} | {'token_mismatch'} | {'full', cap}.
 */
const PUBLISH = `
local mesh, id, fresh, c, n, t, size, ttl = ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8], tonumber(ARGV[9]), tonumber(ARGV[10])
local maxMesh, maxRecords, maxBytes = tonumber(ARGV[11]), tonumber(ARGV[12]), tonumber(ARGV[13])
local charge, maxRegistry = tonumber(ARGV[14]), tonumber(ARGV[15])
local mk = meshKey(mesh)
if id ~= '' then
  local cur = redis.call('HMGET', P .. 'rv:' .. recordKey(mesh, id), 't', 'e')
  if not active(cur[2]) then return {'unknown_record'} end
  if not same(cur[1], t) then return {'token_mismatch'} end
  t = cur[1]
  local key = recordKey(mesh, id)
  local growth, chargeGrowth = size - bytesOf(key), charge - chargeOf(key)
  local function over() return growth > 0 and total(BYTES) + growth > maxBytes end
  local function overRegistry() return chargeGrowth > 0 and total(REGISTRY_BYTES) + chargeGrowth > maxRegistry end
  if over() or overRegistry() then reap(1000) end
  if over() then return {'full', 'bytes'} end
  if overRegistry() then return {'full', 'registry_bytes'} end
else
  local cap = roomFor(mesh, size, charge, maxMesh, maxRecords, maxBytes, maxRegistry)
  if cap then return {'full', cap} end
  id = fresh
end
local key = recordKey(mesh, id)
local exp = now + ttl
redis.call('DECRBY', REGISTRY_BYTES, chargeOf(key))
redis.call('HSET', CHARGES, key, charge)
redis.call('INCRBY', REGISTRY_BYTES, charge)
redis.call('DECRBY', BYTES, bytesOf(key))
redis.call('DEL', P .. 'rv:' .. key)
redis.call('HSET', P .. 'rv:' .. key, 'c', c, 'n', n, 't', t, 'p', now, 'e', exp, 'q', redis.call('INCR', P .. 'rv-seq'))
redis.call('PEXPIRE', P .. 'rv:' .. key, ttl)
redis.call('HSET', SIZES, key, size)
redis.call('INCRBY', BYTES, size)
redis.call('ZADD', ALL, exp, key)
redis.call('ZADD', mk, exp, id)
if redis.call('PTTL', mk) < ttl then redis.call('PEXPIRE', mk, ttl) end
redis.call('PUBLISH', P .. 'rv-wake', mesh)
return {'stored', id, t, now, exp}
`;

/** ARGV: P, now, mesh. Reply: 6 fields per active record: id, ciphertext, nonce, token hash, published, expires; publish order. */
const LIST = `
local mesh = ARGV[3]
local mk = meshKey(mesh)
pruneMesh(mesh)
local found = {}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', mk, '(' .. now, '+inf')) do
  local r = redis.call('HMGET', P .. 'rv:' .. recordKey(mesh, id), 'c', 'n', 't', 'p', 'e', 'q')
  if active(r[5]) then table.insert(found, {tonumber(r[6]), id, r[1], r[2], r[3], r[4], r[5]}) end
end
table.sort(found, function(a, b) return a[1] < b[1] end)
local out = {}
for _, r in ipairs(found) do for i = 2, 7 do table.insert(out, r[i]) end end
return out
`;

/** ARGV: P, now, mesh, id, token hash. Reply: 'absent' | 'mismatch' | 'ok' (deleted). */
const ACK = `
local mesh, id = ARGV[3], ARGV[4]
local key = recordKey(mesh, id)
local t = redis.call('HMGET', P .. 'rv:' .. key, 't', 'e')
if not active(t[2]) then return 'absent' end
if not same(t[1], ARGV[5]) then return 'mismatch' end
drop(key, mesh, id)
return 'ok'
`;

/** ARGV: P, now, budget. Reply: records reaped. */
const SWEEP = `return reap(tonumber(ARGV[3]))`;

/** ARGV: P, now. Reply: {records held, ciphertext bytes held} (unreaped expired ones included, as in memory). */
const STATS = `return {redis.call('ZCARD', ALL), tonumber(redis.call('GET', BYTES) or '0')}`;

const SCRIPTS = { cdRvCheck: CHECK, cdRvPublish: PUBLISH, cdRvRoom: ROOM, cdRvList: LIST, cdRvAck: ACK, cdRvSweep: SWEEP, cdRvStats: STATS } as const;
type Name = keyof typeof SCRIPTS;
type Reply = (string | number | null)[] | string | number;

/** Expired records one sweep call frees at most: one script never holds Redis for long (~15 ms). */
const SWEEP_BATCH = 1_000;

export interface RedisRendezvousOptions {
  readonly client: Redis;
  readonly prefix: string;
  readonly limits: RendezvousLimits;
  /** `--max-registry-bytes`: records count against it with the leases (the leases' byte total in the same Redis). */
  readonly registryBytes: number;
  /** Where the store is, for messages. */
  readonly describe: string;
  /**
   * Whose clock times the records: `redis` (default: Redis's `TIME`, one
   * clock for every instance, as for leases; the callers' `nowMs` is then
   * unused) or `caller` (the `nowMs` each call passes; tests).
   */
  readonly clock?: "redis" | "caller";
}

/** The records in Redis; `stats()` for /health. Faults are RegistryError("unavailable"), as for leases. */
export function createRedisRendezvousStore(options: RedisRendezvousOptions): RendezvousStore {
  const { client, prefix, limits, registryBytes, describe } = options;
  const callerClock = options.clock === "caller";
  for (const name of Object.keys(SCRIPTS) as Name[]) {
    if (!(name in client)) client.defineCommand(name, { numberOfKeys: 0, lua: PRELUDE + SCRIPTS[name] });
  }
  const scripts = client as unknown as Record<Name, (...args: (string | number)[]) => Promise<Reply>>;
  async function run(name: Name, nowMs: number, ...args: (string | number)[]): Promise<Reply> {
    try {
      return await scripts[name](prefix, callerClock ? nowMs : "", ...args);
    } catch (error) {
      throw redisFault(error, client, describe);
    }
  }
  const b64 = (bytes: Uint8Array) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64");
  const bytes = (text: unknown) => new Uint8Array(Buffer.from(String(text), "base64"));

  return {
    async check(meshId, recordId, tokenHash, nowMs) {
      return (await run("cdRvCheck", nowMs, meshId, recordId, b64(tokenHash))) as TokenCheck;
    },
    async publish(meshId, recordId, newRecordId, write, nowMs): Promise<PublishOutcome> {
      const r = (await run(
        "cdRvPublish",
        nowMs,
        meshId,
        recordId ?? "",
        newRecordId,
        b64(write.ciphertext),
        b64(write.gcmNonce),
        b64(write.tokenHash),
        write.ciphertext.length,
        write.ttlMs,
        limits.recordsPerMesh,
        limits.records,
        limits.bytes,
        recordCharge(write.ciphertext.length, write.gcmNonce.length),
        registryBytes,
      )) as (string | number)[];
      if (r[0] === "unknown_record" || r[0] === "token_mismatch") return { kind: r[0] };
      if (r[0] === "full") return { kind: "full", cap: r[1] as RendezvousCap };
      const record: RendezvousRecord = {
        meshId,
        recordId: String(r[1]),
        ciphertext: write.ciphertext,
        gcmNonce: write.gcmNonce,
        tokenHash: bytes(r[2]),
        publishedAtMs: Number(r[3]),
        expiresAtMs: Number(r[4]),
      };
      return { kind: "stored", record };
    },
    async room(meshId, write, nowMs) {
      const charge = recordCharge(write.ciphertext.length, write.gcmNonce.length);
      const cap = await run("cdRvRoom", nowMs, meshId, write.ciphertext.length, charge, limits.recordsPerMesh, limits.records, limits.bytes, registryBytes);
      return cap === "" ? undefined : (cap as RendezvousCap);
    },
    async list(meshId, nowMs) {
      const r = (await run("cdRvList", nowMs, meshId)) as string[];
      const records: RendezvousRecord[] = [];
      for (let i = 0; i < r.length; i += 6) {
        records.push({
          meshId,
          recordId: String(r[i]),
          ciphertext: bytes(r[i + 1]),
          gcmNonce: bytes(r[i + 2]),
          tokenHash: bytes(r[i + 3]),
          publishedAtMs: Number(r[i + 4]),
          expiresAtMs: Number(r[i + 5]),
        });
      }
      return records;
    },
    async ack(meshId, recordId, tokenHash, nowMs) {
      return (await run("cdRvAck", nowMs, meshId, recordId, b64(tokenHash))) as TokenCheck;
    },
    async sweep(nowMs, limit = SWEEP_BATCH) {
      return Number(await run("cdRvSweep", nowMs, limit));
    },
    async stats(nowMs) {
      const r = (await run("cdRvStats", nowMs)) as number[];
      return { records: Number(r[0]), bytes: Number(r[1]) };
    },
  };
}

/** A subscription to publishes: `subscribed` settles once it is in place; `stop()` ends it. */
export interface Wakeups {
  readonly subscribed: Promise<void>;
  stop(): Promise<void>;
}

/**
 * Calls `wake(meshId)` for every publish any instance makes on this prefix,
 * over a connection of its own (a subscribed connection runs no other
 * command); it resubscribes by itself after a reconnection.
 */
export function subscribeWakeups(client: Redis, prefix: string, wake: (meshId: string) => void): Wakeups {
  // Queued until connected, never given up on (the main client fails fast; this one waits).
  const subscriber = client.duplicate({ enableOfflineQueue: true, maxRetriesPerRequest: null, commandTimeout: undefined });
  subscriber.on("error", () => {}); // the main connection logs the outage
  const channel = `${prefix}rv-wake`;
  subscriber.on("message", (from: string, meshId: string) => {
    if (from === channel) wake(meshId);
  });
  const subscribe = () =>
    subscriber.subscribe(channel).then(
      () => undefined,
      () => undefined,
    );
  // ioredis resubscribes what Redis confirmed; subscribing again on every (re)connection covers what it never did.
  subscriber.on("ready", () => void subscribe());
  const subscribed = subscribe();
  return {
    subscribed,
    async stop() {
      // Not QUIT: queued while Redis is down, it would wait for Redis to come back.
      subscriber.disconnect();
    },
  };
}
