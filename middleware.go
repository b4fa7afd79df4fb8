package boltsession

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"
)

// Manager loads and saves sessions around HTTP handlers. Make one with New;
// it is safe for concurrent use.
type Manager struct {
	store Store
	cfg   *config
	log   *slog.Logger

	insecureOnce sync.Once
	locks        sessionLocks // Options.Serialize
}

// New returns a Manager that keeps sessions in store. It fills in the
// defaults documented on Options and refuses options that cannot work: no
// Keys and no Codec, an ExpressCookie without a secret, a hash key shorter
// than 32 bytes, a negative MaxAge, an invalid cookie name, path or domain.
func New(store Store, opts Options) (*Manager, error) {
	if store == nil {
		return nil, errors.New("boltsession: New needs a Store")
	}
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	return &Manager{store: store, cfg: cfg, log: cfg.Logger}, nil
}

// Store returns the store the Manager keeps sessions in.
func (m *Manager) Store() Store { return m.store }

// Owned returns the owner's live sessions, oldest first, without their
// values. It needs a store with an owner index (OwnerIndex, which BoltStore
// has); otherwise it returns ErrUnsupported.
func (m *Manager) Owned(ctx context.Context, owner string) ([]Record, error) {
	oi, ok := m.store.(OwnerIndex)
	if !ok {
		return nil, ErrUnsupported
	}
	return oi.Owned(ctx, owner)
}

// DestroyOwner ends every session of owner ("sign out everywhere") and
// returns how many live ones it ended. It needs a store with an owner
// index; otherwise it returns ErrUnsupported. A request already holding
// one of those sessions cannot bring it back by saving.
func (m *Manager) DestroyOwner(ctx context.Context, owner string) (int, error) {
	oi, ok := m.store.(OwnerIndex)
	if !ok {
		return 0, ErrUnsupported
	}
	return oi.DestroyOwner(ctx, owner)
}

// sessionKey is the context key under which the middleware keeps the
// request's Session.
type sessionKey struct{}

// FromContext returns the request's session, or nil when ctx does not come
// from a request that went through a Manager's middleware.
func FromContext(ctx context.Context) *Session {
	s, _ := ctx.Value(sessionKey{}).(*Session)
	return s
}

// exchange is everything the middleware keeps for one request, allocated
// in one piece.
type exchange struct {
	s      Session
	w      responseWriter
	unlock func() // releases the session lock (Options.Serialize); nil if none taken
}

// release gives back the session lock, if the request took one.
func (x *exchange) release() {
	if x.unlock != nil {
		x.unlock()
	}
}

// Middleware loads the request's session before next runs and saves it at
// the commit point: the first WriteHeader, Write or Flush of next, or its
// return if it wrote nothing. The save happens before the status line and
// headers go out, so a 2xx means the store acknowledged the save, and the
// Set-Cookie header is in place even when next streams. A save that fails
// there goes to Options.ErrorHandler instead of the response, and next's
// later writes are discarded. Changes made after the commit point are
// saved when next returns.
//
// A request that already went through this Manager's middleware (nested
// twice) passes through unchanged; another Manager's session is replaced
// by this one's for the handlers inside.
func (m *Manager) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s := FromContext(r.Context()); s != nil && s.m == m {
			next.ServeHTTP(w, r)
			return
		}
		x := &exchange{}
		s := &x.s
		defer x.release() // after the last save (Options.Serialize)
		if err := m.load(r, s, &x.unlock); err != nil {
			m.fail(w, r, err)
			return
		}
		r = r.WithContext(context.WithValue(r.Context(), sessionKey{}, s))
		s.r = r
		x.w = responseWriter{ResponseWriter: w, m: m, s: s, r: r}
		next.ServeHTTP(&x.w, r)
		x.w.finish()
	})
}

