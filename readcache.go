package boltsession

import (
	"bytes"
	"sync"
	"sync/atomic"
)

// The read cache. Most requests only read their session, and a read through
// bbolt costs a read transaction and a record decode: about half of what
// the middleware spends on such a request. The store is the only writer of
// its file (bbolt's lock is exclusive, and every write of the store runs
// through update), so it knows every change of every record and can keep
// decoded records of recently loaded sessions in memory, correct without a
// time bound: a cached record is dropped when its write commits, before
// the write is acknowledged.
//
// The order that makes it correct, per shard of the key space:
//
//   - a Load that misses reads the shard's generation before it begins its
//     read transaction, and adds what it decoded only if the generation is
//     still the same, under the shard's lock;
//   - a write, after its commit (or rollback) and before it returns, takes
//     the lock of each key's shard, bumps the generation and drops the key.
//
// A Load whose transaction began before the commit read the generation
// before the bump: either its add comes first and the write then drops it,
// or the bump comes first and the add is refused. A Load that began after
// the commit decoded the new record. So once a write has returned, no Load
// returns what it replaced. While it is in flight (between its commit and
// its return), a Load may return either the old or the new record, as it
// may without the cache.
//
// Entries are decoded records shared by every Load that hits them: the
// Manager only reads the records it loads (a Session copies the values
// before its first change), and the exported Load returns a copy.

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
	gen  atomic.Uint64 // bumped, under mu, by every drop of a key of this shard
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
// shard came since. Entries of the shard, taken in the map's random order,
// make room.
func (c *readCache) add(key []byte, gen uint64, rec *Record, rawLen int) {
	if c == nil || len(key) == 0 {
		return
	}
	cost := entryCost(rawLen, len(rec.Values))
	if cost > c.shardSize/4 {
		return // a few large records must not empty a shard
	}
	sh := c.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.gen.Load() != gen {
		return
	}
	if old, ok := sh.m[string(key)]; ok {
		sh.size -= old.cost
	}
	for k, e := range sh.m {
		if sh.size+cost <= c.shardSize {
			break
		}
		delete(sh.m, k)
		sh.size -= e.cost
	}
	sh.m[string(key)] = cacheEntry{rec: rec, cost: cost}
	sh.size += cost
}

// drop removes the given keys, bumping their shards' generations.
func (c *readCache) drop(keys [][]byte) {
	if c == nil {
		return
	}
	for _, key := range keys {
		if len(key) == 0 {
			continue
		}
		sh := c.shard(key)
		sh.mu.Lock()
		sh.gen.Add(1)
		if e, ok := sh.m[string(key)]; ok {
			delete(sh.m, string(key))
			sh.size -= e.cost
		}
		sh.mu.Unlock()
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

// len returns the number of cached records.
func (c *readCache) len() int {
	if c == nil {
		return 0
	}
	n := 0
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.Lock()
		n += len(sh.m)
		sh.mu.Unlock()
	}
	return n
}

// written collects the keys of the records a write transaction put or
// removed, for the cache to drop once the transaction has ended. Every
// write of a record goes through records.put or records.remove (index.go).
type written struct {
	keys [][]byte
}

// key notes that the record under key changed. A nil *written (a
// transaction of no store: Upgrade's) notes nothing.
func (w *written) key(key []byte) {
	if w != nil {
		w.keys = append(w.keys, bytes.Clone(key)) // key may be the transaction's memory
	}
}

// apply drops the noted keys from c.
func (w *written) apply(c *readCache) { c.drop(w.keys) }

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
