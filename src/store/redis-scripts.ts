// The Redis store's operations as Lua scripts: each runs atomically in Redis,
// so two instances registering one mesh at once see each other (exactly one
// pubkey wins), and every rule of the Map registry is checked and applied in
// one step, in one round trip.
//
// Layout, under the prefix P (ARGV[1]); `#s` is a length, which keeps
// composite keys unambiguous (ids may contain ':' and '/'):
//   P c:<mesh>                  hash p pubkey, s last seen, e expires, d data (JSON),  PX: the lease
//                               v proven ('1' or '0')
//   P a:<#mesh>:<mesh>/<agent>  hash p, s, e, d, v, o owner                             PX: the lease
//   P r:<session>               hash m mesh, e, d, o owner                              PX: the lease
//   P colonies | agents | relays   sorted sets, member id, score expiry (ms): active counts
//                                  with ZCOUNT (now, +inf], expired members found in O(log n + k)
//   P colony-ids                sorted set, score 0: mesh ids in byte order (admin listing)
//   P m:<#mesh>:<mesh>          sorted set agent id -> expiry: the agents of one mesh   PX
//   P o:<#mesh>:<mesh>/<owner>  sorted set agent id -> expiry: one address's agents     PX
//   P ro:<owner>                sorted set session id -> expiry: one address's sessions PX
//   P sizes                     hash kind:id -> estimated bytes;  P bytes: their total
// Redis removes expired leases itself (PX); their book entries (the sorted-set
// members, sizes, the byte total) are dropped by `reap`: at a cap, bounded,
// and by the sweeper, so the cost follows what expired.
//
// Time: ARGV[2] is the caller's clock in Unix ms, or '' for Redis's own
// (TIME): one clock for every instance. Leases are active while now < e.

/** Every script's first lines: the prefix P and the time `now` (ARGV[2], or Redis's own when empty). */
export const PREFIX_AND_CLOCK = `
local P = ARGV[1]
local now
if ARGV[2] ~= '' then
  now = tonumber(ARGV[2])
else
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
`;

const PRELUDE = `${PREFIX_AND_CLOCK}
local SIZES, BYTES = P .. 'sizes', P .. 'bytes'
local COLONIES, COLONY_IDS, AGENTS, RELAYS = P .. 'colonies', P .. 'colony-ids', P .. 'agents', P .. 'relays'
local function meshKey(mesh) return P .. 'm:' .. #mesh .. ':' .. mesh end
local function ownerKey(mesh, owner) return P .. 'o:' .. #mesh .. ':' .. mesh .. '/' .. owner end
local function relayOwnerKey(owner) return P .. 'ro:' .. owner end
local function agentKey(mesh, agent) return #mesh .. ':' .. mesh .. '/' .. agent end
local function active(expires) return expires and now < tonumber(expires) end
local function size(field) return tonumber(redis.call('HGET', SIZES, field) or '0') end

-- Forgets a lease: its key (if Redis still has it), its size and its share of the total.
local function drop(field)
  redis.call('DEL', P .. field)
  local bytes = size(field)
  if bytes ~= 0 then redis.call('DECRBY', BYTES, bytes) end
  redis.call('HDEL', SIZES, field)
end

-- Frees the books of up to 'limit' leases of one kind whose expiry has passed.
local function reap(set, kind, limit)
  local ids = redis.call('ZRANGEBYSCORE', set, '-inf', now, 'LIMIT', 0, limit)
  for _, id in ipairs(ids) do
    drop(kind .. id)
    redis.call('ZREM', set, id)
    if kind == 'c:' then redis.call('ZREM', COLONY_IDS, id) end
    if kind == 'a:' then
      local n, rest = string.match(id, '^(%d+):(.*)$')
      local mesh = string.sub(rest, 1, tonumber(n))
      local mk = meshKey(mesh)
      local agent = string.sub(rest, tonumber(n) + 2)
      local score = redis.call('ZSCORE', mk, agent)
      if score and tonumber(score) <= now then redis.call('ZREM', mk, agent) end
    end
  end
  return #ids
end

-- Nil when a lease of 'bytes' fits the budget in place of what 'field' holds;
-- else frees expired leases (bounded) and asks again; still over: the refusal.
local function ensureBytes(field, bytes, max)
  local function over()
    local growth = bytes - size(field)
    return growth > 0 and tonumber(redis.call('GET', BYTES) or '0') + growth > max
  end
  if not over() then return nil end
  reap(COLONIES, 'c:', 1000)
  reap(AGENTS, 'a:', 1000)
  reap(RELAYS, 'r:', 1000)
  if over() then return {'bytes', tonumber(redis.call('GET', BYTES) or '0')} end
  return nil
end

-- Stores a lease wholesale under P .. field, with its size and expiry.
local function put(field, bytes, ttl, fields)
  local key = P .. field
  local growth = bytes - size(field)
  redis.call('DEL', key)
  redis.call('HSET', key, unpack(fields))
  redis.call('PEXPIRE', key, ttl)
  redis.call('HSET', SIZES, field, bytes)
  if growth ~= 0 then redis.call('INCRBY', BYTES, growth) end
end

-- A sorted set that lives as long as its newest member.
local function touch(set, ttl)
  if redis.call('PTTL', set) < ttl then redis.call('PEXPIRE', set, ttl) end
end
`;

