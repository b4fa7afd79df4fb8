package gorillastore

import (
	"context"
	"encoding/gob"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/boltsession/boltsession"
	"github.com/gorilla/sessions"
)

// Profile is an application type stored in sessions; gorilla apps register
// such types with gob.
type Profile struct {
	Name  string
	Roles []string
	Since time.Time
}

func init() { gob.Register(Profile{}) }

var (
	hashKey  = []byte("0123456789abcdef0123456789abcdef")
	blockKey = []byte("fedcba9876543210fedcba9876543210")
)

// observation is what one request saw: the handler's view of the session
// and the client's view of the response.
type observation struct {
	GetErr    bool     `json:"getErr"`
	IsNew     bool     `json:"isNew"`
	Values    []string `json:"values"`
	Flashes   string   `json:"flashes"`
	SaveErr   string   `json:"saveErr"`
	SetCookie []string `json:"-"`
	JarHas    bool     `json:"-"`
}

// appHandler runs the same handler against any sessions.Store: it reads the
// session "app", changes it as the path says, and saves.
func appHandler(store sessions.Store) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, err := store.Get(r, "app")
		obs := observation{GetErr: err != nil, IsNew: s.IsNew}
		useRegistry := false
		switch r.URL.Path {
		case "/set":
			s.Values["user"] = "alice"
			s.Values[42] = 3.5
			s.Values["profile"] = Profile{Name: "Alice", Roles: []string{"admin"}, Since: time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)}
		case "/flash":
			s.AddFlash("saved!")
			s.AddFlash(Profile{Name: "flash"})
		case "/flashes":
			obs.Flashes = fmt.Sprintf("%#v", s.Flashes())
		case "/maxage":
			s.Options.MaxAge = 3600
		case "/registry":
			s.Values["via"] = "registry"
			useRegistry = true
		case "/big":
			s.Values["big"] = strings.Repeat("x", 10000)
		case "/browser":
			s.Options.MaxAge = 0
		case "/delete":
			s.Options.MaxAge = -1
		}
		for k, v := range s.Values {
			obs.Values = append(obs.Values, fmt.Sprintf("%#v=%#v", k, v))
		}
		sort.Strings(obs.Values)
		if useRegistry {
			err = sessions.Save(r, w)
		} else {
			err = s.Save(r, w)
		}
		if err != nil {
			obs.SaveErr = err.Error()
		}
		json.NewEncoder(w).Encode(obs)
	})
}

type client struct {
	t   *testing.T
	srv *httptest.Server
	jar http.CookieJar
}

func newClient(t *testing.T, h http.Handler) *client {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	jar, _ := cookiejar.New(nil)
	return &client{t: t, srv: srv, jar: jar}
}

