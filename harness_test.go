package boltsession

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// testHashKey and friends are fixed keys so cookies are reproducible.
var (
	testHashKey  = bytes.Repeat([]byte("h"), 32)
	testBlockKey = bytes.Repeat([]byte("b"), 32)
	otherHashKey = bytes.Repeat([]byte("o"), 32)
)

// testClock is a settable clock shared by a Manager and its store.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func newTestClock() *testClock {
	return &testClock{t: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// openBolt opens a store in a temp dir, sweeper off, closed at the end.
func openBolt(t testing.TB) *BoltStore {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "sessions.db"), &BoltOptions{SweepInterval: -1, NoSync: true})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// countingStore wraps a BoltStore and counts the calls the Manager makes, so
// tests can pin down lazy touch and "no record written". failSave, when
// set, makes Save fail; loadErr makes Load fail.
type countingStore struct {
	*BoltStore
	loads, saves, touches, deletes atomic.Int64
	failSave                       atomic.Bool
	loadErr                        atomic.Pointer[error]

	mu   sync.Mutex
	last Update
}

// lastUpdate is the Update of the latest Save.
func (c *countingStore) lastUpdate() Update {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.last
}

func (c *countingStore) Load(ctx context.Context, id string) (*Record, error) {
	c.loads.Add(1)
	if p := c.loadErr.Load(); p != nil {
		return nil, *p
	}
	return c.BoltStore.Load(ctx, id)
}

func (c *countingStore) Save(ctx context.Context, u Update) error {
	c.saves.Add(1)
	c.mu.Lock()
	c.last = u
	c.mu.Unlock()
	if c.failSave.Load() {
		return errors.New("injected save failure")
	}
	return c.BoltStore.Save(ctx, u)
}

func (c *countingStore) Touch(ctx context.Context, id string, exp time.Time) error {
	c.touches.Add(1)
	return c.BoltStore.Touch(ctx, id, exp)
}

func (c *countingStore) Delete(ctx context.Context, id string) error {
	c.deletes.Add(1)
	return c.BoltStore.Delete(ctx, id)
}

// writes is every call that changes the store.
func (c *countingStore) writes() int64 {
	return c.saves.Load() + c.touches.Load() + c.deletes.Load()
}

func (c *countingStore) resetCounts() {
	c.loads.Store(0)
	c.saves.Store(0)
	c.touches.Store(0)
	c.deletes.Store(0)
}

// lockedBuffer is a log sink safe for the server's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// env is one Manager on one BoltStore behind one httptest server, with a
// fake clock shared by the Manager and the store.
type env struct {
	t      *testing.T
	clock  *testClock
	path   string
	store  *countingStore
	m      *Manager
	mux    *http.ServeMux
	srv    *httptest.Server
	logs   *lockedBuffer
	client *http.Client
}

type envConfig struct {
	tls     bool
	handler func(http.Handler) http.Handler // wraps the middleware (e.g. a fake proxy)
}

// newEnv starts a server whose mux has the standard test routes:
//
//	/noop          touches no session
//	/get?k=K       writes the int under K, or "none"
//	/set?k=K&v=V   sets K to the string V
//	/incr          increments the int "views" and writes it
//	/id            writes the session ID
//	/destroy       destroys the session
//	/regenerate    regenerates the session
func newEnv(t *testing.T, opts Options, ec ...envConfig) *env {
	t.Helper()
	var cfg envConfig
	if len(ec) > 0 {
		cfg = ec[0]
	}
	e := &env{t: t, clock: newTestClock(), logs: &lockedBuffer{}}
	e.path = filepath.Join(t.TempDir(), "sessions.db")
	e.openStore()
	if opts.Keys == nil && opts.Codec == nil {
		opts.Keys = [][]byte{testHashKey}
	}
	opts.Now = e.clock.Now
	opts.Logger = slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	m, err := New(e.store, opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	e.m = m
	e.mux = http.NewServeMux()
	e.mux.HandleFunc("/noop", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	e.mux.HandleFunc("/get", func(w http.ResponseWriter, r *http.Request) {
		v, err := Get[int](FromContext(r.Context()), r.FormValue("k"))
		if errors.Is(err, ErrNoValue) {
			io.WriteString(w, "none")
			return
		}
		if err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		io.WriteString(w, strconv.Itoa(v))
	})
	e.mux.HandleFunc("/set", func(w http.ResponseWriter, r *http.Request) {
		if err := FromContext(r.Context()).Set(r.FormValue("k"), r.FormValue("v")); err != nil {
			http.Error(w, err.Error(), 500)
		}
	})
	e.mux.HandleFunc("/incr", func(w http.ResponseWriter, r *http.Request) {
		s := FromContext(r.Context())
		n, _ := Get[int](s, "views")
		if err := s.Set("views", n+1); err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		io.WriteString(w, strconv.Itoa(n+1))
	})
	e.mux.HandleFunc("/id", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, FromContext(r.Context()).ID())
	})
	e.mux.HandleFunc("/destroy", func(w http.ResponseWriter, r *http.Request) {
		FromContext(r.Context()).Destroy()
	})
	e.mux.HandleFunc("/regenerate", func(w http.ResponseWriter, r *http.Request) {
		FromContext(r.Context()).Regenerate()
	})
	var h http.Handler = m.Middleware(e.mux)
	if cfg.handler != nil {
		h = cfg.handler(h)
	}
	if cfg.tls {
		e.srv = httptest.NewTLSServer(h)
	} else {
		e.srv = httptest.NewServer(h)
	}
	t.Cleanup(e.srv.Close)
	e.client = e.newClient()
	return e
}

