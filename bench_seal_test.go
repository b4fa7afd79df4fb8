package boltsession

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkValueKeys measures what BoltOptions.ValueKeys costs a Load and
// a Save of a session of ten short values, with values in clear and
// sealed, side by side:
//
//	go test -run '^$' -bench ValueKeys -benchmem -count 10 . > v.txt
//	benchstat -col /values v.txt
//
// The Save runs without fsync (NoSync), so that the figure is the cost of
// sealing and not the disk's latency, which is the same either way; the
// store has no read cache, so that every Load opens the record (one from
// the cache costs the same sealed or not).
func BenchmarkValueKeys(b *testing.B) {
	const id = "session-id-0123456789abcdefghijklmnopqrstuvw"
	for _, c := range []struct {
		name string
		keys [][]byte
	}{
		{"clear", nil},
		{"sealed", [][]byte{bytes.Repeat([]byte{0x5e}, 32)}},
	} {
		open := func(b *testing.B) *BoltStore {
			s, err := Open(filepath.Join(b.TempDir(), "bench.db"), &BoltOptions{NoSync: true, SweepInterval: -1, ValueKeys: c.keys, CacheSize: -1})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { s.Close() })
			benchCreate(b, s, id, benchValues(b))
			return s
		}
		ctx := context.Background()
		b.Run("op=Load/values="+c.name, func(b *testing.B) {
			s := open(b)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.Load(ctx, id); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("op=Save/values="+c.name, func(b *testing.B) {
			s := open(b)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				i++
				err := s.Save(ctx, Update{ID: id, Set: map[string][]byte{"key3": {byte(i)}}, Expires: time.Now().Add(time.Hour)})
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
