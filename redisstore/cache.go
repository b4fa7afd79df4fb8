package redisstore

import (
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"

	"github.com/boltsession/boltsession"
)

// CacheOptions turns on the client-side cache of Load (Options.Cache): a
// session read from Redis is kept in the application's memory, and Redis
// tells the process when any other server changes it (RESP3 CLIENT
// TRACKING on a connection of the store's own), so that a session nobody
// changed is loaded without a round trip. A save of this process keeps
// the session as Redis holds it after the save, so the next request of
// the same user is a hit too. The zero value gives the documented
// defaults.
//
// The bound. A Load served from the cache returns the session as Redis
// held it at a moment no earlier than MaxStale before the Load: a write,
// a logout (Delete), a regenerate, DestroyOwner or an expiry that Redis
// applied more than MaxStale ago is always seen. Normally the lag is the
// invalidation delay alone: Redis sends the invalidation to the tracking
// connection while it applies the write, before it answers the writer,
// so it arrives one network hop later, before the writer's user can
// reach another server. MaxStale is the hard cap, enforced without
// trusting the network: the tracking connection pings Redis every
// MaxStale/4, and the cache answers only while the last answered ping
// shows that every invalidation Redis sent up to MaxStale ago has been
// applied. While it does not (Redis slow or unreachable, the connection
// silent or lost), Load reads Redis as without the cache. The process's
// own writes are read back at once, without any lag.
//
// A dropped tracking connection (Redis restarted, a failover, CLIENT KILL,
// a network error) empties the whole cache, since invalidations may have
// been lost; it is dialled again with backoff and the cache fills anew.
// A flushed database (FLUSHALL, FLUSHDB) empties it too.
//
// Redis keeps, for the tracking connection, the keys it read (its
// tracking table, bounded by tracking-table-max-keys, one million by
// default): at most one entry per session this process cached.
type CacheOptions struct {
	// MaxStale bounds how long after Redis applied a write a cached Load
	// may still return the session as it was before (see the bound above).
	// Default 100ms; at least 10ms. The tracking connection pings Redis
	// every MaxStale/4: 40 pings a second at the default.
	MaxStale time.Duration

	// TTL bounds how long an entry is served after it was read from Redis,
	// whatever the invalidations say: a backstop, not the freshness
	// mechanism. Default 1 minute.
	TTL time.Duration

	// MaxEntries bounds the number of sessions kept. Default 10,000.
	MaxEntries int

	// MaxBytes bounds the memory the entries hold, estimated as the bytes
	// of the values, their names and the key plus 256 bytes per entry.
	// Default 64 MiB. When either bound is reached, the entries read from
	// Redis longest ago (among a few sampled) are evicted first.
	MaxBytes int64
}

const (
	defaultCacheMaxStale   = 100 * time.Millisecond
	minCacheMaxStale       = 10 * time.Millisecond
	defaultCacheTTL        = time.Minute
	defaultCacheMaxEntries = 10_000
	defaultCacheMaxBytes   = 64 << 20
	cacheEntryOverhead     = 256
	cacheShards            = 64
	cacheEvictSample       = 8
)

// resolveCache returns a copy of o with every default filled in.
func resolveCache(o CacheOptions) CacheOptions {
	if o.MaxStale <= 0 {
		o.MaxStale = defaultCacheMaxStale
	}
	o.MaxStale = max(o.MaxStale, minCacheMaxStale)
	if o.TTL <= 0 {
		o.TTL = defaultCacheTTL
	}
	if o.MaxEntries <= 0 {
		o.MaxEntries = defaultCacheMaxEntries
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = defaultCacheMaxBytes
	}
	return o
}

// CacheStats counts what the cache of Load did since the store was made
// (Store.CacheStats). Every count is monotonic but Entries and Bytes.
type CacheStats struct {
	// Hits are Loads answered from memory; Misses are Loads that read
	// Redis while the cache was on (a miss, an entry past TTL, or a
	// tracking connection not fresh within MaxStale).
	Hits, Misses uint64
	// Invalidations counts the keys Redis or the process's own writes
	// invalidated (whether or not they were cached).
	Invalidations uint64
	// Flushes counts how often the whole cache was emptied: a tracking
	// connection that dropped or was dialled anew, or a flushed database.
	Flushes uint64
	// Entries and Bytes are what the cache holds now (Bytes estimated as
	// for CacheOptions.MaxBytes).
	Entries int
	Bytes   int64
	// Fresh reports whether the cache may answer now: the tracking
	// connection is up and has shown within MaxStale that every
	// invalidation sent before then is applied.
	Fresh bool
}

