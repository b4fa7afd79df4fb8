package boltsession

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"
	bbolt "go.etcd.io/bbolt"
)

// openCached opens a store with the read cache and a test clock.
func openCached(t *testing.T, size int) (*BoltStore, *testClock) {
	t.Helper()
	clock := newTestClock()
	s, err := Open(filepath.Join(t.TempDir(), "s.db"), &BoltOptions{SweepInterval: -1, NoSync: true, Now: clock.Now, CacheSize: size})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, clock
}

func encodeInt(t testing.TB, n int) []byte {
	t.Helper()
	b, err := msgpack.Marshal(n)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// loadedN returns the value "n" of the session id as Load and the
// Manager's shared load see it (0 when it holds none), or -1 when the
// session is gone. The two must agree.
func loadedN(t *testing.T, s *BoltStore, id string) int {
	t.Helper()
	n := -1
	for _, load := range []func(context.Context, string) (*Record, error){s.Load, s.loadShared} {
		rec, err := load(context.Background(), id)
		got := -1
		switch {
		case errors.Is(err, ErrNotFound):
		case err != nil:
			t.Fatal(err)
		case rec.Values["n"] == nil:
			got = 0
		default:
			if err := msgpack.Unmarshal(rec.Values["n"], &got); err != nil {
				t.Fatal(err)
			}
		}
		if n != -1 && got != n {
			t.Fatalf("Load says n = %d, the shared load %d", n, got)
		}
		n = got
	}
	return n
}

func create(t *testing.T, s *BoltStore, id string, n int, exp time.Time) {
	t.Helper()
	if err := s.Save(context.Background(), Update{ID: id, Create: true, Expires: exp, Set: map[string][]byte{"n": encodeInt(t, n)}}); err != nil {
		t.Fatal(err)
	}
}

func merge(t *testing.T, s *BoltStore, id string, n int, exp time.Time) {
	t.Helper()
	if err := s.Save(context.Background(), Update{ID: id, Expires: exp, Set: map[string][]byte{"n": encodeInt(t, n)}}); err != nil {
		t.Fatal(err)
	}
}

// TestCachedSessionFollowsEveryWrite: once a session is cached, each way a
// record changes or ends is what the next Load sees.
func TestCachedSessionFollowsEveryWrite(t *testing.T) {
	ctx := context.Background()
	s, clock := openCached(t, 0)
	exp := clock.Now().Add(time.Hour)
	cached := func(id string) {
		t.Helper()
		loadedN(t, s, id)
		if _, ok := s.cache.get(keyOf(id)); !ok {
			t.Fatalf("%s is not cached after a Load", id)
		}
	}

	create(t, s, "a", 1, exp)
	cached("a")
	merge(t, s, "a", 2, exp)
	if n := loadedN(t, s, "a"); n != 2 {
		t.Fatalf("after a merge: n = %d, want 2", n)
	}

	cached("a")
	later := exp.Add(time.Hour)
	if err := s.Touch(ctx, "a", later); err != nil {
		t.Fatal(err)
	}
	if rec := mustLoadInternal(t, s, "a"); !rec.Expires.Equal(later) {
		t.Fatalf("after a touch: expires %v, want %v", rec.Expires, later)
	}

	cached("a")
	if err := s.Save(ctx, Update{ID: "b", Create: true, Replaces: "a", Expires: exp}); err != nil {
		t.Fatal(err)
	}
	if n := loadedN(t, s, "a"); n != -1 {
		t.Fatalf("a replaced session still loads: n = %d", n)
	}
	if n := loadedN(t, s, "b"); n != 2 {
		t.Fatalf("the replacement: n = %d, want 2", n)
	}

	cached("b")
	if err := s.Delete(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	if n := loadedN(t, s, "b"); n != -1 {
		t.Fatal("a deleted session still loads")
	}

	create(t, s, "c", 3, exp)
	cached("c")
	if err := s.DeleteHandle(ctx, Handle("c")); err != nil {
		t.Fatal(err)
	}
	if n := loadedN(t, s, "c"); n != -1 {
		t.Fatal("a session deleted by handle still loads")
	}

	owner := "alice"
	for _, id := range []string{"d", "e"} {
		if err := s.Save(ctx, Update{ID: id, Create: true, Expires: exp, Owner: &owner}); err != nil {
			t.Fatal(err)
		}
		cached(id)
	}
	if _, err := s.DestroyOwner(ctx, owner); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"d", "e"} {
		if n := loadedN(t, s, id); n != -1 {
			t.Fatalf("%s outlived DestroyOwner", id)
		}
	}

	create(t, s, "f", 4, clock.Now().Add(time.Minute))
	cached("f")
	clock.Advance(2 * time.Minute)
	if n := loadedN(t, s, "f"); n != -1 {
		t.Fatal("a cached session loads past its expiry")
	}
	if _, err := s.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.cache.get(keyOf("f")); ok {
		t.Fatal("the sweeper deleted f, and the cache keeps it")
	}

	create(t, s, "g", 5, clock.Now().Add(time.Hour))
	cached("g")
	rec := mustLoadInternal(t, s, "g")
	rec.Values["n"] = encodeInt(t, 6)
	if _, err := s.Restore(ctx, func(yield func(*Record, error) bool) { yield(rec, nil) }); err != nil {
		t.Fatal(err)
	}
	if n := loadedN(t, s, "g"); n != 6 {
		t.Fatalf("after Restore: n = %d, want 6", n)
	}
}

func mustLoadInternal(t *testing.T, s *BoltStore, id string) *Record {
	t.Helper()
	rec, err := s.Load(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

// TestLoadReturnsACopyOfTheCachedRecord: what the exported Load returns is
// the caller's to change; the cache keeps its own.
func TestLoadReturnsACopyOfTheCachedRecord(t *testing.T) {
	s, clock := openCached(t, 0)
	create(t, s, "a", 1, clock.Now().Add(time.Hour))
	rec := mustLoadInternal(t, s, "a")
	rec.Values["n"][0] = 0x7f // in place
	rec.Values["x"] = []byte{1}
	rec.Owner = "mallory"
	again := mustLoadInternal(t, s, "a")
	if n := loadedN(t, s, "a"); n != 1 || again.Owner != "" || again.Values["x"] != nil {
		t.Fatalf("a change to a loaded record reached the cache: n = %d, %+v", n, again)
	}
}

// TestCacheSizeBoundsTheCache: the entries stay within CacheSize, and a
// negative size disables the cache.
func TestCacheSizeBoundsTheCache(t *testing.T) {
	const size = 256 << 10
	s, clock := openCached(t, size)
	exp := clock.Now().Add(time.Hour)
	for i := range 2000 {
		id := fmt.Sprint("s", i)
		create(t, s, id, i, exp)
		loadedN(t, s, id)
	}
	n := s.cache.len()
	if n == 0 {
		t.Fatal("nothing cached")
	}
	total := 0
	for i := range s.cache.shards {
		total += s.cache.shards[i].size
	}
	if total > size {
		t.Fatalf("%d entries cost %d bytes, more than CacheSize %d", n, total, size)
	}
	for i := range 2000 {
		if got := loadedN(t, s, fmt.Sprint("s", i)); got != i {
			t.Fatalf("s%d: n = %d after evictions", i, got)
		}
	}

	off, clock := openCached(t, -1)
	create(t, off, "a", 1, clock.Now().Add(time.Hour))
	if n := loadedN(t, off, "a"); n != 1 || off.cache != nil {
		t.Fatalf("CacheSize -1: n = %d, cache %v", n, off.cache)
	}
}

// TestCacheCostCoversTheHeap: what entries are counted at is not below
// what they hold on the heap, for records of no value, ten short values, a
// hundred one-byte values and one value of 8 KiB, so CacheSize bounds the
// memory it says it bounds.
func TestCacheCostCoversTheHeap(t *testing.T) {
	shapes := map[string]func(int) map[string][]byte{
		"empty": func(int) map[string][]byte { return nil },
		"ten short": func(i int) map[string][]byte {
			set := map[string][]byte{}
			for k := range 10 {
				set[fmt.Sprint("key", k)] = encodeInt(t, 1<<40+k)
			}
			return set
		},
		"a hundred tiny": func(i int) map[string][]byte {
			set := map[string][]byte{}
			for k := range 100 {
				set[fmt.Sprint(k)] = encodeInt(t, k%100)
			}
			return set
		},
		"one large": func(i int) map[string][]byte {
			return map[string][]byte{"blob": []byte(strings.Repeat("x", 8<<10))}
		},
	}
	for name, shape := range shapes {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			s, clock := openCached(t, 64<<20)
			exp := clock.Now().Add(time.Hour)
			const n = 1000
			for i := range n {
				if err := s.Save(ctx, Update{ID: fmt.Sprint("s", i), Create: true, Expires: exp, Set: shape(i)}); err != nil {
					t.Fatal(err)
				}
			}
			s.cache.clear() // the saves cached their records
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			for i := range n {
				if _, err := s.loadShared(ctx, fmt.Sprint("s", i)); err != nil {
					t.Fatal(err)
				}
			}
			runtime.GC()
			runtime.ReadMemStats(&after)
			counted := 0
			for i := range s.cache.shards {
				counted += s.cache.shards[i].size
			}
			if got := s.cache.len(); got != n {
				t.Fatalf("%d of %d records cached", got, n)
			}
			held := int(after.HeapAlloc) - int(before.HeapAlloc)
			t.Logf("%d cached records: counted %d bytes each, the heap grew %d each", n, counted/n, held/n)
			if counted < held {
				t.Fatalf("entries counted at %d bytes hold %d on the heap", counted, held)
			}
			runtime.KeepAlive(s)
		})
	}
}

// TestCloseEmptiesTheCache: a closed store answers ErrClosed, cached or not.
func TestCloseEmptiesTheCache(t *testing.T) {
	s, clock := openCached(t, 0)
	create(t, s, "a", 1, clock.Now().Add(time.Hour))
	loadedN(t, s, "a")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Load(context.Background(), "a"); !errors.Is(err, ErrClosed) {
		t.Fatalf("Load after Close: %v, want ErrClosed", err)
	}
	if n := s.cache.len(); n != 0 {
		t.Fatalf("%d records cached after Close", n)
	}
}

// stepper runs one goroutine step by step: it stops at every hook until
// the test lets it go on. Once aborted, it stops nowhere.
type stepper struct {
	arrived chan string // the step it stopped at; "done" when it returned
	proceed chan struct{}
	abort   chan struct{}
	started bool
	run     func()
}

func newStepper(abort chan struct{}, run func()) *stepper {
	return &stepper{arrived: make(chan string), proceed: make(chan struct{}), abort: abort, run: run}
}

// hook is the function the store calls at a step.
func (p *stepper) hook(step string) {
	select {
	case p.arrived <- step:
		select {
		case <-p.proceed:
		case <-p.abort:
		}
	case <-p.abort:
	}
}

// next runs the goroutine to its next stop and returns where it stopped.
func (p *stepper) next() string {
	if !p.started {
		p.started = true
		go func() {
			p.run()
			select {
			case p.arrived <- "done":
			case <-p.abort:
			}
		}()
	} else {
		p.proceed <- struct{}{}
	}
	return <-p.arrived
}

// interleavings returns every order of a steps of one goroutine ('r') and b
// of another ('w') that keeps each one's own order.
func interleavings(a, b int) []string {
	if a == 0 {
		return []string{strings.Repeat("w", b)}
	}
	if b == 0 {
		return []string{strings.Repeat("r", a)}
	}
	var out []string
	for _, rest := range interleavings(a-1, b) {
		out = append(out, "r"+rest)
	}
	for _, rest := range interleavings(a, b-1) {
		out = append(out, "w"+rest)
	}
	return out
}

// TestCacheAgainstAWriteInEveryInterleaving runs a Load against a write of
// the same session in every order of their steps, for a merge, a delete
// and a replace, with the session cached and not. A Load that misses the
// cache takes three steps (read the shard's generation; the read
// transaction; add to the cache), one that hits it one; a write takes two
// (its transaction; hand its changes to the cache). Whatever the order,
// the Load sees the session either as before or as after the write, and
// once both have returned a Load sees it as after: no order leaves the
// record the write replaced in the cache.
func TestCacheAgainstAWriteInEveryInterleaving(t *testing.T) {
	writes := map[string]struct {
		do   func(ctx context.Context, s *BoltStore, exp time.Time) error
		want int // n after it; -1: gone
	}{
		"merge": {func(ctx context.Context, s *BoltStore, exp time.Time) error {
			return s.Save(ctx, Update{ID: "a", Expires: exp, Set: map[string][]byte{"n": encodeInt(t, 2)}})
		}, 2},
		"delete": {func(ctx context.Context, s *BoltStore, exp time.Time) error {
			return s.Delete(ctx, "a")
		}, -1},
		"replace": {func(ctx context.Context, s *BoltStore, exp time.Time) error {
			return s.Save(ctx, Update{ID: "b", Create: true, Replaces: "a", Expires: exp})
		}, -1},
	}
	for name, wr := range writes {
		for _, cached := range []bool{false, true} {
			// A Load takes three steps or one, depending on what the
			// cache holds when it starts: the orders are those of three,
			// and a step of a Load that has returned is skipped.
			for _, order := range interleavings(3, 2) {
				t.Run(fmt.Sprintf("%s/cached=%v/%s", name, cached, order), func(t *testing.T) {
					interleaveLoadAndWrite(t, order, cached, wr.do, wr.want)
				})
			}
		}
	}
}

func interleaveLoadAndWrite(t *testing.T, order string, cached bool,
	write func(ctx context.Context, s *BoltStore, exp time.Time) error, want int) {
	ctx := context.Background()
	s, clock := openCached(t, 0)
	exp := clock.Now().Add(time.Hour)
	create(t, s, "a", 1, exp) // cached by the save
	if !cached {
		s.cache.clear()
	}

	var loaded atomic.Int64
	abort := make(chan struct{})
	reader := newStepper(abort, func() {
		rec, err := s.Load(ctx, "a")
		switch {
		case errors.Is(err, ErrNotFound):
			loaded.Store(-1)
		case err != nil:
			t.Error(err)
		default:
			var n int
			if err := msgpack.Unmarshal(rec.Values["n"], &n); err != nil {
				t.Error(err)
			}
			loaded.Store(int64(n))
		}
	})
	writer := newStepper(abort, func() {
		if err := write(ctx, s, exp); err != nil {
			t.Error(err)
		}
	})
	// The hooks are set before the two goroutines start and cleared once
	// both returned, before the checks.
	s.hooks = &cacheHooks{load: reader.hook, write: writer.hook}
	readStops := map[string][]string{ // where a Load may stop after where it is
		"":        {"stamped", "done"}, // a miss, or a hit
		"stamped": {"read"},
		"read":    {"done"},
	}
	var readAt string
	writeStops := []string{"committed", "done"}
	for i := range order {
		if order[i] == 'r' {
			if readAt == "done" {
				continue
			}
			got := reader.next()
			if !slices.Contains(readStops[readAt], got) {
				close(abort) // let both run to their end
				t.Fatalf("step %d of %s: the Load stopped at %q after %q", i, order, got, readAt)
			}
			readAt = got
			continue
		}
		if got := writer.next(); got != writeStops[0] {
			close(abort)
			t.Fatalf("step %d of %s: the write stopped at %q, want %q", i, order, got, writeStops[0])
		}
		writeStops = writeStops[1:]
	}
	if readAt != "done" {
		close(abort)
		t.Fatalf("%s: the Load did not return (at %q)", order, readAt)
	}
	s.hooks = nil

	if n := loaded.Load(); n != 1 && n != int64(want) {
		t.Fatalf("the concurrent Load saw n = %d: neither before (1) nor after (%d)", n, want)
	}
	if n := loadedN(t, s, "a"); n != want {
		t.Fatalf("after both returned: n = %d, want %d (the cache kept what the write replaced)", n, want)
	}
}

// TestCachedLoadsNeverGoBackInTime: writers save increasing counts while
// readers load; a Load that begins after a save returned never sees an
// older count, and the last Load sees the last save.
func TestCachedLoadsNeverGoBackInTime(t *testing.T) {
	ctx := context.Background()
	s, clock := openCached(t, 0)
	exp := clock.Now().Add(time.Hour)
	const ids, saves = 4, 300
	var acked [ids]atomic.Int64
	for i := range ids {
		create(t, s, fmt.Sprint("s", i), 0, exp)
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for i := range ids {
		id := fmt.Sprint("s", i)
		wg.Go(func() {
			for n := 1; n <= saves; n++ {
				if err := s.Save(ctx, Update{ID: id, Expires: exp, Set: map[string][]byte{"n": encodeInt(t, n)}}); err != nil {
					t.Error(err)
					return
				}
				acked[i].Store(int64(n))
			}
		})
	}
	var readers sync.WaitGroup
	for r := range 4 {
		readers.Go(func() {
			for k := 0; ; k++ {
				select {
				case <-stop:
					return
				default:
				}
				i := (r + k) % ids
				floor := acked[i].Load()
				rec, err := s.loadShared(ctx, fmt.Sprint("s", i))
				if err != nil {
					t.Error(err)
					return
				}
				var n int64
				if err := msgpack.Unmarshal(rec.Values["n"], &n); err != nil {
					t.Error(err)
					return
				}
				if n < floor {
					t.Errorf("s%d: loaded n = %d after the save of %d returned", i, n, floor)
					return
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	readers.Wait()
	for i := range ids {
		if n := loadedN(t, s, fmt.Sprint("s", i)); n != saves {
			t.Fatalf("s%d: n = %d at the end, want %d", i, n, saves)
		}
	}
}

// TestRequestsChangeNoCachedRecord: the Manager takes records the store's
// cache shares (loadShared), so a request must change its Session, never
// the record: after a request that sets, deletes and clears values and
// whose save then fails, the next request sees the values as stored.
func TestRequestsChangeNoCachedRecord(t *testing.T) {
	e := newEnv(t, Options{})
	e.mux.HandleFunc("/seed", func(w http.ResponseWriter, r *http.Request) {
		s := FromContext(r.Context())
		s.Set("a", 1)
		s.Set("b", 2)
	})
	e.mux.HandleFunc("/scribble", func(w http.ResponseWriter, r *http.Request) {
		s := FromContext(r.Context())
		s.Set("a", 99)
		s.Delete("b")
		s.Set("c", 3)
		s.Clear()
		s.Set("d", 4)
	})
	e.mux.HandleFunc("/show", func(w http.ResponseWriter, r *http.Request) {
		s := FromContext(r.Context())
		a, _ := Get[int](s, "a")
		b, _ := Get[int](s, "b")
		fmt.Fprintf(w, "a=%d b=%d keys=%v", a, b, s.Keys())
	})
	c := e.newClient()
	e.mustGet(c, "/seed")
	const want = "a=1 b=2 keys=[a b]"
	if got := e.mustGet(c, "/show"); got != want { // the record is cached now
		t.Fatalf("before: %q, want %q", got, want)
	}
	e.store.failSave.Store(true)
	if r := e.get(c, "/scribble"); r.status != http.StatusInternalServerError {
		t.Fatalf("a failing save answered %d", r.status)
	}
	e.store.failSave.Store(false)
	if got := e.mustGet(c, "/show"); got != want {
		t.Fatalf("after a request whose save failed: %q, want %q", got, want)
	}
}

// TestCachedSaveEqualsTheRecordAsLoaded: the record a save hands the cache
// is the one a Load would decode from the file, field for field (times as
// stored, no values as an empty map), for every kind of save.
func TestCachedSaveEqualsTheRecordAsLoaded(t *testing.T) {
	ctx := context.Background()
	s, clock := openCached(t, 0)
	// A time in a zone of its own, as a caller's clock may give.
	exp := clock.Now().In(time.FixedZone("x", 3600)).Add(time.Hour)
	owner, maxAge := "alice", 10*time.Hour
	set := map[string][]byte{"n": encodeInt(t, 1), "s": []byte{0xa1, 'x'}}
	steps := []struct {
		name string
		id   string
		u    Update
	}{
		{"create with values", "a", Update{ID: "a", Create: true, Created: clock.Now(), Expires: exp, Set: set}},
		{"create empty", "b", Update{ID: "b", Create: true, Expires: exp}},
		{"merge", "a", Update{ID: "a", Expires: exp.Add(time.Minute), Set: map[string][]byte{"n": encodeInt(t, 2)}, Delete: []string{"s"}}},
		{"owner and max age", "a", Update{ID: "a", Expires: exp, Owner: &owner, MaxAge: &maxAge}},
		{"clear", "a", Update{ID: "a", Expires: exp, Clear: true, Set: map[string][]byte{"m": encodeInt(t, 3)}}},
		{"clear to nothing", "b", Update{ID: "b", Expires: exp, Clear: true}},
		{"replace", "c", Update{ID: "c", Create: true, Replaces: "a", Expires: exp}},
	}
	for _, st := range steps {
		if err := s.Save(ctx, st.u); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		key := keyOf(st.id)
		cached, ok := s.cache.get(key)
		if !ok {
			t.Fatalf("%s: the saved record is not cached", st.name)
		}
		var decoded *Record
		if err := s.view("test", func(tx *bbolt.Tx) error {
			var err error
			decoded, err = s.decodeRecord(key, st.id, tx.Bucket(bucketSessions).Get(key))
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(cached, decoded) {
			t.Fatalf("%s: cached\n%#v\nthe file holds\n%#v", st.name, cached, decoded)
		}
	}
	// The caller's slices are the caller's: changing them after the save
	// changes nothing stored or cached.
	set["n"][0] = 0x7f
	if err := s.Save(ctx, Update{ID: "d", Create: true, Expires: exp, Set: set}); err != nil {
		t.Fatal(err)
	}
	set["n"][0] = 0x05
	if n := loadedN(t, s, "d"); n != 0x7f {
		t.Fatalf("n = %d after the caller reused its slice, want %d", n, 0x7f)
	}
}

// TestManagerLoadsThroughAWrapperOfBoltStore: a store that embeds a
// *BoltStore to wrap its Load (countingStore here) has the unexported
// shared load promoted; the Manager must still call the wrapper's Load.
func TestManagerLoadsThroughAWrapperOfBoltStore(t *testing.T) {
	e := newEnv(t, Options{})
	c := e.newClient()
	e.mustGet(c, "/incr")
	before := e.store.loads.Load()
	if got := e.mustGet(c, "/incr"); got != "2" {
		t.Fatalf("/incr = %q, want 2", got)
	}
	if n := e.store.loads.Load() - before; n != 1 {
		t.Fatalf("the wrapper's Load ran %d times for a request with a session, want 1", n)
	}
}

// TestCacheWithSweeperRekeyAndDeletesAtOnce runs the store's background
// work against its cache all at once: the sweeper (every few
// milliseconds) removing sessions as the clock passes their expiry, Rekey
// resealing every record under a new key, a goroutine deleting sessions,
// and readers. A session deleted or expired is never loaded after that,
// every other session loads its own value throughout, and at the end the
// cache and the file (the store opened again, with no cache) agree.
func TestCacheWithSweeperRekeyAndDeletesAtOnce(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "s.db")
	oldKey, newKey := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)
	clock := newTestClock()
	open := func(keys [][]byte, interval time.Duration, cache int) *BoltStore {
		s, err := Open(path, &BoltOptions{NoSync: true, Now: clock.Now, SweepInterval: interval, ValueKeys: keys,
			CacheSize: cache, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	const n = 300
	s := open([][]byte{oldKey}, -1, 0)
	for i := range n {
		life := time.Hour
		if i%3 == 0 {
			life = time.Minute // expires when the clock moves, below
		}
		create(t, s, fmt.Sprint("s", i), i, clock.Now().Add(life))
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = open([][]byte{newKey, oldKey}, 2*time.Millisecond, 0)
	for i := range n {
		loadedN(t, s, fmt.Sprint("s", i)) // all cached
	}
	var gone sync.Map // IDs deleted or expired, stored once that is final
	clock.Advance(2 * time.Minute)
	for i := 0; i < n; i += 3 {
		gone.Store(fmt.Sprint("s", i), true) // expired: Load must not return them now
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Go(func() {
		if _, err := s.Rekey(ctx, nil); err != nil {
			t.Error(err)
		}
	})
	wg.Go(func() {
		for i := 1; i < n; i += 3 {
			id := fmt.Sprint("s", i)
			if err := s.Delete(ctx, id); err != nil {
				t.Error(err)
				return
			}
			gone.Store(id, true)
			if _, err := s.loadShared(ctx, id); !errors.Is(err, ErrNotFound) {
				t.Errorf("%s loads right after its delete returned: %v", id, err)
				return
			}
		}
	})
	for r := range 2 {
		wg.Go(func() {
			for k := r; ; k = (k + 7) % n {
				select {
				case <-stop:
					return
				default:
				}
				id := fmt.Sprint("s", k)
				_, wasGone := gone.Load(id)
				rec, err := s.loadShared(ctx, id)
				switch {
				case errors.Is(err, ErrNotFound):
					if k%3 == 2 {
						t.Errorf("%s, never deleted, is not found", id)
						return
					}
				case err != nil:
					t.Error(err)
					return
				case wasGone:
					t.Errorf("%s loads after it was deleted or expired", id)
					return
				default:
					var got int
					if err := msgpack.Unmarshal(rec.Values["n"], &got); err != nil || got != k {
						t.Errorf("%s: n = %d (%v), want %d", id, got, err, k)
						return
					}
				}
			}
		})
	}
	time.Sleep(200 * time.Millisecond) // the sweeper runs about a hundred times meanwhile
	close(stop)
	wg.Wait()
	cached := map[string]int{}
	for i := range n {
		cached[fmt.Sprint("s", i)] = loadedN(t, s, fmt.Sprint("s", i))
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	file := open([][]byte{newKey}, -1, -1) // the new key alone: everything was resealed
	defer file.Close()
	for i := range n {
		id := fmt.Sprint("s", i)
		want := i
		if i%3 != 2 {
			want = -1
		}
		if got := loadedN(t, file, id); got != want || cached[id] != want {
			t.Fatalf("%s: the file holds %d, the cache said %d, want %d", id, got, cached[id], want)
		}
	}
}

// len returns the number of cached records.
func (c *readCache) len() int {
	if c == nil {
		return 0
	}
	n := 0
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.Lock()
		n += len(sh.m)
		sh.mu.Unlock()
	}
	return n
}