// load fills s with the session r names, or a fresh one. Under
// Options.Serialize it first takes the session's lock and sets *unlock to
// its release.
func (m *Manager) load(r *http.Request, s *Session, unlock *func()) error {
	now := m.cfg.Now()
	s.m, s.r = m, r
	s.noSave = m.cfg.Cookie.Secure == SecureAlways && !m.requestSecure(r)
	id, had := m.readCookie(r)
	s.hadCookie = had
	if id != "" && m.cfg.Serialize {
		var err error
		if *unlock, err = m.lockSession(r.Context(), id); err != nil {
			return err
		}
	}
	if id != "" {
		rec, err := m.store.Load(r.Context(), id)
		if err == nil && m.pastAbsolute(rec, now) {
			// Stored before AbsoluteMaxAge was lowered: its expiry lies
			// ahead, but its absolute lifetime is over. End it like an
			// expired one.
			if derr := m.store.Delete(context.WithoutCancel(r.Context()), id); derr != nil {
				return fmt.Errorf("boltsession: delete session %s past AbsoluteMaxAge: %w", logID(id), derr)
			}
			err = ErrNotFound
		}
		switch {
		case err == nil:
			s.id = id
			s.created = rec.Created
			s.expires = rec.Expires
			s.maxAge = rec.MaxAge
			s.owner = rec.Owner
			s.base = rec.Values
			s.stored = true
			return nil
		case errors.Is(err, ErrNotFound):
			// Deleted or expired: a fresh session with a fresh ID, never
			// the one the client offered (session fixation).
		case errors.Is(err, ErrCorrupt):
			m.log.Warn("boltsession: corrupt session record; starting a new session",
				"session", logID(id), "error", err)
		default:
			return fmt.Errorf("boltsession: load session %s: %w", logID(id), err)
		}
	}
	s.isNew = true
	s.created = now
	s.expires = m.expiry(s, now)
	return nil
}

// pastAbsolute reports whether rec has outlived AbsoluteMaxAge at now.
func (m *Manager) pastAbsolute(rec *Record, now time.Time) bool {
	abs := m.cfg.AbsoluteMaxAge
	return abs > 0 && !now.Before(rec.Created.Add(abs))
}

// expiry is when s expires if it is used at now: its idle lifetime from
// now, capped by AbsoluteMaxAge from its creation.
func (m *Manager) expiry(s *Session, now time.Time) time.Time {
	d := m.cfg.MaxAge
	if s.maxAge > 0 {
		d = s.maxAge
	}
	exp := now.Add(d)
	if abs := m.cfg.AbsoluteMaxAge; abs > 0 {
		if limit := s.created.Add(abs); exp.After(limit) {
			exp = limit
		}
	}
	return exp.Round(0)
}

// touchAfter is the lazy-touch threshold for s: Options.TouchAfter, or a
// tenth of the session's idle lifetime when TouchAfter was left zero or is
// not shorter than that lifetime (a threshold that long would let an active
// session expire untouched).
func (m *Manager) touchAfter(s *Session) time.Duration {
	d := m.cfg.MaxAge
	if s.maxAge > 0 {
		d = s.maxAge
	}
	if m.cfg.touchAuto || m.cfg.TouchAfter >= d {
		return d / 10
	}
	return m.cfg.TouchAfter
}

// saveReason says who asked persist to write.
type saveReason int8

const (
	saveAtCommit saveReason = iota // the commit point: the cookie can still be sent
	saveAtReturn                   // handler return after the commit point
	saveExplicit                   // Session.Save
)

// errInsecure is what Save returns when the cookie could never be sent.
var errInsecure = errors.New("boltsession: session not saved: its Secure cookie cannot be sent over plain HTTP")

