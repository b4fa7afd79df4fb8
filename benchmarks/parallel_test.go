package benchmarks

import (
	"fmt"
	"sync/atomic"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// parallelStack saves from many goroutines at once; each goroutine writes
// its own session. saver returns a save function for one goroutine.
type parallelStack struct {
	name  string
	saver func(b *testing.B) func(worker int64) func() error
}

// parallelWriters is how many goroutines BenchmarkSaveParallel64 runs
// (when GOMAXPROCS divides it).
const parallelWriters = 64

func parallelStacks() []parallelStack {
	return append(boltsessionParallelStacks(), []parallelStack{
		{name: "bbolt-update", saver: bboltParallel(false)},
		{name: "bbolt-batch-default", saver: bboltParallel(true)},
	}...)
}

// BenchmarkSaveParallel64 runs 64 concurrent writers, every save fsynced:
// boltsession's group commit against bbolt's one-Update-per-save floor and
// bbolt's own Batch with its default 10 ms MaxBatchDelay. ns/op is per
// save, so saves/s = 1e9 / ns/op.
func BenchmarkSaveParallel64(b *testing.B) {
	for _, st := range parallelStacks() {
		b.Run(st.name, func(b *testing.B) {
			newSaver := st.saver(b)
			var workers atomic.Int64
			b.ReportAllocs()
			b.SetParallelism(max(1, parallelWriters/procs()))
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				save := newSaver(workers.Add(1))
				for pb.Next() {
					if err := save(); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

func bboltParallel(batch bool) func(b *testing.B) func(int64) func() error {
	return func(b *testing.B) func(int64) func() error {
		db := openBboltFile(b)
		rec := floorRecord(1)
		return func(worker int64) func() error {
			key := []byte(fmt.Sprintf("worker-%03d", worker))
			put := func(tx *bolt.Tx) error { return tx.Bucket(floorBucket).Put(key, rec) }
			if batch {
				return func() error { return db.Batch(put) }
			}
			return func() error { return db.Update(put) }
		}
	}
}
