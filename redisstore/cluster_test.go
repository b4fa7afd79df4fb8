package redisstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/boltsession/boltsession"
	"github.com/boltsession/boltsession/redisstore/redistest"
	"github.com/boltsession/boltsession/storetest"
	"github.com/redis/go-redis/v9"
)

// startCluster runs a Redis Cluster shaped by opts (see
// redistest.StartCluster) and returns it with a ClusterClient seeded with
// every node, closed when the test ends. The client dials once per attempt,
// as the package doc advises for web apps, so a call routed to a dead node
// fails at once instead of after five dials.
func startCluster(t *testing.T, opts redistest.ClusterOptions) (*redistest.Cluster, *redis.ClusterClient) {
	t.Helper()
	c := redistest.StartCluster(t, opts)
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs(), DialerRetries: 1})
	t.Cleanup(func() { cc.Close() })
	return c, cc
}

// onCluster is what the subtests of TestCluster share: one 3-master
// cluster (starting one costs about 2s) and a client. Each subtest uses
// prefixes of its own.
type onCluster struct {
	c  *redistest.Cluster
	cc *redis.ClusterClient
}

// store returns a Store with strict scripts: Redis refuses any script that
// reaches outside the slot of its declared keys.
func (oc *onCluster) store(opts Options) *Store {
	opts.strictScripts = true
	return New(oc.cc, &opts)
}

// masterOf returns the address of the master that holds key.
func (oc *onCluster) masterOf(t *testing.T, key string) string {
	t.Helper()
	return oc.masterNode(t, key).Addr
}

// idsOnEveryMaster returns n IDs per master, named prefix0, prefix1, ...
func (oc *onCluster) idsOnEveryMaster(t *testing.T, s *Store, prefix string, n int) map[string][]string {
	t.Helper()
	out := make(map[string][]string)
	for i := 0; ; i++ {
		id := prefix + strconv.Itoa(i)
		m := oc.masterOf(t, s.sessionKey(handleOf(id)))
		if len(out[m]) < n {
			out[m] = append(out[m], id)
		}
		done := len(out) == len(oc.c.Masters())
		for _, ids := range out {
			done = done && len(ids) == n
		}
		if done {
			return out
		}
	}
}

// TestCluster runs everything a 3-master cluster shows, on one cluster.
func TestCluster(t *testing.T) {
	// Nothing here fails a node on purpose: a long node timeout keeps a
	// redis-server starved by a busy machine from being voted failed.
	c, cc := startCluster(t, redistest.ClusterOptions{Masters: 3, NodeTimeout: 5 * time.Second})
	oc := &onCluster{c: c, cc: cc}
	for _, st := range []struct {
		name string
		fn   func(*testing.T, *onCluster)
	}{
		{"SessionsSpreadOverEveryMaster", testSpread},
		{"Conformance", testConformanceOnCluster},
		{"ConformanceWithValueKeys", testConformanceWithValueKeysOnCluster},
		{"ConnectRedisConformance", testConnectRedisConformanceOnCluster},
		{"OwnerOperationsWithSessionsOnEveryMaster", testOwnerOnEveryMaster},
		{"DestroyOwnerEndsEverySessionAcknowledgedBeforeItsLastIndexRead", testDestroyOwnerRacingCreates},
		{"ReplaceStoppedBetweenStepsLeavesNoLiveSessionALogoutCannotReach", testReplaceCrash},
		{"ReplaceHeldBetweenStepsLosesToALogoutAndCarriesEarlierMerges", testReplaceHeld},
		{"LegacyLayoutStaysReadableWritableAndMoves", testLegacyOnCluster},
		{"MoveRacingWritesAndLogoutsLosesNothing", testMoveRacing},
	} {
		t.Run(st.name, func(t *testing.T) { st.fn(t, oc) })
	}
}

func testConformanceOnCluster(t *testing.T, oc *onCluster) {
	n := 0
	storetest.Run(t, func(t *testing.T) boltsession.Store {
		n++
		p := "conf" + strconv.Itoa(n)
		return oc.store(Options{Prefix: p + ":", LegacyPrefix: "{" + p + "}:"})
	})
}