// persist writes what s needs written; s.mu is held. It decides between
// delete, create, per-key merge, lazy touch and nothing, as DESIGN.md's
// request flow lays out, and marks the cookie due when what the browser
// holds must change.
func (m *Manager) persist(ctx context.Context, s *Session, why saveReason) error {
	// A client hanging up must not cancel a save or a logout halfway; only
	// Save honours its caller's cancellation. Made only when the store is
	// called, so the read path allocates nothing for it.
	storeCtx := func() context.Context {
		if why == saveExplicit {
			return ctx
		}
		return context.WithoutCancel(ctx)
	}
	if s.destroyed {
		if s.oldID != "" {
			if err := m.store.Delete(storeCtx(), s.oldID); err != nil {
				return fmt.Errorf("boltsession: delete session %s: %w", logID(s.oldID), err)
			}
			s.oldID = ""
		}
		if s.stored {
			if err := m.store.Delete(storeCtx(), s.id); err != nil {
				return fmt.Errorf("boltsession: delete session %s: %w", logID(s.id), err)
			}
			s.stored = false
		}
		return nil
	}
	if s.gone {
		return nil
	}
	if s.noSave {
		m.insecureOnce.Do(func() {
			m.log.Warn("boltsession: Cookie.Secure is SecureAlways but a request is not secure: no cookie sent, session not saved (set TrustProxy behind a TLS proxy)")
		})
		if why == saveExplicit {
			return errInsecure
		}
		return nil
	}
	now := m.cfg.Now()
	exp := m.expiry(s, now)

	if !s.stored {
		if !s.regenerated && !s.modified() && !m.cfg.SaveUninitialized && why != saveExplicit {
			return nil
		}
		if s.headersSent {
			// The cookie that would name the record cannot reach the
			// client any more: a record now would be an orphan.
			if why == saveExplicit {
				return errors.New("boltsession: a new or regenerated session cannot be saved after the response started")
			}
			m.log.Warn("boltsession: new or regenerated session changed after the response started; not saved")
			return nil
		}
		s.ensureID()
		if s.id == "" {
			return errors.New("boltsession: Options.GenID returned an empty ID")
		}
		if err := m.store.Save(storeCtx(), s.createUpdate(exp)); err != nil {
			return fmt.Errorf("boltsession: create session %s: %w", logID(s.id), err)
		}
		if s.oldID != "" {
			// A regeneration must not outlive a logout or DestroyOwner
			// that ended the session it replaces while this request ran:
			// the new record would carry the session on under a new ID.
			// The check comes after the create, so a DestroyOwner later
			// than it finds the new record and ends it too.
			if _, err := m.store.Load(storeCtx(), s.oldID); errors.Is(err, ErrNotFound) {
				if err := m.store.Delete(storeCtx(), s.id); err != nil {
					return fmt.Errorf("boltsession: delete regenerated session %s: %w", logID(s.id), err)
				}
				m.log.Debug("boltsession: session ended while being regenerated; the new ID is dropped", "session", logID(s.oldID))
				s.oldID = ""
				s.regenerated = false
				s.gone = true
				return nil
			}
		}
		s.saved(exp)
		s.cookieDue = true
		s.regenerated = false
		if s.oldID != "" {
			if err := m.store.Delete(storeCtx(), s.oldID); err != nil {
				return fmt.Errorf("boltsession: delete regenerated session %s: %w", logID(s.oldID), err)
			}
			s.oldID = ""
		}
		return nil
	}

	if s.modified() || (m.cfg.Resave && why == saveAtCommit) {
		err := m.store.Save(storeCtx(), s.mergeUpdate(exp, m.cfg.Resave))
		if err != nil {
			return m.lost(s, "save", err)
		}
		s.saved(exp)
		return nil
	}
	if why == saveAtReturn && !s.touchDue {
		return nil // the commit point already touched as far as needed
	}
	moved := exp.Sub(s.expires)
	if s.touchDue || (moved > 0 && (m.cfg.touchAlways || moved > m.touchAfter(s))) {
		if err := m.store.Touch(storeCtx(), s.id, exp); err != nil {
			if !s.touchDue && !errors.Is(err, ErrNotFound) {
				// A lazy touch only moves a live record's expiry
				// forward; the request was served from the record.
				// Failing it (a full disk) would turn every read into
				// an error page, so the session keeps its current
				// expiry and a later request touches it again.
				m.log.Error("boltsession: could not extend a session's expiry; it keeps the current one",
					"session", logID(s.id), "error", err)
				return nil
			}
			return m.lost(s, "touch", err)
		}
		s.saved(exp)
	}
	return nil
}

// lost handles an error from saving or touching an existing session. A
// record that is gone was destroyed by a request that raced this one
// (logout, DestroyOwner) or expired: the change is dropped, since bringing
// the session back would undo the logout. s.mu is held.
func (m *Manager) lost(s *Session, op string, err error) error {
	if errors.Is(err, ErrNotFound) {
		m.log.Debug("boltsession: session gone before "+op+"; change dropped", "session", logID(s.id))
		s.gone = true
		s.stored = false
		return nil
	}
	return fmt.Errorf("boltsession: %s session %s: %w", op, logID(s.id), err)
}

// commit runs at the commit point: save, then put the cookie in the
// headers that are about to go out.
func (m *Manager) commit(h http.Header, s *Session) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	err := m.persist(s.r.Context(), s, saveAtCommit)
	s.headersSent = true
	if err != nil {
		return err
	}
	switch {
	case s.destroyed:
		if s.hadCookie {
			addCookie(h, m.expiredCookie(s.r))
		}
	case s.stored && (s.cookieDue || m.cfg.Rolling):
		v, err := m.cfg.Codec.Encode(m.cfg.Name, s.id)
		if err != nil {
			return fmt.Errorf("boltsession: encode cookie for session %s: %w", logID(s.id), err)
		}
		addCookie(h, m.sessionCookie(s.r, v, s.expires, s.persistent()))
	}
	s.cookieDue = false
	return nil
}

