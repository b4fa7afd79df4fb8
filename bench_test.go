package boltsession

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"
	bbolt "go.etcd.io/bbolt"
)

// Store benchmarks. Run briefly on a shared machine, e.g.
//
//	go test -run '^$' -bench 'Load|Save|Touch|Delete|Sweep|RawBolt' -benchtime=2000x .
//
// BenchmarkRawBoltUpdate is the floor: one bbolt Update with fsync holding
// a record of the same size, with nothing of this package around it.

// benchValues is a session of ten short string values, each msgpack-encoded
// as Session.Set stores it.
func benchValues(b *testing.B) map[string][]byte {
	b.Helper()
	v := make(map[string][]byte, 10)
	for i := range 10 {
		enc, err := msgpack.Marshal(fmt.Sprintf("value-%02d", i))
		if err != nil {
			b.Fatal(err)
		}
		v["key"+strconv.Itoa(i)] = enc
	}
	return v
}

func openBench(b *testing.B, noSync bool) *BoltStore {
	b.Helper()
	s, err := Open(filepath.Join(b.TempDir(), "bench.db"), &BoltOptions{NoSync: noSync, SweepInterval: -1})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

func benchCreate(b *testing.B, s *BoltStore, id string, values map[string][]byte) {
	b.Helper()
	err := s.Save(context.Background(), Update{ID: id, Create: true, Expires: time.Now().Add(time.Hour), Set: values})
	if err != nil {
		b.Fatal(err)
	}
}

// benchFill stores n sessions, IDs prefix0 to prefix<n-1>, expiring at
// expires, in one transaction: the setup is not what is measured.
func benchFill(b *testing.B, s *BoltStore, prefix string, n int, expires time.Time, values map[string][]byte) {
	b.Helper()
	now := time.Now()
	err := s.db.Update(func(tx *bbolt.Tx) error {
		for i := range n {
			u := Update{ID: prefix + strconv.Itoa(i), Create: true, Expires: expires, Set: values}
			if err := s.applySave(s.recordsOf(tx), &u, now); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
}

func BenchmarkLoad(b *testing.B) {
	s := openBench(b, false)
	benchCreate(b, s, "session-id-0123456789abcdefghijklmnopqrstuvw", benchValues(b))
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Load(ctx, "session-id-0123456789abcdefghijklmnopqrstuvw"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSaveNew(b *testing.B) {
	s := openBench(b, false)
	values := benchValues(b)
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		err := s.Save(ctx, Update{ID: "session-" + strconv.Itoa(i), Create: true, Expires: time.Now().Add(time.Hour), Set: values})
		if err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSaveUpdate(b *testing.B) {
	s := openBench(b, false)
	benchCreate(b, s, "s", benchValues(b))
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		err := s.Save(ctx, Update{ID: "s", Set: map[string][]byte{"key3": {byte(i)}}, Delete: []string{"gone"},
			Expires: time.Now().Add(time.Hour)})
		if err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkTouch(b *testing.B) {
	s := openBench(b, false)
	benchCreate(b, s, "s", benchValues(b))
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		if err := s.Touch(ctx, "s", time.Now().Add(time.Hour+time.Duration(i))); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSaveParallel runs b.N updates spread over W goroutines, each on
// its own session, with and without fsync. saves/commit is the average
// group size the committer achieved.
func BenchmarkSaveParallel(b *testing.B) {
	for _, mode := range []struct {
		name   string
		noSync bool
	}{{"fsync", false}, {"nosync", true}} {
		for _, writers := range []int{1, 8, 64} {
			b.Run(fmt.Sprintf("%s/writers=%d", mode.name, writers), func(b *testing.B) {
				s := openBench(b, mode.noSync)
				values := benchValues(b)
				for w := range writers {
					benchCreate(b, s, "w"+strconv.Itoa(w), values)
				}
				before := s.Stats()
				ctx := context.Background()
				b.ReportAllocs()
				b.ResetTimer()
				var wg sync.WaitGroup
				for w := range writers {
					n := shareOf(b.N, writers, w)
					wg.Go(func() {
						id := "w" + strconv.Itoa(w)
						for i := range n {
							err := s.Save(ctx, Update{ID: id, Set: map[string][]byte{"key3": {byte(i)}},
								Expires: time.Now().Add(time.Hour)})
							if err != nil {
								b.Error(err)
								return
							}
						}
					})
				}
				wg.Wait()
				b.StopTimer()
				after := s.Stats()
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "saves/s")
				b.ReportMetric(float64(after.Writes-before.Writes)/float64(after.Commits-before.Commits), "saves/commit")
			})
		}
	}
}

func BenchmarkDelete(b *testing.B) {
	s := openBench(b, false)
	benchFill(b, s, "s", b.N, time.Now().Add(time.Hour), benchValues(b))
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if err := s.Delete(ctx, "s"+strconv.Itoa(i)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSweep measures one sweep pass deleting `expired` sessions from a
// file that also holds `stored` live ones; its work should follow the
// first number, not the second. The nosync runs show the work itself; with
// fsync, a larger file costs more to sync (more pages touched per commit).
func BenchmarkSweep(b *testing.B) {
	for _, c := range []struct {
		sync            string
		expired, stored int
	}{
		{"nosync", 100, 1_000}, {"nosync", 100, 20_000}, {"nosync", 1_000, 20_000},
		{"fsync", 100, 1_000}, {"fsync", 100, 20_000},
	} {
		b.Run(fmt.Sprintf("%s/expired=%d/stored=%d", c.sync, c.expired, c.stored), func(b *testing.B) {
			s := openBench(b, c.sync == "nosync")
			values := benchValues(b)
			benchFill(b, s, "live", c.stored, time.Now().Add(time.Hour), values)
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				b.StopTimer()
				benchFill(b, s, "expired", c.expired, time.Now().Add(-time.Minute), values)
				b.StartTimer()
				res, err := s.Sweep(ctx)
				if err != nil || res.Swept != c.expired {
					b.Fatalf("Sweep = %+v, %v", res, err)
				}
			}
		})
	}
}

// BenchmarkRawBoltUpdate is the floor for a durable save: one bbolt
// db.Update with fsync that puts a record-sized value, as a one-writer Save
// does, with no encoding, index or group commit.
func BenchmarkRawBoltUpdate(b *testing.B) {
	db, err := bbolt.Open(filepath.Join(b.TempDir(), "raw.db"), 0o600, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	bucket := []byte("b")
	if err := db.Update(func(tx *bbolt.Tx) error { _, err := tx.CreateBucket(bucket); return err }); err != nil {
		b.Fatal(err)
	}
	rec, err := encodeRecord(&Record{ID: "s", Expires: time.Now().Add(time.Hour), Values: benchValues(b)})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		err := db.Update(func(tx *bbolt.Tx) error { return tx.Bucket(bucket).Put([]byte("s"), rec) })
		if err != nil {
			b.Fatal(err)
		}
	}
}

// shareOf is how many of n iterations the i-th of parts writers runs: n
// split as evenly as it goes, the first n%parts taking one more.
func shareOf(n, parts, i int) int {
	if i < n%parts {
		return n/parts + 1
	}
	return n / parts
}
