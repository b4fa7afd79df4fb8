// Command scale checks how BoltStore behaves at a million sessions. It
// prints measurements, not verdicts: each figure is set beside the goal it
// speaks to, and docs/PERFORMANCE.md records a run.
//
//	go run ./cmd/scale                  # 1,000,000 sessions, all checks
//	go run ./cmd/scale -sessions 100000 -expired 10000   # a quick run
//
// The checks:
//
//	load   Load of a random live session at -small sessions vs at -sessions,
//	       and beside it the same lookup on bbolt alone (View, Get, copy)
//	       and on an scs memstore (a Go map): what this machine's caches
//	       and memory charge any store for the larger set
//	heap   Go heap (after GC) once -sessions sessions have been created
//	sweep  a sweep of -expired expired sessions among -sessions, while
//	       -loaders goroutines Load live sessions: Load p50/p99 before and
//	       during the sweep, and how long the sweep took
//	churn  file size over -cycles create/expire/sweep cycles of -churn
//	       sessions each: a file that reuses freed pages stops growing
//	fill   /read latency (the middleware, -loaders goroutines) while
//	       -writers goroutines fill an empty file up to -sessions at
//	       -fill-rate saves a second, fsync on, against the same reads
//	       while the same writers save at the same rate into the full
//	       file, which then no longer grows: bbolt maps the file again,
//	       larger, each time it outgrows its mapping, and every read
//	       waits meanwhile. -fill-nosync makes both phases NoSync.
//
// The load, sweep and fill checks time the file: they open the store with
// its read cache off (-cache-size -1), since a cache of recently read
// sessions would only time the cache. The heap check keeps the default
// cache, as an application does: the heap it reports includes what the
// cache holds of the sessions just saved.
//
// Sessions hold ten 16-byte string values and a counter, like the other
// benchmarks. They are created through Save by -writers goroutines with
// NoSync on (creation speed is not what is measured; the file is the same),
// then the store is reopened with fsync on for the measurements. Time moves
// by an injected clock, so expiry needs no waiting.
package main

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/alexedwards/scs/v2/memstore"
	"github.com/boltsession/boltsession"
	"github.com/vmihailenco/msgpack/v5"
	bolt "go.etcd.io/bbolt"
)

// out receives the report; tests capture it.
var out io.Writer = os.Stdout

type config struct {
	sessions, small, expired int
	writers, loaders         int
	loadOps                  int
	baseline                 time.Duration
	cycles, churn            int
	fillRate, fillReads      int
	fillSteady               time.Duration
	fillNoSync               bool
	cacheSize                int // BoltOptions.CacheSize of the load, sweep and fill checks
	dir                      string
	checks                   map[string]bool
}

func main() {
	var cfg config
	var checks string
	flag.IntVar(&cfg.sessions, "sessions", 1_000_000, "sessions in the large store")
	flag.IntVar(&cfg.small, "small", 10_000, "sessions in the small store (load check)")
	flag.IntVar(&cfg.expired, "expired", 100_000, "of -sessions, how many expire before the sweep")
	flag.IntVar(&cfg.writers, "writers", 256, "goroutines creating sessions")
	flag.IntVar(&cfg.loaders, "loaders", 2, "goroutines loading during the sweep check")
	flag.IntVar(&cfg.loadOps, "load-ops", 200_000, "Loads timed per store in the load check")
	flag.DurationVar(&cfg.baseline, "baseline", 2*time.Second, "how long Loads run for the no-sweep baseline")
	flag.IntVar(&cfg.cycles, "cycles", 10, "create/expire/sweep cycles in the churn check")
	flag.IntVar(&cfg.churn, "churn", 50_000, "sessions created per churn cycle")
	flag.IntVar(&cfg.fillRate, "fill-rate", 20_000, "saves per second in the fill check, filling and steady")
	flag.IntVar(&cfg.fillReads, "fill-read-sessions", 10_000, "sessions the fill check reads (created first)")
	flag.DurationVar(&cfg.fillSteady, "fill-steady", 20*time.Second, "how long the fill check's steady phase runs")
	flag.BoolVar(&cfg.fillNoSync, "fill-nosync", false, "fill check with NoSync (CPU-bound, free of fsync latency)")
	flag.IntVar(&cfg.cacheSize, "cache-size", -1, "BoltOptions.CacheSize in the load, sweep and fill checks; -1 (no cache) so that they time the file, 0 for the default cache")
	flag.StringVar(&cfg.dir, "dir", "", "directory for the files (default: a temporary directory, removed at exit)")
	flag.StringVar(&checks, "checks", "load,heap,sweep,churn", "checks to run (also: fill)")
	flag.Parse()
	cfg.checks = map[string]bool{}
	for _, c := range strings.Split(checks, ",") {
		cfg.checks[strings.TrimSpace(c)] = true
	}
	if cfg.dir == "" {
		d, err := os.MkdirTemp("", "scale-")
		if err != nil {
			log.Fatal(err)
		}
		defer os.RemoveAll(d)
		cfg.dir = d
	}
	if err := run(cfg); err != nil {
		log.Fatal(err)
	}
}

