package redisstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/boltsession/boltsession"
	"github.com/boltsession/boltsession/redisstore/redistest"
	"github.com/boltsession/boltsession/storetest"
	"github.com/redis/go-redis/v9"
)

// awaitFresh waits until the store's cache may answer: its tracking
// connection is up and has confirmed itself fresh. It polls with a
// deadline instead of sleeping a guessed time.
func awaitFresh(tb testing.TB, s *Store) {
	tb.Helper()
	for deadline := time.Now().Add(5 * time.Second); !s.CacheStats().Fresh; {
		if time.Now().After(deadline) {
			tb.Fatalf("the cache's tracking connection is not fresh after 5s: %+v", s.CacheStats())
		}
		time.Sleep(time.Millisecond)
	}
}

// awaitHit loads id from s until a Load is answered from the cache: the
// first Load fills it, unless the invalidation of the write that made
// the session arrives after that fill and drops it again.
func awaitHit(t *testing.T, s *Store, id string) {
	t.Helper()
	hits := s.CacheStats().Hits
	for deadline := time.Now().Add(5 * time.Second); s.CacheStats().Hits == hits; {
		if time.Now().After(deadline) {
			t.Fatalf("no Load of %s was a hit within 5s: %+v", id, s.CacheStats())
		}
		if _, err := s.Load(context.Background(), id); err != nil {
			t.Fatal(err)
		}
	}
}

// appServer is one application server: a client of its own and a Store
// on it, as each machine behind a load balancer has.
func appServer(t *testing.T, srv *redistest.Server, opts *Options) *Store {
	t.Helper()
	client := redis.NewClient(&redis.Options{Addr: srv.Addr, ReadTimeout: time.Second, MaxRetries: -1,
		ContextTimeoutEnabled: true, DialerRetries: 1})
	s := New(client, opts)
	t.Cleanup(func() {
		s.Close()
		client.Close()
	})
	if s.cache != nil {
		awaitFresh(t, s)
	}
	return s
}

// withinBound calls read until it reports the state it waits for, or
// until bound has passed since since; then it calls read once more, which
// must see that state: a cached read may lag a write by the bound, never
// more. It returns how many reads saw the state before it.
func withinBound(t *testing.T, since time.Time, bound time.Duration, read func() (bool, string)) int {
	t.Helper()
	n := 0
	for time.Since(since) <= bound {
		n++
		if ok, _ := read(); ok {
			return n
		}
	}
	if ok, got := read(); !ok {
		t.Fatalf("%v after the write, a read still sees %s", time.Since(since), got)
	}
	return n + 1
}

func TestCacheConformance(t *testing.T) {
	f := newFixture(t, nil)
	n := 0
	storetest.Run(t, func(t *testing.T) boltsession.Store {
		n++
		s := New(f.client, &Options{Prefix: "cache" + strconv.Itoa(n) + ":", Cache: &CacheOptions{}})
		t.Cleanup(func() { s.Close() })
		awaitFresh(t, s)
		return s
	})
}

// TestCacheConformanceWithValueKeys runs the shared Store suite with the
// cache on and values sealed at rest: the cache keeps what Load returns,
// the values opened.
func TestCacheConformanceWithValueKeys(t *testing.T) {
	f := newFixture(t, nil)
	n := 0
	storetest.Run(t, func(t *testing.T) boltsession.Store {
		n++
		s := New(f.client, &Options{Prefix: "sealedcache" + strconv.Itoa(n) + ":",
			ValueKeys: [][]byte{testValueKey}, Cache: &CacheOptions{}})
		t.Cleanup(func() { s.Close() })
		awaitFresh(t, s)
		return s
	})
}

