package redisstore

import (
	"strings"

	"github.com/redis/go-redis/v9"
)

// The Lua scripts below run atomically inside Redis: no other command sees
// a step half done. Every script of the per-session layout names in KEYS
// each key it touches, and all those keys share one hash tag (a session's
// handle, or an owner), so on Redis Cluster each runs on one slot of one
// master. What spans two slots (a session and its owner's index, the old
// and the new session of a replace) is done as several scripts in an order
// that keeps the guarantees; see replace.go and owner.go.
//
// Times are stored as decimal Unix nanoseconds. Lua numbers are doubles,
// which cannot hold them exactly, so the scripts compare them as strings:
// for non-negative decimals a longer string is larger, and equal lengths
// compare lexicographically. Milliseconds (about 1.7e12) are exact in a
// double and are compared as numbers.
//
// Every script returns an array whose first element is an outcome code:
const (
	codeOK        = 1  // applied
	codeAbsent    = 0  // no key at all: the caller may look in the legacy layout
	codeReplaced  = -1 // the key is the marker of a replaced session
	codeExists    = -2 // a create found its ID in use
	codeNotLive   = -3 // expired, pending, or not a session hash
	codeNeedClaim = -5 // {code, owner, expiry ms}: claim the owner first
	codeMoved     = -6 // a session being moved from the legacy layout: the legacy record is the one to use
)

// luaCommon is prepended to every script of the per-session layout.
const luaCommon = `
local function later(a, b)
  if #a ~= #b then return #a > #b end
  return a > b
end
local function kind(k)
  return redis.call('TYPE', k)['ok']
end
-- ms turns a decimal nanosecond string into milliseconds.
local function ms(ns)
  if #ns <= 6 then return 0 end
  return tonumber(string.sub(ns, 1, -7))
end
-- state tells what a session key holds: 'none', 'live', 'marker' (a
-- replaced session), 'pending' (a replace not yet activated), 'moving' (a
-- move from the legacy layout not yet activated: the legacy record is
-- the session until then) or 'dead' (expired, or not a session hash).
local function state(k, now)
  local t = kind(k)
  if t == 'none' then return 'none' end
  if t ~= 'hash' then return 'dead' end
  local f = redis.call('HMGET', k, 'm:expires', 'm:pending', 'm:next')
  if f[3] then return 'marker' end
  if f[2] == 'm' then return 'moving' end
  if f[2] then return 'pending' end
  if f[1] and later(f[1], now) then return 'live' end
  return 'dead'
end
local function refuse(st)
  if st == 'none' then return {0} end
  if st == 'marker' then return {-1} end
  if st == 'moving' then return {-6} end
  return {-3}
end
-- covered returns the coverage that lets the session be owned by owner
-- until exp_ms, or nil: a claim made for this very step (claim_owner,
-- claim_cover), or the coverage stored with the same owner.
local function covered(owner, exp_ms, claim_owner, claim_cover, old_owner, old_cover)
  local c = nil
  if claim_owner == owner then c = tonumber(claim_cover) end
  if old_owner == owner and old_cover then
    local o = tonumber(old_cover)
    if not c or o > c then c = o end
  end
  if c and exp_ms <= c then return c end
  return nil
end
-- legacy_in_use reports whether a legacy-layout key (checked on a single
-- server only, where both layouts share one node) holds a live session, a
-- marker or a session being moved.
local function legacy_in_use(k, now)
  if kind(k) ~= 'hash' then return false end
  local f = redis.call('HMGET', k, 'm:expires', 'm:next', 'm:moved')
  if f[2] or f[3] then return true end
  return f[1] and later(f[1], now)
end
`