// clock is the stores' injected clock: real time plus an offset that the
// checks move forward to expire sessions.
type clock struct{ offset atomic.Int64 }

func (c *clock) now() time.Time          { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *clock) advance(d time.Duration) { c.offset.Add(int64(d)) }

func run(cfg config) error {
	if (cfg.checks["load"] || cfg.checks["heap"] || cfg.checks["sweep"]) && (cfg.expired >= cfg.sessions || cfg.small < 1) {
		return fmt.Errorf("-expired (%d) must be below -sessions (%d), and -small (%d) at least 1: the checks load live sessions",
			cfg.expired, cfg.sessions, cfg.small)
	}
	fmt.Fprintf(out, "scale: %s, %d CPUs, %s; %d sessions (small %d), %d expired, load avg %s\n",
		runtime.GOOS+"/"+runtime.GOARCH, runtime.NumCPU(), runtime.Version(), cfg.sessions, cfg.small, cfg.expired, loadAvg())
	clk := &clock{}
	large := filepath.Join(cfg.dir, "large.db")
	needLarge := cfg.checks["load"] || cfg.checks["heap"] || cfg.checks["sweep"]
	var sample []string
	if needLarge {
		var err error
		sample, err = createStore(cfg, large, clk, cfg.sessions, cfg.expired, cfg.checks["heap"])
		if err != nil {
			return err
		}
	}
	if cfg.checks["load"] {
		smallPath := filepath.Join(cfg.dir, "small.db")
		smallSample, err := createStore(cfg, smallPath, clk, cfg.small, 0, false)
		if err != nil {
			return err
		}
		if err := loadCheck(cfg, large, smallPath, clk, sample, smallSample); err != nil {
			return err
		}
	}
	if cfg.checks["sweep"] {
		if err := sweepCheck(cfg, large, clk, sample); err != nil {
			return err
		}
	}
	if cfg.checks["churn"] {
		if err := churnCheck(cfg, filepath.Join(cfg.dir, "churn.db"), clk); err != nil {
			return err
		}
	}
	if cfg.checks["fill"] {
		if err := fillCheck(cfg, filepath.Join(cfg.dir, "fill.db"), clk); err != nil {
			return err
		}
	}
	return nil
}

// record is the Set of every created session.
var record = func() map[string][]byte {
	set := map[string][]byte{}
	for i := range 10 {
		set[fmt.Sprintf("k%d", i)] = mustMsgpack(fmt.Sprintf("value-%010d", i))
	}
	set["count"] = mustMsgpack(0)
	return set
}()

