package boltfile

import (
	"bytes"
	"os"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"
)

// BenchmarkOpen100kSessions sets what Check costs against what it guards:
// bbolt.Open (with Close) of the same file of 100,000 sessions in
// boltsession's layout, in the same run. Run it with e.g.
//
//	go test -run '^$' -bench Open100k -benchmem -count 6 ./internal/boltfile/
func BenchmarkOpen100kSessions(b *testing.B) {
	path := buildFile(b, b.TempDir(), fileSpec{name: "100k", sessions: 100_000, deleteEvery: 10, seed: 81})
	data := readFile(b, path)
	sum, err := Check(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("%d bytes, %d pages of %d, %d keys", len(data), sum.HighWater, sum.PageSize, sum.Keys)

	withFile := func(b *testing.B, check func(*os.File, int64) (Summary, error)) {
		b.ReportAllocs()
		for b.Loop() {
			f, err := os.Open(path)
			if err != nil {
				b.Fatal(err)
			}
			fi, err := f.Stat()
			if err != nil {
				b.Fatal(err)
			}
			if _, err := check(f, fi.Size()); err != nil {
				b.Fatal(err)
			}
			f.Close()
		}
	}
	b.Run("bbolt.Open", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: time.Second})
			if err != nil {
				b.Fatal(err)
			}
			if err := db.Close(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("CheckMeta", func(b *testing.B) {
		withFile(b, func(f *os.File, n int64) (Summary, error) { return CheckMeta(f, n) })
	})
	b.Run("Check", func(b *testing.B) {
		withFile(b, func(f *os.File, n int64) (Summary, error) { return Check(f, n) })
	})
	b.Run("Check-in-memory", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := Check(bytes.NewReader(data), int64(len(data))); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("bbolt.Tx.Check", func(b *testing.B) {
		db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: time.Second, ReadOnly: true})
		if err != nil {
			b.Fatal(err)
		}
		defer db.Close()
		b.ReportAllocs()
		for b.Loop() {
			if err := db.View(func(tx *bbolt.Tx) error {
				for err := range tx.Check() {
					return err
				}
				return nil
			}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