/** ARGV: P, now, mesh, pubkey, data, bytes, ttlMs, maxColonies, maxBytes, proven ('1'/'0'). */
const REGISTER_COLONY = `
local mesh, pubkey, data, bytes, ttl, proven = ARGV[3], ARGV[4], ARGV[5], tonumber(ARGV[6]), tonumber(ARGV[7]), ARGV[10]
local field = 'c:' .. mesh
local cur = redis.call('HMGET', P .. field, 'p', 'e', 'v')
local renew = active(cur[2])
if renew and cur[1] ~= pubkey then return {'split_brain', tonumber(cur[2]), now} end
-- The ownership rule: an active proven lease takes only a proven renewal.
if renew and cur[3] == '1' and proven ~= '1' then return {'proof_required', tonumber(cur[2]), now, 0} end
if not renew and redis.call('ZCOUNT', COLONIES, '(' .. now, '+inf') >= tonumber(ARGV[8]) then return {'colonies'} end
local refused = ensureBytes(field, bytes, tonumber(ARGV[9]))
if refused then table.insert(refused, renew and 1 or 0) return refused end
local exp = now + ttl
put(field, bytes, ttl, {'p', pubkey, 's', now, 'e', exp, 'd', data, 'v', proven})
redis.call('ZADD', COLONIES, exp, mesh)
redis.call('ZADD', COLONY_IDS, 0, mesh)
return {'ok', now, exp, renew and 1 or 0}
`;

/** ARGV: P, now, mesh, agentId, pubkey, data, bytes, ttlMs, owner, maxPerMesh, maxAgents, maxPerOwner, maxBytes, proven. */
const REGISTER_AGENT = `
local mesh, agent, pubkey, data, bytes, ttl, owner, proven = ARGV[3], ARGV[4], ARGV[5], ARGV[6], tonumber(ARGV[7]), tonumber(ARGV[8]), ARGV[9], ARGV[14]
local akey = agentKey(mesh, agent)
local field = 'a:' .. akey
local cur = redis.call('HMGET', P .. field, 'e', 'o', 'p', 'v')
local renew = active(cur[1])
-- The ownership rule, before any cap: an active proven agent takes only a proven renewal of its own pubkey.
if renew and cur[4] == '1' and (proven ~= '1' or cur[3] ~= pubkey) then
  return {'proof_required', tonumber(cur[1]), now, cur[3] ~= pubkey and 1 or 0}
end
local mk = meshKey(mesh)
if not renew then
  redis.call('ZREMRANGEBYSCORE', mk, '-inf', now)
  if redis.call('ZCARD', mk) >= tonumber(ARGV[10]) then return {'agents_per_mesh'} end
  if redis.call('ZCOUNT', AGENTS, '(' .. now, '+inf') >= tonumber(ARGV[11]) then return {'agents'} end
end
local ok = ownerKey(mesh, owner)
if not renew or cur[2] ~= owner then
  redis.call('ZREMRANGEBYSCORE', ok, '-inf', now)
  if redis.call('ZCARD', ok) >= tonumber(ARGV[12]) then return {'agents_per_owner'} end
end
local refused = ensureBytes(field, bytes, tonumber(ARGV[13]))
if refused then table.insert(refused, renew and 1 or 0) return refused end
if cur[2] and cur[2] ~= owner then redis.call('ZREM', ownerKey(mesh, cur[2]), agent) end
local exp = now + ttl
put(field, bytes, ttl, {'p', pubkey, 's', now, 'e', exp, 'd', data, 'o', owner, 'v', proven})
redis.call('ZADD', AGENTS, exp, akey)
redis.call('ZADD', mk, exp, agent)
touch(mk, ttl)
redis.call('ZADD', ok, exp, agent)
touch(ok, ttl)
return {'ok', now, exp, renew and 1 or 0}
`;