// openStore opens (or reopens) the store file under the env's clock.
func (e *env) openStore() {
	e.t.Helper()
	bs, err := Open(e.path, &BoltOptions{Now: e.clock.Now, SweepInterval: -1, NoSync: true})
	if err != nil {
		e.t.Fatalf("Open: %v", err)
	}
	if e.store == nil {
		e.store = &countingStore{}
	}
	e.store.BoltStore = bs
	e.t.Cleanup(func() { bs.Close() })
}

// restart closes the store and opens the same file again, as a process
// restart would; the Manager (and its keys) stay.
func (e *env) restart() {
	e.t.Helper()
	if err := e.store.Close(); err != nil {
		e.t.Fatalf("Close: %v", err)
	}
	e.openStore()
}

// newClient returns a client with its own cookie jar.
func (e *env) newClient() *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		e.t.Fatal(err)
	}
	c := *e.srv.Client()
	c.Jar = jar
	return &c
}

// response is what a test looks at after one request.
type response struct {
	status int
	body   string
	header http.Header
}

// cookie returns the session's Set-Cookie of the response, or nil.
func (r response) cookie(name string) *http.Cookie {
	for _, c := range (&http.Response{Header: r.header}).Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

func (e *env) do(c *http.Client, req *http.Request) response {
	e.t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatalf("read body: %v", err)
	}
	return response{status: resp.StatusCode, body: string(b), header: resp.Header}
}

// get requests path with client c (nil: the env's client).
func (e *env) get(c *http.Client, path string) response {
	e.t.Helper()
	if c == nil {
		c = e.client
	}
	req, err := http.NewRequest("GET", e.srv.URL+path, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	return e.do(c, req)
}

// mustGet is get that insists on a 200 and returns the body.
func (e *env) mustGet(c *http.Client, path string) string {
	e.t.Helper()
	r := e.get(c, path)
	if r.status != 200 {
		e.t.Fatalf("GET %s: status %d, body %q", path, r.status, r.body)
	}
	return r.body
}

// jarCookie returns the session cookie value the client holds, "" if none.
func (e *env) jarCookie(c *http.Client) string {
	if c == nil {
		c = e.client
	}
	req, _ := http.NewRequest("GET", e.srv.URL, nil)
	for _, ck := range c.Jar.Cookies(req.URL) {
		if ck.Name == e.m.cfg.Name {
			return ck.Value
		}
	}
	return ""
}

// record loads id straight from the store (nil when absent).
func (e *env) record(id string) *Record {
	e.t.Helper()
	rec, err := e.store.BoltStore.Load(context.Background(), id)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		e.t.Fatalf("Load: %v", err)
	}
	return rec
}

// count is the number of live records.
func (e *env) count() int {
	e.t.Helper()
	n, err := e.store.Count(context.Background())
	if err != nil {
		e.t.Fatalf("Count: %v", err)
	}
	return n
}

// rawRequest sends path with a hand-made session cookie value and no jar.
func (e *env) rawRequest(path, cookieValue string) response {
	e.t.Helper()
	req, err := http.NewRequest("GET", e.srv.URL+path, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	if cookieValue != "" {
		req.Header.Set("Cookie", fmt.Sprintf("%s=%s", e.m.cfg.Name, cookieValue))
	}
	c := *e.srv.Client()
	c.Jar = nil
	return e.do(&c, req)
}

// recordByHandle reads the live record with the given handle straight from
// the store, values included (nil when absent).
func (e *env) recordByHandle(handle string) *Record {
	e.t.Helper()
	var rec *Record
	err := e.store.BoltStore.Scan(context.Background(), ScanOptions{HandlePrefix: handle, Values: true},
		func(in SessionInfo) error {
			if in.Err != nil {
				return in.Err
			}
			rec = &in.Record
			return nil
		})
	if err != nil {
		e.t.Fatalf("Scan: %v", err)
	}
	return rec
}
