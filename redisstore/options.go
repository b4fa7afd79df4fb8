package redisstore

import (
	"time"

	"github.com/redis/go-redis/v9"
)

// Options configures a Store. The zero value, or a nil *Options, gives the
// documented defaults.
type Options struct {
	// Prefix starts every key the store writes: a session is the hash
	// Prefix+"{"+ID+"}", its lock Prefix+"{"+ID+"}:lock", and an owner's
	// index the sorted set Prefix+"{owner:"+owner+"}" (see the package doc,
	// "Layout"). Default "sess:" for every kind of client. The braces are a
	// hash tag, so on Redis Cluster (or a go-redis Ring) each session lives
	// in the slot of its own ID and sessions spread over every master. A
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
	// that is not in the new layout (a dead cookie). Default false.
	NoLegacy bool

	// CreateLegacy makes new sessions in the legacy layout, as releases
	// before the per-session layout did, and takes each session lock under
	// both layouts. Set it on every process for the rolling deploy that
	// replaces such a release, so that a session created by a new process
	// is found by an old one; unset it in a second rollout once no old
	// process runs. Default false. Ignored with NoLegacy.
	CreateLegacy bool

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
func hasHashTag(prefix string) bool {
	for i := 0; i < len(prefix); i++ {
		if prefix[i] != '{' {
			continue
		}
		for j := i + 1; j < len(prefix); j++ {
			if prefix[j] == '}' {
				return j > i+1
			}
		}
		return false
	}
	return false
}