/** ARGV: P, now, mesh. Reply: {} or {pubkey, lastSeen, expires, data, proven, bytes}. */
const LOOKUP_COLONY = `
local field = 'c:' .. ARGV[3]
local cur = redis.call('HMGET', P .. field, 'p', 's', 'e', 'd', 'v')
if not active(cur[3]) then return {} end
table.insert(cur, size(field))
return cur
`;

/** ARGV: P, now, mesh, agentId. Reply: {} or {pubkey, lastSeen, expires, data, owner, proven, bytes}. */
const LOOKUP_AGENT = `
local field = 'a:' .. agentKey(ARGV[3], ARGV[4])
local cur = redis.call('HMGET', P .. field, 'p', 's', 'e', 'd', 'o', 'v')
if not active(cur[3]) then return {} end
table.insert(cur, size(field))
return cur
`;

/** ARGV: P, now, sessionId, mesh, data, bytes, ttlMs, owner, maxSessions, maxPerOwner, maxBytes. */
const CREATE_RELAY = `
local id, mesh, data, bytes, ttl, owner = ARGV[3], ARGV[4], ARGV[5], tonumber(ARGV[6]), tonumber(ARGV[7]), ARGV[8]
local field = 'r:' .. id
if redis.call('ZCOUNT', RELAYS, '(' .. now, '+inf') >= tonumber(ARGV[9]) then return {'relay_sessions'} end
local rk = relayOwnerKey(owner)
redis.call('ZREMRANGEBYSCORE', rk, '-inf', now)
if redis.call('ZCARD', rk) >= tonumber(ARGV[10]) then return {'relay_sessions_per_owner'} end
local refused = ensureBytes(field, bytes, tonumber(ARGV[11]))
if refused then return refused end
local previous = redis.call('HGET', P .. field, 'o')
if previous then redis.call('ZREM', relayOwnerKey(previous), id) end
local exp = now + ttl
put(field, bytes, ttl, {'m', mesh, 'e', exp, 'd', data, 'o', owner})
redis.call('ZADD', RELAYS, exp, id)
redis.call('ZADD', rk, exp, id)
touch(rk, ttl)
return {'ok', exp}
`;

/** ARGV: P, now, sessionId, mesh ('' for any). Reply: {'not_found'} | {'mismatch'} | {'ok', mesh, expires, data, owner, bytes}. */
const RELEASE_RELAY = `
local id, mesh = ARGV[3], ARGV[4]
local field = 'r:' .. id
local cur = redis.call('HMGET', P .. field, 'm', 'e', 'd', 'o')
if not active(cur[2]) then return {'not_found'} end
if mesh ~= '' and mesh ~= cur[1] then return {'mismatch'} end
local bytes = size(field)
drop(field)
redis.call('ZREM', RELAYS, id)
redis.call('ZREM', relayOwnerKey(cur[4]), id)
return {'ok', cur[1], cur[2], cur[3], cur[4], bytes}
`;

/** ARGV: P, now, mesh. Reply: {} or {pubkey, lastSeen, expires, data, proven, bytes}. */
const EVICT_COLONY = `
local mesh = ARGV[3]
local field = 'c:' .. mesh
local cur = redis.call('HMGET', P .. field, 'p', 's', 'e', 'd', 'v')
if not active(cur[3]) then return {} end
table.insert(cur, size(field))
drop(field)
redis.call('ZREM', COLONIES, mesh)
redis.call('ZREM', COLONY_IDS, mesh)
return cur
`;

/** Removes one active agent; its fields {agentId, pubkey, lastSeen, expires, data, owner, proven, bytes}, or nil. */
const EVICT_ONE_AGENT = `
local function evictAgent(mesh, agent)
  local akey = agentKey(mesh, agent)
  local field = 'a:' .. akey
  local cur = redis.call('HMGET', P .. field, 'p', 's', 'e', 'd', 'o', 'v')
  if not active(cur[3]) then return nil end
  local bytes = size(field)
  drop(field)
  redis.call('ZREM', AGENTS, akey)
  redis.call('ZREM', meshKey(mesh), agent)
  redis.call('ZREM', ownerKey(mesh, cur[5]), agent)
  return {agent, cur[1], cur[2], cur[3], cur[4], cur[5], cur[6], bytes}
end
`;