func mustMsgpack(v any) []byte {
	b, err := msgpack.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// newID makes an ID the way the middleware does: 32 random bytes, base64url.
func newID() string {
	var b [32]byte
	_, _ = crand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

const (
	liveFor  = 24 * time.Hour
	shortFor = time.Hour
)

// createSessions saves n new sessions through st from cfg.writers
// goroutines; the first expired of them live shortFor, the rest liveFor. It
// returns up to 10,000 IDs of long-lived ones.
func createSessions(cfg config, st *boltsession.BoltStore, clk *clock, n, expired int) ([]string, error) {
	var next atomic.Int64
	var mu sync.Mutex
	var sample []string
	var firstErr error
	var wg sync.WaitGroup
	for range cfg.writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				id := newID()
				life := liveFor
				if i < expired {
					life = shortFor
				}
				now := clk.now()
				err := st.Save(context.Background(), boltsession.Update{
					ID: id, Create: true, Created: now, Expires: now.Add(life), Set: record,
				})
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = err
				}
				if i >= expired && len(sample) < 10_000 {
					sample = append(sample, id)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return sample, firstErr
}

// createStore creates path with n sessions (NoSync), reports the time and,
// with reportHeap, the Go heap afterwards.
func createStore(cfg config, path string, clk *clock, n, expired int, reportHeap bool) ([]string, error) {
	st, err := boltsession.Open(path, &boltsession.BoltOptions{NoSync: true, SweepInterval: -1, Now: clk.now})
	if err != nil {
		return nil, err
	}
	start := time.Now()
	sample, err := createSessions(cfg, st, clk, n, expired)
	if err != nil {
		st.Close()
		return nil, err
	}
	took := time.Since(start)
	stats := st.Stats()
	fmt.Fprintf(out, "create: %d sessions in %v (%.0f/s, NoSync, %d writers, %.1f saves per commit), file %s\n",
		n, took.Round(time.Millisecond), float64(n)/took.Seconds(), cfg.writers,
		float64(stats.Writes)/float64(max(1, stats.Commits)), mib(stats.FileSize))
	if reportHeap {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		fmt.Fprintf(out, "heap: after creating %d sessions, store open: HeapAlloc %s, HeapInuse %s, Sys %s (goal: heap < 64 MiB)\n",
			n, mib(int64(ms.HeapAlloc)), mib(int64(ms.HeapInuse)), mib(int64(ms.Sys)))
	}
	if err := st.Close(); err != nil {
		return nil, err
	}
	// The file was written without fsync; write it out now, so the kernel
	// flushing hundreds of MiB is not part of what the checks measure.
	return sample, syncFile(path)
}

func syncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

type loadTimes struct{ median, mean time.Duration }

func (t loadTimes) String() string { return fmt.Sprintf("median %v, mean %v", t.median, t.mean) }

// ratio is how many times slower big is than small, by median.
func ratio(small, big loadTimes) float64 { return float64(big.median) / float64(small.median) }

// timeOps warms up by running op once on every sampled ID, so every
// record's pages are in the page cache and page faults are not counted,
// then times cfg.loadOps calls of op on random sampled IDs, one at a time.
func timeOps(cfg config, sample []string, op func(id string) error) (loadTimes, error) {
	for _, id := range sample {
		if err := op(id); err != nil {
			return loadTimes{}, err
		}
	}
	d := make([]time.Duration, cfg.loadOps)
	var total time.Duration
	for i := range d {
		id := sample[rand.IntN(len(sample))]
		t0 := time.Now()
		if err := op(id); err != nil {
			return loadTimes{}, err
		}
		d[i] = time.Since(t0)
		total += d[i]
	}
	slices.Sort(d)
	return loadTimes{median: d[len(d)/2], mean: total / time.Duration(len(d))}, nil
}

// timeLoads reopens path with default options (fsync on) and times Loads
// of sampled IDs.
func timeLoads(cfg config, path string, clk *clock, sample []string) (loadTimes, error) {
	st, err := boltsession.Open(path, &boltsession.BoltOptions{SweepInterval: -1, Now: clk.now, CacheSize: cfg.cacheSize})
	if err != nil {
		return loadTimes{}, err
	}
	defer st.Close()
	ctx := context.Background()
	return timeOps(cfg, sample, func(id string) error {
		_, err := st.Load(ctx, id)
		return err
	})
}

// timeRequests times what a request pays: the middleware, on the store at
// path, serving a GET that carries a sampled session's signed cookie and
// reads one value (inside TouchAfter, so nothing is written).
func timeRequests(cfg config, path string, clk *clock, sample []string) (loadTimes, error) {
	st, err := boltsession.Open(path, &boltsession.BoltOptions{SweepInterval: -1, Now: clk.now, CacheSize: cfg.cacheSize})
	if err != nil {
		return loadTimes{}, err
	}
	defer st.Close()
	key := make([]byte, 32)
	_, _ = crand.Read(key)
	codec, err := boltsession.SecureCookie(key)
	if err != nil {
		return loadTimes{}, err
	}
	m, err := boltsession.New(st, boltsession.Options{Codec: codec, Now: clk.now})
	if err != nil {
		return loadTimes{}, err
	}
	var handlerErr error
	h := m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, handlerErr = boltsession.Get[string](boltsession.FromContext(r.Context()), "k0")
	}))
	cookies := make(map[string][]string, len(sample))
	for _, id := range sample {
		value, err := codec.Encode("sid", id)
		if err != nil {
			return loadTimes{}, err
		}
		cookies[id] = []string{"sid=" + value}
	}
	// One request, its Cookie header swapped per call: what a server holds
	// per request is one fresh request, not thousands kept in memory.
	r := httptest.NewRequest(http.MethodGet, "/read", nil)
	w := &discardWriter{h: http.Header{}}
	writes := st.Stats().Writes
	t, err := timeOps(cfg, sample, func(id string) error {
		clear(w.h)
		r.Header["Cookie"] = cookies[id]
		h.ServeHTTP(w, r)
		return handlerErr
	})
	if err == nil && st.Stats().Writes != writes {
		err = errors.New("the read requests wrote to the store")
	}
	return t, err
}

