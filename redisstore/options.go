package redisstore

import (
	"time"

	"github.com/redis/go-redis/v9"
)

// Options configures a Store. The zero value, or a nil *Options, gives the
// documented defaults.
type Options struct {
	// Prefix starts every key the store writes: a session is the hash
	// Prefix+"{"+handle+"}", where handle is boltsession.Handle of its ID,
	// its lock Prefix+"{"+handle+"}:lock", and an owner's index the sorted
	// set Prefix+"{owner:"+owner+"}" (see the package doc, "Layout").
	// Default "sess:" for every kind of client. The braces are a hash tag,
	// so on Redis Cluster (or a go-redis Ring) each session lives in the
	// slot of its own handle and sessions spread over every master. A
	// Prefix that itself contains a hash tag, such as "{app}:sess:", puts
	// every key of the store in that tag's slot instead: it works, on one
	// master. An empty Prefix means the default.
	Prefix string

	// LegacyPrefix is the prefix under which releases before the
	// per-session layout kept sessions, as Prefix+ID (a hash), with owner
	// sets Prefix+"owner:"+owner and locks Prefix+"lock:"+ID. Those sessions
	// stay readable and writable where they are until they expire, or until
	// MoveLegacy moves them, so an upgrade logs nobody out. Default: what
	// those releases used with the same Options, which is Prefix when
	// Prefix was set, else "sess:" on a *redis.Client and "{sess}:" on a
	// *redis.ClusterClient or *redis.Ring. On those two, a LegacyPrefix
	// without a hash tag is ignored: those releases refused it there, so
	// nothing can be stored under it. Ignored with NoLegacy.
	LegacyPrefix string

	// NoLegacy turns the reading of LegacyPrefix off: set it on a store
	// that never held sessions of an earlier release, or once MoveLegacy
	// has run (or the longest session lifetime has passed since the
	// upgrade). It saves a round trip on a create and on a Load of an ID
	// that is not in the new layout (a dead cookie). And since the legacy
	// layout is keyed by ID, those lookups name the ID in the command
	// sent to Redis (it is never stored, but MONITOR and SLOWLOG show
	// commands): with NoLegacy no command carries a session ID. Default
	// false.
	NoLegacy bool

	// CreateLegacy makes new sessions in the legacy layout, as releases
	// before the per-session layout did, and takes each session lock under
	// both layouts. Set it on every process for the rolling deploy that
	// replaces such a release, so that a session created by a new process
	// is found by an old one; unset it in a second rollout once no old
	// process runs. Default false. Ignored with NoLegacy.
	//
	// The legacy layout keys sessions by ID, so while CreateLegacy is set
	// the session IDs of new sessions (and of those that a regenerate
	// makes from legacy ones) are written to Redis in clear, as the earlier
	// release wrote them, until MoveLegacy moves them. It cannot be
	// combined with ValueKeys: the earlier release's processes would read
	// sealed values as garbage.
	CreateLegacy bool

	// ValueKeys, when set, encrypt session values at rest with AES-GCM,
	// with the same construction, key sizes and key ids as
	// boltsession.BoltOptions.ValueKeys (see boltsession.ValueSealer): a
	// Redis dump, an RDB or AOF file, a replica or a MONITOR shows no
	// value. Each key is 16, 24 or 32 random bytes (32: AES-256), kept
	// apart from Redis. The first key seals every value written; every key
	// opens (rotation: put the new key first, keep the old ones until
	// Reseal has resealed every session under the new one). Each value
	// field is sealed on its own, bound to its session's handle and its
	// field name, so the per-key merge is unchanged. Values written in
	// clear stay readable and are sealed when they are next written (or
	// by Reseal); a merge into a session of the legacy layout first moves
	// it to the per-session layout (as MoveLegacy does), where its values
	// are sealed, so the legacy layout never holds a sealed value. What
	// stays in clear: the names of the values (field names), owners (the
	// owner index is keyed by them) and the times (creation, expiry,
	// MaxAge). A sealed value that the store has no key for gives an
	// error wrapping boltsession.ErrKey on Load and Iterate. Cost: a key
	// derivation and AES-GCM per value read or written (+56% on a Load of
	// three values, measured beside a local Redis) and 37 bytes per
	// value; see the package doc, "Values at rest". Default none: values
	// in clear. Keys of another size, or a key given twice, make every
	// method return an error.
	ValueKeys [][]byte

	// WaitReplicas, when positive, makes every write (Save, Touch, Delete,
	// DestroyOwner, MoveLegacy and each step of a replace) wait until that
	// many replicas of the master that took it have acknowledged it, with
	// Redis's WAIT on the same connection, before it is reported done. A
	// write that fewer replicas confirmed within WaitTimeout returns an
	// error wrapping ErrNotReplicated: it landed on the master and may be
	// lost if that master fails now. Default 0: a write is done when the
	// master applied it, and a failover can lose the last acknowledged
	// writes. See the package doc, "Durability and failures", for the cost.
	WaitReplicas int

	// WaitTimeout bounds each WAIT of WaitReplicas. Default 250ms. While a
	// replica is down or lagging, every write waits this long and then
	// fails, so keep it well under the requests' own deadlines.
	WaitTimeout time.Duration

	// ScanCount is the COUNT hint of each SCAN that Count, Iterate and
	// MoveLegacy issue, which bounds the work Redis does per call. Default
	// 100 (connect-redis's scanCount).
	ScanCount int

	// LockTTL is the lifetime of a session lock (LockSession, taken under
	// boltsession.Options.Serialize): Redis deletes a lock this long after
	// it was taken even if its holder never releases it, so a process that
	// died holding one blocks that session no longer. A request that runs
	// longer than LockTTL loses its exclusivity; set it above your slowest
	// handler. Default 10s.
	LockTTL time.Duration

	// Now is the store's clock for deciding that a record is past its
	// Expires before Redis has deleted it (Load, Touch, Save of an update,
	// Owned, Count, Iterate) and for the owner index's coverage. Redis
	// itself deletes a record at its expiry by its own clock; keep the
	// machines' clocks synchronised (within OwnerIndexMargin). Default
	// time.Now; tests inject a fake clock.
	Now func() time.Time

	// Cache, when set, keeps the sessions Load reads in the application's
	// memory and has Redis invalidate them when any server changes them
	// (RESP3 CLIENT TRACKING on a connection of the store's own), so that
	// a Load of a session nobody changed costs no round trip. A cached
	// Load never returns a session older than what Redis held MaxStale
	// (default 100ms) before it: a logout on one server reaches every
	// other within that bound, normally within one network hop. When the
	// tracking connection drops, the whole cache is emptied and Load
	// reads Redis until a new one is up. See
	// CacheOptions for the bound, the memory and what a dropped
	// connection does, and the package doc, "Client-side cache", for when
	// to turn it on.
	//
	// It needs a *redis.Client (one server, or Sentinel through
	// redis.NewFailoverClient) and Redis 6 or later; with a
	// *redis.ClusterClient or *redis.Ring, or a client authenticating
	// with a StreamingCredentialsProvider, every method returns an error
	// that says so. The store then owns a connection and a goroutine:
	// call Store.Close before closing the client. Default nil: every
	// Load reads Redis.
	Cache *CacheOptions

	// strictScripts starts every Lua script with a "#!lua" line, so that
	// Redis 7 refuses any script that reaches a key outside the hash slot
	// of its declared keys. The tests run the cluster suites with it; it
	// is off in production so that Redis 6 keeps working.
	strictScripts bool
}

