// Lua scripts for the Redis adapter: each runs atomically inside Redis, so a write and its
// expiry, or a lease check and its renewal, can never be seen half done. Leases are hash
// fields `<expiresAtMs>|<data>` timed by Redis's own clock (TIME), so replicas with skewed
// clocks agree on who is live.

const leaseHelpers = `
local function clock()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function lease(key, id, now)
  local stored = redis.call('HGET', key, id)
  if not stored then return nil end
  local sep = string.find(stored, '|', 1, true)
  if tonumber(string.sub(stored, 1, sep - 1)) > now then return string.sub(stored, sep + 1) end
  redis.call('HDEL', key, id)
  return nil
end
local function grant(key, id, data, ttl, now)
  redis.call('HSET', key, id, string.format('%d', now + ttl) .. '|' .. data)
  if redis.call('PTTL', key) < ttl then redis.call('PEXPIRE', key, ttl) end
end
`;

export const redisScripts = {
  /** ARGV: expected present ('1'/'0'), expected bytes, new bytes, ttl ('' keeps the expiry). */
  simd23CompareAndSet: `
local current = redis.call('GET', KEYS[1])
if ARGV[1] == '0' then
  if current then return 0 end
elseif current ~= ARGV[2] then
  return 0
end
if ARGV[4] ~= '' then
  redis.call('SET', KEYS[1], ARGV[3], 'PX', ARGV[4])
else
  redis.call('SET', KEYS[1], ARGV[3], 'KEEPTTL')
end
return 1
`,
  /** ARGV: by, ttl. */
  simd23IncrementWithTtl: `
local value = redis.call('INCRBY', KEYS[1], ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return value
`,
  /** ARGV: if absent ('1'/'0'), ttl ('' keeps the expiry), then field, value pairs. Returns the fields written. */
  simd23HashSet: `
local written = {}
for i = 3, #ARGV, 2 do
  if ARGV[1] == '1' then
    if redis.call('HSETNX', KEYS[1], ARGV[i], ARGV[i + 1]) == 1 then written[#written + 1] = ARGV[i] end
  else
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
    written[#written + 1] = ARGV[i]
  end
end
if ARGV[2] ~= '' then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return written
`,
  /** ARGV: ttl, score, member. */
  simd23IndexAddWithTtl: `
local added = redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return added
`,
  /** ARGV: id, data, ttl, exclusive ('1'/'0'). */
  simd23Join: `${leaseHelpers}
local now = clock()
if ARGV[4] == '1' then
  local held = lease(KEYS[1], ARGV[1], now)
  if held and held ~= ARGV[2] then return 0 end
end
grant(KEYS[1], ARGV[1], ARGV[2], tonumber(ARGV[3]), now)
return 1
`,
  /** ARGV: id, data, ttl. */
  simd23Renew: `${leaseHelpers}
local now = clock()
local held = lease(KEYS[1], ARGV[1], now)
if held ~= ARGV[2] then return 0 end
grant(KEYS[1], ARGV[1], ARGV[2], tonumber(ARGV[3]), now)
return 1
`,
  /** ARGV: id, data given ('1'/'0'), data. */
  simd23Leave: `${leaseHelpers}
local held = lease(KEYS[1], ARGV[1], clock())
if not held or (ARGV[2] == '1' and held ~= ARGV[3]) then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
return 1
`,
  /** Returns id, expiresAtMs, data for every live member, removing expired ones. */
  simd23Members: `${leaseHelpers}
local now = clock()
local all = redis.call('HGETALL', KEYS[1])
local live = {}
for i = 1, #all, 2 do
  local stored = all[i + 1]
  local sep = string.find(stored, '|', 1, true)
  local expiresAt = string.sub(stored, 1, sep - 1)
  if tonumber(expiresAt) > now then
    live[#live + 1] = all[i]
    live[#live + 1] = expiresAt
    live[#live + 1] = string.sub(stored, sep + 1)
  else
    redis.call('HDEL', KEYS[1], all[i])
  end
end
return live
`,
} as const;

export type RedisScriptName = keyof typeof redisScripts;