// discardWriter keeps the headers and drops the body, so the figure is
// the middleware's and not a recorder's.
type discardWriter struct{ h http.Header }

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *discardWriter) WriteHeader(int)             {}

// timeBoltGets times the floor under Load on the same closed session file:
// bbolt's own read transaction and Get by the session's key (its handle,
// computed outside the timing), plus a copy of the stored bytes
// (which Load must make, as nothing may be kept from a transaction). It
// also returns one stored record, for the map check to hold.
func timeBoltGets(cfg config, path string, sample []string) (loadTimes, []byte, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		return loadTimes{}, nil, err
	}
	defer db.Close()
	// The store keys a session by its handle (the SHA-256 of its ID):
	// look each one up by that key, computed here, outside what is timed.
	keys := make(map[string][]byte, len(sample))
	for _, id := range sample {
		k, err := hex.DecodeString(boltsession.Handle(id))
		if err != nil {
			return loadTimes{}, nil, err
		}
		keys[id] = k
	}
	var last []byte
	t, err := timeOps(cfg, sample, func(id string) error {
		return db.View(func(tx *bolt.Tx) error {
			v := tx.Bucket([]byte("sessions")).Get(keys[id])
			if v == nil {
				return fmt.Errorf("%s: no session %q", path, id)
			}
			last = bytes.Clone(v)
			return nil
		})
	})
	return t, last, err
}

// timeMapFinds fills an scs memstore (a Go map behind a mutex, no I/O)
// with n copies of rec under random tokens and times Finds of the first
// 10,000 tokens it stored: the same question asked of a store that keeps
// everything in the Go heap.
func timeMapFinds(cfg config, n int, rec []byte) (loadTimes, error) {
	m := memstore.NewWithCleanupInterval(0)
	expiry := time.Now().Add(liveFor)
	sample := make([]string, 0, min(n, 10_000))
	for i := range n {
		token := newID()
		if err := m.Commit(token, bytes.Clone(rec), expiry); err != nil {
			return loadTimes{}, err
		}
		if i < cap(sample) {
			sample = append(sample, token)
		}
	}
	return timeOps(cfg, sample, func(token string) error {
		if _, found, err := m.Find(token); err != nil || !found {
			return fmt.Errorf("memstore: find: found %v, %v", found, err)
		}
		return nil
	})
}