// TestCacheLogoutOnOneServerEndsTheSessionOnAnotherAtOnce signs a user in
// on server A over HTTP, reads the session on server B until B serves it
// from its cache, logs out on A and at once reads on B, twenty times: B
// must answer "anonymous" within CacheOptions.MaxStale, and in practice
// on the first read, since Redis sends B the invalidation before it
// answers A's logout.
func TestCacheLogoutOnOneServerEndsTheSessionOnAnotherAtOnce(t *testing.T) {
	srv := redistest.Start(t)
	key := bytes.Repeat([]byte{9}, 32)
	var servers [2]*httptest.Server
	var stores [2]*Store
	for i := range servers {
		stores[i] = appServer(t, srv, &Options{NoLegacy: true, Cache: &CacheOptions{}})
		m, err := boltsession.New(stores[i], boltsession.Options{Keys: [][]byte{key}})
		if err != nil {
			t.Fatal(err)
		}
		mux := http.NewServeMux()
		mux.HandleFunc("/login", func(w http.ResponseWriter, r *http.Request) {
			s := boltsession.FromContext(r.Context())
			if err := s.Regenerate(); err != nil {
				http.Error(w, err.Error(), 500)
				return
			}
			if err := s.Set("user", "ada"); err != nil {
				http.Error(w, err.Error(), 500)
				return
			}
			fmt.Fprint(w, "ok")
		})
		mux.HandleFunc("/whoami", func(w http.ResponseWriter, r *http.Request) {
			u, err := boltsession.Get[string](boltsession.FromContext(r.Context()), "user")
			if errors.Is(err, boltsession.ErrNoValue) {
				u = "anonymous"
			}
			fmt.Fprint(w, u)
		})
		mux.HandleFunc("/logout", func(w http.ResponseWriter, r *http.Request) {
			if err := boltsession.FromContext(r.Context()).Destroy(); err != nil {
				http.Error(w, err.Error(), 500)
				return
			}
			fmt.Fprint(w, "bye")
		})
		servers[i] = httptest.NewServer(m.Middleware(mux))
		t.Cleanup(servers[i].Close)
	}
	a, b := servers[0], servers[1]
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	get := func(srv *httptest.Server, path string) string {
		t.Helper()
		resp, err := client.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d %s", path, resp.StatusCode, body)
		}
		return string(body)
	}
	// The jar drops the cookie that a logout expires; keep it, as a
	// browser tab that sent a request before the logout answered does.
	cookieOf := func() *http.Cookie {
		for _, c := range jar.Cookies(mustURL(t, a.URL)) {
			return c
		}
		t.Fatal("no session cookie after login")
		return nil
	}
	bound := stores[1].cache.opts.MaxStale
	const rounds = 20
	firstTry := 0
	for range rounds {
		if got := get(a, "/login"); got != "ok" {
			t.Fatalf("login: %q", got)
		}
		cookie := cookieOf()
		hits := stores[1].CacheStats().Hits
		for get(b, "/whoami") != "ada" || stores[1].CacheStats().Hits == hits {
			// until B has the session in its cache and answers from it
		}
		if got := get(a, "/logout"); got != "bye" {
			t.Fatalf("logout: %q", got)
		}
		loggedOut := time.Now()
		jar.SetCookies(mustURL(t, b.URL), []*http.Cookie{cookie})
		n := withinBound(t, loggedOut, bound, func() (bool, string) {
			jar.SetCookies(mustURL(t, b.URL), []*http.Cookie{cookie})
			got := get(b, "/whoami")
			return got == "anonymous", "user " + got
		})
		if n == 1 {
			firstTry++
		}
	}
	t.Logf("%d of %d reads on B right after the logout on A saw it at once (bound %v)", firstTry, rounds, bound)
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// TestCacheSeesEveryLifecycleStepOfAnotherServer runs each step that ends
// or changes a session on server A while server B holds the session in
// its cache, and has B read at once: B must see the step within
// MaxStale.
func TestCacheSeesEveryLifecycleStepOfAnotherServer(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	a := appServer(t, srv, &Options{NoLegacy: true, Cache: &CacheOptions{}})
	b := appServer(t, srv, &Options{NoLegacy: true, Cache: &CacheOptions{}})
	admin := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { admin.Close() })
	bound := b.cache.opts.MaxStale

	cases := []struct {
		name string
		step func(t *testing.T, id string) error
		// seen reports whether B's Load of id shows the step.
		seen func(r *boltsession.Record, err error) bool
	}{
		{"SaveIsRead", func(t *testing.T, id string) error {
			return a.Save(ctx, boltsession.Update{ID: id, Set: map[string][]byte{"v": []byte("2")}})
		}, func(r *boltsession.Record, err error) bool { return err == nil && string(r.Values["v"]) == "2" }},
		{"DeleteIsNotFound", func(t *testing.T, id string) error {
			return a.Delete(ctx, id)
		}, notFound},
		{"RegenerateLeavesTheOldIDNotFound", func(t *testing.T, id string) error {
			err := a.Save(ctx, boltsession.Update{ID: id + "-new", Create: true, Replaces: id, Expires: time.Now().Add(time.Hour)})
			if err == nil {
				if r, err := b.Load(ctx, id+"-new"); err != nil || string(r.Values["v"]) != "1" {
					t.Errorf("the new ID on B: %v, %v", r, err)
				}
			}
			return err
		}, notFound},
		{"DestroyOwnerIsNotFound", func(t *testing.T, id string) error {
			n, err := a.DestroyOwner(ctx, "owner-"+id)
			if err == nil && n != 1 {
				err = fmt.Errorf("DestroyOwner ended %d sessions", n)
			}
			return err
		}, notFound},
		{"TouchMovesTheExpiry", func(t *testing.T, id string) error {
			return a.Touch(ctx, id, time.Now().Add(2*time.Hour).Truncate(time.Millisecond))
		}, func(r *boltsession.Record, err error) bool {
			return err == nil && r.Expires.After(time.Now().Add(90*time.Minute))
		}},
		{"DeleteHandleIsNotFound", func(t *testing.T, id string) error {
			return a.DeleteHandle(ctx, boltsession.Handle(id))
		}, notFound},
		{"FlushAllIsNotFound", func(t *testing.T, id string) error {
			return admin.FlushAll(ctx).Err()
		}, notFound},
		{"AnOperatorsHDelIsRead", func(t *testing.T, id string) error {
			return admin.HDel(ctx, sessKey(id), "v:v").Err()
		}, func(r *boltsession.Record, err error) bool { _, ok := r.Values["v"]; return err == nil && !ok }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			firstTry := 0
			const rounds = 10
			for i := range rounds {
				id := c.name + strconv.Itoa(i)
				owner := "owner-" + id
				if err := a.Save(ctx, boltsession.Update{ID: id, Create: true, Created: time.Now(),
					Expires: time.Now().Add(time.Hour), Set: map[string][]byte{"v": []byte("1")}, Owner: &owner}); err != nil {
					t.Fatal(err)
				}
				awaitHit(t, b, id)
				if err := c.step(t, id); err != nil {
					t.Fatal(err)
				}
				done := time.Now()
				n := withinBound(t, done, bound, func() (bool, string) {
					r, err := b.Load(ctx, id)
					return c.seen(r, err), fmt.Sprintf("%+v, %v", r, err)
				})
				if n == 1 {
					firstTry++
				}
			}
			t.Logf("%d of %d reads on B saw the step at once", firstTry, rounds)
		})
	}
}