func testConformanceWithValueKeysOnCluster(t *testing.T, oc *onCluster) {
	n := 0
	storetest.Run(t, func(t *testing.T) boltsession.Store {
		n++
		p := "sealed" + strconv.Itoa(n)
		return oc.store(Options{Prefix: p + ":", LegacyPrefix: "{" + p + "}:", ValueKeys: [][]byte{testValueKey}})
	})
}

// testConnectRedisConformanceOnCluster runs the suite on the connect-redis
// format with strict scripts: each script stays in the slot of the
// session's key, its marker's and its lock's, while sessions (and so the
// two sides of a replace) sit on every master.
func testConnectRedisConformanceOnCluster(t *testing.T, oc *onCluster) {
	n := 0
	storetest.RunWith(t, func(t *testing.T) boltsession.Store {
		n++
		s := NewConnectRedis(oc.cc, &ConnectRedisOptions{Prefix: "cr" + strconv.Itoa(n) + ":"})
		s.scripts = newCRScripts(true)
		return s
	}, storetest.Options{ValuesByMeaning: crValuesByMeaning})
}

// testSpread: with 3,000 sessions of Manager-style IDs, every master holds
// at least a fifth of them.
func testSpread(t *testing.T, oc *onCluster) {
	ctx := context.Background()
	if err := oc.cc.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error {
		return m.FlushAll(ctx).Err()
	}); err != nil {
		t.Fatal(err)
	}
	s := New(oc.cc, nil)
	const sessions = 3000
	now := time.Now()
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for range sessions / 8 {
				u := boltsession.Update{ID: newSessionID(), Create: true, Created: now, Expires: now.Add(time.Hour),
					Set: map[string][]byte{"views": {1}}}
				if err := s.Save(ctx, u); err != nil {
					t.Errorf("writer %d: %v", w, err)
					return
				}
			}
		})
	}
	wg.Wait()
	ks := keysPerMaster(t, oc.c)
	t.Logf("%d sessions, keys per master: %s", sessions, formatSpread(ks))
	var total int64
	for _, k := range ks {
		total += k.Keys
	}
	if total != sessions {
		t.Fatalf("%d keys in the cluster, want %d (one hash per session)", total, sessions)
	}
	for _, k := range ks {
		if k.Keys < sessions/5 {
			t.Errorf("master %s (slots %d-%d) holds %d of %d sessions, want at least a fifth", k.Addr, k.First, k.Last, k.Keys, sessions)
		}
	}
}

