package redisstore

import "github.com/redis/go-redis/v9"

// The scripts of ConnectRedisStore. Each names in KEYS the session's string
// (Prefix+ID) and its marker ("{"+slot of that key+"}:replaced-by:"+key),
// which share one hash slot, so each runs on one master of a Cluster. A
// session key holds connect-redis's JSON value, or "" for the pending
// record of a replace (connect-redis's get reads an empty string as no
// session); its expiry is the key's own (PEXPIRETIME, Redis 7.0+), which
// connect-redis's touch moves with EXPIRE alone. Times are Unix
// milliseconds, exact in a Lua number.
//
// Outcome codes, the first element of every reply, as in scripts.go:
// codeOK, codeAbsent (no live session: missing, pending or expired),
// codeReplaced (the marker of a replaced session), codeExists, and
// codeChanged (a compare-and-set found another value than the one read).
const codeChanged = -4

const crCommon = `
-- live returns the session's value and expiry (-1: none) if the key holds
-- a live session by the caller's clock, else nil.
local function live(k, now)
  local v = redis.call('GET', k)
  if not v or v == '' then return nil end
  local e = redis.call('PEXPIRETIME', k)
  if e ~= -1 and e <= tonumber(now) then return nil end
  return v, e
end
-- in_use reports a key a create must not overwrite: a live session, a
-- pending one, or a key of another type.
local function in_use(k, now)
  local t = redis.call('TYPE', k)['ok']
  if t == 'none' then return false end
  if t ~= 'string' then return true end
  if redis.call('GET', k) == '' then return true end
  local e = redis.call('PEXPIRETIME', k)
  return e == -1 or e > tonumber(now)
end
`

// crLoadSrc reads a session: {codeReplaced} under a marker, {codeAbsent}
// for no key, else {codeOK, value, expiry ms or -1}.
// KEYS: session, marker.
const crLoadSrc = `
if redis.call('EXISTS', KEYS[2]) == 1 then return {-1} end
local v = redis.call('GET', KEYS[1])
if not v then return {0} end
return {1, v, redis.call('PEXPIRETIME', KEYS[1])}
`

// crCreateSrc creates a session only if its ID is not in use.
// KEYS: session, marker. ARGV: now ms, value, expiry ms. An expiry not
// after now writes nothing, as connect-redis's set destroys a session
// whose TTL is not positive.
const crCreateSrc = crCommon + `
if redis.call('EXISTS', KEYS[2]) == 1 or in_use(KEYS[1], ARGV[1]) then return {-2} end
if tonumber(ARGV[3]) <= tonumber(ARGV[1]) then
  redis.call('DEL', KEYS[1])
  return {1}
end
redis.call('SET', KEYS[1], ARGV[2], 'PXAT', ARGV[3])
return {1}
`

// crPendingSrc is step 1 of a replace: the new ID as a pending record,
// only if it is not in use. KEYS: session, marker. ARGV: now ms, lifetime
// ms.
const crPendingSrc = crCommon + `
if redis.call('EXISTS', KEYS[2]) == 1 or in_use(KEYS[1], ARGV[1]) then return {-2} end
redis.call('SET', KEYS[1], '', 'PX', ARGV[2])
return {1}
`

// crSetSrc writes a session's new value only if it still holds the value
// the caller read (a compare-and-set: a Node save in between makes the
// caller read and merge again). KEYS: session, marker. ARGV: now ms, the
// value read, the new value, expiry: "" keeps the key's TTL, else ms (not
// after now: the session ends).
const crSetSrc = crCommon + `
if redis.call('EXISTS', KEYS[2]) == 1 then return {-1} end
local v = live(KEYS[1], ARGV[1])
if not v then return {0} end
if v ~= ARGV[2] then return {-4} end
if ARGV[4] == '' then
  redis.call('SET', KEYS[1], ARGV[3], 'KEEPTTL')
elseif tonumber(ARGV[4]) <= tonumber(ARGV[1]) then
  redis.call('DEL', KEYS[1])
else
  redis.call('SET', KEYS[1], ARGV[3], 'PXAT', ARGV[4])
end
return {1}
`

// crTouchSrc moves a live session's expiry, as connect-redis's touch does:
// the key's TTL alone, the value untouched. KEYS: session, marker. ARGV:
// now ms, expiry ms.
const crTouchSrc = crCommon + `
if redis.call('EXISTS', KEYS[2]) == 1 then return {-1} end
if not live(KEYS[1], ARGV[1]) then return {0} end
redis.call('PEXPIREAT', KEYS[1], ARGV[2])
return {1}
`

// crMarkSrc is step 2 of a replace: only if the session is live, delete it,
// leave the marker "replaced by ARGV[2]" until the grace period or the
// session's own expiry ends, and return its value and expiry.
// KEYS: session, marker. ARGV: now ms, new ID, grace end ms.
const crMarkSrc = crCommon + `
if redis.call('EXISTS', KEYS[2]) == 1 then return {-1} end
local v, e = live(KEYS[1], ARGV[1])
if not v then return {0} end
local keep = tonumber(ARGV[3])
if e ~= -1 and e < keep then keep = e end
redis.call('DEL', KEYS[1])
redis.call('SET', KEYS[2], ARGV[2], 'PXAT', keep)
return {1, v, e}
`

// crActivateSrc is step 3: the pending record becomes the session, only
// if it is still there. KEYS: session. ARGV: now ms, value, expiry ms.
const crActivateSrc = `
if redis.call('GET', KEYS[1]) ~= '' then return {0} end
if tonumber(ARGV[3]) <= tonumber(ARGV[1]) then
  redis.call('DEL', KEYS[1])
  return {1}
end
redis.call('SET', KEYS[1], ARGV[2], 'PXAT', ARGV[3])
return {1}
`

// crUnpendSrc withdraws a pending record whose replace failed.
// KEYS: session.
const crUnpendSrc = `
if redis.call('GET', KEYS[1]) == '' then redis.call('DEL', KEYS[1]) end
return {1}
`

// crDeleteSrc ends a session and returns the ID its marker names, if any.
// KEYS: session, marker.
const crDeleteSrc = `
local n = redis.call('GET', KEYS[2])
redis.call('DEL', KEYS[1], KEYS[2])
return {1, n or ''}
`

type crScripts struct {
	load, create, pending, set, touch, mark, activate, unpend, del *redis.Script
}

func newCRScripts(strict bool) *crScripts {
	mk := func(src string) *redis.Script {
		if strict {
			src = "#!lua\n" + src
		}
		return redis.NewScript(src)
	}
	return &crScripts{
		load: mk(crLoadSrc), create: mk(crCreateSrc), pending: mk(crPendingSrc), set: mk(crSetSrc),
		touch: mk(crTouchSrc), mark: mk(crMarkSrc), activate: mk(crActivateSrc), unpend: mk(crUnpendSrc),
		del: mk(crDeleteSrc),
	}
}
