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

	// loadRecord is store.Load, or BoltStore.loadShared.
	loadRecord func(ctx context.Context, id string) (*Record, error)

	insecureOnce sync.Once
	locks        sessionLocks // Options.Serialize
}

// New returns a Manager that keeps sessions in store. It fills in the
// defaults documented on Options and refuses options that cannot work: no
// Keys and no Codec, a hash key shorter
// than 32 bytes, a negative MaxAge, an invalid cookie name, path or domain.
func New(store Store, opts Options) (*Manager, error) {
	if store == nil {
		return nil, errors.New("boltsession: New needs a Store")
	}
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	m := &Manager{store: store, cfg: cfg, log: cfg.Logger}
	m.loadRecord = store.Load
	// The Manager only reads what it loads (a Session copies the values
	// before its first change), so it can take the records BoltStore's
	// cache shares and save the copy that Load makes. Only from a
	// *BoltStore itself: a type that embeds one to wrap its Load would
	// have loadShared promoted, and be bypassed.
	if bs, ok := store.(*BoltStore); ok {
		m.loadRecord = bs.loadShared
	}
	return m, nil
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
// there goes to Options.ErrorHandler instead of the response, with the
// headers next had set removed, and next's later writes are discarded.
// That includes a change that could not land because another request
// ended the session (ErrEnded) or regenerated it (ErrReplaced) after this
// one loaded it; a request that changed nothing is not failed for that.
// Changes made after the commit point are saved when next returns.
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
		if h := w.Header(); len(h) > 0 {
			x.w.entryHeader = h.Clone() // only when an outer handler set some: no allocation otherwise
		}
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
	// A cookie that must be Secure is dropped by browsers when it comes
	// over plain HTTP: send none and save nothing (a record nobody can
	// name is an orphan).
	s.noSave = m.cfg.secureOnly && !m.requestSecure(r)
	id, had := m.readCookie(r)
	s.hadCookie = had
	if id != "" && m.cfg.Serialize {
		var err error
		if *unlock, err = m.lockSession(r.Context(), id); err != nil {
			return err
		}
	}
	if id != "" {
		rec, err := m.loadRecord(r.Context(), id)
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
			s.state = stored
			s.created = rec.Created
			s.expires = rec.Expires
			s.maxAge = rec.MaxAge
			s.owner = rec.Owner
			s.base = rec.Values
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

// createTries is how many IDs a create draws before it gives up: a GenID
// that keeps returning IDs in use is broken, and a create never overwrites
// another user's session.
const createTries = 3

// save executes s's save plan for why; s.mu is held. A client hanging up
// must not cancel a save or a logout halfway, so only an explicit Save
// honours its caller's cancellation.
func (m *Manager) save(ctx context.Context, s *Session, why saveReason) error {
	p, err := s.plan(why, m.cfg.Now())
	if err != nil || p.step == stepNone {
		return err
	}
	if why != saveExplicit {
		ctx = context.WithoutCancel(ctx)
	}
	return s.settle(&p, m.execute(ctx, s.r, &p))
}

// execute runs p as one store call (a create that ends a destroyed
// session first makes two; see plan.ends). A create whose ID is in use
// draws another, createTries times at most.
func (m *Manager) execute(ctx context.Context, r *http.Request, p *plan) error {
	switch p.step {
	case stepDestroy:
		return m.store.Delete(ctx, p.ends)
	case stepMerge:
		return m.store.Save(ctx, p.u)
	case stepTouch:
		return m.store.Touch(ctx, p.u.ID, p.u.Expires)
	}
	if p.ends != "" {
		if err := m.store.Delete(ctx, p.ends); err != nil {
			return err
		}
		p.ends = ""
	}
	for tries := 1; ; tries++ {
		err := m.store.Save(ctx, p.u)
		if !errors.Is(err, ErrExists) {
			return err
		}
		if tries == createTries {
			return fmt.Errorf("%w (Options.GenID returned %d IDs in a row that were in use)", err, tries)
		}
		if p.u.ID = m.cfg.GenID(r); p.u.ID == "" {
			return errors.New("boltsession: Options.GenID returned an empty ID")
		}
	}
}

// warnInsecure logs, once per Manager, that a request could not get the
// session cookie because it must be Secure and the request is not.
func (m *Manager) warnInsecure() {
	m.insecureOnce.Do(func() {
		m.log.Warn("boltsession: the session cookie must be Secure (Cookie.Secure SecureAlways, SameSite=None, Partitioned, or a __Secure-/__Host- name) but a request is not secure: no cookie sent, session not saved (set TrustProxy behind a TLS proxy)")
	})
}

// commit runs at the commit point: save, then put the cookie in the
// headers that are about to go out.
func (m *Manager) commit(h http.Header, s *Session) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	err := m.save(s.r.Context(), s, saveAtCommit)
	s.headersSent = true
	if err != nil {
		return err
	}
	switch {
	case s.state == destroyed:
		if s.hadCookie {
			addCookie(h, m.expiredCookie(s.r))
		}
	case s.state == stored && (s.cookieDue || m.cfg.Rolling):
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
	if errors.Is(err, ErrEnded) || errors.Is(err, ErrReplaced) {
		m.log.Info("boltsession: the request's session changes did not land", "error", err, "method", r.Method, "path", r.URL.Path)
		http.Error(w, "409 Conflict: the session was ended or renewed by another request; the change was not saved", http.StatusConflict)
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

	// entryHeader is the header map as the handlers outside the
	// middleware left it (nil when empty). A failed save at the commit
	// point puts it back before the error answer: that answer must carry
	// none of the headers the handler set for the answer it meant to give
	// (its cookies, Content-Encoding, Location, Content-Type).
	entryHeader http.Header
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
		h := w.ResponseWriter.Header()
		clear(h)
		for k, v := range w.entryHeader {
			h[k] = v
		}
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
	err := w.m.save(w.r.Context(), w.s, saveAtReturn)
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