// saveSrc applies a create or a merge (not a replace: see replace.go).
//
// KEYS[1] session key; KEYS[2], for a create on a single server only, the
// legacy key of the same ID, which must not be in use either.
// ARGV: 1 now ns, 2 create "1"/"0", 3 created ns, 4 clear "1"/"0",
// 5 expires ns ("" = unchanged), 6 expires ms, 7 owner given "1"/"0",
// 8 owner, 9 maxage given "1"/"0", 10 maxage ns, 11 claimed owner ("" for
// none), 12 its coverage ms, 13 number of fields to set n, then n
// field/value pairs, then the fields to delete.
//
// A session that ends up owned must be covered by its owner's index until
// its expiry (see owner.go): otherwise nothing is written and the reply is
// {-5, owner, expiry ms}.
const saveSrc = luaCommon + `
local key, now, create = KEYS[1], ARGV[1], ARGV[2] == '1'
-- unchanged: a merge that moves neither owner, expiry nor coverage, which
-- stay as they are.
local unchanged = not create and ARGV[7] ~= '1' and ARGV[5] == '' and ARGV[11] == ''
local st = state(key, now)
local cur = {false, false, false}
if create then
  if st == 'live' or st == 'marker' or st == 'pending' or st == 'moving' then return {-2} end
  if KEYS[2] and legacy_in_use(KEYS[2], now) then return {-2} end
else
  if st ~= 'live' then return refuse(st) end
  if not unchanged then
    cur = redis.call('HMGET', key, 'm:owner', 'm:expires', 'm:ocover')
  end
end
local owner = cur[1] or ''
if ARGV[7] == '1' then owner = ARGV[8] end
local exp = ARGV[5]
if exp == '' then exp = cur[2] end
local cover = nil
if owner ~= '' then
  cover = covered(owner, ms(exp), ARGV[11], ARGV[12], cur[1], cur[3])
  if not cover then return {-5, owner, tostring(ms(exp))} end
end
if create then
  if st ~= 'none' then redis.call('DEL', key) end
  redis.call('HSET', key, 'm:created', ARGV[3])
end
if ARGV[4] == '1' then
  for _, f in ipairs(redis.call('HKEYS', key)) do
    if string.sub(f, 1, 2) == 'v:' then redis.call('HDEL', key, f) end
  end
end
local i = 14
for _ = 1, tonumber(ARGV[13]) do
  redis.call('HSET', key, ARGV[i], ARGV[i + 1])
  i = i + 2
end
for j = i, #ARGV do
  redis.call('HDEL', key, ARGV[j])
end
if ARGV[9] == '1' then
  if ARGV[10] == '0' then
    redis.call('HDEL', key, 'm:maxage')
  else
    redis.call('HSET', key, 'm:maxage', ARGV[10])
  end
end
if unchanged then
  -- neither owner, expiry nor coverage moves
elseif owner == '' then
  if not create then redis.call('HDEL', key, 'm:owner', 'm:ocover') end
else
  redis.call('HSET', key, 'm:owner', owner, 'm:ocover', string.format('%d', cover))
end
if ARGV[5] ~= '' then
  redis.call('HSET', key, 'm:expires', ARGV[5])
  redis.call('PEXPIREAT', key, ARGV[6])
end
return {1}
`

// saveReadSrc is saveSrc that also returns the session's hash as the
// save left it, {1, HGETALL}: with Options.Cache the process keeps it, so
// that its next Load of the session needs no round trip.
var saveReadSrc = strings.TrimSuffix(saveSrc, "return {1}\n") + "return {1, redis.call('HGETALL', key)}\n"

// touchSrc moves the expiry of a live session.
//
// KEYS[1] session key. ARGV: 1 now ns, 2 expires ns, 3 expires ms,
// 4 claimed owner ("" for none), 5 its coverage ms.
const touchSrc = luaCommon + `
local key, now = KEYS[1], ARGV[1]
local st = state(key, now)
if st ~= 'live' then return refuse(st) end
local f = redis.call('HMGET', key, 'm:owner', 'm:ocover')
if f[1] then
  local c = covered(f[1], tonumber(ARGV[3]), ARGV[4], ARGV[5], f[1], f[2])
  if not c then return {-5, f[1], ARGV[3]} end
  redis.call('HSET', key, 'm:ocover', string.format('%d', c))
end
redis.call('HSET', key, 'm:expires', ARGV[2])
redis.call('PEXPIREAT', key, ARGV[3])
return {1}
`

// deleteSrc removes a session key in whatever state, and returns the
// handle of the session that replaced it when it was a marker, so the
// caller ends that one too.
//
// KEYS[1] session key. Returns {1, next handle or nil, 1 if the key
// existed else 0}.
const deleteSrc = luaCommon + `
local key = KEYS[1]
local nxt = false
if kind(key) == 'hash' then nxt = redis.call('HGET', key, 'm:next') end
return {1, nxt, redis.call('DEL', key)}
`

