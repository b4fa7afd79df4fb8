package main

import (
	"cmp"
	"context"
	crand "crypto/rand"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/boltsession/boltsession"
)

// fillCheck measures goal 5 of the performance work: no latency cliff
// while the file grows. Readers send /read requests through the
// middleware for cfg.fillReads sessions created first, while writers
// create sessions up to cfg.sessions at cfg.fillRate a second (fill), and
// then, with the file full, save into random ones of them at the same rate
// for cfg.fillSteady (steady): the same reads and the same write load, on
// a file that grows and on one that does not. It prints both latency
// distributions, their p99 ratio, how often the file grew and bbolt
// mapped it again, and the slowest reads with when they happened.
func fillCheck(cfg config, path string, clk *clock) error {
	st, err := boltsession.Open(path, &boltsession.BoltOptions{SweepInterval: -1, Now: clk.now, NoSync: cfg.fillNoSync, CacheSize: cfg.cacheSize})
	if err != nil {
		return err
	}
	defer st.Close()
	reads := min(cfg.fillReads, cfg.sessions)
	readIDs, err := createIDs(st, clk, reads)
	if err != nil {
		return err
	}
	h, cookies, err := readHandler(st, clk, readIDs)
	if err != nil {
		return err
	}

	// Every ID, so the steady phase can save into sessions spread over
	// the whole file, as the fill's creates are.
	ids := make([]string, cfg.sessions)
	copy(ids, readIDs)
	var created atomic.Int64
	created.Store(int64(reads))
	var growths int
	var lastSize, lastMap int64
	var remaps []string
	var start time.Time
	watch := func() {
		if fi, err := os.Stat(path); err == nil && fi.Size() != lastSize {
			lastSize = fi.Size()
			growths++
		}
		if m := mappedSize(path); m > 0 && m != lastMap {
			if lastMap > 0 {
				remaps = append(remaps, fmt.Sprintf("%s→%s at %v", mib(lastMap), mib(m), time.Since(start).Round(time.Millisecond)))
			}
			lastMap = m
		}
	}
	start = time.Now()
	watch()
	fill := readDuring(cfg, h, cookies, start, func() error {
		return paced(cfg, func() (bool, error) {
			i := created.Add(1) - 1
			if i >= int64(cfg.sessions) {
				return false, nil
			}
			ids[i] = newID()
			now := clk.now()
			return true, st.Save(context.Background(), boltsession.Update{
				ID: ids[i], Create: true, Created: now, Expires: now.Add(liveFor), Set: record,
			})
		}, watch)
	})
	if fill.err != nil {
		return fill.err
	}
	fillTook := time.Since(start)
	// All sessions written: make the same number of saves a second into
	// sessions that exist, so the file keeps its size.
	steadyStart := time.Now()
	stop := steadyStart.Add(cfg.fillSteady)
	var n atomic.Int64
	steady := readDuring(cfg, h, cookies, steadyStart, func() error {
		return paced(cfg, func() (bool, error) {
			if time.Now().After(stop) {
				return false, nil
			}
			i := n.Add(1)
			now := clk.now()
			return true, st.Save(context.Background(), boltsession.Update{
				ID: ids[rand.IntN(len(ids))], Set: map[string][]byte{"count": mustMsgpack(int(i))}, Expires: now.Add(liveFor),
			})
		}, nil)
	})
	if steady.err != nil {
		return steady.err
	}
	steadyTook := cfg.fillSteady + time.Since(stop)
	stats := st.Stats()
	durability := "fsync on"
	if cfg.fillNoSync {
		durability = "NoSync"
	}
	fmt.Fprintf(out, "fill: %d sessions created in %v, %.0f saves/s (target %d, %s, %d writers); file %s, grew %d times; steady: %.0f saves/s\n",
		cfg.sessions, fillTook.Round(time.Millisecond), float64(cfg.sessions-reads)/fillTook.Seconds(), cfg.fillRate, durability, cfg.writers,
		mib(stats.FileSize), max(0, growths-1), float64(n.Load())/steadyTook.Seconds())
	if len(remaps) > 0 {
		fmt.Fprintf(out, "fill: bbolt mapped the file again %d times: %s\n", len(remaps), strings.Join(remaps, ", "))
	}
	fmt.Fprintf(out, "fill: /read with %d readers while the file fills: %v | steady size, same save rate: %v | p99 ratio %.2f× (goal ≤ 2×)\n",
		cfg.loaders, fill, steady, float64(fill.p99)/float64(steady.p99))
	fmt.Fprintf(out, "fill: slowest reads while filling: %s | steady: %s\n", fill.slowest, steady.slowest)
	return nil
}