func notFound(_ *boltsession.Record, err error) bool { return errors.Is(err, boltsession.ErrNotFound) }

// TestCacheReadsOfOneServerNeverLagItsWritersByMoreThanTheBound has one
// server count up while another loads the count in a loop: every count B
// reads must be at least the last one acknowledged to A more than
// MaxStale before the read began. It exercises the fills of B racing the
// invalidations of A's writes.
func TestCacheReadsOfOneServerNeverLagItsWritersByMoreThanTheBound(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	a := appServer(t, srv, &Options{NoLegacy: true})
	b := appServer(t, srv, &Options{NoLegacy: true, Cache: &CacheOptions{}})
	bound := b.cache.opts.MaxStale
	const id = "counted"
	if err := a.Save(ctx, boltsession.Update{ID: id, Create: true, Created: time.Now(), Expires: time.Now().Add(time.Hour),
		Set: map[string][]byte{"n": []byte("0")}}); err != nil {
		t.Fatal(err)
	}
	type ack struct {
		at time.Time
		n  int
	}
	var (
		mu   sync.Mutex
		acks []ack
		stop atomic.Bool
	)
	// ackedBy returns the highest count acknowledged before t.
	ackedBy := func(t time.Time) int {
		mu.Lock()
		defer mu.Unlock()
		best := 0
		for _, a := range acks {
			if a.at.Before(t) {
				best = a.n
			}
		}
		return best
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for n := 1; !stop.Load(); n++ {
			if err := a.Save(ctx, boltsession.Update{ID: id, Set: map[string][]byte{"n": []byte(strconv.Itoa(n))}}); err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			acks = append(acks, ack{time.Now(), n})
			mu.Unlock()
			time.Sleep(200 * time.Microsecond) // leave B time to hit between writes
		}
	})
	reads := 0
	for end := time.Now().Add(time.Second); time.Now().Before(end); reads++ {
		began := time.Now()
		r, err := b.Load(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := strconv.Atoi(string(r.Values["n"]))
		if want := ackedBy(began.Add(-bound)); got < want {
			t.Fatalf("B read %d, but %d was acknowledged more than %v before the read", got, want, bound)
		}
	}
	stop.Store(true)
	wg.Wait()
	st := b.CacheStats()
	t.Logf("%d reads, %d writes; hits %d, misses %d", reads, len(acks), st.Hits, st.Misses)
	if st.Hits == 0 {
		t.Error("no read was a hit: the test measured nothing of the cache")
	}
}

