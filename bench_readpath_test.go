package boltsession

import (
	"context"
	"fmt"
	"hash/crc32"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

// The pieces of the read path, one at a time, so that each one's share of
// a request can be set beside BenchmarkMiddlewareRead:
//
//	go test -run '^$' -bench 'ReadPath|MiddlewareRead' -benchmem .
//
// Besides the time per operation they report cpu-ns/op, the CPU time the
// process spent per operation on every thread, the collector's included:
// on a machine shared with other work, the wall time of a CPU-bound
// benchmark swings with the neighbours' load, its CPU time much less.

// reportCPU starts counting the process's CPU time; the function it returns
// reports it per operation. Call it after the setup, defer the result.
func reportCPU(b *testing.B) func() {
	start := processCPU()
	return func() {
		if start >= 0 && b.N > 0 {
			b.ReportMetric(float64(processCPU()-start)/float64(b.N), "cpu-ns/op")
		}
	}
}

// benchID is an ID as the default GenID makes them: 43 characters.
const benchID = "Zx0c9Pq8rS7tU6vW5xY4zA3bB2cC1dD0eE9fF8gG7hH"

// appValues is the session of the benchmark app (benchmarks/internal/stacks):
// ten 16-byte strings and a counter, msgpack-encoded as Session.Set does.
func appValues(b *testing.B) map[string][]byte {
	v := make(map[string][]byte, 11)
	for i := range 10 {
		enc, err := msgpack.Marshal(fmt.Sprintf("value-%010d", i))
		if err != nil {
			b.Fatal(err)
		}
		v["k"+strconv.Itoa(i)] = enc
	}
	enc, _ := msgpack.Marshal(41)
	v["count"] = enc
	return v
}

func BenchmarkReadPath(b *testing.B) {
	codec, err := SecureCookie(testHashKey)
	if err != nil {
		b.Fatal(err)
	}
	value, err := codec.Encode("sid", benchID)
	if err != nil {
		b.Fatal(err)
	}
	rec := &Record{ID: benchID, Created: time.Now(), Expires: time.Now().Add(time.Hour), Values: appValues(b)}
	raw, err := encodeRecord(rec)
	if err != nil {
		b.Fatal(err)
	}

	b.Run("cookie-decode", func(b *testing.B) {
		b.ReportAllocs()
		defer reportCPU(b)()
		for b.Loop() {
			if _, err := codec.Decode("sid", value); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("cookie-encode", func(b *testing.B) {
		b.ReportAllocs()
		defer reportCPU(b)()
		for b.Loop() {
			if _, err := codec.Encode("sid", benchID); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("handle-key", func(b *testing.B) {
		b.ReportAllocs()
		defer reportCPU(b)()
		for b.Loop() {
			if k := keyOf(benchID); len(k) != 32 {
				b.Fatal(len(k))
			}
		}
	})
	b.Run("handle-hex", func(b *testing.B) {
		k := keyOf(benchID)
		b.ReportAllocs()
		defer reportCPU(b)()
		for b.Loop() {
			if h := handleOf(k); len(h) != 64 {
				b.Fatal(len(h))
			}
		}
	})
	b.Run("crc32c", func(b *testing.B) {
		b.SetBytes(int64(len(raw)))
		b.ReportAllocs()
		defer reportCPU(b)()
		for b.Loop() {
			crc32.Checksum(raw[recordHeader:], castagnoli)
		}
	})
	b.Run("record-decode", func(b *testing.B) {
		b.ReportAllocs()
		defer reportCPU(b)()
		for b.Loop() {
			if _, err := decodeRecord(benchID, raw); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("context", func(b *testing.B) {
		r, _ := http.NewRequest("GET", "http://example.test/read", nil)
		s := &Session{}
		b.ReportAllocs()
		defer reportCPU(b)()
		for b.Loop() {
			r2 := r.WithContext(context.WithValue(r.Context(), sessionKey{}, s))
			if r2 == r {
				b.Fatal("same request")
			}
		}
	})
}

// setAppValues returns the seeding of a session with appValues, through
// Set as the benchmark app's /seed does.
func setAppValues(b *testing.B) func(*Session) {
	values := appValues(b)
	return func(s *Session) {
		for k, v := range values {
			var x any
			if err := msgpack.Unmarshal(v, &x); err != nil {
				b.Fatal(err)
			}
			if err := s.Set(k, x); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkMiddlewareReadApp is the benchmark app's /read in process: a
// session of eleven values (appValues), the handler reads the counter.
func BenchmarkMiddlewareReadApp(b *testing.B) {
	seed := setAppValues(b)
	cs, h, r, _ := benchSetupWith(b, false, seed, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := Get[int](FromContext(r.Context()), "count"); err != nil {
			b.Error(err)
		}
		w.Write([]byte("ok"))
	}))
	serveEach(b, h, r, nil)
	if n := cs.writes(); n != 0 {
		b.Fatalf("%d store writes on the read path", n)
	}
}

// BenchmarkMiddlewareWriteApp is the benchmark app's /count in process,
// without fsync (the CPU cost of the path): read the counter, add one,
// save, send the cookie with the moved expiry.
func BenchmarkMiddlewareWriteApp(b *testing.B) {
	seed := setAppValues(b)
	cs, h, r, clock := benchSetupWith(b, true, seed, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := FromContext(r.Context())
		n, err := Get[int](s, "count")
		if err != nil {
			b.Error(err)
		}
		if err := s.Set("count", n+1); err != nil {
			b.Error(err)
		}
		w.Write([]byte("ok"))
	}))
	// The expiry moves on every request: the cookie goes out, as on a
	// real server.
	w := serveEach(b, h, r, func() { clock.Advance(time.Millisecond) })
	if cs.writes() == 0 {
		b.Fatal("no saves")
	}
	if w.h.Get("Set-Cookie") == "" {
		b.Fatal("a save that moved the expiry sent no cookie")
	}
}
