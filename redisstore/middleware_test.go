package redisstore

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/boltsession/boltsession"
)

// TestMiddlewareAnswers500WhileRedisIsDownAndRecovers drives a Manager on
// the Redis store through real HTTP round trips: a counter works, a Redis
// outage reaches Options.ErrorHandler (500) instead of a panic or a silent
// drop, and the same client is served again once Redis is back.
func TestMiddlewareAnswers500WhileRedisIsDownAndRecovers(t *testing.T) {
	f := newFixture(t, &Options{Now: time.Now})
	var (
		mu     sync.Mutex
		errs   []error
		served int
	)
	m, err := boltsession.New(f.store, boltsession.Options{
		Keys: [][]byte{bytes.Repeat([]byte{7}, 32)},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			mu.Lock()
			errs = append(errs, err)
			mu.Unlock()
			http.Error(w, "session store unavailable", http.StatusInternalServerError)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		served++
		mu.Unlock()
		s := boltsession.FromContext(r.Context())
		n, _ := boltsession.Get[int](s, "n")
		if err := s.Set("n", n+1); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		fmt.Fprint(w, n+1)
	})))
	defer srv.Close()

	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	get := func(c *http.Client) (int, string) {
		t.Helper()
		resp, err := c.Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}

	for want := 1; want <= 2; want++ {
		if code, body := get(client); code != 200 || body != fmt.Sprint(want) {
			t.Fatalf("request %d: %d %q", want, code, body)
		}
	}

	f.srv.Stop()
	mu.Lock()
	servedBefore := served
	mu.Unlock()
	// With a cookie: Load fails, the handler must not run.
	if code, body := get(client); code != http.StatusInternalServerError || body != "session store unavailable\n" {
		t.Fatalf("with Redis down: %d %q, want 500 from the ErrorHandler", code, body)
	}
	mu.Lock()
	if served != servedBefore {
		t.Fatal("handler ran although the session could not be loaded")
	}
	mu.Unlock()
	// Without a cookie: the handler runs, the save at the commit point fails.
	fresh := &http.Client{Timeout: 10 * time.Second}
	if code, _ := get(fresh); code != http.StatusInternalServerError {
		t.Fatalf("new session with Redis down: %d, want 500", code)
	}
	mu.Lock()
	if len(errs) != 2 {
		t.Fatalf("ErrorHandler called %d times, want 2: %v", len(errs), errs)
	}
	for _, err := range errs {
		if errors.Is(err, boltsession.ErrNotFound) {
			t.Errorf("outage reported as a missing session: %v", err)
		}
	}
	mu.Unlock()

	// Redis comes back empty (no persistence in the test server): the old
	// cookie names a missing session, so the count starts again at 1, and
	// goes on from there.
	f.srv.Restart()
	if code, body := get(client); code != 200 || body != "1" {
		t.Fatalf("after restart: %d %q, want 200 \"1\"", code, body)
	}
	if code, body := get(client); code != 200 || body != "2" {
		t.Fatalf("second request after restart: %d %q, want 200 \"2\"", code, body)
	}
}