// TestCacheDroppedTrackingConnectionEmptiesTheCache kills B's tracking
// connection (CLIENT KILL), keeps it from coming back while A changes the
// session, and reads on B: the change must be seen, as the cache was
// emptied and serves nothing without a tracking connection. After the
// connection is back, B caches again.
func TestCacheDroppedTrackingConnectionEmptiesTheCache(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	a := appServer(t, srv, &Options{NoLegacy: true})
	b := appServer(t, srv, &Options{NoLegacy: true, Cache: &CacheOptions{}})
	admin := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { admin.Close() })
	const id = "dropped"
	if err := a.Save(ctx, boltsession.Update{ID: id, Create: true, Created: time.Now(), Expires: time.Now().Add(time.Hour),
		Set: map[string][]byte{"v": []byte("old")}}); err != nil {
		t.Fatal(err)
	}
	awaitHit(t, b, id)
	before := b.CacheStats()
	release := make(chan struct{})
	hold := func() { <-release }
	b.tracker.beforeDial.Store(&hold)
	if err := admin.ClientKillByFilter(ctx, "ID", trackingID(t, admin)).Err(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); b.CacheStats().Flushes == before.Flushes; {
		if time.Now().After(deadline) {
			t.Fatal("B did not notice the killed tracking connection within 5s")
		}
		time.Sleep(time.Millisecond)
	}
	if st := b.CacheStats(); st.Entries != 0 || st.Fresh {
		t.Fatalf("after the drop the cache holds %d entries (fresh %v)", st.Entries, st.Fresh)
	}
	if err := a.Save(ctx, boltsession.Update{ID: id, Set: map[string][]byte{"v": []byte("new")}}); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		r, err := b.Load(ctx, id)
		if err != nil || string(r.Values["v"]) != "new" {
			t.Fatalf("B read %v, %v after a change made while its tracking connection was down", r, err)
		}
	}
	close(release)
	awaitFresh(t, b)
	hits := b.CacheStats().Hits
	for range 2 {
		if r, err := b.Load(ctx, id); err != nil || string(r.Values["v"]) != "new" {
			t.Fatalf("B read %v, %v", r, err)
		}
	}
	if b.CacheStats().Hits == hits {
		t.Error("B does not cache again once the tracking connection is back")
	}
}