// do runs one step: a request to path, or for "tamper" a request to /read
// with the session cookie's value altered.
func (c *client) do(path string) observation {
	c.t.Helper()
	if path == "tamper" {
		u, _ := url.Parse(c.srv.URL)
		for _, ck := range c.jar.Cookies(u) {
			c.jar.SetCookies(u, []*http.Cookie{{Name: ck.Name, Value: "x" + ck.Value[1:]}})
		}
		path = "/read"
	}
	hc := &http.Client{Jar: c.jar}
	res, err := hc.Get(c.srv.URL + path)
	if err != nil {
		c.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	var obs observation
	if err := json.Unmarshal(b, &obs); err != nil {
		c.t.Fatalf("%s: %q: %v", path, b, err)
	}
	// The client's view: every cookie attribute but the value and the
	// absolute Expires time (both differ by nature).
	for _, h := range res.Header.Values("Set-Cookie") {
		sc, err := http.ParseSetCookie(h)
		if err != nil {
			c.t.Fatalf("%s: bad Set-Cookie %q: %v", path, h, err)
		}
		obs.SetCookie = append(obs.SetCookie, fmt.Sprintf("name=%s value=%v path=%s maxage=%d expires=%v httponly=%v secure=%v samesite=%v",
			sc.Name, sc.Value != "", sc.Path, sc.MaxAge, sc.RawExpires != "", sc.HttpOnly, sc.Secure, sc.SameSite))
	}
	u, _ := url.Parse(c.srv.URL)
	for _, ck := range c.jar.Cookies(u) {
		obs.JarHas = obs.JarHas || ck.Name == "app"
	}
	return obs
}

func openBolt(t *testing.T, now func() time.Time) *boltsession.BoltStore {
	t.Helper()
	bs, err := boltsession.Open(filepath.Join(t.TempDir(), "sessions.db"), &boltsession.BoltOptions{Now: now, SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bs.Close() })
	return bs
}

// TestStoreBehavesLikeFilesystemStore runs one request sequence against
// FilesystemStore and against gorillastore and compares, step by step, what
// the handler saw and what the client received.
func TestStoreBehavesLikeFilesystemStore(t *testing.T) {
	setups := map[string]func(opts *sessions.Options, maxAge func(int)){
		"defaults": func(*sessions.Options, func(int)) {},
		"options set": func(o *sessions.Options, _ func(int)) {
			o.HttpOnly = true
			o.SameSite = http.SameSiteLaxMode
			o.Path = "/"
		},
		"store MaxAge": func(o *sessions.Options, maxAge func(int)) { maxAge(7200) },
	}
	for name, setup := range setups {
		t.Run(name, func(t *testing.T) {
			fsStore := sessions.NewFilesystemStore(t.TempDir(), hashKey, blockKey)
			setup(fsStore.Options, fsStore.MaxAge)
			ours, err := New(t.TempDir(), hashKey, blockKey)
			if err != nil {
				t.Fatal(err)
			}
			defer ours.Close()
			setup(ours.Options, ours.MaxAge)

			steps := []string{"/read", "/set", "/read", "/flash", "/flashes", "/flashes", "/maxage", "/read",
				"/registry", "/read", "/delete", "/read", "/set", "/read", "tamper", "/read", "/set"}
			want := newClient(t, appHandler(fsStore))
			got := newClient(t, appHandler(ours))
			for i, step := range steps {
				w, g := want.do(step), got.do(step)
				if !reflect.DeepEqual(w, g) {
					t.Fatalf("step %d %s:\nFilesystemStore: %+v\ngorillastore:    %+v", i, step, w, g)
				}
			}
			// The sequence must have exercised what it claims to.
			if obs := got.do("/read"); obs.IsNew || len(obs.Values) != 3 {
				t.Fatalf("final read: %+v", obs)
			}
		})
	}
}

func TestStoreRoundTripsGobRegisteredValuesExactly(t *testing.T) {
	s, err := New(t.TempDir(), hashKey)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c := newClient(t, appHandler(s))
	c.do("/set")
	obs := c.do("/read")
	want := []string{
		`"profile"=gorillastore.Profile{Name:"Alice", Roles:[]string{"admin"}, Since:time.Date(2020, time.January, 2, 3, 4, 5, 0, time.UTC)}`,
		`"user"="alice"`,
		`42=3.5`,
	}
	if obs.IsNew || !reflect.DeepEqual(obs.Values, want) {
		t.Fatalf("read back %+v, want %v", obs, want)
	}
}

// FilesystemStore deletes a session saved with MaxAge 0; gorillastore keeps
// it and sends a browser-session cookie, as gorilla's Options documents.
func TestStoreMaxAgeZeroIsABrowserSessionCookie(t *testing.T) {
	now := time.Now()
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	bs := openBolt(t, clock)
	s := NewStore(bs, hashKey)
	s.Now = clock
	s.BrowserSessionTTL = time.Hour
	s.Options.MaxAge = 0
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	c := newClient(t, appHandler(s))
	obs := c.do("/set")
	if len(obs.SetCookie) != 1 || !strings.Contains(obs.SetCookie[0], "value=true") || !strings.Contains(obs.SetCookie[0], "maxage=0 expires=false") {
		t.Fatalf("browser-session save sent %v", obs.SetCookie)
	}
	// Each save keeps it BrowserSessionTTL longer.
	advance(45 * time.Minute)
	if obs := c.do("/read"); obs.IsNew || len(obs.Values) != 3 {
		t.Fatalf("45 minutes after a MaxAge 0 save: %+v", obs)
	}
	advance(45 * time.Minute)
	if obs := c.do("/read"); obs.IsNew || len(obs.Values) != 3 {
		t.Fatalf("45 minutes after the next save: %+v", obs)
	}
	advance(61 * time.Minute)
	if obs := c.do("/read"); !obs.IsNew || obs.GetErr || len(obs.Values) != 0 {
		t.Fatalf("BrowserSessionTTL after the last save: %+v", obs)
	}
	// FilesystemStore deletes on MaxAge 0 instead.
	fsStore := sessions.NewFilesystemStore(t.TempDir(), hashKey)
	fsStore.Options.MaxAge = 0
	fc := newClient(t, appHandler(fsStore))
	fc.do("/set")
	if obs := fc.do("/read"); !obs.IsNew {
		t.Fatalf("FilesystemStore kept a MaxAge 0 session: %+v", obs)
	}
}

func TestStoreHasNoServerSideSizeLimit(t *testing.T) {
	s, err := New(t.TempDir(), hashKey, blockKey)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c := newClient(t, appHandler(s))
	if obs := c.do("/big"); obs.SaveErr != "" {
		t.Fatalf("10 kB session: %s", obs.SaveErr)
	}
	if obs := c.do("/read"); obs.IsNew || len(obs.Values) != 1 || len(obs.Values[0]) < 10000 {
		t.Fatalf("10 kB session read back as %d values", len(obs.Values))
	}
	// FilesystemStore refuses the same session.
	fsStore := sessions.NewFilesystemStore(t.TempDir(), hashKey, blockKey)
	if obs := newClient(t, appHandler(fsStore)).do("/big"); !strings.Contains(obs.SaveErr, "too long") {
		t.Fatalf("FilesystemStore saved a 10 kB session: %+v", obs.SaveErr)
	}
}

func TestStoreSweepsExpiredSessionsAndStartsFresh(t *testing.T) {
	now := time.Now()
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	bs := openBolt(t, clock)
	s := NewStore(bs, hashKey)
	s.Now = clock
	s.MaxAge(0) // no cookie timestamp check: the server record decides
	s.Options.MaxAge = 60
	c := newClient(t, appHandler(s))
	c.do("/set")
	mu.Lock()
	now = now.Add(2 * time.Minute)
	mu.Unlock()
	res, err := bs.Sweep(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := bs.Count(context.Background()); n != 0 {
		t.Fatalf("after a sweep %d sessions are left (%+v)", n, res)
	}
	// The browser still holds the cookie (the jar has no clock); the
	// session it names is gone: a fresh session, not an error.
	obs := c.do("/read")
	if !obs.IsNew || obs.GetErr || len(obs.Values) != 0 {
		t.Fatalf("request with an expired session's cookie: %+v", obs)
	}
}

func TestStoreIsSafeForConcurrentRequests(t *testing.T) {
	s, err := New(t.TempDir(), hashKey)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	srv := httptest.NewServer(appHandler(s))
	defer srv.Close()
	var wg sync.WaitGroup
	var failures atomic.Int32
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &client{t: t, srv: srv}
			c.jar, _ = cookiejar.New(nil)
			for _, step := range []string{"/set", "/read", "/flash", "/flashes", "/read"} {
				obs := c.do(step)
				if obs.GetErr || obs.SaveErr != "" || (step != "/set" && obs.IsNew) {
					failures.Add(1)
					t.Errorf("client %d %s: %+v", i, step, obs)
				}
			}
		}()
	}
	wg.Wait()
}

