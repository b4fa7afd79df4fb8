package boltsession

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"
)

// Commit cost on a large file that has been churned: many sessions
// created, most of them expired and swept, so the file is much larger
// than its live data and bbolt's freelist holds tens of thousands of
// pages, which every commit writes out again. bbolt's NoFreelistSync
// stops writing it, and then has to rebuild it, by reading every page, at
// every Open; the hashmap freelist makes allocating from it cheaper.
// These two measure both sides (docs/PERFORMANCE.md, Levers). Run with
//
//	go test -run '^$' -bench 'CommitChurned' -benchtime 3000x -count 5 . | tee commit.txt
//	go test -run '^$' -bench 'OpenChurned' -benchtime 5x -count 5 . | tee open.txt
//
// Each builds its files first (about 400,000 sessions, 300,000 of them
// swept; and 100,000 never churned), then copies them for each case.

const (
	churnLive  = 100_000
	churnGone  = 300_000
	churnChunk = 20_000
)

// benchFiles builds the files the commit benchmarks start from, in dir:
// "churned", and "fresh" with the same live sessions and nothing swept.
func benchFiles(b *testing.B, names ...string) map[string]string {
	dir := b.TempDir()
	paths := map[string]string{}
	for _, name := range names {
		paths[name] = filepath.Join(dir, name+".db")
		if err := buildChurned(b, paths[name], name == "churned"); err != nil {
			b.Fatal(err)
		}
	}
	return paths
}

// buildChurned writes churnLive sessions, with IDs churn-0, churn-4, ...,
// and, with churn, churnGone more between them that it then sweeps.
func buildChurned(b *testing.B, path string, churn bool) error {
	clock := newTestClock()
	s, err := Open(path, &BoltOptions{NoSync: true, SweepInterval: -1, Now: clock.Now})
	if err != nil {
		return err
	}
	values := appValues(b)
	now := clock.Now()
	// Interleave the two generations so that the swept one leaves holes
	// all over the sessions tree, as real expiry does.
	for i := 0; i < churnLive+churnGone; i += churnChunk {
		err := s.db.Update(func(tx *bbolt.Tx) error {
			for j := i; j < i+churnChunk; j++ {
				exp := now.Add(time.Minute)
				if j%4 == 0 {
					exp = now.Add(24 * time.Hour)
				} else if !churn {
					continue
				}
				u := Update{ID: "churn-" + strconv.Itoa(j), Create: true, Expires: exp, Set: values}
				if err := s.applySave(s.recordsOf(tx), &u, now); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			s.Close()
			return err
		}
	}
	clock.Advance(time.Hour)
	if _, err := s.Sweep(context.Background()); err != nil {
		s.Close()
		return err
	}
	return s.Close()
}

// copyFile copies the churned file to dir and returns the copy's path.
func copyFile(b *testing.B, from, dir string) string {
	to := filepath.Join(dir, "copy.db")
	src, err := os.Open(from)
	if err != nil {
		b.Fatal(err)
	}
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o600)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		b.Fatal(err)
	}
	if err := dst.Sync(); err != nil {
		b.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		b.Fatal(err)
	}
	return to
}

type freelistCase struct {
	name   string
	typ    bbolt.FreelistType
	noSync bool
}

// use makes every Open open its file with the case's freelist options,
// until the returned function is called.
func (fc freelistCase) use() (restore func()) {
	boltOptionsHook = func(o *bbolt.Options) {
		o.FreelistType = fc.typ
		o.NoFreelistSync = fc.noSync
	}
	return func() { boltOptionsHook = func(*bbolt.Options) {} }
}

// array-synced is what Open does: bbolt's defaults.
var freelistCases = []freelistCase{
	{"array-synced", bbolt.FreelistArrayType, false},
	{"map-synced", bbolt.FreelistMapType, false},
	{"array-nosync", bbolt.FreelistArrayType, true},
	{"map-nosync", bbolt.FreelistMapType, true},
}

// BenchmarkCommitChurned is 32 writers saving a changed counter into
// random live sessions of the churned file, fsync on: what each group
// commit costs when the freelist is large.
func BenchmarkCommitChurned(b *testing.B) { eachChurnCase(b, benchCommit) }

// eachChurnCase runs bench on a copy of each file (churned, fresh) under
// each freelist case.
func eachChurnCase(b *testing.B, bench func(b *testing.B, src string, fc freelistCase)) {
	files := benchFiles(b, "churned", "fresh")
	for _, file := range []string{"churned", "fresh"} {
		for _, fc := range freelistCases {
			b.Run("file="+file+"/freelist="+fc.name, func(b *testing.B) { bench(b, files[file], fc) })
		}
	}
}

func benchCommit(b *testing.B, src string, fc freelistCase) {
	path := copyFile(b, src, b.TempDir())
	clock := newTestClock()
	clock.Advance(time.Hour)
	defer fc.use()()
	s, err := Open(path, &BoltOptions{SweepInterval: -1, Now: clock.Now})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	dbBefore, before, wBefore := s.db.Stats(), s.Stats(), writtenBytes()
	const writers = 32
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	var wg sync.WaitGroup
	for w := range writers {
		n := shareOf(b.N, writers, w)
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			for i := range n {
				id := "churn-" + strconv.Itoa(4*rng.IntN((churnLive+churnGone)/4))
				err := s.Save(ctx, Update{ID: id, Set: map[string][]byte{"count": {byte(i)}},
					Expires: clock.Now().Add(24 * time.Hour)})
				if err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	dbAfter, after, wAfter := s.db.Stats(), s.Stats(), writtenBytes()
	commits := float64(after.Commits - before.Commits)
	b.ReportMetric(float64(after.Writes-before.Writes)/commits, "saves/commit")
	b.ReportMetric(float64(dbAfter.TxStats.GetWrite()-dbBefore.TxStats.GetWrite())/commits, "writes/commit")
	if wBefore >= 0 && wAfter >= 0 {
		b.ReportMetric(float64(wAfter-wBefore)/commits/1024, "KiB/commit")
	}
	b.ReportMetric(b.Elapsed().Seconds()*1e6/commits, "µs/commit")
	b.ReportMetric(float64(dbAfter.FreePageN+dbAfter.PendingPageN), "free-pages")
	b.ReportMetric(float64(after.FileSize)/(1<<20), "file-MiB")
}

// BenchmarkOpenChurned is Open and Close of the churned file: the file
// check walks every page, and without a synced freelist bbolt walks every
// page again to rebuild it. That is also the time to open after a crash.
func BenchmarkOpenChurned(b *testing.B) { eachChurnCase(b, benchOpen) }

func benchOpen(b *testing.B, src string, fc freelistCase) {
	path := copyFile(b, src, b.TempDir())
	defer fc.use()()
	opts := &BoltOptions{SweepInterval: -1}
	// One write, so the file is in the case's freelist format.
	s, err := Open(path, opts)
	if err != nil {
		b.Fatal(err)
	}
	if err := s.Save(context.Background(), Update{ID: "x", Create: true, Expires: time.Now().Add(time.Hour)}); err != nil {
		b.Fatal(err)
	}
	s.Close()
	b.ResetTimer()
	for range b.N {
		s, err := Open(path, opts)
		if err != nil {
			b.Fatal(err)
		}
		s.Close()
	}
}

// writtenBytes is what the process has passed to write calls so far
// (wchar of /proc/self/io), or -1 where that is not available.
func writtenBytes() int64 {
	b, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return -1
	}
	var n int64
	if _, err := fmt.Sscanf(string(b), "rchar: %d\nwchar: %d", new(int64), &n); err != nil {
		return -1
	}
	return n
}