// TestCacheLoadReadsRedisWhenTheTrackingConnectionFailsUnderIt pins down
// that a Load whose read went out on a tracking connection that failed
// before the reply came reads the session through the client: a failed
// connection is not a missing session.
func TestCacheLoadReadsRedisWhenTheTrackingConnectionFailsUnderIt(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	a := appServer(t, srv, &Options{NoLegacy: true})
	b := appServer(t, srv, &Options{NoLegacy: true, Cache: &CacheOptions{}})
	const id = "cut"
	if err := a.Save(ctx, boltsession.Update{ID: id, Create: true, Created: time.Now(), Expires: time.Now().Add(time.Hour),
		Set: map[string][]byte{"v": []byte("kept")}}); err != nil {
		t.Fatal(err)
	}
	// A tracking connection that fails as soon as a command reaches it,
	// before any reply, as one reset by the network would.
	near, far := net.Pipe()
	t.Cleanup(func() { far.Close() })
	tc := &trackedConn{conn: near, writeTimeout: time.Second}
	go func() {
		_, _ = far.Read(make([]byte, 1))
		tc.fail(errors.New("connection reset"))
	}()
	b.tracker.cur.Store(tc)
	r, err := b.Load(ctx, id)
	if err != nil || string(r.Values["v"]) != "kept" {
		t.Fatalf("Load while the tracking connection failed: %v, %v; want the session", r, err)
	}
}

// trackingID returns the client ID of the one tracking connection on the
// server, found by its name.
func trackingID(t *testing.T, admin *redis.Client) string {
	t.Helper()
	list, err := admin.ClientList(context.Background()).Result()
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, line := range strings.Split(list, "\n") {
		if !strings.Contains(line, " name="+trackingName+" ") {
			continue
		}
		for _, f := range strings.Fields(line) {
			if id, ok := strings.CutPrefix(f, "id="); ok {
				ids = append(ids, id)
			}
		}
	}
	if len(ids) != 1 {
		t.Fatalf("%d tracking connections in CLIENT LIST:\n%s", len(ids), list)
	}
	return ids[0]
}

