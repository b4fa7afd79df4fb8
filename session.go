package boltsession

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

// Session is the session of one request, obtained with FromContext. It is
// safe for concurrent use by the goroutines of that request; it must not be
// kept after the handler returns.
//
// Changes are held in memory and written at the commit point (the first
// WriteHeader, Write or Flush, or the handler's return) or by Save. While
// a save is in flight the session is locked, so another goroutine's Get or
// Set waits for the store's acknowledgement.
type Session struct {
	mu sync.Mutex
	m  *Manager
	r  *http.Request

	// id is "" for a fresh session until something needs it, so a
	// cookieless read-only request never draws random bytes.
	id      string
	isNew   bool
	created time.Time
	expires time.Time
	maxAge  time.Duration
	owner   string

	// base holds the values as the store holds them (after Load or the
	// last save). values is the session's own copy, made on the first
	// change (forked), so a request that only reads copies nothing.
	base   map[string][]byte
	values map[string][]byte
	forked bool

	cleared     bool // Clear: the store must drop values this request never saw
	ownerDirty  bool
	maxAgeDirty bool
	touchDue    bool // Touch: extend the expiry whatever TouchAfter says

	stored      bool   // a record under id exists in the store, as far as we know
	gone        bool   // the record vanished under us (ErrNotFound on save): drop changes
	regenerated bool   // id is new; the record is created at the next save
	oldID       string // a stored ID to delete once the regenerated record is saved
	destroyed   bool

	hadCookie   bool // the request carried a cookie of our name
	noSave      bool // SecureAlways on a request that is not secure
	headersSent bool // the commit point has passed: no cookie can be sent any more
	cookieDue   bool // a save changed what the cookie must say
}

// ID returns the session ID. A fresh session gets its ID on the first call
// (or when it is first saved). The ID is a bearer credential: do not log it.
func (s *Session) ID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ensureID()
	return s.id
}

// ensureID draws the ID of a fresh session; s.mu is held.
func (s *Session) ensureID() {
	if s.id == "" {
		s.id = s.m.cfg.GenID(s.r)
	}
}

// IsNew reports whether the request carried no live session, so this
// session started empty in this request. It stays true after the session
// is first saved.
func (s *Session) IsNew() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.isNew
}

// Created returns when the session was created (for a new session: when
// this request started it). Regenerate keeps it.
func (s *Session) Created() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.created
}

// Expires returns the session's expiry as the store holds it, or, for a
// session not yet in the store (new or regenerated), the expiry it would get
// if saved now.
func (s *Session) Expires() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.stored {
		return s.m.expiry(s, s.m.cfg.Now())
	}
	return s.expires
}

// current returns the live value map; s.mu is held. It may be nil.
func (s *Session) current() map[string][]byte {
	if s.forked {
		return s.values
	}
	return s.base
}

// fork gives the session its own value map before a change; s.mu is held.
func (s *Session) fork() {
	if !s.forked {
		s.values = maps.Clone(s.base)
		if s.values == nil {
			s.values = make(map[string][]byte)
		}
		s.forked = true
	}
}

// Get returns the value stored under key, decoded into a T. A missing key
// gives ErrNoValue; a value that does not decode into T gives an error
// wrapping ErrType. Structs round-trip without registration (msgpack, by
// field name; `msgpack` struct tags rename).
func Get[T any](s *Session, key string) (T, error) {
	var v T
	s.mu.Lock()
	b, ok := s.current()[key]
	s.mu.Unlock()
	if !ok {
		return v, fmt.Errorf("%w: %q", ErrNoValue, key)
	}
	if err := msgpack.Unmarshal(b, &v); err != nil {
		var zero T
		return zero, fmt.Errorf("%w: key %q into %T: %w", ErrType, key, zero, err)
	}
	return v, nil
}

// Pop returns the value under key, as Get does, and deletes it: a flash
// message read once. On any error the value stays.
func Pop[T any](s *Session, key string) (T, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var v T
	b, ok := s.current()[key]
	if !ok {
		return v, fmt.Errorf("%w: %q", ErrNoValue, key)
	}
	if err := msgpack.Unmarshal(b, &v); err != nil {
		var zero T
		return zero, fmt.Errorf("%w: key %q into %T: %w", ErrType, key, zero, err)
	}
	s.fork()
	delete(s.values, key)
	return v, nil
}

// Set stores v under key, msgpack-encoded at once (so later changes to v
// do not leak in). The session counts as modified only if the encoded
// bytes differ from what the store holds. An error means v cannot be
// encoded; the session is then unchanged.
func (s *Session) Set(key string, v any) error {
	b, err := msgpack.Marshal(v)
	if err != nil {
		return fmt.Errorf("boltsession: encode value for key %q: %w", key, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fork()
	s.values[key] = b
	return nil
}

// Delete removes key. Deleting a key the session does not hold changes
// nothing.
func (s *Session) Delete(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.current()[key]; !ok {
		return
	}
	s.fork()
	delete(s.values, key)
}

// Clear removes every value. The save then also removes values that a
// concurrent request added to the stored record.
func (s *Session) Clear() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.current()) == 0 && len(s.base) == 0 {
		return
	}
	s.cleared = true
	s.values = make(map[string][]byte)
	s.forked = true
}

// Keys returns the keys the session holds, sorted.
func (s *Session) Keys() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Sorted(maps.Keys(s.current()))
}

// Has reports whether the session holds key.
func (s *Session) Has(key string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.current()[key]
	return ok
}

