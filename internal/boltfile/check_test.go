package boltfile

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

func checkPath(t *testing.T, path string) (Summary, error) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	return Check(f, fi.Size())
}

// boltCounts is what bbolt itself counts in a file: buckets below the root
// and keys that are not buckets.
func boltCounts(t *testing.T, path string) (buckets, keys int) {
	t.Helper()
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: time.Second, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var count func(b *bbolt.Bucket)
	count = func(b *bbolt.Bucket) {
		_ = b.ForEach(func(k, v []byte) error {
			if v == nil {
				buckets++
				count(b.Bucket(k))
			} else {
				keys++
			}
			return nil
		})
	}
	if err := db.View(func(tx *bbolt.Tx) error {
		return tx.ForEach(func(_ []byte, b *bbolt.Bucket) error {
			buckets++
			count(b)
			return nil
		})
	}); err != nil {
		t.Fatal(err)
	}
	return buckets, keys
}

func TestCheckAcceptsValidFilesAndCountsLikeBbolt(t *testing.T) {
	dir := t.TempDir()
	for _, spec := range validSpecs {
		t.Run(spec.name, func(t *testing.T) {
			path := buildFile(t, dir, spec)
			sum, err := checkPath(t, path)
			if err != nil {
				t.Fatalf("Check: %v", err)
			}
			buckets, keys := boltCounts(t, path)
			if sum.Buckets != buckets || sum.Keys != keys {
				t.Errorf("Check counted %d buckets and %d keys, bbolt %d and %d", sum.Buckets, sum.Keys, buckets, keys)
			}
			if sum.LeakedPages != 0 {
				t.Errorf("%d leaked pages in a file bbolt wrote", sum.LeakedPages)
			}
			if sum.FreelistSynced == spec.noFreelist {
				t.Errorf("FreelistSynced = %v for a file written with NoFreelistSync %v", sum.FreelistSynced, spec.noFreelist)
			}
			want := os.Getpagesize()
			if spec.pageSize != 0 {
				want = spec.pageSize
			}
			if sum.PageSize != want {
				t.Errorf("PageSize = %d, want %d", sum.PageSize, want)
			}
			f, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			fi, _ := f.Stat()
			meta, err := CheckMeta(f, fi.Size())
			if err != nil {
				t.Fatalf("CheckMeta: %v", err)
			}
			if meta.TxID != sum.TxID || meta.HighWater != sum.HighWater || meta.FreePages != sum.FreePages {
				t.Errorf("CheckMeta %+v disagrees with Check %+v", meta, sum)
			}
			if opened, err := exerciseBolt(path); !opened || err != nil {
				t.Fatalf("bbolt on a valid file: opened %v, %v", opened, err)
			}
			t.Logf("%+v", sum)
		})
	}
}

