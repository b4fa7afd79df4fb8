package redisstore

import (
	"strings"
	"time"
)

// The per-session layout (see the package doc, "Layout"): every key of one
// session carries the session's handle as its hash tag, so that on Redis
// Cluster the session, its lock and its markers share one slot and each
// script runs on that slot alone, while different sessions spread over
// every master. No key holds a session ID. An owner's index is a key of
// its own, tagged by the owner.

// sessionKey is the hash of the session with handle h: Prefix{h}.
func (s *Store) sessionKey(h handle) string { return s.opts.Prefix + "{" + string(h) + "}" }

// lockKey is the lock of the session with handle h under Serialize:
// Prefix{h}:lock.
func (s *Store) lockKey(h handle) string { return s.opts.Prefix + "{" + string(h) + "}:lock" }

// ownerKey is the index of an owner's sessions: Prefix{owner:o}. A handle
// is hex, so it is never an owner key.
func (s *Store) ownerKey(owner string) string { return s.opts.Prefix + "{" + ownerInfix + owner + "}" }

// The legacy layout, written by releases before the per-session one: the
// session hash LegacyPrefix+id, the owner set LegacyPrefix+"owner:"+o and
// the lock LegacyPrefix+"lock:"+id. On Cluster its prefix carried one hash
// tag for every key ("{sess}:"), so its multi-key scripts stay in one slot.
func (s *Store) legacyOn() bool { return s.opts.LegacyPrefix != "" }

func (s *Store) legacyKey(id string) string     { return s.opts.LegacyPrefix + id }
func (s *Store) legacyOwnerPrefix() string      { return s.opts.LegacyPrefix + ownerInfix }
func (s *Store) legacyOwnerKey(o string) string { return s.opts.LegacyPrefix + ownerInfix + o }
func (s *Store) legacyLockKey(id string) string { return s.opts.LegacyPrefix + lockInfix + id }

// ownerInfix starts an owner's tag in the per-session layout and sits
// between the prefix and the owner in the legacy one; lockInfix sits
// between the prefix and the ID of a legacy lock. IDs that start with
// either are refused, so no session key is ever an owner or lock key.
const (
	ownerInfix = "owner:"
	lockInfix  = "lock:"
)

// validID reports whether id can name a session. The per-session layout
// keys sessions by handle and would take any ID, but the legacy layout
// keys them by ID, and every ID is looked up there: an empty ID, or one
// with a brace, would not be the whole hash tag of its legacy keys on
// Cluster, and IDs that start like a legacy owner or lock key would meet
// those keys. The Manager's IDs are base64url and always valid.
func validID(id string) bool {
	return id != "" && !strings.ContainsAny(id, "{}") &&
		!strings.HasPrefix(id, ownerInfix) && !strings.HasPrefix(id, lockInfix)
}

// handleOfSessionKey returns the handle of a per-session hash key found
// by SCAN, or false for any other key under Prefix (a legacy session or
// an owner index included).
func (s *Store) handleOfSessionKey(key string) (handle, bool) {
	rest, ok := strings.CutPrefix(key, s.opts.Prefix)
	if !ok || len(rest) != handleLen+2 || rest[0] != '{' || rest[len(rest)-1] != '}' {
		return "", false
	}
	h := rest[1 : len(rest)-1]
	return handle(h), isHandle(h)
}

// idOfLegacyKey returns the ID of a legacy session key found by SCAN, or
// false for a key of the per-session layout or an owner or lock key.
func (s *Store) idOfLegacyKey(key string) (string, bool) {
	id, ok := strings.CutPrefix(key, s.opts.LegacyPrefix)
	if !ok || !s.legacyOn() {
		return "", false
	}
	if _, isNew := s.handleOfSessionKey(key); isNew {
		return "", false
	}
	return id, validID(id)
}

// Lifetimes of the records a replace leaves on its way (see replace.go).
const (
	// pendingLifetime bounds how long the pending record of a replace
	// waits for its activation: a replacing process that stalls longer
	// gets "session ended" and the pending record expires by itself.
	pendingLifetime = time.Minute
)

// OwnerIndexMargin is how long after its coverage ended an owner index
// keeps a member, and how much longer than its longest-covered session the
// index itself lives (see the package doc, "Owner index"). It absorbs
// clock differences between the application servers and Redis; keep those
// well under it.
const OwnerIndexMargin = 5 * time.Minute

// coverFor returns the coverage to claim for a session that will expire at
// expires: as far beyond expires as expires is beyond now, so that a
// session kept alive by sliding expiry claims again about once per
// lifetime instead of on every touch. An expiry in the past is its own
// coverage.
func coverFor(now, expires time.Time) int64 {
	e := expires.UnixMilli()
	if d := e - now.UnixMilli(); d > 0 {
		return e + d
	}
	return e
}
