package boltsession

import (
	"context"
	"errors"
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
// WriteHeader, Write or Flush, or the handler's return) or by Save, as one
// lifecycle step of the store (see Update): what the request did becomes a
// plan (plan.go) that the Manager executes. While a save is in flight the
// session is locked, so another goroutine's Get or Set waits for the
// store's acknowledgement.
//
// Methods that change the session return an error when the change cannot
// be saved: after Destroy (ErrDestroyed), once the session is known to have
// been ended or replaced by another request (ErrEnded, ErrReplaced), or on
// a nil Session (ErrNoSession: FromContext found none). Methods that only
// read panic on a nil Session with a message that names the missing
// middleware.
type Session struct {
	mu sync.Mutex
	m  *Manager
	r  *http.Request

	// id is "" for a fresh session until something needs it, so a
	// cookieless read-only request never draws random bytes.
	id    string
	state sessionState
	from  string // renewed: the stored ID the new one replaces ("" for none)
	ends  string // an ID to delete at the save: destroyed, or renewed after Destroy
	gone  error  // gone: why, wrapping ErrEnded or ErrReplaced

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

	hadCookie   bool // the request carried a cookie of our name
	noSave      bool // the cookie cannot be sent over this request (see Manager.load)
	headersSent bool // the commit point has passed: no cookie can be sent any more
	cookieDue   bool // a save changed what the cookie must say
}

// sessionState is where a Session stands against the store.
type sessionState int8

const (
	// unsaved: a new session, not in the store.
	unsaved sessionState = iota
	// stored: the record under id is live, as far as this request knows.
	stored
	// renewed: Regenerate gave the session a new id, created at the save,
	// replacing the stored record from (if any) in the same step.
	renewed
	// destroyed: Destroy; the record ends (the ID in ends) at the save.
	destroyed
	// gone: another request ended or replaced the session; nothing this
	// request changes can be saved.
	gone
)

// lock takes s.mu for a method that only reads, with a clear message in
// place of a nil-pointer panic when there is no session.
func (s *Session) lock(method string) {
	if s == nil {
		panic("boltsession: Session." + method + " called on a nil *Session: FromContext found no session (wrap the handler with Manager.Middleware)")
	}
	s.mu.Lock()
}

// lockChange takes s.mu for a method that changes the session and
// reports why the change could not be saved, if so; s.mu is then not
// held.
func (s *Session) lockChange() error {
	if s == nil {
		return ErrNoSession
	}
	s.mu.Lock()
	switch {
	case s.state == destroyed:
		s.mu.Unlock()
		return ErrDestroyed
	case s.state == gone:
		s.mu.Unlock()
		return s.gone
	case s.headersSent && s.state != stored:
		s.mu.Unlock()
		return errLate
	}
	return nil
}

// errLate is what a change of a new or regenerated session returns after
// the commit point: the cookie that would name its record cannot be sent
// any more, so it cannot be saved.
var errLate = errors.New("boltsession: the response has started: a new or regenerated session can no longer be saved (its cookie cannot be sent)")

// ID returns the session ID. A fresh session gets its ID on the first call
// (or when it is first saved). The ID is a bearer credential: do not log it.
func (s *Session) ID() string {
	s.lock("ID")
	defer s.mu.Unlock()
	s.ensureID()
	return s.id
}

// Handle returns the session's handle (see the Handle function): how the
// store, Manager.Owned and operators name it. A fresh session gets its ID
// first, as with ID.
func (s *Session) Handle() string {
	s.lock("Handle")
	defer s.mu.Unlock()
	s.ensureID()
	return Handle(s.id)
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
	s.lock("IsNew")
	defer s.mu.Unlock()
	return s.isNew
}

// Created returns when the session was created (for a new session: when
// this request started it). Regenerate keeps it.
func (s *Session) Created() time.Time {
	s.lock("Created")
	defer s.mu.Unlock()
	return s.created
}

// Expires returns the session's expiry as the store holds it, or, for a
// session not yet in the store (new or regenerated), the expiry it would get
// if saved now.
func (s *Session) Expires() time.Time {
	s.lock("Expires")
	defer s.mu.Unlock()
	if s.state != stored {
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
	if s == nil {
		return v, ErrNoSession
	}
	s.mu.Lock()
	b, ok := s.current()[key]
	s.mu.Unlock()
	if !ok {
		return v, fmt.Errorf("%w: %q", ErrNoValue, key)
	}
	if err := unmarshalValue(b, &v); err != nil {
		var zero T
		return zero, fmt.Errorf("%w: key %q into %T: %w", ErrType, key, zero, err)
	}
	return v, nil
}

// Pop returns the value under key, as Get does, and deletes it: a flash
// message read once. On any error the value stays.
func Pop[T any](s *Session, key string) (T, error) {
	var v T
	if s == nil {
		return v, ErrNoSession
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.current()[key]
	if !ok {
		return v, fmt.Errorf("%w: %q", ErrNoValue, key)
	}
	if err := unmarshalValue(b, &v); err != nil {
		var zero T
		return zero, fmt.Errorf("%w: key %q into %T: %w", ErrType, key, zero, err)
	}
	s.fork()
	delete(s.values, key)
	return v, nil
}

// Set stores v under key, msgpack-encoded at once (so later changes to v
// do not leak in). The session counts as modified only if the encoded
// bytes differ from what the store holds. An error means the value will
// not be saved: v cannot be encoded, or the session cannot be saved any
// more (see Session); the session is then unchanged.
func (s *Session) Set(key string, v any) error {
	b, err := msgpack.Marshal(v)
	if err != nil {
		return fmt.Errorf("boltsession: encode value for key %q: %w", key, err)
	}
	if err := s.lockChange(); err != nil {
		return err
	}
	defer s.mu.Unlock()
	s.fork()
	s.values[key] = b
	return nil
}

// Delete removes key. Deleting a key the session does not hold changes
// nothing. An error means the session cannot be saved any more (see
// Session).
func (s *Session) Delete(key string) error {
	if err := s.lockChange(); err != nil {
		return err
	}
	defer s.mu.Unlock()
	if _, ok := s.current()[key]; ok {
		s.fork()
		delete(s.values, key)
	}
	return nil
}

// Clear removes every value. The save then also removes values that a
// concurrent request added to the stored record. An error means the
// session cannot be saved any more (see Session).
func (s *Session) Clear() error {
	if err := s.lockChange(); err != nil {
		return err
	}
	defer s.mu.Unlock()
	if len(s.current()) == 0 && len(s.base) == 0 {
		return nil
	}
	s.cleared = true
	s.values = make(map[string][]byte)
	s.forked = true
	return nil
}

// Keys returns the keys the session holds, sorted.
func (s *Session) Keys() []string {
	s.lock("Keys")
	defer s.mu.Unlock()
	return slices.Sorted(maps.Keys(s.current()))
}

// Has reports whether the session holds key.
func (s *Session) Has(key string) bool {
	s.lock("Has")
	defer s.mu.Unlock()
	_, ok := s.current()[key]
	return ok
}

// Regenerate gives the session a new ID and keeps its values, owner,
// lifetime and creation time. Call it when privileges change (at login)
// against session fixation. At the save, one atomic step of the store
// creates the new record from the stored one, with this request's changes
// applied, and removes the old one (see Update.Replaces), and the new
// cookie is sent.
//
// If the old session was ended meanwhile by another request (a logout,
// DestroyOwner) or regenerated by one, nothing is created: the request
// fails with ErrEnded or ErrReplaced (see Options.ErrorHandler), so a
// racing request can never undo a logout by regenerating. After Destroy it
// starts a new, empty session, created then, and the old one still ends.
//
// Regenerate after the response has started returns an error and changes
// nothing: the new cookie could not be sent. It also fails on a session
// known to be gone.
func (s *Session) Regenerate() error {
	if s == nil {
		return ErrNoSession
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.state == gone:
		return s.gone
	case s.headersSent:
		return errors.New("boltsession: Regenerate after the response has started: the new cookie cannot be sent")
	}
	switch s.state {
	case stored:
		s.from = s.id
	case destroyed:
		// A new session, not the destroyed one renamed: its absolute
		// lifetime starts now.
		s.created = s.m.cfg.Now()
	}
	s.id = s.m.cfg.GenID(s.r)
	s.state = renewed
	return nil
}

// Destroy ends the session: its values are dropped, its record (and,
// should another request have regenerated it meanwhile, the regenerated
// one) is deleted at the save, and the browser is told to drop the cookie.
// Changes after it fail with ErrDestroyed until Regenerate starts a new,
// empty session. Destroy on a session known to be gone still ends it.
func (s *Session) Destroy() error {
	if s == nil {
		return ErrNoSession
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch s.state {
	case stored, gone:
		s.ends = s.id
	case renewed:
		if s.from != "" {
			s.ends = s.from
		}
	}
	s.state = destroyed
	s.from, s.gone = "", nil
	s.values = make(map[string][]byte)
	s.forked = true
	s.owner = ""
	s.maxAge = 0
	return nil
}

// SetOwner ties the session to an owner, typically a user ID, for
// Manager.Owned and Manager.DestroyOwner; "" unties it. An error means the
// session cannot be saved any more (see Session).
func (s *Session) SetOwner(owner string) error {
	if err := s.lockChange(); err != nil {
		return err
	}
	defer s.mu.Unlock()
	if owner != s.owner {
		s.owner = owner
		s.ownerDirty = true
	}
	return nil
}

// Owner returns the session's owner, "" for none.
func (s *Session) Owner() string {
	s.lock("Owner")
	defer s.mu.Unlock()
	return s.owner
}

// SetMaxAge gives this session its own idle lifetime, kept in its record
// (for example 30 days for "remember me"); the cookie's Max-Age follows,
// even when Cookie.Persist is Off. d <= 0 returns the session to
// Options.MaxAge (and, with Persist Off, to a browser-session cookie).
// AbsoluteMaxAge still caps it. An error means d is longer than
// MaxLifetime, or the session cannot be saved any more (see Session); the
// session is then unchanged.
func (s *Session) SetMaxAge(d time.Duration) error {
	if d > MaxLifetime {
		return fmt.Errorf("boltsession: SetMaxAge(%v) is longer than MaxLifetime (100 years)", d)
	}
	if err := s.lockChange(); err != nil {
		return err
	}
	defer s.mu.Unlock()
	d = max(d, 0)
	if d != s.maxAge {
		s.maxAge = d
		s.maxAgeDirty = true
	}
	return nil
}

// Touch extends the session's expiry at the commit point even when
// TouchAfter would skip it. An error means the session cannot be saved any
// more (see Session).
func (s *Session) Touch() error {
	if err := s.lockChange(); err != nil {
		return err
	}
	defer s.mu.Unlock()
	s.touchDue = true
	return nil
}

// Save writes the session's changes now, for handlers that run long or
// want a change stored before they go on; a new session is saved even if
// unmodified. The commit point still sends the cookie. It honours ctx's
// cancellation (the commit point does not: a client hanging up must not
// cancel a save halfway). An error wrapping ErrEnded or ErrReplaced means
// another request ended or regenerated the session and the changes did not
// land; later changes then fail too. After the response has started a new
// session cannot be saved (its cookie could not reach the client) and Save
// returns an error.
func (s *Session) Save(ctx context.Context) error {
	if s == nil {
		return ErrNoSession
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m.save(ctx, s, saveExplicit)
}