func testOwnerOnEveryMaster(t *testing.T, oc *onCluster) {
	ctx := context.Background()
	s := oc.store(Options{Prefix: "own:"})
	perMaster := oc.idsOnEveryMaster(t, s, "alice-", 2)
	now := time.Now()
	var all []string
	for m, ids := range perMaster {
		for i, id := range ids {
			u := boltsession.Update{ID: id, Create: true, Created: now.Add(time.Duration(len(all)) * time.Second),
				Expires: now.Add(time.Hour), Owner: ptr("alice"), Set: map[string][]byte{"i": []byte(strconv.Itoa(i))}}
			if err := s.Save(ctx, u); err != nil {
				t.Fatalf("create %s on %s: %v", id, m, err)
			}
			all = append(all, id)
		}
	}
	if err := s.Save(ctx, boltsession.Update{ID: "bob-1", Create: true, Created: now, Expires: now.Add(time.Hour), Owner: ptr("bob")}); err != nil {
		t.Fatal(err)
	}
	owned := func() []string {
		t.Helper()
		recs, err := s.Owned(ctx, "alice")
		if err != nil {
			t.Fatal(err)
		}
		return namesOf(t, recs, slices.Concat(all, []string{"alice-new"})...)
	}
	if got := owned(); !slices.Equal(got, all) {
		t.Fatalf("Owned(alice) = %v, want %v (oldest first)", got, all)
	}
	t.Logf("alice's 6 sessions on %d masters, her index on %s", len(perMaster), oc.masterOf(t, s.ownerKey("alice")))

	// A regenerate moves one to whatever master its new ID hashes to.
	old := all[0]
	if err := s.Save(ctx, boltsession.Update{ID: "alice-new", Create: true, Replaces: old, Expires: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	got := owned()
	if len(got) != 6 || slices.Contains(got, old) || !slices.Contains(got, "alice-new") {
		t.Fatalf("Owned(alice) after a regenerate = %v", got)
	}

	n, err := s.DestroyOwner(ctx, "alice")
	if err != nil || n != 6 {
		t.Fatalf("DestroyOwner(alice) = %d, %v; want 6", n, err)
	}
	for _, id := range append(all, "alice-new") {
		if _, err := s.Load(ctx, id); !errors.Is(err, boltsession.ErrNotFound) {
			t.Errorf("Load(%s) after DestroyOwner: %v", id, err)
		}
	}
	if got := owned(); len(got) != 0 {
		t.Fatalf("Owned(alice) after DestroyOwner = %v", got)
	}
	if _, err := s.Load(ctx, "bob-1"); err != nil {
		t.Fatalf("bob's session after DestroyOwner(alice): %v", err)
	}
}

// testDestroyOwnerRacingCreates creates sessions of one owner on all three
// masters from several goroutines while DestroyOwner runs, and checks
// DestroyOwner's guarantee: a session whose create returned before
// DestroyOwner's last read of the index is ended; one that survives is
// listed by Owned (the index never misses a live session) and is ended by
// the next DestroyOwner.
func testDestroyOwnerRacingCreates(t *testing.T, oc *onCluster) {
	ctx := context.Background()
	writer := oc.store(Options{Prefix: "race:"})
	var seq atomic.Int64
	var lastRead atomic.Int64
	destroyer := oc.store(Options{Prefix: "race:"})
	destroyer.hooks = &hooks{beforeOwnerRead: func() { lastRead.Store(seq.Add(1)) }}

	type created struct {
		id  string
		seq int64
		err error
	}
	var (
		mu   sync.Mutex
		made []created
	)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 6 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				id := fmt.Sprintf("carol-%d-%d", w, i)
				now := time.Now()
				err := writer.Save(ctx, boltsession.Update{ID: id, Create: true, Created: now, Expires: now.Add(time.Hour),
					Owner: ptr("carol")})
				mu.Lock()
				made = append(made, created{id, seq.Add(1), err})
				mu.Unlock()
			}
		})
	}
	// Let creates land on every master, then destroy while they go on.
	time.Sleep(50 * time.Millisecond)
	n, err := destroyer.DestroyOwner(ctx, "carol")
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	masters := map[string]int{}
	ended, survived := 0, 0
	for _, m := range made {
		_, lerr := writer.Load(ctx, m.id)
		live := lerr == nil
		if lerr != nil && !errors.Is(lerr, boltsession.ErrNotFound) {
			t.Fatal(lerr)
		}
		switch {
		case m.err != nil && live:
			t.Errorf("%s: create failed (%v) but the session is live", m.id, m.err)
		case m.err != nil:
		case m.seq <= lastRead.Load() && live:
			t.Errorf("%s: created before DestroyOwner's last index read, still live", m.id)
		case live:
			survived++
		default:
			ended++
			masters[oc.masterOf(t, writer.sessionKey(handleOf(m.id)))]++
		}
	}
	t.Logf("%d creates, DestroyOwner ended %d (reported %d) on %d masters %v, %d created after its last read survive",
		len(made), ended, n, len(masters), masters, survived)
	if len(masters) != 3 {
		t.Fatalf("sessions ended on %d masters, want all 3", len(masters))
	}
	recs, err := writer.Owned(ctx, "carol")
	if err != nil || len(recs) != survived {
		t.Fatalf("Owned(carol) = %d sessions, %v; want the %d survivors", len(recs), err, survived)
	}
	if n, err := writer.DestroyOwner(ctx, "carol"); err != nil || n != survived {
		t.Fatalf("second DestroyOwner = %d, %v; want %d", n, err, survived)
	}
	if recs, _ := writer.Owned(ctx, "carol"); len(recs) != 0 {
		t.Fatalf("Owned(carol) after the second DestroyOwner = %v", recs)
	}
}