const (
	defaultPrefix        = "sess:"
	legacyClusterPrefix  = "{sess}:"
	defaultScanCount     = 100
	defaultLockTTL       = 10 * time.Second
	defaultWaitTimeout   = 250 * time.Millisecond
	legacyPrefixDisabled = ""
)

// resolve returns a copy of opts with every default filled in.
func resolve(client redis.UniversalClient, opts *Options) Options {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.LegacyPrefix == "" {
		switch {
		case o.Prefix != "":
			o.LegacyPrefix = o.Prefix
		case sharded(client):
			o.LegacyPrefix = legacyClusterPrefix
		default:
			o.LegacyPrefix = defaultPrefix
		}
	}
	if sharded(client) && !hasHashTag(o.LegacyPrefix) {
		// Releases before the per-session layout refused a prefix without
		// a hash tag on Cluster and Ring: nothing can be stored under it.
		o.NoLegacy = true
	}
	if o.NoLegacy {
		o.LegacyPrefix = legacyPrefixDisabled
		o.CreateLegacy = false
	}
	if o.Prefix == "" {
		o.Prefix = defaultPrefix
	}
	if o.ScanCount <= 0 {
		o.ScanCount = defaultScanCount
	}
	if o.LockTTL <= 0 {
		o.LockTTL = defaultLockTTL
	}
	if o.WaitTimeout <= 0 {
		o.WaitTimeout = defaultWaitTimeout
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// sharded reports a client that spreads keys over several servers by hash
// slot or hash tag.
func sharded(client redis.UniversalClient) bool {
	switch client.(type) {
	case *redis.ClusterClient, *redis.Ring:
		return true
	}
	return false
}

// hasHashTag reports whether every key that starts with prefix hashes by the
// same tag: Redis hashes the bytes between the first '{' and the next '}'
// when there is at least one byte between them.
func hasHashTag(prefix string) bool { return slotString(prefix) != prefix }