// loadCheck sets Load at cfg.small sessions beside Load at cfg.sessions,
// then asks the same of a request through the middleware, of bbolt alone
// and of an in-memory map, so the ratio has its floors beside it: how much
// of the growth any store pays on this machine's memory.
func loadCheck(cfg config, large, smallPath string, clk *clock, sample, smallSample []string) error {
	type size struct {
		n      int
		path   string
		sample []string
	}
	sizes := [2]size{{cfg.small, smallPath, smallSample}, {cfg.sessions, large, sample}}
	var rec []byte // a stored record, for the map to hold
	checks := []struct {
		name, goal string
		time       func(size) (loadTimes, error)
	}{
		{"boltsession Load", " (goal ≤ 1.5×)", func(s size) (loadTimes, error) {
			return timeLoads(cfg, s.path, clk, s.sample)
		}},
		{"a /read request through the middleware", "", func(s size) (loadTimes, error) {
			return timeRequests(cfg, s.path, clk, s.sample)
		}},
		{"bbolt View+Get+copy", "", func(s size) (t loadTimes, err error) {
			t, rec, err = timeBoltGets(cfg, s.path, s.sample)
			return t, err
		}},
		{"scs memstore Find (Go map)", "", func(s size) (loadTimes, error) {
			return timeMapFinds(cfg, s.n, rec)
		}},
	}
	for _, c := range checks {
		var t [2]loadTimes
		for i, s := range sizes {
			var err error
			if t[i], err = c.time(s); err != nil {
				return fmt.Errorf("load check, %s at %d sessions: %w", c.name, s.n, err)
			}
		}
		fmt.Fprintf(out, "load: %s: %d sessions: %v | %d sessions: %v | ratio (median) %.2f×%s\n",
			c.name, cfg.small, t[0], cfg.sessions, t[1], ratio(t[0], t[1]), c.goal)
	}
	// The million-entry map is garbage now; collect it here rather than in
	// the middle of the sweep check's baseline.
	runtime.GC()
	for _, s := range sizes {
		shape, err := treeShape(s.path)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "load: %d sessions: %s\n", s.n, shape)
	}
	return nil
}

// sweepCheck measures Load latency with no sweep, then advances the clock
// past the short-lived sessions and sweeps while the same Loads run.
func sweepCheck(cfg config, path string, clk *clock, sample []string) error {
	st, err := boltsession.Open(path, &boltsession.BoltOptions{SweepInterval: -1, Now: clk.now, CacheSize: cfg.cacheSize})
	if err != nil {
		return err
	}
	defer st.Close()
	before := st.Stats()
	// A fresh mapping faults each page in on first touch; fault the sampled
	// records in first, so the baseline's p99 is not those faults.
	for _, id := range sample {
		if _, err := st.Load(context.Background(), id); err != nil {
			return fmt.Errorf("sweep check warm-up: %w", err)
		}
	}

	baseline := loadDuring(cfg, st, sample, func() { time.Sleep(cfg.baseline) })

	clk.advance(shortFor + time.Minute)
	var res boltsession.SweepResult
	var sweepErr error
	during := loadDuring(cfg, st, sample, func() { res, sweepErr = st.Sweep(context.Background()) })
	if sweepErr != nil {
		return sweepErr
	}
	after := st.Stats()
	fmt.Fprintf(out, "sweep: %d stored, %d past expiry once the clock moved: swept %d in %v (%d transactions, fsync on); live after %d\n",
		before.Sessions+before.Expired, cfg.expired, res.Swept, res.Duration.Round(time.Millisecond),
		res.Transactions, after.Sessions)
	fmt.Fprintf(out, "sweep: Load with %d loaders, no sweep: p50 %v p99 %v (%d loads) | during the sweep: p50 %v p99 %v (%d loads) | p99 ratio %.2f× (goal ≤ 2×)\n",
		cfg.loaders, baseline.p50, baseline.p99, baseline.n, during.p50, during.p99, during.n,
		float64(during.p99)/float64(baseline.p99))
	return nil
}

