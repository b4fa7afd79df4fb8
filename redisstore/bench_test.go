package redisstore

import (
	"bytes"
	"context"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/boltsession/boltsession"
	"github.com/boltsession/boltsession/redisstore/redistest"
	"github.com/redis/go-redis/v9"
)

// The benchmarks run the store beside raw go-redis GET/SET of a value of
// the same size on the same server: the floor any Redis store pays for one
// round trip. Run with
//
//	go test -run '^$' -bench . -benchmem ./redisstore
//
// Load and Save run with values in clear and sealed (Options.ValueKeys);
// compare the two with
//
//	go test -run '^$' -bench '^Benchmark(Load|Save)$' -benchmem -count 10 ./redisstore > v.txt
//	benchstat -col /values v.txt

// benchValue is a typical small session: a user ID, a CSRF token, a flash.
var benchValues = map[string][]byte{
	"user":  []byte("\xa7user-42"),
	"csrf":  []byte("\xd9\x2bAbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_ABCD"),
	"flash": []byte("\xa5saved"),
}

func benchSize() int {
	n := 0
	for k, v := range benchValues {
		n += len(k) + len(v)
	}
	return n
}

func benchSetup(b *testing.B) (*redis.Client, *Store) {
	b.Helper()
	return benchSetupWith(b, nil)
}

func benchSetupWith(b *testing.B, opts *Options) (*redis.Client, *Store) {
	b.Helper()
	srv := redistest.Start(b)
	client := redis.NewClient(&redis.Options{Addr: srv.Addr, PoolSize: 64})
	b.Cleanup(func() { client.Close() })
	return client, New(client, opts)
}

// valueModes are the two ways of keeping values that Load and Save are
// measured with.
var valueModes = []struct {
	name string
	opts *Options
}{
	{"values=clear", nil},
	{"values=sealed", &Options{ValueKeys: [][]byte{bytes.Repeat([]byte{0x5e}, 32)}}},
}

func benchCreate(b *testing.B, s *Store, id string) {
	b.Helper()
	err := s.Save(context.Background(), boltsession.Update{ID: id, Create: true, Created: time.Now(),
		Expires: time.Now().Add(time.Hour), Set: benchValues})
	if err != nil {
		b.Fatal(err)
	}
}

// BenchmarkLoad loads a session of three values (benchValues), with the
// client-side cache off and on (Options.Cache; on, every Load after the
// first is a hit). Compare with
//
//	go test -run '^$' -bench '^BenchmarkLoad$' -benchmem -count 10 ./redisstore > c.txt
//	benchstat -col /cache c.txt
func BenchmarkLoad(b *testing.B) {
	for _, m := range valueModes {
		for _, cached := range []bool{false, true} {
			name := m.name + "/cache=off"
			if cached {
				name = m.name + "/cache=on"
			}
			b.Run(name, func(b *testing.B) {
				var o Options
				if m.opts != nil {
					o = *m.opts
				}
				if cached {
					o.Cache = &CacheOptions{}
				}
				_, s := benchSetupWith(b, &o)
				b.Cleanup(func() { s.Close() })
				benchCreate(b, s, "bench")
				ctx := context.Background()
				if cached {
					awaitFresh(b, s)
				}
				b.ReportAllocs()
				for b.Loop() {
					if _, err := s.Load(ctx, "bench"); err != nil {
						b.Fatal(err)
					}
				}
				if cached {
					st := s.CacheStats()
					b.ReportMetric(float64(st.Hits)/float64(st.Hits+st.Misses), "hits/op")
				}
			})
		}
	}
}