/** ARGV: P, now, mesh, agentId. Reply: {} or the agent's 8 fields. */
const EVICT_AGENT = `${EVICT_ONE_AGENT}
return evictAgent(ARGV[3], ARGV[4]) or {}
`;

/** ARGV: P, now, mesh. Reply: 8 fields per evicted agent. */
const EVICT_AGENTS = `${EVICT_ONE_AGENT}
local out = {}
for _, agent in ipairs(redis.call('ZRANGEBYSCORE', meshKey(ARGV[3]), '(' .. now, '+inf')) do
  local fields = evictAgent(ARGV[3], agent)
  if fields then for _, v in ipairs(fields) do table.insert(out, v) end end
end
return out
`;

/** ARGV: P, now, mesh. Reply: 8 fields per active agent of the mesh. */
const LIST_AGENTS = `
local mesh = ARGV[3]
local out = {}
for _, agent in ipairs(redis.call('ZRANGEBYSCORE', meshKey(mesh), '(' .. now, '+inf')) do
  local field = 'a:' .. agentKey(mesh, agent)
  local cur = redis.call('HMGET', P .. field, 'p', 's', 'e', 'd', 'o', 'v')
  if active(cur[3]) then
    for _, v in ipairs({agent, cur[1], cur[2], cur[3], cur[4], cur[5], cur[6], size(field)}) do table.insert(out, v) end
  end
end
return out
`;

/** ARGV: P, now, mesh. Reply: active agents of the mesh. */
const AGENT_COUNT = `
return redis.call('ZCOUNT', meshKey(ARGV[3]), '(' .. now, '+inf')
`;

/**
 * ARGV: P, now, start bound ('[prefix' or '(after'), prefix, limit.
 * Reply: {more (0/1), then 7 fields per colony: mesh, pubkey, lastSeen, expires, data, proven, bytes}.
 */
const LIST_COLONIES = `
local cursor, prefix, limit = ARGV[3], ARGV[4], tonumber(ARGV[5])
local out, found = {0}, 0
while true do
  local ids = redis.call('ZRANGEBYLEX', COLONY_IDS, cursor, '+', 'LIMIT', 0, 256)
  if #ids == 0 then return out end
  for _, mesh in ipairs(ids) do
    if string.sub(mesh, 1, #prefix) ~= prefix then return out end
    local field = 'c:' .. mesh
    local cur = redis.call('HMGET', P .. field, 'p', 's', 'e', 'd', 'v')
    if active(cur[3]) then
      if found == limit then out[1] = 1 return out end
      found = found + 1
      for _, v in ipairs({mesh, cur[1], cur[2], cur[3], cur[4], cur[5], size(field)}) do table.insert(out, v) end
    end
  end
  cursor = '(' .. ids[#ids]
end
`;

/** ARGV: P, now. Reply: {colonies, agents, relay sessions, bytes}. */
const COUNTS = `
local after = '(' .. now
return {
  redis.call('ZCOUNT', COLONIES, after, '+inf'),
  redis.call('ZCOUNT', AGENTS, after, '+inf'),
  redis.call('ZCOUNT', RELAYS, after, '+inf'),
  tonumber(redis.call('GET', BYTES) or '0'),
}
`;

/** ARGV: P, now, budget. Reply: {colonies, agents, relay sessions} reaped. */
const SWEEP = `
local budget = tonumber(ARGV[3])
return {reap(COLONIES, 'c:', budget), reap(AGENTS, 'a:', budget), reap(RELAYS, 'r:', budget)}
`;

/** Every script by command name, prelude included. */
export const SCRIPTS = {
  cdRegisterColony: REGISTER_COLONY,
  cdRegisterAgent: REGISTER_AGENT,
  cdLookupColony: LOOKUP_COLONY,
  cdLookupAgent: LOOKUP_AGENT,
  cdCreateRelay: CREATE_RELAY,
  cdReleaseRelay: RELEASE_RELAY,
  cdEvictColony: EVICT_COLONY,
  cdEvictAgent: EVICT_AGENT,
  cdEvictAgents: EVICT_AGENTS,
  cdListAgents: LIST_AGENTS,
  cdAgentCount: AGENT_COUNT,
  cdListColonies: LIST_COLONIES,
  cdCounts: COUNTS,
  cdSweep: SWEEP,
} as const;

export type ScriptName = keyof typeof SCRIPTS;

/** The Lua source of a script: the shared prelude, then its body. */
export function scriptSource(name: ScriptName): string {
  return PRELUDE + SCRIPTS[name];
}