// Regenerate gives the session a new ID and keeps its values, owner,
// lifetime and creation time; at the commit point the values are saved
// under the new ID, the old record is deleted and the new cookie is sent.
// Call it when privileges change (at login) against session fixation. A
// Regenerate after the response has started cannot send the new cookie, so
// the new record is not saved and the old one stays as it was. If the old
// record is gone by the commit point (a logout in another request destroyed
// it, or it expired), nothing is saved and no cookie is sent, so a racing
// request cannot undo a logout by regenerating.
func (s *Session) Regenerate() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stored {
		s.oldID = s.id
		s.stored = false
	}
	s.id = s.m.cfg.GenID(s.r)
	s.regenerated = true
	if s.destroyed {
		// A new session, not the destroyed one renamed: its absolute
		// lifetime starts now.
		s.created = s.m.cfg.Now()
	}
	s.destroyed = false
	s.gone = false
}

// Destroy ends the session: its values are dropped, its record is deleted
// at the commit point and the browser is told to drop the cookie. A later
// Regenerate in the same request starts a new, empty session, created then.
func (s *Session) Destroy() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.destroyed = true
	s.regenerated = false
	s.values = make(map[string][]byte)
	s.forked = true
	s.owner = ""
	s.maxAge = 0
}

// SetOwner ties the session to an owner, typically a user ID, for
// Manager.Owned and Manager.DestroyOwner; "" unties it.
func (s *Session) SetOwner(owner string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if owner != s.owner {
		s.owner = owner
		s.ownerDirty = true
	}
}

// Owner returns the session's owner, "" for none.
func (s *Session) Owner() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.owner
}

// SetMaxAge gives this session its own idle lifetime, kept in its record
// (for example 30 days for "remember me"); the cookie's Max-Age follows,
// even when Cookie.Persist is Off. d <= 0 returns the session to
// Options.MaxAge (and, with Persist Off, to a browser-session cookie).
// AbsoluteMaxAge still caps it.
func (s *Session) SetMaxAge(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d = max(d, 0)
	if d != s.maxAge {
		s.maxAge = d
		s.maxAgeDirty = true
	}
}

// Touch extends the session's expiry at the commit point even when
// TouchAfter would skip it.
func (s *Session) Touch() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.touchDue = true
}

// Save writes the session's changes now, for handlers that run long or
// want a change stored before they go on; a new session is saved even if
// unmodified. The commit point still sends the cookie. After the response
// has started a new session cannot be saved (its cookie could not reach
// the client) and Save returns an error.
func (s *Session) Save(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m.persist(ctx, s, saveExplicit)
}

// modified reports whether the session differs from the stored record;
// s.mu is held. It allocates nothing, so the read path stays cheap.
func (s *Session) modified() bool {
	if s.cleared || s.ownerDirty || s.maxAgeDirty {
		return true
	}
	if !s.forked {
		return false
	}
	if len(s.values) != len(s.base) {
		return true
	}
	for k, v := range s.values {
		if b, ok := s.base[k]; !ok || !bytes.Equal(b, v) {
			return true
		}
	}
	return false
}

// createUpdate is the save that creates the record of a new or regenerated
// session; s.mu is held.
func (s *Session) createUpdate(expires time.Time) Update {
	owner, maxAge := s.owner, s.maxAge
	return Update{
		ID:      s.id,
		Create:  true,
		Created: s.created,
		Set:     s.current(),
		Expires: expires,
		Owner:   &owner,
		MaxAge:  &maxAge,
	}
}

// mergeUpdate is the per-key merge that brings an existing record up to
// date: only keys whose bytes changed are set, only keys that were present
// are deleted. all (Resave) sets every value. s.mu is held.
func (s *Session) mergeUpdate(expires time.Time, all bool) Update {
	u := Update{ID: s.id, Expires: expires, Clear: s.cleared}
	cur := s.current()
	if s.cleared || all {
		u.Set = cur
	} else {
		for k, v := range cur {
			if b, ok := s.base[k]; !ok || !bytes.Equal(b, v) {
				if u.Set == nil {
					u.Set = make(map[string][]byte)
				}
				u.Set[k] = v
			}
		}
	}
	if !s.cleared {
		for k := range s.base {
			if _, ok := cur[k]; !ok {
				u.Delete = append(u.Delete, k)
			}
		}
	}
	if s.ownerDirty {
		owner := s.owner
		u.Owner = &owner
	}
	if s.maxAgeDirty {
		maxAge := s.maxAge
		u.MaxAge = &maxAge
	}
	return u
}

// persistent reports whether the session's cookie carries a Max-Age:
// Cookie.Persist, or a lifetime of its own from SetMaxAge ("remember me"
// with browser-session cookies otherwise); s.mu is held.
func (s *Session) persistent() bool {
	return s.m.cfg.persist || s.maxAge > 0
}

// saved records that the store now holds the session as it is; s.mu is
// held. The saved value map becomes the base, and the next change forks
// again, so the map handed to the store is never written to afterwards.
func (s *Session) saved(expires time.Time) {
	if s.maxAgeDirty || (s.persistent() && !expires.Equal(s.expires)) {
		s.cookieDue = true // SetMaxAge can also switch the cookie between persistent and not
	}
	s.base = s.current()
	s.values = nil
	s.forked = false
	s.expires = expires
	s.stored = true
	s.cleared, s.ownerDirty, s.maxAgeDirty, s.touchDue = false, false, false, false
}
