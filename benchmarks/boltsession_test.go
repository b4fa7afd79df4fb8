package benchmarks

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/boltsession/boltsession"
	"github.com/boltsession/boltsession/redisstore"
	goredis "github.com/redis/go-redis/v9"
	"github.com/vmihailenco/msgpack/v5"
)

func boltsessionStoreStacks() []storeStack {
	return []storeStack{
		{name: "boltsession", open: openBoltsession},
		{name: "boltsession-redisstore", redis: true, open: openBoltsessionRedis},
	}
}

func boltsessionParallelStacks() []parallelStack {
	return []parallelStack{{name: "boltsession", saver: boltsessionParallel}}
}

// openBoltStore opens a BoltStore with default options (fsync on), its
// sweeper off so it cannot run inside a measurement.
func openBoltStore(b *testing.B) *boltsession.BoltStore {
	st, err := boltsession.Open(filepath.Join(b.TempDir(), "sessions.db"), &boltsession.BoltOptions{SweepInterval: -1})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	return st
}

// seedBoltsession creates the benchmark session under id.
func seedBoltsession(b *testing.B, st boltsession.Store, id string) {
	set := make(map[string][]byte, valueCount+1)
	for i := range valueCount {
		set[valueKey(i)] = mustMsgpack(b, valueValue(i))
	}
	set["count"] = mustMsgpack(b, 0)
	if err := st.Save(context.Background(), boltsession.Update{
		ID: id, Create: true, Set: set, Expires: time.Now().Add(24 * time.Hour),
	}); err != nil {
		b.Fatal(err)
	}
}

func mustMsgpack(b *testing.B, v any) []byte {
	p, err := msgpack.Marshal(v)
	if err != nil {
		b.Fatal(err)
	}
	return p
}

// openBoltsession loads with BoltStore.Load (the record with its values
// still encoded: a Get decodes only the key asked for) and saves count as
// a per-key merge, encoding the value in the loop as a Set would.
func openBoltsession(b *testing.B) storeBench { return boltsessionBench(b, openBoltStore(b)) }

// boltsessionBench seeds one session in st and returns its load and its
// per-key save of count; both boltsession stores are measured through it.
func boltsessionBench(b *testing.B, st boltsession.Store) storeBench {
	return boltsessionSession(b, st, "bench-session-id-0123456789abcdef0123456789ab")
}

// boltsessionSession seeds the session id in st and returns its load and
// its per-key save of count.
func boltsessionSession(b *testing.B, st boltsession.Store, id string) storeBench {
	seedBoltsession(b, st, id)
	ctx := context.Background()
	return storeBench{
		load: func() error {
			_, err := st.Load(ctx, id)
			return err
		},
		save: func(n int) error {
			v, err := msgpack.Marshal(n)
			if err != nil {
				return err
			}
			return st.Save(ctx, boltsession.Update{ID: id, Set: map[string][]byte{"count": v}})
		},
	}
}

// openBoltsessionRedis is the same on boltsession's Redis store (a hash
// per session: Load is one HGETALL, a merge one script call).
func openBoltsessionRedis(b *testing.B) storeBench {
	rdb := goredis.NewClient(&goredis.Options{Addr: redisAddr})
	b.Cleanup(func() { rdb.Close() })
	return boltsessionBench(b, redisstore.New(rdb, &redisstore.Options{Prefix: fmt.Sprintf("bs%d:", redisPrefix.Add(1))}))
}

func boltsessionParallel(b *testing.B) func(int64) func() error {
	st := openBoltStore(b)
	ctx := context.Background()
	workerID := func(w int64) string { return fmt.Sprintf("worker-%03d-0123456789abcdef0123456789abcdef", w) }
	// Seed before the timer starts: RunParallel numbers workers from 1.
	for w := int64(1); w <= int64(parallelWriters); w++ {
		seedBoltsession(b, st, workerID(w))
	}
	return func(worker int64) func() error {
		id := workerID(worker)
		n := 0
		return func() error {
			n++
			v, err := msgpack.Marshal(n)
			if err != nil {
				return err
			}
			return st.Save(ctx, boltsession.Update{ID: id, Set: map[string][]byte{"count": v}})
		}
	}
}

// BenchmarkSaveInterleaved alternates one boltsession Save and one raw bbolt
// Update+fsync (the floor) in the same loop, so drift in disk latency on a
// shared machine hits both alike. It reports each one's mean time and
// floor/boltsession: the share of the floor's rate that boltsession's one
// writer reaches (1.00 = as fast as raw bbolt).
func BenchmarkSaveInterleaved(b *testing.B) {
	bolt := openBoltsession(b)
	floor := openBboltFloor(b)
	var tBolt, tFloor time.Duration
	n := 0
	b.ReportAllocs()
	for b.Loop() {
		n++
		t0 := time.Now()
		if err := bolt.save(n); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if err := floor.save(n); err != nil {
			b.Fatal(err)
		}
		tBolt += t1.Sub(t0)
		tFloor += time.Since(t1)
	}
	b.ReportMetric(float64(tBolt.Nanoseconds())/float64(n), "boltsession-ns/save")
	b.ReportMetric(float64(tFloor.Nanoseconds())/float64(n), "bbolt-ns/save")
	b.ReportMetric(float64(tFloor)/float64(tBolt), "floor/boltsession")
}