// replacePair returns a session ID and a new ID that live on different
// masters, and creates the session with an owner and a value.
func replacePair(t *testing.T, oc *onCluster, s *Store, name string) (from, to string) {
	t.Helper()
	from, to = name+"-s", name+"-n"
	for i := 0; oc.masterOf(t, s.sessionKey(handleOf(from))) == oc.masterOf(t, s.sessionKey(handleOf(to))); i++ {
		to = name + "-n" + strconv.Itoa(i)
	}
	now := time.Now()
	if err := s.Save(context.Background(), boltsession.Update{ID: from, Create: true, Created: now, Expires: now.Add(time.Hour),
		Owner: ptr("o-" + name), Set: map[string][]byte{"user": []byte("alice")}}); err != nil {
		t.Fatal(err)
	}
	return from, to
}

func replaceUpdate(from, to string) boltsession.Update {
	return boltsession.Update{ID: to, Create: true, Replaces: from, Expires: time.Now().Add(time.Hour),
		Set: map[string][]byte{"step": []byte("up")}}
}

// liveIDs returns which of ids Load finds.
func liveIDs(t *testing.T, s *Store, ids ...string) []string {
	t.Helper()
	var out []string
	for _, id := range ids {
		_, err := s.Load(context.Background(), id)
		switch {
		case err == nil:
			out = append(out, id)
		case !errors.Is(err, boltsession.ErrNotFound):
			t.Fatalf("Load(%s): %v", id, err)
		}
	}
	return out
}

var errStopped = errors.New("stopped by the test, as a crash would")

// testReplaceCrash stops a replace after each of its steps, as a crash of
// the replacing process would, and checks what is left: never a live new
// session, the old one live only if its mark did not happen, and a logout
// of the old ID afterwards leaves nothing that a late activation could
// revive.
func testReplaceCrash(t *testing.T, oc *onCluster) {
	ctx := context.Background()
	for _, c := range []struct {
		step    string
		oldLive bool
	}{
		{"claim", true},
		{"pending", true},
		{"mark", false},
	} {
		t.Run("after "+c.step, func(t *testing.T) {
			s := oc.store(Options{Prefix: "crash-" + c.step + ":"})
			from, to := replacePair(t, oc, s, "x")
			s.hooks = &hooks{afterStep: func(op, step string) error {
				if step == c.step {
					return errStopped
				}
				return nil
			}}
			if err := s.Save(ctx, replaceUpdate(from, to)); !errors.Is(err, errStopped) {
				t.Fatalf("replace stopped after %s: %v", c.step, err)
			}
			s.hooks = nil
			want := []string{}
			if c.oldLive {
				want = []string{from}
			}
			if got := liveIDs(t, s, from, to); !slices.Equal(got, want) && !(len(got) == 0 && len(want) == 0) {
				t.Fatalf("live after a crash after %s: %v, want %v", c.step, got, want)
			}
			recs, err := s.Owned(ctx, "o-x")
			if err != nil || len(recs) != len(want) {
				t.Fatalf("Owned = %v, %v; want %v", recs, err, want)
			}
			// A logout of the old ID, then the protocol's next step (had
			// the crashed process come back): nothing is revived.
			if err := s.Delete(ctx, from); err != nil {
				t.Fatal(err)
			}
			if c.oldLive {
				mark := newCall(s.scripts.mark, []string{s.sessionKey(handleOf(from))}, nanos(time.Now()), string(handleOf(to)),
					time.Now().Add(time.Hour).UnixMilli())
				if err := s.run(ctx, mark); err != nil || mark.code() == codeOK {
					t.Fatalf("late mark after the logout: %v, code %d; want a refusal", err, mark.code())
				}
			} else {
				rec := &boltsession.Record{ID: to, Created: time.Now(), Expires: time.Now().Add(time.Hour),
					Values: map[string][]byte{"user": []byte("alice")}}
				if err := s.activate(ctx, handleOf(to), "r:"+string(handleOf(from)), rec, claim{}); !errors.Is(err, boltsession.ErrNotFound) {
					t.Fatalf("late activation after the logout: %v, want ErrNotFound", err)
				}
			}
			if got := liveIDs(t, s, from, to); len(got) != 0 {
				t.Fatalf("live after the logout: %v", got)
			}
		})
	}
	t.Run("after mark, activation without a logout completes it", func(t *testing.T) {
		s := oc.store(Options{Prefix: "crash-late:"})
		from, to := replacePair(t, oc, s, "y")
		s.hooks = &hooks{afterStep: func(op, step string) error {
			if step == "mark" {
				return errStopped
			}
			return nil
		}}
		_ = s.Save(ctx, replaceUpdate(from, to))
		s.hooks = nil
		rec := &boltsession.Record{ID: to, Created: time.Now(), Expires: time.Now().Add(time.Hour), Owner: "o-y",
			Values: map[string][]byte{"user": []byte("alice")}}
		if err := s.activate(ctx, handleOf(to), "r:"+string(handleOf(from)), rec, claim{}); err != nil {
			t.Fatal(err)
		}
		// The new session is live, in the index, and the old ID's logout
		// still reaches it through the marker.
		if got := liveIDs(t, s, from, to); !slices.Equal(got, []string{to}) {
			t.Fatalf("live = %v, want [%s]", got, to)
		}
		if err := s.Delete(ctx, from); err != nil {
			t.Fatal(err)
		}
		if got := liveIDs(t, s, from, to); len(got) != 0 {
			t.Fatalf("live after a logout of the old ID: %v", got)
		}
	})
}

