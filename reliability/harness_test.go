package reliability_test

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/boltsession/boltsession"
	bolt "go.etcd.io/bbolt"
)

// clock is an injected clock that tests move by hand.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// logBuffer collects everything a logger writes, for tests that search it.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// logger logs every level into b.
func (b *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// rig is one store, one Manager and one test server running testApp.
type rig struct {
	t      *testing.T
	path   string
	store  *boltsession.BoltStore
	m      *boltsession.Manager
	srv    *httptest.Server
	codec  boltsession.CookieCodec
	logs   *logBuffer
	clock  *clock
	issued *idSet // every session ID seen in a Set-Cookie; nil: not recorded

	bopts   *boltsession.BoltOptions
	opts    boltsession.Options
	handler atomic.Pointer[http.Handler]
}

type rigConfig struct {
	path      string // default: a file in t.TempDir()
	noSync    bool
	realClock bool
	store     *boltsession.BoltOptions // overrides the fields above when set
	options   func(*boltsession.Options)
}

func newRig(t *testing.T, cfg rigConfig) *rig {
	t.Helper()
	r := &rig{t: t, path: cfg.path, logs: &logBuffer{}, clock: newClock(), issued: &idSet{}}
	if r.path == "" {
		r.path = filepath.Join(t.TempDir(), "sessions.db")
	}
	now := r.clock.Now
	if cfg.realClock {
		now = time.Now
	}
	bopts := cfg.store
	if bopts == nil {
		bopts = &boltsession.BoltOptions{NoSync: cfg.noSync, SweepInterval: -1}
	}
	if bopts.Now == nil {
		bopts.Now = now
	}
	if bopts.Logger == nil {
		bopts.Logger = r.logs.logger()
	}
	r.bopts = bopts
	store, err := boltsession.Open(r.path, bopts)
	if err != nil {
		t.Fatal(err)
	}
	r.store = store
	t.Cleanup(func() { r.store.Close() })

	key := make([]byte, 32)
	rand.Read(key)
	opts := boltsession.Options{
		Keys:   [][]byte{key},
		Logger: r.logs.logger(),
		Now:    now,
	}
	if cfg.options != nil {
		cfg.options(&opts)
	}
	if opts.Codec == nil {
		r.codec, err = boltsession.SecureCookie(opts.Keys...)
		if err != nil {
			t.Fatal(err)
		}
	} else {
		r.codec = opts.Codec
	}
	r.opts = opts
	r.m, err = boltsession.New(store, opts)
	if err != nil {
		t.Fatal(err)
	}
	h := r.m.Middleware(testApp(r.m))
	r.handler.Store(&h)
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		(*r.handler.Load()).ServeHTTP(w, req)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

// newRedisRig is a rig on another Store (Redis): the same server, app and
// client methods; store-specific fields (path, store, reopen) stay unset.
func newRedisRig(t *testing.T, store boltsession.Store, options func(*boltsession.Options)) *rig {
	t.Helper()
	r := &rig{t: t, logs: &logBuffer{}, clock: newClock(), issued: &idSet{}}
	key := make([]byte, 32)
	rand.Read(key)
	opts := boltsession.Options{Keys: [][]byte{key}, Logger: r.logs.logger()}
	if options != nil {
		options(&opts)
	}
	var err error
	if r.codec, err = boltsession.SecureCookie(opts.Keys...); err != nil {
		t.Fatal(err)
	}
	if r.m, err = boltsession.New(store, opts); err != nil {
		t.Fatal(err)
	}
	r.srv = httptest.NewServer(r.m.Middleware(testApp(r.m)))
	t.Cleanup(r.srv.Close)
	return r
}

// reopen closes the store, lets edit change the file with bbolt directly
// (a session file allows one opener at a time), then opens the store again
// behind a new Manager with the same options. Requests in flight must have
// finished.
func (r *rig) reopen(edit func(tx *bolt.Tx) error) {
	r.t.Helper()
	if err := r.store.Close(); err != nil {
		r.t.Fatal(err)
	}
	db, err := bolt.Open(r.path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		r.t.Fatal(err)
	}
	err = db.Update(edit)
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		r.t.Fatal(err)
	}
	r.store, err = boltsession.Open(r.path, r.bopts)
	if err != nil {
		r.t.Fatal(err)
	}
	r.m, err = boltsession.New(r.store, r.opts)
	if err != nil {
		r.t.Fatal(err)
	}
	h := r.m.Middleware(testApp(r.m))
	r.handler.Store(&h)
}

// corruptRecord replaces the stored bytes of session id with garbage,
// leaving its expiry and owner index entries in place.
func corruptRecord(t *testing.T, r *rig, id string, garbage []byte) {
	t.Helper()
	r.reopen(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("sessions"))
		if b == nil {
			return errors.New("no sessions bucket")
		}
		if b.Get(recordKey(id)) == nil {
			return fmt.Errorf("no record to corrupt")
		}
		return b.Put(recordKey(id), garbage)
	})
}

// recordKey is the key the file stores the session id's record under: its
// handle, the SHA-256 of the ID (see boltsession.Handle).
func recordKey(id string) []byte {
	k := sha256.Sum256([]byte(id))
	return k[:]
}

