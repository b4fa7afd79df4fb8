package boltsession

import (
	"net/http"
	"path/filepath"
	"testing"
	"time"
)

// benchWriter is a ResponseWriter that keeps only the headers, reused
// across iterations so the figures are the middleware's own.
type benchWriter struct {
	h    http.Header
	code int
}

func (w *benchWriter) Header() http.Header         { return w.h }
func (w *benchWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *benchWriter) WriteHeader(code int)        { w.code = code }

func (w *benchWriter) reset() {
	clear(w.h)
	w.code = 0
}

// benchStore is the store of a benchmark and its count of writes. The
// Manager is given the BoltStore itself, as an application gives it: it
// shares the read cache's records with a *BoltStore only, and a wrapper
// such as countingStore would time the copy that Load returns instead.
type benchStore struct {
	*BoltStore
	base int64 // writes before the benchmark
}

// writes is the number of writes since the benchmark's setup.
func (s *benchStore) writes() int64 { return s.Stats().Writes - s.base }

// benchSetup opens a store, builds a Manager on a frozen clock, creates
// one session with a few values and returns the handler and a request
// carrying that session's cookie.
func benchSetup(b *testing.B, noSync bool, next http.Handler) (*benchStore, http.Handler, *http.Request) {
	b.Helper()
	cs, h, r, _ := benchSetupWith(b, noSync, func(s *Session) {
		s.Set("views", 1)
		s.Set("user", "alice")
		s.SetOwner("alice")
	}, next)
	return cs, h, r
}

// benchSetupWith is benchSetup with the seeding request's changes given;
// it also returns the clock of the store and the Manager.
func benchSetupWith(b *testing.B, noSync bool, fill func(*Session), next http.Handler) (*benchStore, http.Handler, *http.Request, *testClock) {
	b.Helper()
	clock := newTestClock()
	bs, err := Open(filepath.Join(b.TempDir(), "bench.db"), &BoltOptions{Now: clock.Now, SweepInterval: -1, NoSync: noSync})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { bs.Close() })
	cs := &benchStore{BoltStore: bs}
	m, err := New(bs, Options{Keys: [][]byte{testHashKey}, Now: clock.Now})
	if err != nil {
		b.Fatal(err)
	}
	seed := m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fill(FromContext(r.Context()))
	}))
	w := &benchWriter{h: http.Header{}}
	seed.ServeHTTP(w, mustRequest(b, ""))
	cookie := (&http.Response{Header: w.h}).Cookies()
	if len(cookie) != 1 {
		b.Fatalf("seed request set %d cookies", len(cookie))
	}
	clock.Advance(time.Minute) // inside TouchAfter (default 2.4h)
	cs.base = bs.Stats().Writes
	return cs, m.Middleware(next), mustRequest(b, cookie[0].Name+"="+cookie[0].Value), clock
}

// serveEach times h serving r, once an iteration, after each (when not
// nil), and returns the writer of the last response.
func serveEach(b *testing.B, h http.Handler, r *http.Request, each func()) *benchWriter {
	w := &benchWriter{h: http.Header{}}
	b.ReportAllocs()
	defer reportCPU(b)()
	for b.Loop() {
		w.reset()
		if each != nil {
			each()
		}
		h.ServeHTTP(w, r)
	}
	return w
}

func mustRequest(b *testing.B, cookie string) *http.Request {
	r, err := http.NewRequest("GET", "http://example.test/", nil)
	if err != nil {
		b.Fatal(err)
	}
	if cookie != "" {
		r.Header.Set("Cookie", cookie)
	}
	return r
}

// BenchmarkMiddlewareRead is a request on an existing session that reads
// a value and changes nothing, inside TouchAfter: one Load, no write.
func BenchmarkMiddlewareRead(b *testing.B) {
	cs, h, r := benchSetup(b, false, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := Get[int](FromContext(r.Context()), "views"); err != nil {
			b.Error(err)
		}
		w.Write([]byte("ok"))
	}))
	w := serveEach(b, h, r, nil)
	if n := cs.writes(); n != 0 {
		b.Fatalf("%d store writes on the read path", n)
	}
	if w.h.Get("Set-Cookie") != "" {
		b.Fatal("cookie sent on the read path")
	}
}

// BenchmarkMiddlewareWrite is a request that increments a counter: one
// Load and one per-key Save. The fsync case is bound by the disk; nosync
// shows the CPU cost of the path.
func BenchmarkMiddlewareWrite(b *testing.B) {
	for _, tc := range []struct {
		name   string
		noSync bool
	}{{"fsync", false}, {"nosync", true}} {
		b.Run(tc.name, func(b *testing.B) {
			cs, h, r := benchSetup(b, tc.noSync, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				s := FromContext(r.Context())
				n, _ := Get[int](s, "views")
				if err := s.Set("views", n+1); err != nil {
					b.Error(err)
				}
				w.Write([]byte("ok"))
			}))
			serveEach(b, h, r, nil)
			if cs.writes() == 0 {
				b.Fatal("no saves")
			}
		})
	}
}

// BenchmarkMiddlewareReadParallel is BenchmarkMiddlewareRead from every
// core at once: read transactions do not block each other.
func BenchmarkMiddlewareReadParallel(b *testing.B) {
	cs, h, r := benchSetup(b, false, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := Get[int](FromContext(r.Context()), "views"); err != nil {
			b.Error(err)
		}
	}))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		w := &benchWriter{h: http.Header{}}
		for pb.Next() {
			w.reset()
			h.ServeHTTP(w, r)
		}
	})
	if n := cs.writes(); n != 0 {
		b.Fatalf("%d store writes on the read path", n)
	}
}