// createIDs creates n sessions, through Save from cfg.writers goroutines,
// and returns their IDs.
func createIDs(st *boltsession.BoltStore, clk *clock, n int) ([]string, error) {
	ids := make([]string, n)
	var next atomic.Int64
	var failed atomic.Pointer[error]
	var wg sync.WaitGroup
	for range 64 {
		wg.Go(func() {
			for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
				ids[i] = newID()
				now := clk.now()
				if err := st.Save(context.Background(), boltsession.Update{
					ID: ids[i], Create: true, Created: now, Expires: now.Add(liveFor), Set: record,
				}); err != nil {
					failed.CompareAndSwap(nil, &err)
					return
				}
			}
		})
	}
	wg.Wait()
	if p := failed.Load(); p != nil {
		return nil, *p
	}
	return ids, nil
}

// readHandler is the middleware on st serving a /read that reads one
// value, and the Cookie header of each of ids.
func readHandler(st *boltsession.BoltStore, clk *clock, ids []string) (http.Handler, [][]string, error) {
	key := make([]byte, 32)
	_, _ = crand.Read(key)
	codec, err := boltsession.SecureCookie(key)
	if err != nil {
		return nil, nil, err
	}
	m, err := boltsession.New(st, boltsession.Options{Codec: codec, Now: clk.now})
	if err != nil {
		return nil, nil, err
	}
	h := m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := boltsession.FromContext(r.Context())
		if s.IsNew() {
			http.Error(w, "no session", http.StatusNotFound)
			return
		}
		if _, err := boltsession.Get[string](s, "k0"); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	}))
	cookies := make([][]string, len(ids))
	for i, id := range ids {
		value, err := codec.Encode("sid", id)
		if err != nil {
			return nil, nil, err
		}
		cookies[i] = []string{"sid=" + value}
	}
	return h, cookies, nil
}

// paced runs save from cfg.writers goroutines, at most cfg.fillRate calls
// a second in all, until one returns false or an error; tick, if not nil,
// runs every 100 ms meanwhile.
func paced(cfg config, save func() (bool, error), tick func()) error {
	tokens := make(chan struct{}, cfg.fillRate)
	done := make(chan struct{})
	var feeder sync.WaitGroup
	feeder.Go(func() {
		const step = time.Millisecond
		t := time.NewTicker(step)
		defer t.Stop()
		last, owed := time.Now(), 0.0
		for ticks := 0; ; ticks++ {
			select {
			case <-done:
				return
			case now := <-t.C:
				owed += now.Sub(last).Seconds() * float64(cfg.fillRate)
				last = now
				for ; owed >= 1; owed-- {
					select {
					case tokens <- struct{}{}:
					default: // writers are behind: do not bank more than a second
					}
				}
				if tick != nil && ticks%100 == 0 {
					tick()
				}
			}
		}
	})
	var failed atomic.Pointer[error]
	var wg sync.WaitGroup
	for range cfg.writers {
		wg.Go(func() {
			for {
				select {
				case <-tokens:
				case <-done:
					return
				}
				more, err := save()
				if err != nil {
					failed.CompareAndSwap(nil, &err)
				}
				if !more || err != nil {
					return
				}
			}
		})
	}
	wg.Wait()
	close(done)
	feeder.Wait()
	if tick != nil {
		tick()
	}
	if p := failed.Load(); p != nil {
		return *p
	}
	return nil
}