// The rules Check adds to bbolt's own check (every branch has two
// children, a branch key equals the first key below it, no empty page below
// a branch) hold for every file bbolt writes, whatever the mix of puts,
// deletes and bucket changes.
func TestCheckAcceptsEveryFileARandomWorkloadLeaves(t *testing.T) {
	dir := t.TempDir()
	for seed := range uint64(6) {
		path := filepath.Join(dir, fmt.Sprintf("random-%d.db", seed))
		pageSize := []int{1024, 4096}[seed%2]
		db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: time.Second, PageSize: pageSize, NoSync: true})
		if err != nil {
			t.Fatal(err)
		}
		rng := rand.New(rand.NewPCG(seed, 11))
		names := [][]byte{[]byte("a"), []byte("b"), []byte("c")}
		for round := range 40 {
			err := db.Update(func(tx *bbolt.Tx) error {
				for range 1 + rng.IntN(300) {
					name := names[rng.IntN(len(names))]
					b, err := tx.CreateBucketIfNotExists(name)
					if err != nil {
						return err
					}
					if rng.IntN(4) == 0 {
						if b, err = b.CreateBucketIfNotExists([]byte{byte(rng.IntN(4))}); err != nil {
							return err
						}
					}
					key := []byte(fmt.Sprintf("%06d", rng.IntN(3000)))
					switch op := rng.IntN(10); {
					case op < 5:
						if err := b.Put(key, randomBytes(rng, 1, []int{50, 600, 3000}[rng.IntN(3)])); err != nil {
							return err
						}
					case op < 9:
						// Delete a run of keys, emptying whole pages.
						c := b.Cursor()
						for k, _ := c.Seek(key); k != nil && rng.IntN(40) != 0; k, _ = c.Seek(key) {
							if err := b.Delete(k); err != nil && !errors.Is(err, bolterrors.ErrIncompatibleValue) {
								return err
							}
							key = append(bytes.Clone(k), 0)
						}
					default:
						if rng.IntN(8) == 0 {
							if err := tx.DeleteBucket(name); err != nil {
								return err
							}
						}
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if round%5 == 4 {
				if err := db.View(func(tx *bbolt.Tx) error {
					f, err := os.Open(path)
					if err != nil {
						return err
					}
					defer f.Close()
					fi, _ := f.Stat()
					_, err = Check(f, fi.Size())
					return err
				}); err != nil {
					t.Fatalf("seed %d round %d: %v", seed, round, err)
				}
			}
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestCheckRefusesFilesTooShortOrEmpty(t *testing.T) {
	valid := readFile(t, buildFile(t, t.TempDir(), validSpecs[1]))
	for _, tc := range []struct {
		name string
		data []byte
		want error
	}{
		{"empty", nil, ErrEmpty},
		{"one byte", []byte{0}, ErrCorrupt},
		{"zeros", make([]byte, 8192), ErrCorrupt},
		{"first meta only", valid[:1024], ErrCorrupt},
		{"both metas, short of a 4 KiB block", valid[:2048], ErrCorrupt},
		{"text", []byte(strings.Repeat("not a bbolt file\n", 1000)), ErrCorrupt},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Check(bytes.NewReader(tc.data), int64(len(tc.data)))
			if !errors.Is(err, tc.want) {
				t.Fatalf("Check = %v, want %v", err, tc.want)
			}
			if tc.want == ErrEmpty && errors.Is(err, ErrCorrupt) {
				t.Fatalf("an empty file reported as corrupt: %v", err)
			}
		})
	}
}

// Files bbolt writes by other routes than transactions: a copy made with
// Tx.WriteTo (both meta pages describe one tree) and a file rewritten by
// bbolt.Compact (full pages, as boltsession's Compact writes them).
func TestCheckAcceptsCopiesAndCompactedFiles(t *testing.T) {
	dir := t.TempDir()
	src := buildFile(t, dir, fileSpec{name: "source", sessions: 1500, deleteEvery: 3, bigValues: true, extras: true, seed: 12})
	db, err := bbolt.Open(src, 0o600, &bbolt.Options{Timeout: time.Second, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	copyPath := filepath.Join(dir, "copy.db")
	if err := db.View(func(tx *bbolt.Tx) error { return tx.CopyFile(copyPath, 0o600) }); err != nil {
		t.Fatal(err)
	}
	compactPath := filepath.Join(dir, "compact.db")
	dst, err := bbolt.Open(compactPath, 0o600, &bbolt.Options{Timeout: time.Second, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := bbolt.Compact(dst, db, 64<<10); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{copyPath, compactPath} {
		sum, err := checkPath(t, path)
		if err != nil {
			t.Fatalf("%s: %v", filepath.Base(path), err)
		}
		if buckets, keys := boltCounts(t, path); sum.Buckets != buckets || sum.Keys != keys {
			t.Errorf("%s: Check counted %d buckets and %d keys, bbolt %d and %d", filepath.Base(path), sum.Buckets, sum.Keys, buckets, keys)
		}
	}
}