// cache holds decoded records of the per-session layout by session key.
// Records in it are never changed, only replaced; Load hands out copies.
//
// Every record comes from a reply read on the tracking connection (a read
// of the session, or the state a save returned), where the replies and
// the invalidations arrive in the order Redis executed the commands. The
// reader registers the fill of a reply's key the moment it reads the
// reply (beginFill), and the requesting goroutine decodes the reply and
// ends the fill (endFill): an invalidation read in between, which is of a
// write applied after the reply, bumps the key's generation and the
// record is not kept. Writes of this process through the client (not on
// the tracking connection) are not ordered with the replies: each drops
// its keys when it returns (wrote), and voids the fills of commands sent
// before (beginFill's since). A dropped connection changes the epoch,
// which voids every fill begun before.
type cache struct {
	opts   CacheOptions
	seed   maphash.Seed
	shards [cacheShards]cacheShard
	base   time.Time // monotonic origin of the times below
	// epoch changes on every flush; live is false while no tracking
	// connection is established, and nothing is filled or served then.
	epoch atomic.Uint64
	live  atomic.Bool
	// freshAsOf is the time (since base) as of which every invalidation
	// Redis sent is known to be applied; 0 for none.
	freshAsOf atomic.Int64

	hits, misses, invalidations, flushes atomic.Uint64
}

type cacheShard struct {
	mu      sync.RWMutex
	m       map[string]*cacheEntry
	entries int // entries holding a record
	bytes   int64
	// wrote counts the writes of this process to keys of the shard that
	// did not go over the tracking connection (see cache.wrote).
	wrote atomic.Uint64
}

// A cacheEntry is a record, or a place for fills in flight, or both.
type cacheEntry struct {
	rec      *boltsession.Record // nil while only fills are pending
	size     int64
	filledAt int64  // since cache.base
	fillers  int    // fills registered and not yet ended
	gen      uint64 // bumped by every invalidation of the key
}

// A fillToken is what a fill registered; endFill keeps the record only if
// nothing invalidated the key or flushed the cache meanwhile.
type fillToken struct {
	key   string
	e     *cacheEntry
	gen   uint64
	epoch uint64
}

func newCache(o CacheOptions) *cache {
	c := &cache{opts: o, seed: maphash.MakeSeed(), base: time.Now()}
	for i := range c.shards {
		c.shards[i].m = make(map[string]*cacheEntry)
	}
	return c
}

func (c *cache) now() int64 { return int64(time.Since(c.base)) }

func (c *cache) shard(key string) *cacheShard {
	return &c.shards[maphash.String(c.seed, key)%cacheShards]
}

// fresh reports whether the cache may answer: see CacheStats.Fresh.
func (c *cache) fresh() bool {
	f := c.freshAsOf.Load()
	return c.live.Load() && f > 0 && c.now()-f <= int64(c.opts.MaxStale)
}

// get returns the cached record of key, or nil. The record is shared:
// the caller copies it before handing it out.
func (c *cache) get(key string) *boltsession.Record {
	if !c.fresh() {
		c.misses.Add(1)
		return nil
	}
	sh := c.shard(key)
	sh.mu.RLock()
	e := sh.m[key]
	var r *boltsession.Record
	if e != nil && e.rec != nil && c.now()-e.filledAt <= int64(c.opts.TTL) {
		r = e.rec
	}
	sh.mu.RUnlock()
	if r == nil {
		c.misses.Add(1)
		return nil
	}
	c.hits.Add(1)
	return r
}

// mark returns what beginFill checks for writes of this process outside
// the tracking connection: take it before the command is sent.
func (c *cache) mark(key string) uint64 { return c.shard(key).wrote.Load() }

// beginFill registers the fill of key by a reply read on the tracking
// connection, whose command was sent when mark returned since. It
// refuses (ok false) while no tracking connection is established, and
// when the process finished a write of a key of the shard through the
// client since then: that write may have run after the command and have
// dropped the key before this fill existed to be voided.
func (c *cache) beginFill(key string, since uint64) (fillToken, bool) {
	if !c.live.Load() {
		return fillToken{}, false
	}
	sh := c.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.wrote.Load() != since {
		return fillToken{}, false
	}
	e := sh.m[key]
	if e == nil {
		e = &cacheEntry{}
		sh.m[key] = e
	}
	e.fillers++
	return fillToken{key: key, e: e, gen: e.gen, epoch: c.epoch.Load()}, true
}

