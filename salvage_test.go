package boltsession

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"
)

// sessionFile writes a closed session file of n sessions (IDs s0000..,
// each with a value "v" and half of them an owner) and returns its path and
// the clock it was written on.
func sessionFile(t testing.TB, n int, valueKeys [][]byte) (string, *testClock) {
	t.Helper()
	clock := newTestClock()
	path := filepath.Join(t.TempDir(), "sessions.db")
	s, err := Open(path, &BoltOptions{SweepInterval: -1, NoSync: true, Now: clock.Now, ValueKeys: valueKeys})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i := range n {
		u := Update{ID: fmt.Sprintf("s%04d", i), Create: true, Expires: clock.Now().Add(time.Hour),
			Set: map[string][]byte{"v": []byte(fmt.Sprintf("value-%04d", i))}}
		if i%2 == 0 {
			u.Owner = ptrTo(fmt.Sprint("user-", i%5))
		}
		if err := s.Save(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return path, clock
}

// sessionLeafPages returns the ids of the leaf pages that hold session
// records, and the keys on each.
func sessionLeafPages(t *testing.T, path string) map[uint64][][]byte {
	t.Helper()
	db, err := bbolt.Open(path, 0o600, nil) // writable: tx.Page needs the freelist

	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	pageSize := db.Info().PageSize
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pages := map[uint64][][]byte{}
	err = db.View(func(tx *bbolt.Tx) error {
		c := tx.Bucket(bucketSessions).Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			// Find the leaf page whose bytes hold this key.
			for id := uint64(2); (id+1)*uint64(pageSize) <= uint64(len(data)); id++ {
				p := data[id*uint64(pageSize) : (id+1)*uint64(pageSize)]
				// On a leaf page a key's value follows it: a record
				// starts with its checksum tag (index entries, which
				// hold the key too, have empty values).
				if binary.LittleEndian.Uint16(p[8:]) == 0x02 && bytes.Contains(p, append(bytes.Clone(k), recordTag)) {
					if info, err := tx.Page(int(id)); err == nil && info != nil && info.Type == "leaf" {
						pages[id] = append(pages[id], bytes.Clone(k))
						break
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return pages
}

// TestSalvageRecoversEverySessionOffTheDamagedPage damages one leaf page
// of the sessions bucket: Open refuses the file with ErrCorrupt and the way
// out; Salvage recovers every session on the other pages into a new file
// that opens, and loses exactly the damaged page's.
func TestSalvageRecoversEverySessionOffTheDamagedPage(t *testing.T) {
	path, clock := sessionFile(t, 600, nil)
	pages := sessionLeafPages(t, path)
	if len(pages) < 3 {
		t.Fatalf("the sessions fill %d leaf pages; the test needs several", len(pages))
	}
	var victim uint64
	for id := range pages {
		victim = max(victim, id)
	}
	lost := map[string]bool{}
	for _, k := range pages[victim] {
		lost[string(k)] = true
	}
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(bytes.Repeat([]byte{0x5a}, 4096), int64(victim)*4096+16); err != nil {
		t.Fatal(err)
	}
	f.Close()

	_, err = Open(path, &BoltOptions{SweepInterval: -1, Now: clock.Now})
	if !errors.Is(err, ErrCorrupt) || !bytes.Contains([]byte(err.Error()), []byte("salvage")) {
		t.Fatalf("Open of the damaged file: %v, want ErrCorrupt saying how to salvage", err)
	}

	dst := filepath.Join(t.TempDir(), "salvaged.db")
	res, err := Salvage(context.Background(), path, dst, &SalvageOptions{Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("salvage: %+v", res)
	if want := 600 - len(lost); res.Recovered != want || len(res.Damaged) == 0 {
		t.Fatalf("recovered %d (damage %v), want %d: every session off the damaged page", res.Recovered, res.Damaged, want)
	}
	s, err := Open(dst, &BoltOptions{SweepInterval: -1, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	for i := range 600 {
		id := fmt.Sprintf("s%04d", i)
		rec, err := s.Load(ctx, id)
		if lost[string(keyOf(id))] {
			if err == nil {
				t.Fatalf("%s was on the damaged page but came back", id)
			}
			continue
		}
		if err != nil || string(rec.Values["v"]) != fmt.Sprintf("value-%04d", i) {
			t.Fatalf("Load(%s) after salvage: %+v, %v", id, rec, err)
		}
	}
	// The indexes were rebuilt: an owner's sessions are found, and the
	// sweeper expires them on time.
	if owned, err := s.Owned(ctx, "user-0"); err != nil || len(owned) == 0 {
		t.Fatalf("Owned(user-0) after salvage: %d, %v", len(owned), err)
	}
	clock.Advance(2 * time.Hour)
	if sw, err := s.Sweep(ctx); err != nil || sw.Swept != res.Recovered {
		t.Fatalf("sweep after salvage: %+v, %v; want all %d swept", sw, err, res.Recovered)
	}
}

// TestSalvageWithBothMetaPagesGoneScansTheLeafPages zeroes the meta pages:
// nothing leads to the sessions, so Salvage reads every leaf page, and
// still recovers every session, none twice.
func TestSalvageWithBothMetaPagesGoneScansTheLeafPages(t *testing.T) {
	path, clock := sessionFile(t, 300, nil)
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(make([]byte, 2*4096), 0); err != nil {
		t.Fatal(err)
	}
	f.Close()
	res, err := Salvage(context.Background(), path, filepath.Join(t.TempDir(), "new.db"), &SalvageOptions{Now: clock.Now})
	if err != nil || !res.Scanned || res.Recovered != 300 {
		t.Fatalf("salvage: %+v, %v; want all 300 by scanning", res, err)
	}
}

func TestSalvageOfSealedValuesNeedsTheKeys(t *testing.T) {
	key := bytes.Repeat([]byte{7}, 32)
	path, clock := sessionFile(t, 50, [][]byte{key})
	res, err := Salvage(context.Background(), path, filepath.Join(t.TempDir(), "a.db"), &SalvageOptions{Now: clock.Now})
	if err != nil || res.Recovered != 0 || res.Skipped["sealed with a key not given"] != 50 {
		t.Fatalf("salvage without the key: %+v, %v", res, err)
	}
	dst := filepath.Join(t.TempDir(), "b.db")
	res, err = Salvage(context.Background(), path, dst, &SalvageOptions{Now: clock.Now, ValueKeys: [][]byte{key}})
	if err != nil || res.Recovered != 50 {
		t.Fatalf("salvage with the key: %+v, %v", res, err)
	}
	if _, err := Open(dst, &BoltOptions{SweepInterval: -1}); !errors.Is(err, ErrKey) {
		t.Fatalf("the salvaged file opens without the key: %v", err)
	}
}

// damagedVariants makes damaged copies of the file at path: truncations at
// random offsets, random bytes flipped, and pages copied over others.
func damagedVariants(t *testing.T, path string, n int, seed uint64) map[string][]byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(seed, 1))
	out := map[string][]byte{}
	pages := len(data) / 4096
	for i := range n {
		d := bytes.Clone(data)
		switch i % 3 {
		case 0:
			d = d[:rng.IntN(len(d))]
			out[fmt.Sprintf("truncated-%d", len(d))] = d
		case 1:
			for range 1 + rng.IntN(8) {
				d[rng.IntN(len(d))] ^= byte(1 << rng.IntN(8))
			}
			out[fmt.Sprintf("flipped-%d", i)] = d
		case 2:
			from, to := rng.IntN(pages), 2+rng.IntN(pages-2)
			copy(d[to*4096:(to+1)*4096], data[from*4096:(from+1)*4096])
			out[fmt.Sprintf("spliced-%d-over-%d", from, to)] = d
		}
	}
	return out
}

// exercise opens a (perhaps damaged) session file and runs every operation
// on it: none may panic or hang; each either works or fails with an error.
// It returns whether Open accepted the file.
func exercise(t *testing.T, path string, clock *testClock) bool {
	t.Helper()
	s, err := Open(path, &BoltOptions{SweepInterval: -1, NoSync: true, Now: clock.Now, Timeout: time.Second,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrVersion) {
			t.Fatalf("Open of a damaged file: %v, want ErrCorrupt or ErrVersion", err)
		}
		return false
	}
	ctx := context.Background()
	for i := range 20 {
		_, _ = s.Load(ctx, fmt.Sprintf("s%04d", i*7))
	}
	_ = s.Save(ctx, Update{ID: "s0003", Set: map[string][]byte{"k": {1}}})
	_ = s.Save(ctx, Update{ID: "new", Create: true, Expires: clock.Now().Add(time.Hour)})
	_ = s.Iterate(ctx, func(*Record) error { return nil })
	_, _ = s.Count(ctx)
	_, _ = s.Owned(ctx, "user-1")
	_, _ = s.Inspect(ctx)
	_ = s.Stats()
	clock.Advance(2 * time.Hour)
	_, _ = s.Sweep(ctx)
	_, _ = s.WriteTo(io.Discard)
	closeWithin(t, s)
	return true
}

// TestDamagedFilesAreRefusedOrServedNeverACrash runs Open and every
// operation, then Salvage, on truncated, bit-flipped and page-spliced
// copies of a session file: nothing panics or hangs, Open refuses a file
// with ErrCorrupt or serves it, and Salvage reads what it can of each.
func TestDamagedFilesAreRefusedOrServedNeverACrash(t *testing.T) {
	path, clock0 := sessionFile(t, 300, nil)
	refused, served, salvaged := map[string]int{}, map[string]int{}, 0
	for name, data := range damagedVariants(t, path, 150, 1) {
		kind := name[:bytes.IndexByte([]byte(name), '-')]
		p := filepath.Join(t.TempDir(), "damaged.db")
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		clock := &testClock{t: clock0.Now()}
		res, err := Salvage(context.Background(), p, p+".salvaged", &SalvageOptions{Now: clock.Now})
		if err == nil {
			salvaged += res.Recovered
		}
		if exercise(t, p, clock) {
			served[kind]++
		} else {
			refused[kind]++
		}
	}
	t.Logf("damaged files refused at Open %v, served %v; salvage recovered %d sessions in all", refused, served, salvaged)
}

// TestTornCopiesOfALiveFileAreRefusedOrServed copies a session file with
// a plain read, 50 times, while a writer keeps committing to it (what a
// `cp` of a live file gives), and opens each copy: Open refuses it with
// ErrCorrupt or serves it, and nothing panics or hangs.
func TestTornCopiesOfALiveFileAreRefusedOrServed(t *testing.T) {
	path, clock := sessionFile(t, 200, nil)
	s, err := Open(path, &BoltOptions{SweepInterval: -1, NoSync: true, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		ctx := context.Background()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			id := fmt.Sprintf("w%05d", i)
			_ = s.Save(ctx, Update{ID: id, Create: true, Expires: clock.Now().Add(time.Hour),
				Set: map[string][]byte{"v": bytes.Repeat([]byte("x"), 300)}})
			if i%3 == 0 {
				_ = s.Delete(ctx, fmt.Sprintf("w%05d", i/2))
			}
		}
	})
	var refused, served int
	for range 50 {
		src, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(t.TempDir(), "torn.db")
		dst, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		// Copy what the file holds when the copy starts, in pieces, so
		// that commits land between them (the writer outruns a copy that
		// chases the end of a growing file).
		fi, err := src.Stat()
		if err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 8192)
		for off := int64(0); off < fi.Size(); off += int64(len(buf)) {
			n, _ := src.ReadAt(buf[:min(int64(len(buf)), fi.Size()-off)], off)
			dst.Write(buf[:n])
			if off%(64<<10) == 0 {
				time.Sleep(100 * time.Microsecond)
			}
		}
		src.Close()
		dst.Close()
		if exercise(t, p, &testClock{t: clock.Now()}) {
			served++
		} else {
			refused++
		}
	}
	close(stop)
	wg.Wait()
	s.Close()
	t.Logf("50 torn copies: %d refused at Open with ErrCorrupt, %d served", refused, served)
}

// FuzzOpenDamagedSessionFile opens any bytes as a session file and runs
// every operation on it: whatever the file holds, nothing panics or hangs.
func FuzzOpenDamagedSessionFile(f *testing.F) {
	for _, n := range []int{0, 3, 40} {
		path, _ := sessionFile(f, n, nil)
		data, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(t.TempDir(), "fuzz.db")
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		clock := newTestClock()
		exercise(t, p, clock)
		if _, err := Salvage(context.Background(), p, p+".salvaged", &SalvageOptions{Now: clock.Now}); err != nil &&
			!errors.Is(err, ErrCorrupt) {
			t.Fatalf("Salvage: %v", err)
		}
	})
}

// TestSalvageOfAFileAnAppHoldsIsRefusedAndAnAppStartingMeanwhileWaits: the
// salvage reads under bbolt's shared lock, so it never reads a file an app
// is writing, and an app that starts while it reads waits rather than
// write under it.
func TestSalvageOfAFileAnAppHoldsIsRefusedAndAnAppStartingMeanwhileWaits(t *testing.T) {
	path, clock := sessionFile(t, 50, nil)
	app, err := Open(path, &BoltOptions{SweepInterval: -1, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), "salvaged.db")
	_, err = Salvage(context.Background(), path, dst, &SalvageOptions{Now: clock.Now, Timeout: 100 * time.Millisecond})
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("Salvage of a file an app holds: %v, want ErrLocked", err)
	}
	if _, err := os.Stat(dst); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a refused salvage left %s: %v", dst, err)
	}
	app.Close()

	// An app starting while Salvage reads: Salvage's lock is held from the
	// first read of the file to the last, so Open, tried from inside the
	// read (the clock is read when the records are copied), times out.
	var during error
	tried := false
	now := func() time.Time {
		if !tried {
			tried = true
			var s *BoltStore
			if s, during = Open(path, &BoltOptions{SweepInterval: -1, Timeout: 100 * time.Millisecond}); s != nil {
				s.Close()
			}
		}
		return clock.Now()
	}
	res, err := Salvage(context.Background(), path, dst, &SalvageOptions{Now: now})
	if err != nil || res.Recovered != 50 {
		t.Fatalf("Salvage once the app stopped: %+v, %v", res, err)
	}
	if !errors.Is(during, ErrLocked) {
		t.Fatalf("an app opening the file during the salvage: %v, want ErrLocked", during)
	}
}
