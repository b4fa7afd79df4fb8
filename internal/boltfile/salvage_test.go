package boltfile

import (
	"bytes"
	"errors"
	"maps"
	"slices"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"
)

// bucketContents reads every key/value of a top-level bucket with bbolt.
func bucketContents(t *testing.T, path string, name []byte) map[string]string {
	t.Helper()
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: time.Second, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	out := map[string]string{}
	if err := db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket(name).ForEach(func(k, v []byte) error {
			out[string(k)] = string(v)
			return nil
		})
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// bucketRoot is the root page of a top-level bucket, 0 when it is inline.
func bucketRoot(t *testing.T, path string, name []byte) uint64 {
	t.Helper()
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: time.Second, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var root uint64
	_ = db.View(func(tx *bbolt.Tx) error {
		root = uint64(tx.Bucket(name).RootPage())
		return nil
	})
	return root
}

func salvageAll(t *testing.T, data []byte, name []byte) (map[string]string, SalvageReport, error) {
	t.Helper()
	got := map[string]string{}
	rep, err := Salvage(bytes.NewReader(data), int64(len(data)), name, func(k, v []byte) error {
		if _, dup := got[string(k)]; dup {
			t.Errorf("key %q passed twice", k)
		}
		got[string(k)] = string(v)
		return nil
	})
	return got, rep, err
}

func TestSalvageReadsAValidFileLikeBbolt(t *testing.T) {
	dir := t.TempDir()
	for _, spec := range validSpecs {
		t.Run(spec.name, func(t *testing.T) {
			path := buildFile(t, dir, spec)
			want := bucketContents(t, path, bucketSessions)
			got, rep, err := salvageAll(t, readFile(t, path), bucketSessions)
			if err != nil {
				t.Fatal(err)
			}
			if len(rep.Damage) != 0 || rep.Keys != len(want) || !maps.Equal(got, want) {
				t.Fatalf("Salvage read %d keys (report %+v), bbolt %d", len(got), rep, len(want))
			}
		})
	}
}

// leafPagesOf returns the leaf pages below a bucket's root page, in key
// order, read with this package's own decoding of a valid file.
func leafPagesOf(t *testing.T, data []byte, ps int, root uint64) []uint64 {
	t.Helper()
	page := data[int(root)*ps:]
	h := decodeHeader(page)
	if h.flags == flagLeaf {
		return []uint64{root}
	}
	var leaves []uint64
	for i := range int(h.count) {
		e, problem := elementAt(page[:(int(h.overflow)+1)*ps], i, false)
		if problem != "" {
			t.Fatal(problem)
		}
		leaves = append(leaves, leafPagesOf(t, data, ps, e.child)...)
	}
	return leaves
}

func keysOnPage(t *testing.T, data []byte, ps int, id uint64) []string {
	page := data[int(id)*ps:]
	h := decodeHeader(page)
	var keys []string
	for i := range int(h.count) {
		e, problem := elementAt(page[:(int(h.overflow)+1)*ps], i, true)
		if problem != "" {
			t.Fatal(problem)
		}
		keys = append(keys, string(e.key))
	}
	return keys
}

func TestSalvageSkipsADamagedLeafAndReadsEveryOtherKey(t *testing.T) {
	dir := t.TempDir()
	path := buildFile(t, dir, fileSpec{name: "salvage", sessions: 1500, deleteEvery: 4, seed: 51})
	data := readFile(t, path)
	ps := pageSizeOf(t, data)
	want := bucketContents(t, path, bucketSessions)
	leaves := leafPagesOf(t, data, ps, bucketRoot(t, path, bucketSessions))
	if len(leaves) < 3 {
		t.Fatalf("sessions has %d leaf pages; the test needs a tree", len(leaves))
	}
	for _, damage := range []struct {
		name string
		do   func(page []byte)
	}{
		{"zeroed", func(page []byte) { clear(page) }},
		{"wrong type", func(page []byte) { native.PutUint16(page[8:], flagFreelist) }},
		{"count past the page", func(page []byte) { native.PutUint16(page[10:], 0xFFFE) }},
	} {
		t.Run(damage.name, func(t *testing.T) {
			victim := leaves[len(leaves)/2]
			lost := keysOnPage(t, data, ps, victim)
			d := bytes.Clone(data)
			damage.do(d[int(victim)*ps : int(victim+1)*ps])
			if _, err := Check(bytes.NewReader(d), int64(len(d))); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Check accepted the damaged file: %v", err)
			}
			got, rep, err := salvageAll(t, d, bucketSessions)
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range want {
				if slices.Contains(lost, k) {
					continue
				}
				if got[k] != v {
					t.Fatalf("key %q on an undamaged page: salvaged %q, want %q", k, got[k], v)
				}
			}
			for k, v := range got {
				if want[k] != v {
					t.Errorf("salvaged %q = %q, which the file never held", k, v)
				}
			}
			if len(rep.Damage) != 1 || rep.Damage[0].Page != victim {
				t.Fatalf("Damage = %v, want one entry for page %d", rep.Damage, victim)
			}
			t.Logf("%d of %d keys salvaged; %d lived on page %d: %v", len(got), len(want), len(lost), victim, rep.Damage[0].Error())
		})
	}
}

