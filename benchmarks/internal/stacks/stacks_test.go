package stacks

import (
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/boltsession/boltsession"
	"github.com/boltsession/boltsession/benchmarks/internal/redisserver"
)

var hashKey = []byte("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")

// TestEveryStackServesTheSameApp drives each stack over real HTTP with a
// cookie jar: a seeded session counts up and reads back, and a request
// without a session gets 404 on /read and /count (except the no-session
// stack, which has no sessions to miss).
func TestEveryStackServesTheSameApp(t *testing.T) {
	var redisAddr string
	parent := t
	for _, name := range Names() {
		t.Run(name, func(t *testing.T) {
			cfg := Config{Dir: t.TempDir(), HashKey: hashKey}
			if NeedsRedis(name) {
				if redisAddr == "" {
					srv, err := redisserver.Start()
					if err != nil {
						if os.Getenv("BOLTSESSION_REQUIRE_REDIS") == "1" {
							t.Fatal(err)
						}
						t.Skipf("skipped: %v (apt-get install redis-server; BOLTSESSION_REQUIRE_REDIS=1 makes this a failure)", err)
					}
					parent.Cleanup(srv.Stop) // shared by the Redis stacks
					redisAddr = srv.Addr
				}
				cfg.RedisAddr = redisAddr
			}
			st, err := New(name, cfg)
			if err != nil {
				t.Fatal(err)
			}
			ts := httptest.NewServer(st.Handler)
			t.Cleanup(func() {
				ts.Close()
				if err := st.Close(); err != nil {
					t.Error(err)
				}
			})
			jar, _ := cookiejar.New(nil)
			c := &http.Client{Jar: jar}

			handled := 2 // /handled counts the /count requests answered 200
			if name != "no-session" {
				for _, path := range []string{"/read", "/count"} {
					if code, _ := get(t, http.DefaultClient, ts.URL+path); code != http.StatusNotFound {
						t.Errorf("%s without a session: status %d, want 404", path, code)
					}
				}
			}
			want := []struct{ path, body string }{
				{"/seed", `{"count":0}`},
				{"/count", `{"count":1}`},
				{"/count", `{"count":2}`},
				{"/read", `{"count":2}`},
				{"/read", `{"count":2}`},
			}
			want = append(want, struct{ path, body string }{"/handled", fmt.Sprintf(`{"count":%d}`, handled)})
			for _, w := range want {
				code, body := get(t, c, ts.URL+w.path)
				if code != http.StatusOK || strings.TrimSpace(body) != w.body {
					t.Fatalf("GET %s: %d %q, want 200 %s", w.path, code, body, w.body)
				}
			}
		})
	}
}

func get(t *testing.T, c *http.Client, url string) (int, string) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

func TestNewRefusesUnknownStackAndMissingRedis(t *testing.T) {
	if _, err := New("no-such-stack", Config{}); err == nil {
		t.Error("unknown stack: no error")
	}
	if _, err := New("scs-redisstore", Config{Dir: t.TempDir()}); err == nil {
		t.Error("Redis stack without an address: no error")
	}
}

func TestValuesAreSixteenBytes(t *testing.T) {
	for i := range ValueCount {
		if got := len(Value(i)); got != 16 {
			t.Fatalf("Value(%d) is %d bytes: %q", i, got, Value(i))
		}
	}
	if ValueKey(3) != fmt.Sprint("k", 3) {
		t.Fatalf("ValueKey(3) = %q", ValueKey(3))
	}
}

// TestBoltsessionReadWritesNothing checks the claim the /read figures rest
// on: a read of an existing session inside TouchAfter makes no write
// transaction at all (so no fsync), while /count commits its save.
func TestBoltsessionReadWritesNothing(t *testing.T) {
	store, err := boltsession.Open(filepath.Join(t.TempDir(), "s.db"), &boltsession.BoltOptions{SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	h, err := boltsessionApp(store, Config{HashKey: hashKey}, false)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	if code, body := get(t, c, ts.URL+"/seed"); code != http.StatusOK {
		t.Fatalf("/seed: %d %s", code, body)
	}
	before := store.Stats()
	for range 100 {
		if code, body := get(t, c, ts.URL+"/read"); code != http.StatusOK {
			t.Fatalf("/read: %d %s", code, body)
		}
	}
	if after := store.Stats(); after.Commits != before.Commits || after.Writes != before.Writes {
		t.Fatalf("100 reads made %d commits and %d writes, want none",
			after.Commits-before.Commits, after.Writes-before.Writes)
	}
	if code, body := get(t, c, ts.URL+"/count"); code != http.StatusOK {
		t.Fatalf("/count: %d %s", code, body)
	}
	if after := store.Stats(); after.Writes != before.Writes+1 {
		t.Fatalf("/count made %d writes, want 1", after.Writes-before.Writes)
	}
}