// pendingSrc is step 1 of a replace: the new ID as a pending record, not
// loadable, created only if the ID is not in use, and carrying the owner
// the replacing request saw (already claimed in that owner's index).
//
// KEYS[1] the new session's key; KEYS[2] on a single server only, its
// legacy key. ARGV: 1 now ns, 2 tag "r:"+replaced handle, 3 owner ("" for
// none), 4 its coverage ms, 5 the pending record's end ms.
const pendingSrc = luaCommon + `
local key, now = KEYS[1], ARGV[1]
local st = state(key, now)
if st == 'live' or st == 'marker' or st == 'pending' then return {-2} end
if KEYS[2] and legacy_in_use(KEYS[2], now) then return {-2} end
if st ~= 'none' then redis.call('DEL', key) end
redis.call('HSET', key, 'm:pending', ARGV[2])
if ARGV[3] ~= '' then
  redis.call('HSET', key, 'm:owner', ARGV[3], 'm:ocover', ARGV[4])
end
redis.call('PEXPIREAT', key, ARGV[5])
return {1}
`

// markSrc is step 2 of a replace, in the replaced session's own slot: only
// if it is live, it becomes the marker "replaced by" the new handle (keeping
// its owner, so DestroyOwner can follow it), and its record is returned.
// The marker lasts until the session would have expired or until the
// grace ends, whichever is first.
//
// KEYS[1] replaced session key. ARGV: 1 now ns, 2 new handle, 3 grace end ms.
// Returns {1, HGETALL of the record} or a refusal.
const markSrc = luaCommon + `
local key, now = KEYS[1], ARGV[1]
local st = state(key, now)
if st ~= 'live' then return refuse(st) end
local rec = redis.call('HGETALL', key)
local f = redis.call('HMGET', key, 'm:owner', 'm:expires')
redis.call('DEL', key)
redis.call('HSET', key, 'm:next', ARGV[2])
if f[1] then redis.call('HSET', key, 'm:owner', f[1]) end
local until_ms = ms(f[2])
if tonumber(ARGV[3]) < until_ms then until_ms = tonumber(ARGV[3]) end
redis.call('PEXPIREAT', key, string.format('%d', until_ms))
return {1, rec}
`

// activateSrc is the last step of a replace (and of a move from the legacy
// layout): only if the pending record with the given tag is still there
// (no Delete or DestroyOwner removed it meanwhile), it becomes the live
// record given in ARGV.
//
// KEYS[1] new session key. ARGV: 1 tag, 2 created ns, 3 expires ns,
// 4 expires ms, 5 owner ("" for none), 6 maxage ns ("" for none),
// 7 claimed owner ("" for none), 8 its coverage ms, then field/value pairs
// of the values.
const activateSrc = luaCommon + `
local key = KEYS[1]
local f = redis.call('HMGET', key, 'm:pending', 'm:owner', 'm:ocover')
if f[1] ~= ARGV[1] then return {0} end
local owner, cover = ARGV[5], nil
if owner ~= '' then
  cover = covered(owner, tonumber(ARGV[4]), ARGV[7], ARGV[8], f[2], f[3])
  if not cover then return {-5, owner, ARGV[4]} end
end
redis.call('DEL', key)
redis.call('HSET', key, 'm:created', ARGV[2], 'm:expires', ARGV[3])
if ARGV[6] ~= '' then redis.call('HSET', key, 'm:maxage', ARGV[6]) end
if owner ~= '' then
  redis.call('HSET', key, 'm:owner', owner, 'm:ocover', string.format('%d', cover))
end
for i = 9, #ARGV, 2 do
  redis.call('HSET', key, ARGV[i], ARGV[i + 1])
end
redis.call('PEXPIREAT', key, ARGV[4])
return {1}
`

// unpendSrc removes a pending record, only if it still carries the given
// tag: a replace whose mark step failed withdraws its pending record.
//
// KEYS[1] session key. ARGV: 1 tag.
const unpendSrc = luaCommon + `
if kind(KEYS[1]) == 'hash' and redis.call('HGET', KEYS[1], 'm:pending') == ARGV[1] then
  redis.call('DEL', KEYS[1])
end
return {1}
`