// A request that loaded a session before a concurrent logout cannot bring
// it back by saving (FilesystemStore would rewrite the file).
func TestStoreSaveDoesNotResurrectADeletedSession(t *testing.T) {
	bs := openBolt(t, nil)
	s := NewStore(bs, hashKey)
	c := newClient(t, appHandler(s))
	c.do("/set")
	u, _ := url.Parse(c.srv.URL)
	cookie := c.jar.Cookies(u)[0]

	req := httptest.NewRequest("GET", "/", nil)
	req.AddCookie(cookie)
	slow, err := s.New(req, "app")
	if err != nil || slow.IsNew {
		t.Fatalf("load: %v, new %v", err, slow.IsNew)
	}
	c.do("/delete")
	slow.Values["user"] = "mallory"
	rec := httptest.NewRecorder()
	if err := s.Save(req, rec, slow); !errors.Is(err, boltsession.ErrEnded) {
		t.Fatalf("Save of a session deleted meanwhile: %v, want ErrEnded: the change did not land", err)
	}
	if n, _ := bs.Count(context.Background()); n != 0 || len(rec.Result().Cookies()) != 0 {
		t.Fatalf("the deleted session came back: %d records, cookies %v", n, rec.Result().Cookies())
	}
}

func TestStoreRefusesACookieSignedWithAnotherKey(t *testing.T) {
	a, err := New(t.TempDir(), hashKey)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b := NewStore(a.Backend(), []byte("another hash key, 32 bytes long!"))
	ca := newClient(t, appHandler(a))
	ca.do("/set")
	u, _ := url.Parse(ca.srv.URL)
	req := httptest.NewRequest("GET", "/", nil)
	req.AddCookie(ca.jar.Cookies(u)[0])
	s, err := b.New(req, "app")
	if err == nil || !s.IsNew || len(s.Values) != 0 {
		t.Fatalf("foreign cookie: err %v, new %v, values %v", err, s.IsNew, s.Values)
	}
}

func TestNewUsesADirectoryPathAsFilesystemStoreDoes(t *testing.T) {
	dir := t.TempDir()
	s, err := New(dir, hashKey)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := s.bolt.Path(); got != filepath.Join(dir, DefaultFileName) {
		t.Fatalf("path %q", got)
	}
	if _, err := New("", hashKey); err == nil {
		t.Fatal("empty path accepted")
	}
	if _, err := New(filepath.Join(dir, "x.db")); err == nil {
		t.Fatal("no keys accepted")
	}
}

