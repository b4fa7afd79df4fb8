package boltfile

import (
	"bytes"
	"errors"
	"fmt"
	"hash/fnv"
	"maps"
	"path/filepath"
	"runtime/debug"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"
)

// fuzzSeeds are small valid files: 1 KiB pages keep them to a few pages,
// so that the fuzzer's mutations land on structure.
func fuzzSeeds(f *testing.F) {
	dir := f.TempDir()
	for _, spec := range []fileSpec{
		{name: "fuzz-inline", pageSize: 1024, sessions: 1, seed: 71},
		{name: "fuzz-tree", pageSize: 1024, sessions: 14, deleteEvery: 3, seed: 72},
		{name: "fuzz-overflow", pageSize: 1024, sessions: 50, deleteEvery: 2, bigValues: true, seed: 73},
		{name: "fuzz-nofreelist", pageSize: 1024, sessions: 10, deleteEvery: 2, noFreelist: true, seed: 74},
		{name: "fuzz-default", sessions: 2, seed: 75},
	} {
		data := readFile(f, buildFile(f, dir, spec))
		sum, err := Check(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			f.Fatal(err)
		}
		// bbolt grows a file by at least 32 KiB; what lies past the
		// high-water mark is never read, and would only slow the fuzzer.
		f.Add(data[:sum.HighWater*uint64(sum.PageSize)])
	}
}

// Whatever the file, Check returns (never panics or hangs), and when it
// accepts the file, bbolt uses it without a panic, fault or hang. Each input
// is tried as is and with its meta pages' checksums resealed, so that the
// fuzzer reaches the meta fields (page size, root, freelist, high-water
// mark) too, which a checksum otherwise guards.
func FuzzCheck(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		checkThenBolt(t, data)
		if sealed, ok := resealMetas(data); ok {
			checkThenBolt(t, sealed)
		}
	})
}

func checkThenBolt(t *testing.T, data []byte) {
	t.Helper()
	if _, err := checkBounded(t, data); err != nil {
		if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrEmpty) {
			t.Fatalf("Check error wraps neither ErrCorrupt nor ErrEmpty: %v", err)
		}
		return
	}
	path := filepath.Join(t.TempDir(), "accepted.db")
	writeFile(t, path, data)
	if _, err := exerciseBolt(path); errors.Is(err, errBoltCrashed) {
		t.Fatalf("Check accepted the file, then %v", err)
	}
}

// resealMetas returns a copy of data in which every page that starts at a
// candidate meta offset and carries bbolt's magic has a correct checksum.
func resealMetas(data []byte) ([]byte, bool) {
	var out []byte
	for _, off := range []int{0, 1024, 2048, 4096, 8192, 16384, 32768, 65536} {
		if off+pageHeaderSize+metaSize > len(data) {
			break
		}
		m := data[off+pageHeaderSize : off+pageHeaderSize+metaSize]
		if native.Uint32(m) != boltMagic {
			continue
		}
		if out == nil {
			out = bytes.Clone(data)
		}
		m = out[off+pageHeaderSize : off+pageHeaderSize+metaSize]
		h := fnv.New64a()
		h.Write(m[:metaSummed])
		native.PutUint64(m[metaSummed:], h.Sum64())
	}
	return out, out != nil && !bytes.Equal(out, data)
}

// Whatever the file, Salvage and Scan return (never panic or hang) and pass
// on only non-empty keys; when Check accepts the file and bbolt finds the
// sessions bucket, Salvage reads it exactly as bbolt does and reports no
// damage.
func FuzzSalvage(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		salvageLikeBolt(t, data)
		if sealed, ok := resealMetas(data); ok {
			salvageLikeBolt(t, sealed)
		}
	})
}

func salvageLikeBolt(t *testing.T, data []byte) {
	t.Helper()
	salvaged := map[string]string{}
	var rep SalvageReport
	var salvageErr error
	bounded(t, "Salvage", func() {
		rep, salvageErr = Salvage(bytes.NewReader(data), int64(len(data)), bucketSessions, func(k, v []byte) error {
			if len(k) == 0 {
				return errors.New("empty key")
			}
			salvaged[string(k)] = string(v)
			return nil
		})
	})
	if salvageErr != nil && !errors.Is(salvageErr, ErrNoBucket) {
		t.Fatalf("Salvage: %v", salvageErr)
	}
	bounded(t, "Scan", func() {
		_, err := Scan(bytes.NewReader(data), int64(len(data)), func(r Record) error {
			if len(r.Key) == 0 {
				return errors.New("empty key")
			}
			return nil
		})
		if err != nil && !errors.Is(err, ErrCorrupt) {
			t.Fatalf("Scan: %v", err)
		}
	})

	sum, err := checkBounded(t, data)
	if err != nil {
		return
	}
	path := filepath.Join(t.TempDir(), "accepted.db")
	writeFile(t, path, data)
	want, found, err := readBucketWithBolt(path, bucketSessions)
	if err != nil {
		t.Fatalf("Check accepted the file, then bbolt: %v", err)
	}
	switch {
	case !found && salvageErr == nil && rep.Meta == sum.Meta:
		// Salvage may find the bucket through the older meta page,
		// never through the one bbolt uses.
		t.Fatalf("no sessions bucket for bbolt, but Salvage read one through meta page %d", rep.Meta)
	case found && salvageErr != nil:
		t.Fatalf("bbolt reads the sessions bucket, Salvage: %v", salvageErr)
	case found && (rep.Meta != sum.Meta || len(rep.Damage) != 0 || !maps.Equal(salvaged, want)):
		t.Fatalf("Salvage read %d keys through meta page %d with damage %v; bbolt %d through %d", len(salvaged), rep.Meta, rep.Damage, len(want), sum.Meta)
	}
}

// bounded runs fn, failing the test if it panics or runs for more than 10s.
func bounded(t *testing.T, what string, fn func()) {
	t.Helper()
	done := make(chan any, 1)
	go func() {
		defer func() { done <- recover() }()
		fn()
	}()
	select {
	case p := <-done:
		if p != nil {
			t.Fatalf("%s panicked: %v", what, p)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("%s still running after 10s", what)
	}
}

// readBucketWithBolt reads a top-level bucket with bbolt, in a goroutine
// that turns a fault into a panic and recovers it.
func readBucketWithBolt(path string, name []byte) (map[string]string, bool, error) {
	type result struct {
		kv    map[string]string
		found bool
		err   error
	}
	done := make(chan result, 1)
	go func() {
		debug.SetPanicOnFault(true)
		defer func() {
			if p := recover(); p != nil {
				done <- result{err: fmt.Errorf("%w: panic: %v", errBoltCrashed, p)}
			}
		}()
		db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: time.Second, ReadOnly: true})
		if err != nil {
			done <- result{err: err}
			return
		}
		defer db.Close()
		kv := map[string]string{}
		found := false
		err = db.View(func(tx *bbolt.Tx) error {
			b := tx.Bucket(name)
			if b == nil {
				return nil
			}
			found = true
			return b.ForEach(func(k, v []byte) error {
				if v != nil {
					kv[string(k)] = string(v)
				}
				return nil
			})
		})
		done <- result{kv, found, err}
	}()
	select {
	case r := <-done:
		return r.kv, r.found, r.err
	case <-time.After(boltTimeout):
		return nil, false, fmt.Errorf("%w: still running after %v", errBoltCrashed, boltTimeout)
	}
}