// visitSrc is DestroyOwner's step on one session of the owner's index: a
// live or pending session of the owner is deleted; a marker of the
// owner's replaced session is kept (a Delete of that ID still follows it)
// and the handle that replaced it is returned, to be visited as a
// continuation: a pending continuation is deleted whoever it names as
// owner (it is the replace in flight of the owner's session), a live one
// only if it is still the owner's.
//
// KEYS[1] session key. ARGV: 1 owner, 2 now ns, 3 continuation "1"/"0".
// Returns {1 if a live session was deleted else 0, next handle or nil}.
const visitSrc = luaCommon + `
local key, owner, now, cont = KEYS[1], ARGV[1], ARGV[2], ARGV[3] == '1'
if kind(key) ~= 'hash' then return {0} end
local f = redis.call('HMGET', key, 'm:owner', 'm:next', 'm:pending', 'm:expires')
local mine = f[1] == owner
if f[2] then
  if mine or cont then return {0, f[2]} end
  return {0}
end
if f[3] then
  if mine or cont then redis.call('DEL', key) end
  return {0}
end
if not mine then return {0} end
redis.call('DEL', key)
if f[4] and later(f[4], now) then return {1} end
return {0}
`

// claimSrc adds a session to its owner's index before any step that makes
// the session the owner's or extends its expiry beyond what the index
// covers (see owner.go). The member's score is its coverage in ms: the
// index vouches for the session until then. Scores only grow, by at least
// a millisecond at each claim, so that a reader can tell a claim happened.
// The index lives OwnerIndexMargin past its highest score; members whose
// coverage ended that long ago are dropped.
//
// KEYS[1] owner index. ARGV: 1 session handle, 2 coverage ms, 3 now ms,
// 4 margin ms. Returns {1, coverage granted ms}.
const claimSrc = luaCommon + `
local key, member, now, margin = KEYS[1], ARGV[1], tonumber(ARGV[3]), tonumber(ARGV[4])
redis.call('ZREMRANGEBYSCORE', key, '-inf', '(' .. string.format('%d', now - margin))
local c = tonumber(ARGV[2])
local old = redis.call('ZSCORE', key, member)
if old and tonumber(old) >= c then c = tonumber(old) + 1 end
redis.call('ZADD', key, string.format('%d', c), member)
local top = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
local want = tonumber(top[2]) + margin - now
if want < 1 then want = 1 end
local ttl = redis.call('PTTL', key)
if ttl < want then redis.call('PEXPIRE', key, string.format('%d', want)) end
return {1, string.format('%d', c)}
`

// ownerReadSrc drops the members of an owner's index whose coverage ended
// over OwnerIndexMargin ago and returns the others.
//
// KEYS[1] owner index. ARGV: 1 now ms, 2 margin ms. Returns {1, members}.
const ownerReadSrc = luaCommon + `
local key, now, margin = KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', key, '-inf', '(' .. string.format('%d', now - margin))
return {1, redis.call('ZRANGE', key, 0, -1)}
`

// scriptSet holds a Store's scripts.
type scriptSet struct {
	save, saveRead, touch, del, pending, mark, activate, unpend, visit, claim, ownerRead, reseal *redis.Script
	legacy                                                                                       legacyScripts
	// sources keeps the text of the scripts sent on the cache's tracking
	// connection, for EVAL after a NOSCRIPT.
	sources map[*redis.Script]string
}

// newScripts builds the scripts, each starting with "#!lua" when strict,
// so that Redis 7 refuses any access outside the slot of its declared
// keys.
func newScripts(strict bool) *scriptSet {
	text := func(src string) string {
		if strict {
			return "#!lua\n" + src
		}
		return src
	}
	mk := func(src string) *redis.Script { return redis.NewScript(text(src)) }
	saveRead := mk(saveReadSrc)
	return &scriptSet{
		sources: map[*redis.Script]string{saveRead: text(saveReadSrc)},
		save:    mk(saveSrc), saveRead: saveRead, touch: mk(touchSrc), del: mk(deleteSrc),
		pending: mk(pendingSrc), mark: mk(markSrc), activate: mk(activateSrc), unpend: mk(unpendSrc),
		visit: mk(visitSrc), claim: mk(claimSrc), ownerRead: mk(ownerReadSrc), reseal: mk(resealSrc),
		legacy: newLegacyScripts(mk),
	}
}