// testApp is the application the reliability tests drive. Every answer is
// one line "new=BOOL n=INT" so clients can check what the server saw.
func testApp(m *boltsession.Manager) http.Handler {
	mux := http.NewServeMux()
	answer := func(w http.ResponseWriter, s *boltsession.Session, n int) {
		fmt.Fprintf(w, "new=%v n=%d\n", s.IsNew(), n)
	}
	count := func(w http.ResponseWriter, s *boltsession.Session, key string) (int, bool) {
		n, err := boltsession.Get[int](s, key)
		if err != nil && !errors.Is(err, boltsession.ErrNoValue) {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return 0, false
		}
		return n, true
	}
	mux.HandleFunc("GET /get", func(w http.ResponseWriter, r *http.Request) {
		s := boltsession.FromContext(r.Context())
		if n, ok := count(w, s, keyOf(r)); ok {
			answer(w, s, n)
		}
	})
	mux.HandleFunc("POST /incr", func(w http.ResponseWriter, r *http.Request) {
		s := boltsession.FromContext(r.Context())
		n, ok := count(w, s, keyOf(r))
		if !ok {
			return
		}
		if err := s.Set(keyOf(r), n+1); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		answer(w, s, n+1)
	})
	mux.HandleFunc("POST /put", func(w http.ResponseWriter, r *http.Request) {
		s := boltsession.FromContext(r.Context())
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if err := s.Set(keyOf(r), body); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		answer(w, s, len(body))
	})
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		s := boltsession.FromContext(r.Context())
		s.Regenerate()
		s.SetOwner(r.URL.Query().Get("owner"))
		n, ok := count(w, s, keyOf(r))
		if ok {
			answer(w, s, n)
		}
	})
	mux.HandleFunc("POST /regen", func(w http.ResponseWriter, r *http.Request) {
		s := boltsession.FromContext(r.Context())
		s.Regenerate()
		if n, ok := count(w, s, keyOf(r)); ok {
			answer(w, s, n)
		}
	})
	mux.HandleFunc("POST /logout", func(w http.ResponseWriter, r *http.Request) {
		s := boltsession.FromContext(r.Context())
		s.Destroy()
		fmt.Fprintln(w, "bye")
	})
	mux.HandleFunc("POST /logout-all", func(w http.ResponseWriter, r *http.Request) {
		s := boltsession.FromContext(r.Context())
		owner := s.Owner()
		if owner == "" {
			http.Error(w, "not logged in", http.StatusForbidden)
			return
		}
		n, err := m.DestroyOwner(r.Context(), owner)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		fmt.Fprintf(w, "ended %d\n", n)
	})
	return mux
}

func keyOf(r *http.Request) string {
	if k := r.URL.Query().Get("key"); k != "" {
		return k
	}
	return "n"
}

// reply is a parsed testApp answer.
type reply struct {
	status int
	isNew  bool
	n      int
	body   string
	cookie *http.Cookie // the session cookie the response set, if any
}

// do sends one request with the given Cookie header (no jar) and records every
// session ID the response hands out.
func (r *rig) do(client *http.Client, method, path, cookie string, body io.Reader) (reply, error) {
	req, err := http.NewRequest(method, r.srv.URL+path, body)
	if err != nil {
		return reply{}, err
	}
	if cookie != "" {
		req.Header.Set("Cookie", cookie)
	}
	if client == nil {
		client = r.srv.Client()
	}
	resp, err := client.Do(req)
	if err != nil {
		return reply{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return reply{}, err
	}
	rep := reply{status: resp.StatusCode, body: string(b)}
	for _, c := range resp.Cookies() {
		if c.Name == r.cookieName() {
			rep.cookie = c
			if r.issued != nil && c.MaxAge >= 0 && c.Value != "" {
				if id, err := r.codec.Decode(c.Name, c.Value); err == nil {
					r.issued.add(id, c.Value)
				}
			}
		}
	}
	var isNew string
	if _, err := fmt.Sscanf(rep.body, "new=%s n=%d", &isNew, &rep.n); err == nil {
		rep.isNew = isNew == "true"
	}
	return rep, nil
}

// must is do that fails the test on a transport error or a non-200 answer.
func (r *rig) must(method, path, cookie string) reply {
	r.t.Helper()
	rep, err := r.do(nil, method, path, cookie, nil)
	if err != nil {
		r.t.Fatalf("%s %s: %v", method, path, err)
	}
	if rep.status != http.StatusOK {
		r.t.Fatalf("%s %s: %d %s", method, path, rep.status, rep.body)
	}
	return rep
}

func (r *rig) cookieName() string { return "sid" }

// login starts a session owned by owner and returns its Cookie header and ID.
func (r *rig) login(owner string) (cookie, id string) {
	r.t.Helper()
	rep := r.must(http.MethodPost, "/login?owner="+owner, "")
	if rep.cookie == nil {
		r.t.Fatalf("login set no cookie")
	}
	id, err := r.codec.Decode(rep.cookie.Name, rep.cookie.Value)
	if err != nil {
		r.t.Fatal(err)
	}
	return rep.cookie.Name + "=" + rep.cookie.Value, id
}

// idSet records session IDs and the cookie values that carried them.
type idSet struct {
	mu      sync.Mutex
	ids     map[string]bool
	cookies map[string]bool
}

func (s *idSet) add(id, cookie string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ids == nil {
		s.ids, s.cookies = map[string]bool{}, map[string]bool{}
	}
	s.ids[id] = true
	s.cookies[cookie] = true
}

// secrets returns every ID and cookie value recorded.
func (s *idSet) secrets() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for id := range s.ids {
		out = append(out, id)
	}
	for c := range s.cookies {
		out = append(out, c)
	}
	return out
}

func (s *idSet) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.ids)
}