// A request whose context is cancelled or past its deadline by the time it
// loads (behind a timeout middleware) still gets its session: with gorilla's
// usual `session, _ := store.Get(r, name)`, an empty new session here would
// be saved under a new ID and sign the user out.
func TestStoreLoadsTheSessionOfACancelledRequest(t *testing.T) {
	bs := openBolt(t, nil)
	s := NewStore(bs, hashKey)
	c := newClient(t, appHandler(s))
	c.do("/set")
	u, _ := url.Parse(c.srv.URL)
	cookie := c.jar.Cookies(u)[0]

	for name, ctx := range map[string]func() context.Context{
		"cancelled": func() context.Context {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return ctx
		},
		"past its deadline": func() context.Context {
			ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
			t.Cleanup(cancel)
			return ctx
		},
	} {
		req := httptest.NewRequest("GET", "/", nil).WithContext(ctx())
		req.AddCookie(cookie)
		session, err := s.New(req, "app")
		if err != nil || session.IsNew || session.Values["user"] == nil {
			t.Fatalf("%s request: err %v, new %v, values %v; want the stored session", name, err, session.IsNew, session.Values)
		}
	}
}

func TestNewRefusesAMissingDirectoryInsteadOfCreatingAFileThere(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct{ name, path, says string }{
		{"missing FilesystemStore directory", filepath.Join(dir, "sessions"), "directory " + filepath.Join(dir, "sessions") + " does not exist; create it first"},
		{"missing directory, trailing separator", filepath.Join(dir, "sessions.d") + string(filepath.Separator), "does not exist; create it first"},
		{"file in a missing directory", filepath.Join(dir, "nodir", "sessions.db"), "directory " + filepath.Join(dir, "nodir") + " of the database"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, err := New(c.path, hashKey)
			if err == nil {
				s.Close()
				t.Fatalf("New(%q) succeeded", c.path)
			}
			if !errors.Is(err, fs.ErrNotExist) || !strings.HasPrefix(err.Error(), "gorillastore: ") || !strings.Contains(err.Error(), c.says) {
				t.Fatalf("New(%q) = %v; want a gorillastore: error wrapping fs.ErrNotExist that says %q", c.path, err, c.says)
			}
		})
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("refused paths left %d entries behind", len(entries))
	}

	// What New accepts: an existing directory, an existing file of any
	// name, a new file name with an extension.
	existing := filepath.Join(dir, "sessionsfile")
	bs, err := boltsession.Open(existing, nil)
	if err != nil {
		t.Fatal(err)
	}
	bs.Close()
	for path, want := range map[string]string{
		dir:                            filepath.Join(dir, DefaultFileName),
		existing:                       existing,
		filepath.Join(dir, "fresh.db"): filepath.Join(dir, "fresh.db"),
	} {
		s, err := New(path, hashKey)
		if err != nil {
			t.Fatalf("New(%q): %v", path, err)
		}
		got := s.bolt.Path()
		s.Close()
		if got != want {
			t.Fatalf("New(%q) opened %q, want %q", path, got, want)
		}
		if fi, err := os.Stat(want); err != nil || !fi.Mode().IsRegular() {
			t.Fatalf("%s after New: %v", want, err)
		}
	}
}

func TestNewRefusesToStartWithoutAHashKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.db")
	for _, keys := range [][][]byte{nil, {nil}, {{}, []byte("block key of 16b")}} {
		if s, err := New(path, keys...); err == nil || !strings.Contains(err.Error(), "needs the key pairs") {
			if s != nil {
				s.Close()
			}
			t.Fatalf("New with keys %q: %v; want a refusal naming the key pairs", keys, err)
		}
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("a refused New created %s", path)
	}
}

// TestStoreWithABlockKeyEncryptsValuesAtRest: FilesystemStore encrypts the
// files it writes when it is given a block key; the drop-in must not keep
// the same values in clear in sessions.db.
func TestStoreWithABlockKeyEncryptsValuesAtRest(t *testing.T) {
	dir := t.TempDir()
	s, err := New(dir, hashKey, blockKey)
	if err != nil {
		t.Fatal(err)
	}
	c := newClient(t, appHandler(s))
	c.do("/set") // stores "alice" and a profile
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, DefaultFileName))
	if err != nil {
		t.Fatal(err)
	}
	for _, clear := range []string{"alice", "Alice", "admin"} {
		if strings.Contains(string(raw), clear) {
			t.Errorf("the database holds %q in clear", clear)
		}
	}
	if _, err := New(dir, hashKey); !errors.Is(err, boltsession.ErrKey) {
		t.Fatalf("New without the block key: %v, want ErrKey", err)
	}
	s, err = New(dir, hashKey, blockKey)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c.srv.Config.Handler = appHandler(s) // the same browser, the reopened store
	if obs := c.do("/read"); obs.IsNew || !strings.Contains(strings.Join(obs.Values, " "), "alice") {
		t.Fatalf("after reopening with the block key the session reads %+v", obs)
	}
}
