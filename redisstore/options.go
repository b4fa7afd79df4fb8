package redisstore

import (
	"time"

	"github.com/redis/go-redis/v9"
)

// Options configures a Store. The zero value, or a nil *Options, gives the
// documented defaults.
type Options struct {
	// Prefix starts every key the store writes: a session is the hash
	// Prefix+ID and an owner's index the set Prefix+"owner:"+owner.
	// Default "sess:" (the prefix connect-redis uses), or "{sess}:" when the
	// client is a *redis.ClusterClient or *redis.Ring, so that every key of
	// the store shares one hash tag (see the package doc, "Redis Cluster").
	// On such a client a Prefix without a hash tag makes every operation fail
	// with an error that says so. An empty Prefix means the default.
	Prefix string

	// ScanCount is the COUNT hint of each SCAN that Count and Iterate issue,
	// which bounds the work Redis does per call. Default 100 (connect-redis's
	// scanCount).
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
	// Owned, Count, Iterate). Redis itself deletes a record at its expiry by
	// its own clock; keep the machines' clocks synchronised. Default
	// time.Now; tests inject a fake clock.
	Now func() time.Time
}

const (
	defaultPrefix        = "sess:"
	defaultClusterPrefix = "{sess}:"
	defaultScanCount     = 100
	defaultLockTTL       = 10 * time.Second
)

// resolve returns a copy of opts with every default filled in.
func resolve(client redis.UniversalClient, opts *Options) Options {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Prefix == "" {
		o.Prefix = defaultPrefix
		if sharded(client) {
			o.Prefix = defaultClusterPrefix
		}
	}
	if o.ScanCount <= 0 {
		o.ScanCount = defaultScanCount
	}
	if o.LockTTL <= 0 {
		o.LockTTL = defaultLockTTL
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