type readLatency struct {
	latency
	p999, max time.Duration
	slowest   string // the slowest few, with when they started
	err       error
}

func (l readLatency) String() string {
	return fmt.Sprintf("p50 %v p99 %v p99.9 %v max %v (%d requests)", l.p50, l.p99, l.p999, l.max.Round(time.Microsecond), l.n)
}

// slowRead is one read's latency and when, after the phase began, it
// started.
type slowRead struct{ took, at time.Duration }

// keepSlowest keeps the n slowest reads in s, slowest first.
func keepSlowest(s []slowRead, r slowRead, n int) []slowRead {
	if len(s) == n && r.took <= s[n-1].took {
		return s
	}
	i, _ := slices.BinarySearchFunc(s, r, func(a, b slowRead) int { return cmp.Compare(b.took, a.took) })
	s = slices.Insert(s, i, r)
	return s[:min(len(s), n)]
}

// readDuring sends /read requests from cfg.loaders goroutines, each for a
// random session of cookies, until work returns, and reports their
// latencies; the slowest are timed from start.
func readDuring(cfg config, h http.Handler, cookies [][]string, start time.Time, work func() error) readLatency {
	const keep = 5
	var stop atomic.Bool
	var mu sync.Mutex
	var all []time.Duration
	var slow []slowRead
	var readErr atomic.Pointer[error]
	var wg sync.WaitGroup
	for range cfg.loaders {
		wg.Go(func() {
			r := httptest.NewRequest(http.MethodGet, "/read", nil)
			w := &statusRecorder{discardWriter: discardWriter{h: http.Header{}}}
			var d []time.Duration
			var mine []slowRead
			for !stop.Load() {
				clear(w.h)
				w.code = 0
				r.Header["Cookie"] = cookies[rand.IntN(len(cookies))]
				t0 := time.Now()
				h.ServeHTTP(w, r)
				took := time.Since(t0)
				d = append(d, took)
				mine = keepSlowest(mine, slowRead{took, t0.Sub(start)}, keep)
				if w.code != 0 && w.code != http.StatusOK {
					err := fmt.Errorf("/read answered %d", w.code)
					readErr.CompareAndSwap(nil, &err)
					break
				}
			}
			mu.Lock()
			all = append(all, d...)
			for _, r := range mine {
				slow = keepSlowest(slow, r, keep)
			}
			mu.Unlock()
		})
	}
	err := work()
	stop.Store(true)
	wg.Wait()
	if p := readErr.Load(); p != nil && err == nil {
		err = *p
	}
	if len(all) == 0 && err == nil {
		err = errors.New("no /read request completed")
	}
	if err != nil {
		return readLatency{err: err}
	}
	slices.Sort(all)
	var desc []string
	for _, r := range slow {
		desc = append(desc, fmt.Sprintf("%v at %v", r.took.Round(time.Microsecond), r.at.Round(time.Millisecond)))
	}
	return readLatency{
		latency: latency{p50: all[len(all)/2], p99: all[len(all)*99/100], n: len(all)},
		p999:    all[len(all)*999/1000], max: all[len(all)-1],
		slowest: strings.Join(desc, ", "),
	}
}

// mappedSize is the size of the largest memory mapping of the file at
// path in this process (bbolt's), from /proc/self/maps; 0 where that
// cannot be read.
func mappedSize(path string) int64 {
	b, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		return 0
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return 0
	}
	var largest int64
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.HasSuffix(line, " "+abs) {
			continue
		}
		var lo, hi uint64
		if _, err := fmt.Sscanf(line, "%x-%x", &lo, &hi); err == nil && int64(hi-lo) > largest {
			largest = int64(hi - lo)
		}
	}
	return largest
}

// statusRecorder is a discardWriter that keeps the status.
type statusRecorder struct {
	discardWriter
	code int
}

func (w *statusRecorder) WriteHeader(code int) { w.code = code }
