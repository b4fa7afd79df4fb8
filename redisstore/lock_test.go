package redisstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/boltsession/boltsession"
	"github.com/redis/go-redis/v9"
)

// otherProcess returns a second Store on the fixture's Redis through a
// client of its own, as another process would have.
func (f *fixture) otherProcess(t *testing.T, opts *Options) *Store {
	t.Helper()
	client := redis.NewClient(&redis.Options{Addr: f.srv.Addr})
	t.Cleanup(func() { client.Close() })
	return New(client, opts)
}

func TestLockSessionExcludesOtherProcessesUntilReleased(t *testing.T) {
	f := newFixture(t, nil)
	other := f.otherProcess(t, nil)
	ctx := context.Background()

	unlock, err := f.store.LockSession(ctx, "id1", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.LockSession(ctx, "id1", 20*time.Millisecond); !errors.Is(err, boltsession.ErrBusy) {
		t.Fatalf("second process took a held lock: %v", err)
	}
	// Other sessions are not held up.
	if u, err := other.LockSession(ctx, "id2", time.Millisecond); err != nil {
		t.Fatalf("lock of another session: %v", err)
	} else {
		u()
	}
	unlock()
	unlock() // harmless
	u, err := other.LockSession(ctx, "id1", time.Second)
	if err != nil {
		t.Fatalf("lock after release: %v", err)
	}
	u()
	if n, err := f.client.Exists(ctx, "sess:{"+boltsession.Handle("id1")+"}:lock", "sess:{"+boltsession.Handle("id2")+"}:lock").Result(); err != nil || n != 0 {
		t.Fatalf("%d lock keys left (%v)", n, err)
	}
}

func TestLockSessionWaitsForARelease(t *testing.T) {
	f := newFixture(t, nil)
	other := f.otherProcess(t, nil)
	ctx := context.Background()
	unlock, err := f.store.LockSession(ctx, "id", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		time.Sleep(20 * time.Millisecond)
		unlock()
	}()
	u, err := other.LockSession(ctx, "id", 10*time.Second)
	if err != nil {
		t.Fatalf("waiter: %v", err)
	}
	u()
}

func TestLockOfADeadProcessExpiresAfterLockTTL(t *testing.T) {
	f := newFixture(t, &Options{LockTTL: 100 * time.Millisecond})
	other := f.otherProcess(t, &Options{LockTTL: 100 * time.Millisecond})
	ctx := context.Background()
	if _, err := f.store.LockSession(ctx, "id", time.Second); err != nil {
		t.Fatal(err)
	}
	// Never released: the holder "died". The other process gets it once
	// Redis has expired the key.
	u, err := other.LockSession(ctx, "id", 5*time.Second)
	if err != nil {
		t.Fatalf("lock of a dead holder never expired: %v", err)
	}
	u()
}

func TestExpiredHolderCannotReleaseTheNextHoldersLock(t *testing.T) {
	f := newFixture(t, &Options{LockTTL: 50 * time.Millisecond})
	other := f.otherProcess(t, nil) // default LockTTL: holds long enough
	ctx := context.Background()
	late, err := f.store.LockSession(ctx, "id", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	next, err := other.LockSession(ctx, "id", 5*time.Second) // after the first expired
	if err != nil {
		t.Fatal(err)
	}
	defer next()
	late() // the first holder finishes late: must not free the lock
	if _, err := f.store.LockSession(ctx, "id", 20*time.Millisecond); !errors.Is(err, boltsession.ErrBusy) {
		t.Fatalf("a late release freed another holder's lock: %v", err)
	}
}

func TestLockSessionRefusesReservedIDs(t *testing.T) {
	f := newFixture(t, nil)
	for _, id := range []string{"owner:x", "lock:x"} {
		if _, err := f.store.LockSession(context.Background(), id, time.Millisecond); err == nil {
			t.Errorf("LockSession(%q) accepted a reserved ID", id)
		}
		if err := f.store.Save(context.Background(), boltsession.Update{ID: id, Create: true, Expires: time.Now().Add(time.Hour)}); err == nil {
			t.Errorf("Save(%q) accepted a reserved ID", id)
		}
	}
}

// TestSerializeAcrossTwoProcessesKeepsEveryIncrement is issue 7's lost-update
// test on Redis: two Managers (two processes) on one Redis, Serialize on,
// 32 clients sharing one session cookie, 16 on each, incrementing one
// counter concurrently for 50 rounds: every increment is kept.
func TestSerializeAcrossTwoProcessesKeepsEveryIncrement(t *testing.T) {
	f := newFixture(t, &Options{Now: time.Now})
	stores := []*Store{f.store, f.otherProcess(t, nil)}
	key := bytes.Repeat([]byte{9}, 32)
	var servers []*httptest.Server
	for _, st := range stores {
		m, err := boltsession.New(st, boltsession.Options{Keys: [][]byte{key}, Serialize: true, LockTimeout: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			s := boltsession.FromContext(r.Context())
			n, err := boltsession.Get[int](s, "n")
			if err != nil && !errors.Is(err, boltsession.ErrNoValue) {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			if err := s.Set("n", n+1); err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			fmt.Fprint(w, n+1)
		})))
		t.Cleanup(srv.Close)
		servers = append(servers, srv)
	}
	get := func(c *http.Client, base string) (int, error) {
		resp, err := c.Get(base)
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			return 0, fmt.Errorf("%d %s", resp.StatusCode, b)
		}
		return strconv.Atoi(string(b))
	}

	first, _ := cookiejar.New(nil)
	if n, err := get(&http.Client{Jar: first}, servers[0].URL); err != nil || n != 1 {
		t.Fatalf("first increment: %d %v", n, err)
	}
	// Cookies do not depend on the port, so one cookie serves both servers.
	u0, _ := url.Parse(servers[0].URL)
	const clients, rounds = 32, 50
	type client struct {
		http *http.Client
		base string
	}
	var cs []client
	for i := range clients {
		jar, _ := cookiejar.New(nil)
		jar.SetCookies(u0, first.Cookies(u0))
		cs = append(cs, client{&http.Client{Jar: jar}, servers[i%2].URL})
	}
	for range rounds {
		var wg sync.WaitGroup
		for _, c := range cs {
			wg.Go(func() {
				if _, err := get(c.http, c.base); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		if t.Failed() {
			t.FailNow()
		}
	}
	n, err := get(&http.Client{Jar: first}, servers[1].URL)
	if err != nil {
		t.Fatal(err)
	}
	if want := 1 + clients*rounds + 1; n != want {
		t.Fatalf("counter %d after %d increments: %d lost", n, want, want-n)
	}
}

func TestCreateLegacyLocksBothLayoutsSoProcessesOfTheEarlierReleaseAreExcluded(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	rollout := f.otherProcess(t, &Options{CreateLegacy: true})
	// A process of the earlier release holds the legacy lock.
	if err := f.client.Set(ctx, "sess:lock:id", "old", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := rollout.LockSession(ctx, "id", 20*time.Millisecond); !errors.Is(err, boltsession.ErrBusy) {
		t.Fatalf("lock while an old process holds it: %v, want ErrBusy", err)
	}
	f.client.Del(ctx, "sess:lock:id")
	unlock, err := rollout.LockSession(ctx, "id", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	// Held under both names: an old process and a new one are both kept out.
	if n, _ := f.client.Exists(ctx, "sess:lock:id", "sess:{"+boltsession.Handle("id")+"}:lock").Result(); n != 2 {
		t.Fatalf("%d of the two lock keys held", n)
	}
	if _, err := f.store.LockSession(ctx, "id", 20*time.Millisecond); !errors.Is(err, boltsession.ErrBusy) {
		t.Fatalf("a process of this release took the lock: %v", err)
	}
	unlock()
	if n, _ := f.client.Exists(ctx, "sess:lock:id", "sess:{"+boltsession.Handle("id")+"}:lock").Result(); n != 0 {
		t.Fatalf("%d lock keys left after the release", n)
	}
}
