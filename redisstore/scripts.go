package redisstore

import "github.com/redis/go-redis/v9"

// The Lua scripts below run atomically inside Redis: no other command sees a
// save half done. Each names its main key in KEYS and derives the related
// keys (an owner's set from the stored owner, a session from an owner set's
// members) inside the script. That is valid on Redis Cluster only because
// every key of a Store shares one hash tag, hence one slot (see doc.go).
//
// Times are stored as decimal Unix nanoseconds. Lua numbers are doubles,
// which cannot hold them exactly, so the scripts compare them as strings:
// for non-negative decimals a longer string is larger, and equal lengths
// compare lexicographically.

// luaCommon is prepended to every script.
const luaCommon = `
local function later(a, b)
  if #a ~= #b then return #a > #b end
  return a > b
end
local function kind(k)
  return redis.call('TYPE', k)['ok']
end
-- live reports whether k is a session hash whose m:expires is after now.
local function live(k, now)
  if kind(k) ~= 'hash' then return false end
  local e = redis.call('HGET', k, 'm:expires')
  return e and later(e, now)
end
-- marked reports whether k is the marker of a replaced session (its TTL
-- ends it, so a marker that exists is kept).
local function marked(k)
  return kind(k) == 'hash' and redis.call('HEXISTS', k, 'm:next') == 1
end
-- gone is what a step on a session that is not live returns: -1 for a
-- replaced one, 0 for one that is missing or expired.
local function gone(k)
  if marked(k) then return -1 end
  return 0
end
-- cover adds the session to its owner's set and keeps the set alive at
-- least as long as the session, so the index never loses a live session.
local function cover(skey, okey, id)
  redis.call('SADD', okey, id)
  local s = redis.call('PTTL', skey)
  if s < 0 then return end
  local o = redis.call('PTTL', okey)
  if o < 0 or o < s then redis.call('PEXPIRE', okey, s) end
end
`

// saveScript applies one Update: a create, a merge or a replace.
//
// KEYS[1] session key; KEYS[2], for a replace only, the key of the
// replaced session.
// ARGV: 1 id, 2 owner key prefix, 3 now ns, 4 create "1"/"0", 5 created ns,
// 6 clear "1"/"0", 7 expires ns ("" = unchanged), 8 expires ms,
// 9 owner given "1"/"0", 10 owner, 11 maxage given "1"/"0", 12 maxage ns,
// 13 replaced id ("" for none), 14 the replaced session's marker lasts at
// most until this ms, 15 number of fields to set n, then n field/value
// pairs, then the fields to delete.
//
// Returns 1; 0 when a merge or replace finds no live record; -1 when it
// finds the marker of a replaced one; -2 when a create finds its ID in use.
// Nothing is written unless it returns 1.
var saveScript = redis.NewScript(luaCommon + `
local key, id, opfx, now = KEYS[1], ARGV[1], ARGV[2], ARGV[3]
if ARGV[4] == '1' then
  if live(key, now) or marked(key) then return -2 end
  local from = KEYS[2]
  if from and not live(from, now) then return gone(from) end
  local t = kind(key)
  if t == 'hash' then
    local old = redis.call('HGET', key, 'm:owner')
    if old then redis.call('SREM', opfx .. old, id) end
  end
  if t ~= 'none' then redis.call('DEL', key) end
  if from then
    -- The new ID takes over the replaced record whole, which then becomes
    -- a marker that says so, kept until the record would have expired or
    -- the grace ends.
    local old = redis.call('HGET', from, 'm:owner')
    if old then redis.call('SREM', opfx .. old, ARGV[13]) end
    local fexp = redis.call('HGET', from, 'm:expires')
    redis.call('RENAME', from, key)
    redis.call('HSET', from, 'm:next', id)
    local until_ms = math.floor(tonumber(fexp) / 1000000)
    if tonumber(ARGV[14]) < until_ms then until_ms = tonumber(ARGV[14]) end
    redis.call('PEXPIREAT', from, until_ms)
  else
    redis.call('HSET', key, 'm:created', ARGV[5])
  end
elseif not live(key, now) then
  return gone(key)
end
if ARGV[6] == '1' then
  for _, f in ipairs(redis.call('HKEYS', key)) do
    if string.sub(f, 1, 2) == 'v:' then redis.call('HDEL', key, f) end
  end
end
local i = 16
for _ = 1, tonumber(ARGV[15]) do
  redis.call('HSET', key, ARGV[i], ARGV[i + 1])
  i = i + 2
end
for j = i, #ARGV do
  redis.call('HDEL', key, ARGV[j])
end
if ARGV[11] == '1' then
  if ARGV[12] == '0' then
    redis.call('HDEL', key, 'm:maxage')
  else
    redis.call('HSET', key, 'm:maxage', ARGV[12])
  end
end
if ARGV[9] == '1' then
  local old = redis.call('HGET', key, 'm:owner')
  if old and old ~= ARGV[10] then redis.call('SREM', opfx .. old, id) end
  if ARGV[10] == '' then
    redis.call('HDEL', key, 'm:owner')
  else
    redis.call('HSET', key, 'm:owner', ARGV[10])
  end
end
if ARGV[7] ~= '' then
  redis.call('HSET', key, 'm:expires', ARGV[7])
  redis.call('PEXPIREAT', key, ARGV[8])
end
local owner = redis.call('HGET', key, 'm:owner')
if owner then cover(key, opfx .. owner, id) end
return 1
`)

