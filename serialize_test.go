package boltsession

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// hammerCounter runs rounds of 32 concurrent increments of one session's
// counter, each client with its own cookie jar holding the same session
// cookie, and returns the count the store ends with.
func hammerCounter(t *testing.T, opts Options, rounds int) (got, want int) {
	t.Helper()
	e := newEnv(t, opts)
	// This test is about lost updates on a real fsynced file.
	e.store.BoltStore.Close()
	bs, err := Open(filepath.Join(t.TempDir(), "fsync.db"), &BoltOptions{Now: e.clock.Now, SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bs.Close() })
	e.store.BoltStore = bs

	if got := e.mustGet(nil, "/incr"); got != "1" {
		t.Fatalf("first increment: %s", got)
	}
	u, err := url.Parse(e.srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	const clients = 32
	jars := make([]*http.Client, clients)
	for i := range jars {
		jar, err := cookiejar.New(nil)
		if err != nil {
			t.Fatal(err)
		}
		jar.SetCookies(u, e.client.Jar.Cookies(u))
		c := *e.srv.Client()
		c.Jar = jar
		jars[i] = &c
	}
	for range rounds {
		var wg sync.WaitGroup
		for _, c := range jars {
			wg.Go(func() {
				if r := e.get(c, "/incr"); r.status != http.StatusOK {
					t.Errorf("increment: %d %q", r.status, r.body)
				}
			})
		}
		wg.Wait()
		if t.Failed() {
			t.FailNow()
		}
	}
	n, err := strconv.Atoi(e.mustGet(nil, "/get?k=views"))
	if err != nil {
		t.Fatal(err)
	}
	return n, 1 + clients*rounds
}

func TestSerializeKeepsEveryConcurrentIncrement(t *testing.T) {
	got, want := hammerCounter(t, Options{Serialize: true, LockTimeout: time.Minute}, 50)
	if got != want {
		t.Fatalf("counter = %d after %d increments: %d lost under Serialize", got, want, want-got)
	}
}

// TestWithoutSerializeConcurrentIncrementsAreLost documents why Serialize
// exists; it only logs, since how many are lost depends on scheduling.
func TestWithoutSerializeConcurrentIncrementsAreLost(t *testing.T) {
	got, want := hammerCounter(t, Options{}, 5)
	t.Logf("without Serialize: %d of %d increments kept", got, want)
}

func TestSerializeWaitPastLockTimeoutIs503WithRetryAfter(t *testing.T) {
	var handled []error
	var mu sync.Mutex
	for _, custom := range []bool{false, true} {
		opts := Options{Serialize: true, LockTimeout: 50 * time.Millisecond}
		if custom {
			opts.ErrorHandler = func(w http.ResponseWriter, r *http.Request, err error) {
				mu.Lock()
				handled = append(handled, err)
				mu.Unlock()
				http.Error(w, "busy", http.StatusTeapot)
			}
		}
		e := newEnv(t, opts)
		g := newGate()
		e.mux.HandleFunc("/hold", func(w http.ResponseWriter, r *http.Request) {
			close(g.loaded)
			<-g.release
		})
		e.mustGet(nil, "/incr")
		done := make(chan response)
		go func() { done <- e.get(nil, "/hold") }()
		<-g.loaded

		r := e.get(nil, "/incr")
		other := e.get(e.newClient(), "/incr") // another session is not held up
		close(g.release)
		if held := <-done; held.status != http.StatusOK {
			t.Fatalf("the holding request: %d", held.status)
		}
		if other.status != http.StatusOK {
			t.Errorf("a request on another session: %d %q", other.status, other.body)
		}
		if custom {
			if r.status != http.StatusTeapot || len(handled) != 1 || !errors.Is(handled[0], ErrBusy) {
				t.Errorf("custom ErrorHandler: status %d, errors %v", r.status, handled)
			}
		} else if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" {
			t.Errorf("waiting past LockTimeout: %d, Retry-After %q; want 503 with Retry-After", r.status, r.header.Get("Retry-After"))
		}
		// The lock is free again: the waiter's increment did not happen,
		// the next one does.
		if got := e.mustGet(nil, "/incr"); got != "2" {
			t.Errorf("after the lock was released: views %s, want 2", got)
		}
		if n := e.m.locks.len(); n != 0 {
			t.Errorf("%d lock entries left", n)
		}
	}
}

func TestSerializeReleasesTheLockWhenTheHandlerPanics(t *testing.T) {
	e := newEnv(t, Options{Serialize: true, LockTimeout: time.Second})
	e.mux.HandleFunc("/panic", func(w http.ResponseWriter, r *http.Request) {
		panic(http.ErrAbortHandler) // the server recovers it without logging
	})
	e.mustGet(nil, "/incr")
	req, _ := http.NewRequest(http.MethodGet, e.srv.URL+"/panic", nil)
	if resp, err := e.client.Do(req); err == nil {
		resp.Body.Close()
	}
	if got := e.mustGet(nil, "/incr"); got != "2" {
		t.Fatalf("after a panicking handler: %s", got)
	}
}

func TestNegativeLockTimeoutIsRefused(t *testing.T) {
	if _, err := New(openBolt(t), Options{Keys: [][]byte{testHashKey}, Serialize: true, LockTimeout: -time.Second}); err == nil {
		t.Fatal("New accepted a negative LockTimeout")
	}
}

// lockingStore is a BoltStore with a SessionLocker that counts its calls
// and can report every session busy.
type lockingStore struct {
	*BoltStore
	calls, held atomic.Int64
	busy        atomic.Bool
}

func (l *lockingStore) LockSession(ctx context.Context, id string, wait time.Duration) (func(), error) {
	l.calls.Add(1)
	if l.busy.Load() {
		return nil, fmt.Errorf("%w: held elsewhere", ErrBusy)
	}
	l.held.Add(1)
	var once sync.Once
	return func() { once.Do(func() { l.held.Add(-1) }) }, nil
}

func TestSerializeTakesTheStoresLockWhenItHasOne(t *testing.T) {
	store := &lockingStore{BoltStore: openBolt(t)}
	m, err := New(store, Options{Keys: [][]byte{testHashKey}, Serialize: true})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := FromContext(r.Context())
		n, _ := Get[int](s, "n")
		s.Set("n", n+1)
		fmt.Fprint(w, n+1)
	})))
	defer srv.Close()
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar}
	get := func() (int, string) {
		t.Helper()
		resp, err := client.Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}

	if code, _ := get(); code != http.StatusOK || store.calls.Load() != 0 {
		t.Fatalf("a request without a session: %d, %d store lock calls", code, store.calls.Load())
	}
	if code, body := get(); code != http.StatusOK || body != "2" || store.calls.Load() != 1 || store.held.Load() != 0 {
		t.Fatalf("with a session: %d %q, %d calls, %d held after the request", code, body, store.calls.Load(), store.held.Load())
	}
	store.busy.Store(true)
	if code, _ := get(); code != http.StatusServiceUnavailable {
		t.Fatalf("store lock busy: %d, want 503", code)
	}
	store.busy.Store(false)
	// The in-process lock was given back when the store's lock failed.
	if code, body := get(); code != http.StatusOK || body != "3" {
		t.Fatalf("after the store's lock was free again: %d %q", code, body)
	}
	if n := m.locks.len(); n != 0 {
		t.Errorf("%d in-process lock entries left", n)
	}
}
