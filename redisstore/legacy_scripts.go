package redisstore

import "github.com/redis/go-redis/v9"

// The scripts of the legacy layout, which releases before the per-session
// layout wrote: the session hash LegacyPrefix+ID, the owner set
// LegacyPrefix+"owner:"+owner, and the marker {m:next} of a replaced
// session. They are those releases' scripts, with one addition: a session
// that MoveLegacy froze (m:moved) is no longer live, and a step on it
// answers -6 so the store finishes the move and applies the step in the
// per-session layout.
//
// They derive the owner set from the stored owner inside the script. On
// Cluster that key is undeclared but in the same slot, since every key of
// the legacy layout carried the prefix's hash tag ("{sess}:").

// luaLegacy is prepended to every legacy script.
const luaLegacy = `
local function later(a, b)
  if #a ~= #b then return #a > #b end
  return a > b
end
local function kind(k)
  return redis.call('TYPE', k)['ok']
end
local function moved(k)
  return kind(k) == 'hash' and redis.call('HEXISTS', k, 'm:moved') == 1
end
local function live(k, now)
  if kind(k) ~= 'hash' then return false end
  local f = redis.call('HMGET', k, 'm:expires', 'm:moved')
  return f[1] and not f[2] and later(f[1], now)
end
local function marked(k)
  return kind(k) == 'hash' and redis.call('HEXISTS', k, 'm:next') == 1
end
local function gone(k)
  if marked(k) then return -1 end
  if moved(k) then return -6 end
  return 0
end
local function cover(skey, okey, id)
  redis.call('SADD', okey, id)
  local s = redis.call('PTTL', skey)
  if s < 0 then return end
  local o = redis.call('PTTL', okey)
  if o < 0 or o < s then redis.call('PEXPIRE', okey, s) end
end
`

// legacySaveSrc is the legacy layout's create, merge and replace, with the
// argument list of the earlier releases' save script. KEYS[1] session
// key; KEYS[2], for a replace, the replaced session's key. ARGV: 1 id,
// 2 owner key prefix, 3 now ns, 4 create, 5 created ns, 6 clear,
// 7 expires ns ("" = unchanged), 8 expires ms, 9 owner given, 10 owner,
// 11 maxage given, 12 maxage ns, 13 replaced id, 14 marker end ms,
// 15 number of fields to set n, then pairs, then the fields to delete.
// Returns 1, 0 (no live record), -1 (replaced), -2 (in use), -6 (moved).
const legacySaveSrc = luaLegacy + `
local key, id, opfx, now = KEYS[1], ARGV[1], ARGV[2], ARGV[3]
if ARGV[4] == '1' then
  if live(key, now) or marked(key) or moved(key) then return -2 end
  local from = KEYS[2]
  if from and not live(from, now) then return gone(from) end
  local t = kind(key)
  if t == 'hash' then
    local old = redis.call('HGET', key, 'm:owner')
    if old then redis.call('SREM', opfx .. old, id) end
  end
  if t ~= 'none' then redis.call('DEL', key) end
  if from then
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
`

// legacyTouchSrc moves the expiry of a live legacy session. KEYS[1]
// session key. ARGV: 1 id, 2 owner key prefix, 3 now ns, 4 expires ns,
// 5 expires ms.
const legacyTouchSrc = luaLegacy + `
local key, id, opfx, now = KEYS[1], ARGV[1], ARGV[2], ARGV[3]
if not live(key, now) then return gone(key) end
redis.call('HSET', key, 'm:expires', ARGV[4])
redis.call('PEXPIREAT', key, ARGV[5])
local owner = redis.call('HGET', key, 'm:owner')
if owner then cover(key, opfx .. owner, id) end
return 1
`

// legacyDeleteSrc ends a legacy session and follows the markers of
// replaced sessions through the legacy layout. When the chain reaches a
// session that MoveLegacy froze, or a replacement that is not (or no
// longer) in the legacy layout, it returns that ID, for the caller to end
// in the per-session layout.
//
// KEYS[1] session key. ARGV: 1 id, 2 owner key prefix, 3 session key
// prefix, 4 the most markers to follow. Returns {1, ID to go on with or nil}.
const legacyDeleteSrc = luaLegacy + `
local key, id, opfx, spfx = KEYS[1], ARGV[1], ARGV[2], ARGV[3]
local first = true
for _ = 1, tonumber(ARGV[4]) do
  if kind(key) ~= 'hash' then
    if first then return {1, false} end
    return {1, id}
  end
  local f = redis.call('HMGET', key, 'm:owner', 'm:next', 'm:moved')
  if f[1] then redis.call('SREM', opfx .. f[1], id) end
  redis.call('DEL', key)
  if f[3] then return {1, id} end
  if not f[2] then return {1, false} end
  id = f[2]
  key = spfx .. id
  first = false
end
return {1, false}
`

