package boltsession

import (
	"hash/maphash"
	"strings"
	"sync"
)

// The verified-cookie cache. A browser sends the same cookie value on every
// request of its session, and checking it (base64, the HMAC, with a block
// key AES too) is the largest cost left on a request that only reads its
// session once the record comes from the store's cache. A value that
// verified once verifies again, with the same ID, for as long as the codec
// keeps its keys: the codecs check no timestamp (see SecureCookie), so the
// answer depends on the name, the value and the keys alone. The cache
// remembers the answers for values that verified; a value it has not seen
// is checked in full. Only verified values go in, so a client sending
// forged cookies fills nothing; a client with many genuine cookies evicts
// others' entries, which then cost one full check each.

// verifiedCookieEntries bounds the cache: at most this many values (of at
// most maxCookieValue bytes, in practice about 100), about 200 bytes each.
const verifiedCookieEntries = 8192

// verifiedShards spreads the entries over locks, so concurrent requests
// rarely wait for each other's look-up.
const verifiedShards = 16

type verifiedCookies struct {
	seed   maphash.Seed
	shards [verifiedShards]verifiedShard
}

type verifiedShard struct {
	mu sync.Mutex
	m  map[string]verifiedCookie // by value
}

type verifiedCookie struct {
	name, id string
}

func newVerifiedCookies() *verifiedCookies {
	v := &verifiedCookies{seed: maphash.MakeSeed()}
	for i := range v.shards {
		v.shards[i].m = make(map[string]verifiedCookie)
	}
	return v
}

func (v *verifiedCookies) shard(value string) *verifiedShard {
	return &v.shards[maphash.String(v.seed, value)%verifiedShards]
}

// get returns the ID that value, as the cookie called name, verified to.
// A nil cache (no cache) has none.
func (v *verifiedCookies) get(name, value string) (string, bool) {
	if v == nil {
		return "", false
	}
	sh := v.shard(value)
	sh.mu.Lock()
	e, ok := sh.m[value]
	sh.mu.Unlock()
	if !ok || e.name != name {
		return "", false
	}
	return e.id, true
}

// add remembers that value, as the cookie called name, verified to id.
// An entry of the shard, in the map's random order, makes room.
func (v *verifiedCookies) add(name, value, id string) {
	if v == nil {
		return
	}
	sh := v.shard(value)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if len(sh.m) >= verifiedCookieEntries/verifiedShards {
		for k := range sh.m {
			delete(sh.m, k)
			break
		}
	}
	// A copy: value may be a slice of the request's whole Cookie header,
	// which the cache must not keep alive.
	sh.m[strings.Clone(value)] = verifiedCookie{name: name, id: id}
}