// BenchmarkSave merges one value into a session of three, as a request
// that changed one key does.
func BenchmarkSave(b *testing.B) {
	for _, m := range valueModes {
		b.Run(m.name, func(b *testing.B) {
			_, s := benchSetupWith(b, m.opts)
			benchCreate(b, s, "bench")
			ctx := context.Background()
			u := boltsession.Update{ID: "bench", Set: map[string][]byte{"flash": []byte("\xa5saved")}, Expires: time.Now().Add(time.Hour)}
			b.ReportAllocs()
			for b.Loop() {
				if err := s.Save(ctx, u); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkTouch(b *testing.B) {
	_, s := benchSetup(b)
	benchCreate(b, s, "bench")
	ctx := context.Background()
	exp := time.Now().Add(time.Hour)
	b.ReportAllocs()
	for b.Loop() {
		if err := s.Touch(ctx, "bench", exp); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSaveParallel(b *testing.B) {
	_, s := benchSetup(b)
	ctx := context.Background()
	const sessions = 64
	for i := range sessions {
		benchCreate(b, s, "bench"+strconv.Itoa(i))
	}
	var n atomic.Int64
	b.ReportAllocs()
	b.SetParallelism(8) // 8×GOMAXPROCS goroutines, as concurrent requests would be
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		id := "bench" + strconv.FormatInt(n.Add(1)%sessions, 10)
		u := boltsession.Update{ID: id, Set: map[string][]byte{"flash": []byte("\xa5saved")}, Expires: time.Now().Add(time.Hour)}
		for pb.Next() {
			if err := s.Save(ctx, u); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkRawGet(b *testing.B) {
	client, _ := benchSetup(b)
	ctx := context.Background()
	client.Set(ctx, "raw", make([]byte, benchSize()), time.Hour)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := client.Get(ctx, "raw").Bytes(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRawSet(b *testing.B) {
	client, _ := benchSetup(b)
	ctx := context.Background()
	v := make([]byte, benchSize())
	b.ReportAllocs()
	for b.Loop() {
		if err := client.Set(ctx, "raw", v, time.Hour).Err(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRawSetParallel(b *testing.B) {
	client, _ := benchSetup(b)
	ctx := context.Background()
	v := make([]byte, benchSize())
	var n atomic.Int64
	b.ReportAllocs()
	b.SetParallelism(8) // as in BenchmarkSaveParallel
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		key := "raw" + strconv.FormatInt(n.Add(1), 10)
		for pb.Next() {
			if err := client.Set(ctx, key, v, time.Hour).Err(); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkLoadSave is a /count request at the store: Load a session, then
// merge one value into it, from 64 goroutines, each on a session of its
// own (a user's requests follow one another), with the cache off and on
// (on, the save's reply refills the cache, so the next Load of the
// session is a hit).
//
//	go test -run '^$' -bench '^BenchmarkLoadSave$' -benchmem -count 10 ./redisstore > ls.txt
//	benchstat -col /cache ls.txt
func BenchmarkLoadSave(b *testing.B) {
	for _, cached := range []bool{false, true} {
		name := "cache=off"
		if cached {
			name = "cache=on"
		}
		b.Run(name, func(b *testing.B) {
			var o Options
			if cached {
				o.Cache = &CacheOptions{}
			}
			_, s := benchSetupWith(b, &o)
			b.Cleanup(func() { s.Close() })
			const sessions = 64
			for i := range sessions {
				benchCreate(b, s, "bench"+strconv.Itoa(i))
			}
			if cached {
				awaitFresh(b, s)
			}
			ctx := context.Background()
			var n atomic.Int64
			b.ReportAllocs()
			b.SetParallelism(sessions / runtime.GOMAXPROCS(0))
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				id := "bench" + strconv.FormatInt((n.Add(1)-1)%sessions, 10)
				for pb.Next() {
					if _, err := s.Load(ctx, id); err != nil {
						b.Error(err)
						return
					}
					u := boltsession.Update{ID: id, Set: map[string][]byte{"flash": []byte("\xa5saved")}}
					if err := s.Save(ctx, u); err != nil {
						b.Error(err)
						return
					}
				}
			})
			if cached {
				st := s.CacheStats()
				b.ReportMetric(float64(st.Hits)/float64(st.Hits+st.Misses), "hits/op")
			}
		})
	}
}
