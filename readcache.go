package boltsession

import (
	"bytes"
	"sync"
	"sync/atomic"
)

// The read cache. Most requests only read their session, and a read through
// bbolt costs a read transaction and a record decode: about half of what
// the middleware spent on such a request. The store is the only writer of
// its file (bbolt's lock is exclusive, and every write of the store runs
// through update), so it knows every change of every record and can keep
// decoded records of the sessions used lately in memory, correct without a
// time bound.
//
// The order that makes it correct, per shard of the key space:
//
//   - a Load that misses reads the shard's generation before it begins its
//     read transaction, and adds what it decoded only if the generation is
//     still the same, under the shard's lock;
//   - a write, after its commit (or rollback) and before it returns, takes
//     the lock of each changed key's shard, bumps the generation and drops
//     the key or, if it committed a save, puts the record it stored;
//   - update holds txMu from before its transaction until then, so writes
//     hand over their changes in commit order, each before the next write
//     transaction begins.
//
// A Load whose transaction began before a commit read the generation
// before the bump: either its add comes first and the write then replaces
// it, or the bump comes first and the add is refused. A Load that began
// after the commit decoded the new record. So once a write has returned, no
// Load returns what it replaced; while it is in flight (between its commit
// and its return), a Load may return either the old or the new record: the
// write has not returned, so either is a possible order of the two. And when a write transaction begins, every
// entry is the record as last committed, which lets a merge read the
// record it changes from the cache (records.current).
//
// Entries are decoded records shared by every Load that hits them: the
// Manager only reads the records it loads (a Session copies the values
// before its first change), the exported Load returns a copy, and a merge
// copies the map before changing it.

// DefaultCacheSize is BoltOptions.CacheSize when left zero.
const DefaultCacheSize = 16 << 20

// cacheShards is the number of shards of the read cache, a power of two: a
// write bumps the generation of its keys' shards only, so a Load that
// overlaps a write of another session still fills the cache.
const cacheShards = 64

// What an entry is counted at against CacheSize, in bytes: its stored
// record and an eighth more (the decoded copies of its values, its map's
// slack), entryOverhead for the Record, its strings and the shard's map
// entry, and valueOverhead per value for the map's slot. Measured on the
// heap for records from empty to a hundred values to one of 8 KiB by
// TestCacheCostCoversTheHeap, which fails if the count falls below it.
const (
	entryOverhead = 384
	valueOverhead = 96
)

func entryCost(rawLen, values int) int {
	return rawLen + rawLen/8 + valueOverhead*values + entryOverhead
}

// readCache holds decoded records by store key. A nil *readCache is a
// disabled cache: every method is a no-op.
type readCache struct {
	shards    [cacheShards]cacheShard
	shardSize int // bytes per shard
}

type cacheShard struct {
	mu   sync.Mutex
	gen  atomic.Uint64 // bumped, under mu, by every write's drop or put of a key of this shard
	m    map[string]cacheEntry
	size int      // sum of the entries' costs
	_    [32]byte // a shard per cache line: 2 cores' locks do not share one
}

type cacheEntry struct {
	rec  *Record
	cost int
}

// newReadCache returns a cache of about size bytes, or nil for size < 0.
func newReadCache(size int) *readCache {
	if size < 0 {
		return nil
	}
	if size == 0 {
		size = DefaultCacheSize
	}
	c := &readCache{shardSize: max(size/cacheShards, 1)}
	for i := range c.shards {
		c.shards[i].m = make(map[string]cacheEntry)
	}
	return c
}

// shard is the shard of key, a store key (a SHA-256: its bytes are
// uniform).
func (c *readCache) shard(key []byte) *cacheShard {
	return &c.shards[key[len(key)-1]%cacheShards]
}

// get returns the cached record under key.
func (c *readCache) get(key []byte) (*Record, bool) {
	if c == nil || len(key) == 0 {
		return nil, false
	}
	sh := c.shard(key)
	sh.mu.Lock()
	e, ok := sh.m[string(key)]
	sh.mu.Unlock()
	return e.rec, ok
}

// stamp returns the generation of key's shard, to be read before the read
// transaction whose record add may put in the cache.
func (c *readCache) stamp(key []byte) uint64 {
	if c == nil || len(key) == 0 {
		return 0
	}
	return c.shard(key).gen.Load()
}

// add caches rec, decoded from the stored record raw under key by a read
// transaction that began after stamp returned gen, unless a write of the
// shard came since.
func (c *readCache) add(key []byte, gen uint64, rec *Record, rawLen int) {
	if c == nil || len(key) == 0 {
		return
	}
	sh := c.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.gen.Load() != gen {
		return
	}
	sh.put(key, rec, entryCost(rawLen, len(rec.Values)), c.shardSize)
}

// set caches rec, just committed under key as a stored record of rawLen
// bytes, in place of what the cache holds for it (a nil rec drops the
// key), bumping the shard's generation: a Load whose transaction began
// before the commit must not add the record rec replaced.
func (c *readCache) set(key []byte, rec *Record, rawLen int) {
	if c == nil || len(key) == 0 {
		return
	}
	sh := c.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	sh.gen.Add(1)
	if rec == nil {
		sh.remove(key)
		return
	}
	sh.put(key, rec, entryCost(rawLen, len(rec.Values)), c.shardSize)
}