// touchScript moves the expiry of a live session.
//
// KEYS[1] session key. ARGV: 1 id, 2 owner key prefix, 3 now ns,
// 4 expires ns, 5 expires ms. Returns 1, 0 when no live record exists, or
// -1 for the marker of a replaced session.
var touchScript = redis.NewScript(luaCommon + `
local key, id, opfx, now = KEYS[1], ARGV[1], ARGV[2], ARGV[3]
if not live(key, now) then return gone(key) end
redis.call('HSET', key, 'm:expires', ARGV[4])
redis.call('PEXPIREAT', key, ARGV[5])
local owner = redis.call('HGET', key, 'm:owner')
if owner then cover(key, opfx .. owner, id) end
return 1
`)

// deleteScript ends a session: it removes the session and its owner-index
// entry, and if the key is the marker of a replaced session, it follows the
// markers and ends each replacement too (all keys of a Store share one
// slot, so the script may reach them).
//
// KEYS[1] session key. ARGV: 1 id, 2 owner key prefix, 3 session key
// prefix, 4 the most markers to follow.
var deleteScript = redis.NewScript(luaCommon + `
local key, id, opfx, spfx = KEYS[1], ARGV[1], ARGV[2], ARGV[3]
for _ = 1, tonumber(ARGV[4]) do
  local nxt = nil
  if kind(key) == 'hash' then
    local f = redis.call('HMGET', key, 'm:owner', 'm:next')
    if f[1] then redis.call('SREM', opfx .. f[1], id) end
    nxt = f[2]
  end
  redis.call('DEL', key)
  if not nxt then return 1 end
  id = nxt
  key = spfx .. nxt
end
return 1
`)

// ownedScript lists an owner's live sessions and removes every other member
// (deleted, expired, or now owned by someone else) from the set.
//
// KEYS[1] owner set. ARGV: 1 session key prefix, 2 owner, 3 now ns.
// Returns {id, created ns, expires ns, maxage ns or ""} for each live one.
var ownedScript = redis.NewScript(luaCommon + `
local okey, spfx, owner, now = KEYS[1], ARGV[1], ARGV[2], ARGV[3]
local out = {}
for _, id in ipairs(redis.call('SMEMBERS', okey)) do
  local k = spfx .. id
  local keep = false
  if kind(k) == 'hash' then
    local f = redis.call('HMGET', k, 'm:owner', 'm:expires', 'm:created', 'm:maxage')
    if f[1] == owner and f[2] and later(f[2], now) then
      keep = true
      out[#out + 1] = {id, f[3] or '', f[2], f[4] or ''}
    end
  end
  if not keep then redis.call('SREM', okey, id) end
end
return out
`)

// destroyOwnerScript deletes every session of an owner and the owner's set.
//
// KEYS[1] owner set. ARGV: 1 session key prefix, 2 owner, 3 now ns.
// Returns how many of the deleted sessions were live.
var destroyOwnerScript = redis.NewScript(luaCommon + `
local okey, spfx, owner, now = KEYS[1], ARGV[1], ARGV[2], ARGV[3]
local n = 0
for _, id in ipairs(redis.call('SMEMBERS', okey)) do
  local k = spfx .. id
  if kind(k) == 'hash' then
    local f = redis.call('HMGET', k, 'm:owner', 'm:expires')
    if f[1] == owner then
      if f[2] and later(f[2], now) then n = n + 1 end
      redis.call('DEL', k)
    end
  end
end
redis.call('DEL', okey)
return n
`)