func TestSalvageFallsBackToTheOlderMetaWhenTheNewerIsDamaged(t *testing.T) {
	dir := t.TempDir()
	path := buildFile(t, dir, fileSpec{name: "meta", pageSize: 1024, sessions: 300, seed: 52})
	data := readFile(t, path)
	sum, err := Check(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	d := bytes.Clone(data)
	d[sum.Meta*sum.PageSize+pageHeaderSize+metaSummed-1] ^= 0xFF // checksum mismatch
	older, err := Check(bytes.NewReader(d), int64(len(d)))
	if err != nil {
		t.Fatalf("Check refused a file whose older meta is intact: %v", err)
	}
	got, rep, err := salvageAll(t, d, bucketSessions)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Meta == sum.Meta || rep.TxID != older.TxID || len(rep.Damage) != 0 || len(got) == 0 {
		t.Fatalf("Salvage used meta %d (txid %d), read %d keys, damage %v; want meta %d", rep.Meta, rep.TxID, len(got), rep.Damage, older.Meta)
	}
}

func TestScanFindsEveryRecordWhenNoMetaIsUsable(t *testing.T) {
	dir := t.TempDir()
	for _, spec := range []fileSpec{
		{name: "scan-inline", pageSize: 1024, sessions: 3, seed: 53},
		{name: "scan-tree", sessions: 1500, deleteEvery: 3, bigValues: true, seed: 54},
	} {
		t.Run(spec.name, func(t *testing.T) {
			path := buildFile(t, dir, spec)
			data := readFile(t, path)
			want := bucketContents(t, path, bucketSessions)
			ps := pageSizeOf(t, data)
			d := bytes.Clone(data)
			clear(d[:2*ps]) // both meta pages
			if _, _, err := salvageAll(t, d, bucketSessions); !errors.Is(err, ErrNoBucket) {
				t.Fatalf("Salvage without meta pages: %v, want ErrNoBucket", err)
			}
			found := map[string]string{}
			version := false // the meta bucket is always inline
			rep, err := Scan(bytes.NewReader(d), int64(len(d)), func(r Record) error {
				if string(r.Bucket) == "meta" && string(r.Key) == "version" {
					version = true
				}
				if v, ok := want[string(r.Key)]; ok && v == string(r.Value) {
					found[string(r.Key)] = v
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if !rep.PageSizeGuessed || rep.PageSize != ps || rep.FreeKnown {
				t.Errorf("report %+v: want the page size %d guessed and no freelist", rep, ps)
			}
			if len(found) != len(want) || !version {
				t.Fatalf("Scan found %d of %d live records; the meta bucket's version: %v", len(found), len(want), version)
			}
		})
	}
}

func TestScanMarksRecordsOnFreePages(t *testing.T) {
	path := buildFile(t, t.TempDir(), fileSpec{name: "free", pageSize: 1024, sessions: 400, deleteEvery: 2, seed: 55})
	data := readFile(t, path)
	want := bucketContents(t, path, bucketSessions)
	live, stale := 0, 0
	rep, err := Scan(bytes.NewReader(data), int64(len(data)), func(r Record) error {
		if _, ok := want[string(r.Key)]; ok && !r.Free {
			live++
		}
		if r.Free {
			stale++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.FreeKnown || rep.PageSizeGuessed {
		t.Fatalf("report %+v: want the meta's page size and freelist", rep)
	}
	if live < len(want) || stale == 0 {
		t.Fatalf("%d live records of %d found off free pages, %d records on free pages", live, len(want), stale)
	}
	// Every key on a page the freelist does not list is live: the file
	// leaks no pages, so nothing deleted hides on a page taken as live.
	_, err = Scan(bytes.NewReader(data), int64(len(data)), func(r Record) error {
		if !r.Free && r.Bucket == nil {
			if _, ok := want[string(r.Key)]; !ok && len(r.Key) == 43 {
				t.Errorf("deleted session %q found on a page not marked free", r.Key)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestSalvageAndScanStopWhenTheCallbackFails(t *testing.T) {
	path := buildFile(t, t.TempDir(), fileSpec{name: "stop", pageSize: 1024, sessions: 100, seed: 56})
	data := readFile(t, path)
	stop := errors.New("stop")
	calls := 0
	if _, err := Salvage(bytes.NewReader(data), int64(len(data)), bucketSessions, func(k, v []byte) error {
		calls++
		return stop
	}); !errors.Is(err, stop) || calls != 1 {
		t.Fatalf("Salvage: %v after %d calls", err, calls)
	}
	calls = 0
	if _, err := Scan(bytes.NewReader(data), int64(len(data)), func(Record) error {
		calls++
		return stop
	}); !errors.Is(err, stop) || calls != 1 {
		t.Fatalf("Scan: %v after %d calls", err, calls)
	}
}

// bbolt writes the pages of each transaction, the new root among them, past
// the older ones, so a truncated file often loses the root: Salvage then
// finds no bucket, and Scan reads the leaf pages that are left.
func TestSalvageOrScanReadWhatATruncatedFileStillHolds(t *testing.T) {
	path := buildFile(t, t.TempDir(), fileSpec{name: "cut", sessions: 1500, seed: 57})
	data := readFile(t, path)
	want := bucketContents(t, path, bucketSessions)
	sum, err := Check(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	used := sum.HighWater * uint64(sum.PageSize)
	for _, cut := range []uint64{used * 9 / 10, used * 2 / 3, used / 3} {
		d := data[:cut]
		got, _, err := salvageAll(t, d, bucketSessions)
		how := "Salvage"
		switch {
		case errors.Is(err, ErrNoBucket):
			how = "Scan"
			_, err = Scan(bytes.NewReader(d), int64(len(d)), func(r Record) error {
				if len(r.Key) == 43 && r.Bucket == nil && !r.Free {
					got[string(r.Key)] = string(r.Value)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		case err != nil:
			t.Fatal(err)
		}
		for k, v := range got {
			if want[k] != v {
				t.Fatalf("cut at %d: %s read %q = %q, which the file never held", cut, how, k, v)
			}
		}
		if len(got) == 0 {
			t.Fatalf("cut at %d of %d bytes: %s read nothing", cut, used, how)
		}
		t.Logf("cut at %d of %d bytes: %s read %d of %d sessions", cut, used, how, len(got), len(want))
	}
}