// TestCacheStopsAnsweringWhenTrackingGoesSilent pauses redis-server
// (SIGSTOP: connections stay open, nothing is answered, as in a network
// partition TCP has not noticed): within MaxStale the cache must stop
// answering, so a Load fails instead of returning what may be stale.
func TestCacheStopsAnsweringWhenTrackingGoesSilent(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	b := appServer(t, srv, &Options{NoLegacy: true, Cache: &CacheOptions{}})
	const id = "silent"
	if err := b.Save(ctx, boltsession.Update{ID: id, Create: true, Created: time.Now(), Expires: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	awaitHit(t, b, id)
	srv.Pause()
	paused := time.Now()
	defer srv.Resume()
	for b.CacheStats().Fresh {
		if time.Since(paused) > b.cache.opts.MaxStale {
			t.Fatalf("the cache still claims to be fresh %v after Redis stopped answering", time.Since(paused))
		}
		time.Sleep(time.Millisecond)
	}
	lctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if r, err := b.Load(lctx, id); err == nil {
		t.Fatalf("with Redis silent past MaxStale, Load answered from the cache: %+v", r)
	}
	srv.Resume()
	awaitFresh(t, b)
	if _, err := b.Load(ctx, id); err != nil {
		t.Fatal(err)
	}
}

// TestCacheKeepsNoRecordPastItsExpiry loads a cached session after its
// expiry by the store's clock, before Redis deleted it: not found.
func TestCacheKeepsNoRecordPastItsExpiry(t *testing.T) {
	f := newFixture(t, &Options{NoLegacy: true, Cache: &CacheOptions{}})
	t.Cleanup(func() { f.store.Close() })
	awaitFresh(t, f.store)
	ctx := context.Background()
	if err := f.store.Save(ctx, boltsession.Update{ID: "exp", Create: true, Created: f.clock.Now(),
		Expires: f.clock.Now().Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	awaitHit(t, f.store, "exp")
	f.clock.Advance(time.Minute)
	if _, err := f.store.Load(ctx, "exp"); !errors.Is(err, boltsession.ErrNotFound) {
		t.Fatalf("Load past the expiry: %v, want ErrNotFound", err)
	}
}

// TestCacheBoundsEntriesAndTTL fills more sessions than MaxEntries and
// checks the count stays bounded, and that an entry is not served past
// its TTL.
func TestCacheBoundsEntriesAndTTL(t *testing.T) {
	f := newFixture(t, &Options{NoLegacy: true, Cache: &CacheOptions{MaxEntries: 64, TTL: 50 * time.Millisecond}})
	t.Cleanup(func() { f.store.Close() })
	awaitFresh(t, f.store)
	ctx := context.Background()
	for i := range 300 {
		id := "bound" + strconv.Itoa(i)
		if err := f.store.Save(ctx, boltsession.Update{ID: id, Create: true, Created: f.clock.Now(),
			Expires: f.clock.Now().Add(time.Hour), Set: map[string][]byte{"v": []byte("x")}}); err != nil {
			t.Fatal(err)
		}
		if _, err := f.store.Load(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	if st := f.store.CacheStats(); st.Entries > 64 || st.Entries == 0 {
		t.Fatalf("cache holds %d entries with MaxEntries 64", st.Entries)
	}
	awaitFresh(t, f.store)
	if _, err := f.store.Load(ctx, "bound299"); err != nil {
		t.Fatal(err)
	}
	filled := time.Now()
	hits := f.store.CacheStats().Hits
	for time.Since(filled) < 80*time.Millisecond {
		time.Sleep(5 * time.Millisecond)
	}
	awaitFresh(t, f.store)
	if _, err := f.store.Load(ctx, "bound299"); err != nil {
		t.Fatal(err)
	}
	if f.store.CacheStats().Hits != hits {
		t.Fatal("an entry was served past its TTL")
	}
}

// TestCacheNeedsASingleServerClient: on Cluster and Ring the cache is
// refused with an error that says why, from every method.
func TestCacheNeedsASingleServerClient(t *testing.T) {
	ring := redis.NewRing(&redis.RingOptions{Addrs: map[string]string{"a": "127.0.0.1:1"}})
	t.Cleanup(func() { ring.Close() })
	s := New(ring, &Options{Cache: &CacheOptions{}})
	defer s.Close()
	_, err := s.Load(context.Background(), "x")
	if err == nil || !strings.Contains(err.Error(), "Options.Cache needs a *redis.Client") {
		t.Fatalf("Load on a Ring with Cache: %v", err)
	}
}

// TestCacheCloseStopsTheTrackingConnectionAndTheStoreReadsRedis: after
// Store.Close the tracking connection is gone from the server, nothing is
// served from memory, and the store goes on reading and writing Redis.
func TestCacheCloseStopsTheTrackingConnectionAndTheStoreReadsRedis(t *testing.T) {
	f := newFixture(t, &Options{NoLegacy: true, Cache: &CacheOptions{}})
	awaitFresh(t, f.store)
	ctx := context.Background()
	if err := f.store.Save(ctx, boltsession.Update{ID: "c", Create: true, Created: f.clock.Now(),
		Expires: f.clock.Now().Add(time.Hour), Set: map[string][]byte{"v": []byte("1")}}); err != nil {
		t.Fatal(err)
	}
	awaitHit(t, f.store, "c")
	if err := f.store.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.store.Close(); err != nil { // twice is fine
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		list, err := f.client.ClientList(ctx).Result()
		if err == nil && !strings.Contains(list, "name="+trackingName) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("5s after Close the tracking connection is still there (%v):\n%s", err, list)
		}
	}
	if err := f.client.HSet(ctx, sessKey("c"), "v:v", "\x002").Err(); err != nil {
		t.Fatal(err)
	}
	st := f.store.CacheStats()
	if r, err := f.store.Load(ctx, "c"); err != nil || string(r.Values["v"]) != "2" {
		t.Fatalf("Load after Close: %+v, %v", r, err)
	}
	if after := f.store.CacheStats(); after.Hits != st.Hits || after.Fresh || after.Entries != 0 {
		t.Fatalf("the cache still answers after Close: %+v", after)
	}
}

// TestCacheOfAClosedClientFailsWithErrClosed: once the application closes
// the client, Load stops answering from memory (within a second, the
// tracker's check) and fails with boltsession.ErrClosed as without the
// cache.
func TestCacheOfAClosedClientFailsWithErrClosed(t *testing.T) {
	f := newFixture(t, &Options{NoLegacy: true, Cache: &CacheOptions{}})
	t.Cleanup(func() { f.store.Close() })
	awaitFresh(t, f.store)
	ctx := context.Background()
	if err := f.store.Save(ctx, boltsession.Update{ID: "c", Create: true, Created: f.clock.Now(),
		Expires: f.clock.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	awaitHit(t, f.store, "c")
	f.client.Close()
	for deadline := time.Now().Add(5 * time.Second); ; {
		_, err := f.store.Load(ctx, "c")
		if errors.Is(err, boltsession.ErrClosed) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Load 5s after the client was closed: %v, want ErrClosed", err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestCacheSeesAResealOnAnotherServer caches a sealed session on server
// A, whose only key is the old one, and has server B, given a new first
// key, reseal it: A's next Loads must read Redis within MaxStale, and so
// fail for want of the new key, rather than serve the values it opened
// before. Until then, A's hits return the values opened, as sealed in
// Redis.
func TestCacheSeesAResealOnAnotherServer(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	newKey := bytes.Repeat([]byte{0x6f}, 32)
	a := appServer(t, srv, &Options{NoLegacy: true, ValueKeys: [][]byte{testValueKey}, Cache: &CacheOptions{}})
	b := appServer(t, srv, &Options{NoLegacy: true, ValueKeys: [][]byte{newKey, testValueKey}, Cache: &CacheOptions{}})
	admin := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { admin.Close() })

	const id, secret = "resealed", "a secret value"
	if err := a.Save(ctx, boltsession.Update{ID: id, Create: true, Created: time.Now(),
		Expires: time.Now().Add(time.Hour), Set: map[string][]byte{"v": []byte(secret)}}); err != nil {
		t.Fatal(err)
	}
	awaitHit(t, a, id)
	r, err := a.Load(ctx, id)
	if err != nil || string(r.Values["v"]) != secret {
		t.Fatalf("a hit on A: %+v, %v", r, err)
	}
	raw, err := admin.HGet(ctx, sessKey(id), "v:v").Result()
	if err != nil || strings.Contains(raw, secret) {
		t.Fatalf("Redis holds the value %q (%v): not sealed", raw, err)
	}
	if n, err := b.Reseal(ctx); err != nil || n != 1 {
		t.Fatalf("Reseal on B sealed %d values: %v", n, err)
	}
	withinBound(t, time.Now(), a.cache.opts.MaxStale, func() (bool, string) {
		r, err := a.Load(ctx, id)
		return errors.Is(err, boltsession.ErrKey), fmt.Sprintf("%+v, %v", r, err)
	})
	if r, err := b.Load(ctx, id); err != nil || string(r.Values["v"]) != secret {
		t.Fatalf("B after its Reseal: %+v, %v", r, err)
	}
}

// TestCacheThroughSentinelFollowsAFailover runs the cache on a Sentinel
// client: the tracking connection reaches the master Sentinel names, a
// failover (SENTINEL FAILOVER) drops it and empties the cache, the store
// reads and writes the new master afterwards, and the cache there sees a
// logout written by another server within MaxStale.
func TestCacheThroughSentinelFollowsAFailover(t *testing.T) {
	master := redistest.Start(t)
	host, port, _ := strings.Cut(master.Addr, ":")
	replica := redistest.Start(t, "--replicaof", host, port)
	sentinel := redistest.StartSentinel(t, "sessions", master.Addr)
	ctx := context.Background()

	client := redis.NewFailoverClient(&redis.FailoverOptions{MasterName: "sessions",
		SentinelAddrs: []string{sentinel.Addr}, ReadTimeout: time.Second, MaxRetries: 2})
	s := New(client, &Options{NoLegacy: true, Cache: &CacheOptions{}})
	t.Cleanup(func() {
		s.Close()
		client.Close()
	})
	awaitFresh(t, s)
	admin := redis.NewClient(&redis.Options{Addr: sentinel.Addr})
	t.Cleanup(func() { admin.Close() })

	const id = "through-sentinel"
	if err := s.Save(ctx, boltsession.Update{ID: id, Create: true, Created: time.Now(),
		Expires: time.Now().Add(time.Hour), Set: map[string][]byte{"v": []byte("1")}}); err != nil {
		t.Fatal(err)
	}
	awaitHit(t, s, id)

	// Sentinel learns of the replica from the master's INFO; the failover
	// needs it known and in sync.
	poll(t, "Sentinel knows the replica in sync", func() bool {
		reps, err := admin.Do(ctx, "SENTINEL", "REPLICAS", "sessions").Slice()
		if err != nil || len(reps) != 1 {
			return false
		}
		info := fmt.Sprint(reps[0])
		return strings.Contains(info, "master-link-status ok") || strings.Contains(info, "master-link-status:ok")
	})
	flushes := s.CacheStats().Flushes
	if err := admin.Do(ctx, "SENTINEL", "FAILOVER", "sessions").Err(); err != nil {
		t.Fatal(err)
	}
	poll(t, "Sentinel names the replica master", func() bool {
		addr, err := admin.Do(ctx, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", "sessions").StringSlice()
		return err == nil && len(addr) == 2 && addr[0]+":"+addr[1] == replica.Addr
	})
	poll(t, "the tracking connection dropped and the cache was emptied", func() bool {
		return s.CacheStats().Flushes > flushes
	})
	awaitFresh(t, s)

	// The store writes the new master, and its cache serves from there.
	poll(t, "a save reaches the new master", func() bool {
		return s.Save(ctx, boltsession.Update{ID: id, Set: map[string][]byte{"v": []byte("2")}}) == nil
	})
	awaitHit(t, s, id)
	if r, err := s.Load(ctx, id); err != nil || string(r.Values["v"]) != "2" {
		t.Fatalf("after the failover: %+v, %v", r, err)
	}
	// Another server logs the user out on the new master.
	other := redis.NewClient(&redis.Options{Addr: replica.Addr})
	t.Cleanup(func() { other.Close() })
	if err := New(other, &Options{NoLegacy: true}).Delete(ctx, id); err != nil {
		t.Fatal(err)
	}
	withinBound(t, time.Now(), s.cache.opts.MaxStale, func() (bool, string) {
		r, err := s.Load(ctx, id)
		return errors.Is(err, boltsession.ErrNotFound), fmt.Sprintf("%+v, %v", r, err)
	})
}

// poll calls ok until it reports true, failing the test after 20s.
func poll(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !ok(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("not within 20s: %s", what)
		}
	}
}