// put stores rec under key in place of any entry, making room by removing
// entries in the map's random order; a record that would cost more than a
// quarter of the shard is not kept (a few large records must not empty
// it). The caller holds sh.mu.
func (sh *cacheShard) put(key []byte, rec *Record, cost, size int) {
	sh.remove(key)
	if cost > size/4 {
		return
	}
	for k, e := range sh.m {
		if sh.size+cost <= size {
			break
		}
		delete(sh.m, k)
		sh.size -= e.cost
	}
	sh.m[string(key)] = cacheEntry{rec: rec, cost: cost}
	sh.size += cost
}

// remove drops the entry under key, if any. The caller holds sh.mu.
func (sh *cacheShard) remove(key []byte) {
	if e, ok := sh.m[string(key)]; ok {
		delete(sh.m, string(key))
		sh.size -= e.cost
	}
}

// clear removes every entry, bumping every generation.
func (c *readCache) clear() {
	if c == nil {
		return
	}
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.Lock()
		sh.gen.Add(1)
		clear(sh.m)
		sh.size = 0
		sh.mu.Unlock()
	}
}

// written collects, in order, what a write transaction did to records,
// for the cache to take once the transaction has ended: a key whose record
// changed (to drop), or a key and the record now stored (to cache in its
// place). Every write of a record goes through records.put or
// records.remove (index.go); applySave adds the record it stored.
type written struct {
	events  []writeEvent
	touched map[string]bool // the keys of events, once there are many
}

type writeEvent struct {
	key    []byte
	rec    *Record // nil: drop the key
	rawLen int     // the length of rec as stored
}

// key notes that the record under key changed. A nil *written (a
// transaction of no store: Upgrade's) notes nothing.
func (w *written) key(key []byte) { w.add(writeEvent{key: key}) }

// stored notes that rec, complete and owned by no one else, is now what
// the store holds under key, rawLen bytes long: put noted the key just
// before.
func (w *written) stored(key []byte, rec *Record, rawLen int) {
	if w == nil {
		return
	}
	e := writeEvent{key: key, rec: rec, rawLen: rawLen}
	if n := len(w.events); n > 0 && bytes.Equal(w.events[n-1].key, key) {
		e.key = w.events[n-1].key
		w.events[n-1] = e
		return
	}
	w.add(e)
}

func (w *written) add(e writeEvent) {
	if w == nil {
		return
	}
	e.key = bytes.Clone(e.key) // the key may be the transaction's memory
	w.events = append(w.events, e)
	if w.touched != nil {
		w.touched[string(e.key)] = true
	} else if len(w.events) > 16 {
		w.touched = make(map[string]bool, 2*len(w.events))
		for _, e := range w.events {
			w.touched[string(e.key)] = true
		}
	}
}

// has reports whether the transaction changed the record under key.
func (w *written) has(key []byte) bool {
	if w == nil {
		return false
	}
	if w.touched != nil {
		return w.touched[string(key)]
	}
	for _, e := range w.events {
		if bytes.Equal(e.key, key) {
			return true
		}
	}
	return false
}

// apply hands the events to c, in the order they happened: the stored
// records if the transaction committed, else only drops.
func (w *written) apply(c *readCache, committed bool) {
	if c == nil {
		return
	}
	for _, e := range w.events {
		if !committed {
			e.rec = nil
		}
		c.set(e.key, e.rec, e.rawLen)
	}
}

// clone returns a copy of r that shares no memory with it: what the
// exported Load returns, for its caller to change at will.
func (r *Record) clone() *Record {
	c := *r
	if r.Values == nil {
		return &c
	}
	n := 0
	for _, v := range r.Values {
		n += len(v)
	}
	buf := make([]byte, 0, n) // one allocation for every value
	c.Values = make(map[string][]byte, len(r.Values))
	for k, v := range r.Values {
		start := len(buf)
		buf = append(buf, v...)
		c.Values[k] = buf[start:len(buf):len(buf)]
	}
	return &c
}

// cacheHooks lets a test pause a Load or a write at the steps whose order
// the cache depends on: "stamped" (a Load read the generation), "read" (its
// transaction is over), "committed" (a write's transaction is over, its
// keys not dropped yet). Nil outside tests.
type cacheHooks struct {
	load, write func(step string)
}

func (h *cacheHooks) at(step string) {
	if h == nil {
		return
	}
	if step == "committed" {
		if h.write != nil {
			h.write(step)
		}
		return
	}
	if h.load != nil {
		h.load(step)
	}
}

// cacheable returns the record a save stored, as a Load would decode it
// (times as stored, an empty map for no values), for the cache to keep.
// The save built rec for itself: its map and values are its own.
func cacheable(rec *Record) *Record {
	c := *rec
	c.Created = nanosToTime(timeToNanos(rec.Created))
	c.Expires = nanosToTime(timeToNanos(rec.Expires))
	if c.Values == nil {
		c.Values = map[string][]byte{}
	}
	return &c
}