// endFill ends a fill: r (nil when the read found no live session or
// failed) is kept if no invalidation or flush came since beginFill.
func (c *cache) endFill(t fillToken, r *boltsession.Record) {
	sh := c.shard(t.key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e := sh.m[t.key]
	if e != t.e {
		return // flushed meanwhile
	}
	e.fillers--
	if r != nil && e.gen == t.gen && c.epoch.Load() == t.epoch && c.live.Load() {
		if e.rec != nil {
			sh.entries--
			sh.bytes -= e.size
		}
		e.rec, e.size, e.filledAt = r, recordSize(t.key, r), c.now()
		sh.entries++
		sh.bytes += e.size
		c.evict(sh, e)
		return
	}
	if e.rec == nil && e.fillers == 0 {
		delete(sh.m, t.key)
	}
}

// evict drops entries of sh until it is within its share of the bounds,
// the one read longest ago among a few sampled first; keep is spared.
func (c *cache) evict(sh *cacheShard, keep *cacheEntry) {
	maxEntries := max(c.opts.MaxEntries/cacheShards, 1)
	maxBytes := max(c.opts.MaxBytes/cacheShards, 1)
	for sh.entries > maxEntries || sh.bytes > maxBytes {
		var (
			victim    *cacheEntry
			victimKey string
			seen      int
		)
		for k, e := range sh.m { // map order is random: a sample
			if e == keep || e.rec == nil || e.fillers > 0 {
				continue
			}
			if victim == nil || e.filledAt < victim.filledAt {
				victim, victimKey = e, k
			}
			if seen++; seen == cacheEvictSample {
				break
			}
		}
		if victim == nil {
			return // only the new entry and pending fills: nothing to drop
		}
		sh.entries--
		sh.bytes -= victim.size
		delete(sh.m, victimKey)
	}
}

// wrote drops key after this process wrote it through the client (not on
// the tracking connection), and voids the fills of the shard's keys whose
// commands were sent before (see beginFill).
func (c *cache) wrote(key string) {
	c.shard(key).wrote.Add(1)
	c.invalidate(key)
}

// invalidate drops key: a write changed it (in Redis, or in this process).
func (c *cache) invalidate(key string) {
	c.invalidations.Add(1)
	sh := c.shard(key)
	sh.mu.Lock()
	if e := sh.m[key]; e != nil {
		e.gen++
		if e.rec != nil {
			sh.entries--
			sh.bytes -= e.size
			e.rec = nil
		}
		if e.fillers == 0 {
			delete(sh.m, key)
		}
	}
	sh.mu.Unlock()
}

// flush empties the cache and voids every fill in flight. With drop (the
// tracking connection is gone) it also stops filling and serving until
// activate; without (Redis flushed a database) the cache fills on.
func (c *cache) flush(drop bool) {
	if drop {
		c.live.Store(false)
		c.freshAsOf.Store(0)
	}
	c.epoch.Add(1)
	c.flushes.Add(1)
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.Lock()
		clear(sh.m)
		sh.entries, sh.bytes = 0, 0
		sh.mu.Unlock()
	}
}

// activate starts filling and serving once a tracking connection has
// tracking on: the epoch changes, so a fill registered before (in the
// gap, when writes were not tracked) is not kept.
func (c *cache) activate() {
	c.epoch.Add(1)
	c.live.Store(true)
}

// confirm records that every invalidation Redis sent before the time asOf
// (since base) is applied.
func (c *cache) confirm(asOf int64) {
	if asOf > c.freshAsOf.Load() {
		c.freshAsOf.Store(asOf)
	}
}

func (c *cache) stats() CacheStats {
	st := CacheStats{
		Hits: c.hits.Load(), Misses: c.misses.Load(),
		Invalidations: c.invalidations.Load(), Flushes: c.flushes.Load(),
		Fresh: c.fresh(),
	}
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.RLock()
		st.Entries += sh.entries
		st.Bytes += sh.bytes
		sh.mu.RUnlock()
	}
	return st
}

// recordSize estimates the memory an entry holds.
func recordSize(key string, r *boltsession.Record) int64 {
	n := int64(cacheEntryOverhead + len(key) + len(r.Handle) + len(r.Owner))
	for k, v := range r.Values {
		n += int64(len(k) + len(v))
	}
	return n
}

// copyRecord returns a copy of r with ID set that shares no memory with
// r (the Store contract), its values in one allocation.
func copyRecord(r *boltsession.Record, id string) *boltsession.Record {
	out := *r
	out.ID = id
	n := 0
	for _, v := range r.Values {
		n += len(v)
	}
	buf := make([]byte, 0, n)
	out.Values = make(map[string][]byte, len(r.Values))
	for k, v := range r.Values {
		start := len(buf)
		buf = append(buf, v...)
		out.Values[k] = buf[start:len(buf):len(buf)]
	}
	return &out
}