type latency struct {
	p50, p99 time.Duration
	n        int
}

// loadDuring runs cfg.loaders goroutines loading random sampled IDs until
// work returns, and reports their latency percentiles.
func loadDuring(cfg config, st *boltsession.BoltStore, sample []string, work func()) latency {
	var stop atomic.Bool
	var mu sync.Mutex
	var all []time.Duration
	var wg sync.WaitGroup
	for range cfg.loaders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var d []time.Duration
			ctx := context.Background()
			for !stop.Load() {
				id := sample[rand.IntN(len(sample))]
				t0 := time.Now()
				if _, err := st.Load(ctx, id); err != nil {
					log.Printf("load during check: %v", err)
					return
				}
				d = append(d, time.Since(t0))
			}
			mu.Lock()
			all = append(all, d...)
			mu.Unlock()
		}()
	}
	work()
	stop.Store(true)
	wg.Wait()
	if len(all) == 0 {
		return latency{}
	}
	slices.Sort(all)
	return latency{p50: all[len(all)/2], p99: all[len(all)*99/100], n: len(all)}
}

// churnCheck creates cfg.churn sessions per cycle that live 1.5 cycles,
// moves the clock one cycle on and sweeps, so about two cycles' worth are
// stored at any time; it prints the file size after every cycle.
func churnCheck(cfg config, path string, clk *clock) error {
	st, err := boltsession.Open(path, &boltsession.BoltOptions{SweepInterval: -1, Now: clk.now})
	if err != nil {
		return err
	}
	defer st.Close()
	const cycle = time.Hour
	var sizes []string
	for range cfg.cycles {
		if _, err := createChurn(cfg, st, clk, cfg.churn, cycle*3/2); err != nil {
			return err
		}
		clk.advance(cycle)
		if _, err := st.Sweep(context.Background()); err != nil {
			return err
		}
		s := st.Stats()
		sizes = append(sizes, fmt.Sprintf("%s (%d live)", mib(s.FileSize), s.Sessions))
	}
	fmt.Fprintf(out, "churn: %d sessions per cycle, each living 1.5 cycles, fsync on; file size after each cycle: %s\n",
		cfg.churn, strings.Join(sizes, ", "))
	return nil
}

func createChurn(cfg config, st *boltsession.BoltStore, clk *clock, n int, life time.Duration) (int, error) {
	var next atomic.Int64
	var failed atomic.Pointer[error]
	var wg sync.WaitGroup
	for range cfg.writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for int(next.Add(1)) <= n {
				now := clk.now()
				if err := st.Save(context.Background(), boltsession.Update{
					ID: newID(), Create: true, Created: now, Expires: now.Add(life), Set: record,
				}); err != nil {
					failed.CompareAndSwap(nil, &err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if p := failed.Load(); p != nil {
		return 0, *p
	}
	return n, nil
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// treeShape describes the sessions bucket's B+tree of a closed session file
// (read with bbolt directly): how many pages a Load walks and how full
// they are, which is what a Load's cost grows with.
func treeShape(path string) (string, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		return "", err
	}
	defer db.Close()
	var st bolt.BucketStats
	err = db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("sessions"))
		if b == nil {
			return fmt.Errorf("%s has no sessions bucket", path)
		}
		st = b.Stats()
		return nil
	})
	if err != nil {
		return "", err
	}
	fill := func(inuse, alloc int) float64 { return 100 * float64(inuse) / float64(max(1, alloc)) }
	return fmt.Sprintf("sessions tree depth %d (pages a Load walks), %d branch + %d leaf pages, leaves %.0f%% full",
		st.Depth, st.BranchPageN, st.LeafPageN, fill(st.LeafInuse, st.LeafAlloc)), nil
}