// testReplaceHeld holds a replace after each step while another request
// acts on the old session, then lets it go on.
func testReplaceHeld(t *testing.T, oc *onCluster) {
	ctx := context.Background()
	type rival struct {
		name string
		run  func(s *Store, from string) error
		// ends: the rival ends the session, so the replace must fail and
		// nothing be live.
		ends bool
	}
	rivals := []rival{
		{"logout", func(s *Store, from string) error { return s.Delete(ctx, from) }, true},
		{"destroy-owner", func(s *Store, from string) error {
			_, err := s.DestroyOwner(ctx, "o-h")
			return err
		}, true},
		{"merge", func(s *Store, from string) error {
			return s.Save(ctx, boltsession.Update{ID: from, Set: map[string][]byte{"cart": []byte("1")}})
		}, false},
	}
	for _, step := range []string{"claim", "pending", "mark"} {
		for _, r := range rivals {
			t.Run(r.name+" after "+step, func(t *testing.T) {
				s := oc.store(Options{Prefix: "held-" + step + "-" + r.name + ":"})
				from, to := replacePair(t, oc, s, "h")
				held, release := make(chan struct{}), make(chan struct{})
				s.hooks = &hooks{afterStep: func(op, st string) error {
					if st == step {
						close(held)
						<-release
					}
					return nil
				}}
				done := make(chan error, 1)
				go func() { done <- s.Save(ctx, replaceUpdate(from, to)) }()
				<-held
				rivalErr := r.run(s, from)
				close(release)
				replaceErr := <-done
				live := liveIDs(t, s, from, to)
				switch {
				case r.ends:
					if rivalErr != nil || !errors.Is(replaceErr, boltsession.ErrNotFound) || len(live) != 0 {
						t.Fatalf("rival %v, replace %v, live %v; want the logout to win", rivalErr, replaceErr, live)
					}
				case step == "mark":
					// The merge came after S became a marker: refused.
					if !errors.Is(rivalErr, boltsession.ErrReplaced) || replaceErr != nil || !slices.Equal(live, []string{to}) {
						t.Fatalf("merge %v, replace %v, live %v", rivalErr, replaceErr, live)
					}
				default:
					// The merge landed before the mark: N carries it.
					if rivalErr != nil || replaceErr != nil || !slices.Equal(live, []string{to}) {
						t.Fatalf("merge %v, replace %v, live %v", rivalErr, replaceErr, live)
					}
					rec, _ := s.Load(ctx, to)
					if string(rec.Values["cart"]) != "1" || string(rec.Values["step"]) != "up" || string(rec.Values["user"]) != "alice" {
						t.Fatalf("new session holds %q: an acknowledged merge was lost", rec.Values)
					}
				}
			})
		}
	}
}