// addCookie appends c as a Set-Cookie header, as http.SetCookie does.
func addCookie(h http.Header, c *http.Cookie) {
	if v := c.String(); v != "" {
		h.Add("Set-Cookie", v)
	}
}

// fail hands err to the ErrorHandler.
func (m *Manager) fail(w http.ResponseWriter, r *http.Request, err error) {
	if m.cfg.ErrorHandler != nil {
		m.cfg.ErrorHandler(w, r, err)
		return
	}
	if errors.Is(err, ErrBusy) {
		m.log.Warn("boltsession: session busy", "error", err, "method", r.Method, "path", r.URL.Path)
		w.Header().Set("Retry-After", "1")
		http.Error(w, http.StatusText(http.StatusServiceUnavailable), http.StatusServiceUnavailable)
		return
	}
	m.log.Error("boltsession: session store error", "error", err, "method", r.Method, "path", r.URL.Path)
	http.Error(w, http.StatusText(http.StatusInternalServerError), http.StatusInternalServerError)
}

// errDiscarded is what the handler's writes return after a failed save at
// the commit point replaced the response.
var errDiscarded = errors.New("boltsession: response discarded: the session could not be saved")

// responseWriter finds the commit point: it saves the session before the
// first WriteHeader, Write, Flush or Hijack reaches the real writer.
// Unwrap lets http.ResponseController reach the deadlines and full-duplex
// controls of the writer underneath.
type responseWriter struct {
	http.ResponseWriter
	m *Manager
	s *Session
	r *http.Request

	committed bool // the commit point has passed
	failed    bool // the save there failed: the error handler answered
}

// commitNow runs the commit point once and reports whether the handler's
// response may go on.
func (w *responseWriter) commitNow() bool {
	if w.committed {
		return !w.failed
	}
	w.committed = true
	if err := w.m.commit(w.ResponseWriter.Header(), w.s); err != nil {
		w.failed = true
		w.m.fail(w.ResponseWriter, w.r, err)
		return false
	}
	return true
}

// finish runs when the handler returns: the commit point if nothing was
// written, else the save of changes made since.
func (w *responseWriter) finish() {
	if !w.committed {
		w.commitNow()
		return
	}
	if w.failed {
		return
	}
	w.s.mu.Lock()
	err := w.m.persist(w.r.Context(), w.s, saveAtReturn)
	w.s.mu.Unlock()
	if err != nil {
		w.failed = true // the response is out: what the handler writes goes nowhere
		w.m.fail(w, w.r, err)
	}
}

// WriteHeader commits the session, then sends the status. Informational
// statuses (1xx other than 101) pass through: they do not end the headers.
func (w *responseWriter) WriteHeader(code int) {
	if code >= 100 && code < 200 && code != http.StatusSwitchingProtocols {
		w.ResponseWriter.WriteHeader(code)
		return
	}
	if w.commitNow() {
		w.ResponseWriter.WriteHeader(code)
	}
}

// Write commits the session, then writes b.
func (w *responseWriter) Write(b []byte) (int, error) {
	if !w.commitNow() {
		return 0, errDiscarded
	}
	return w.ResponseWriter.Write(b)
}

// ReadFrom commits the session, then copies src, keeping the underlying
// writer's sendfile path.
func (w *responseWriter) ReadFrom(src io.Reader) (int64, error) {
	if !w.commitNow() {
		return 0, errDiscarded
	}
	return io.Copy(w.ResponseWriter, src)
}

// Flush commits the session, then flushes: a streaming handler's first
// flush carries the Set-Cookie header.
func (w *responseWriter) Flush() { _ = w.FlushError() }

// FlushError is Flush for http.ResponseController, with the error.
func (w *responseWriter) FlushError() error {
	if !w.commitNow() {
		return errDiscarded
	}
	return http.NewResponseController(w.ResponseWriter).Flush()
}

// Hijack commits the session, then hands over the connection.
func (w *responseWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if !w.commitNow() {
		return nil, nil, errDiscarded
	}
	return http.NewResponseController(w.ResponseWriter).Hijack()
}

// Unwrap returns the writer underneath, for http.ResponseController.
func (w *responseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