// legacyOwnedSrc lists an owner's live legacy sessions and removes every
// other member from the set. KEYS[1] owner set. ARGV: 1 session key
// prefix, 2 owner, 3 now ns. Returns {id, created, expires, maxage} rows.
const legacyOwnedSrc = luaLegacy + `
local okey, spfx, owner, now = KEYS[1], ARGV[1], ARGV[2], ARGV[3]
local out = {}
for _, id in ipairs(redis.call('SMEMBERS', okey)) do
  local k = spfx .. id
  local keep = false
  if live(k, now) then
    local f = redis.call('HMGET', k, 'm:owner', 'm:expires', 'm:created', 'm:maxage')
    if f[1] == owner then
      keep = true
      out[#out + 1] = {id, f[3] or '', f[2], f[4] or ''}
    end
  end
  if not keep then redis.call('SREM', okey, id) end
end
return out
`

// legacyDestroyOwnerSrc deletes every legacy session of an owner and the
// owner's set. KEYS[1] owner set. ARGV: 1 session key prefix, 2 owner,
// 3 now ns. Returns how many of them were live.
const legacyDestroyOwnerSrc = luaLegacy + `
local okey, spfx, owner, now = KEYS[1], ARGV[1], ARGV[2], ARGV[3]
local n = 0
for _, id in ipairs(redis.call('SMEMBERS', okey)) do
  local k = spfx .. id
  if kind(k) == 'hash' then
    local f = redis.call('HMGET', k, 'm:owner', 'm:expires', 'm:moved')
    if f[1] == owner and not f[3] then
      if f[2] and later(f[2], now) then n = n + 1 end
      redis.call('DEL', k)
    end
  end
end
redis.call('DEL', okey)
return n
`

// legacyFreezeSrc is MoveLegacy's step on the legacy key: only if the
// session is live and still has the owner the mover claimed for it, it is
// frozen (m:moved: every later legacy step answers -6), taken out of its
// legacy owner set, and its record returned. A session already frozen is
// returned as it is, so that an interrupted move can be finished.
//
// KEYS[1] legacy session key. ARGV: 1 id, 2 owner key prefix, 3 now ns,
// 4 the owner claimed ("" for none). Returns {1, record}, {0} when the
// session is not live, {-5, owner} when its owner is not the one claimed.
const legacyFreezeSrc = luaLegacy + `
local key, id, opfx, now = KEYS[1], ARGV[1], ARGV[2], ARGV[3]
if moved(key) then return {1, redis.call('HGETALL', key)} end
if not live(key, now) then return {0} end
local owner = redis.call('HGET', key, 'm:owner') or ''
if owner ~= ARGV[4] then return {-5, owner} end
redis.call('HSET', key, 'm:moved', '1')
if owner ~= '' then redis.call('SREM', opfx .. owner, id) end
return {1, redis.call('HGETALL', key)}
`

// legacyDropMovedSrc deletes a legacy key that a finished move left
// frozen. KEYS[1] legacy session key.
const legacyDropMovedSrc = luaLegacy + `
if moved(KEYS[1]) then redis.call('DEL', KEYS[1]) end
return 1
`

// legacyScripts holds the legacy layout's scripts.
type legacyScripts struct {
	save, touch, del, owned, destroyOwner, freeze, dropMoved *redis.Script
}

func newLegacyScripts(mk func(string) *redis.Script) legacyScripts {
	return legacyScripts{
		save: mk(legacySaveSrc), touch: mk(legacyTouchSrc), del: mk(legacyDeleteSrc),
		owned: mk(legacyOwnedSrc), destroyOwner: mk(legacyDestroyOwnerSrc),
		freeze: mk(legacyFreezeSrc), dropMoved: mk(legacyDropMovedSrc),
	}
}
