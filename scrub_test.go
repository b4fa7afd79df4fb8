package boltsession

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"
)

// idsIn returns how many of the n sessions of writeVersion2File have their
// ID anywhere in the file's bytes, freed pages included.
func idsIn(t *testing.T, path string, n int) int {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	found := 0
	for i := range n {
		if bytes.Contains(raw, fmt.Appendf(nil, "v2-session-%05d", i)) {
			found++
		}
	}
	return found
}

// scrubMarked reports whether the file bears the scrub mark.
func scrubMarked(t *testing.T, path string) bool {
	t.Helper()
	db, err := bbolt.Open(path, 0, &bbolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var marked bool
	_ = db.View(func(tx *bbolt.Tx) error {
		marked = tx.Bucket(bucketMeta).Get(keyScrub) != nil
		return nil
	})
	return marked
}

func TestOpenConvertingAFileLeavesNoSessionIDInItsBytes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "v2.db")
	const n = 2300 // several conversion transactions
	writeVersion2File(t, path, n)
	if got := idsIn(t, path, n); got != n {
		t.Fatalf("the version 2 file holds %d of the %d IDs; the test needs all", got, n)
	}
	s, err := Open(path, &BoltOptions{SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range []int{0, n / 2, n - 1} {
		if _, err := s.Load(context.Background(), fmt.Sprintf("v2-session-%05d", i)); err != nil {
			t.Fatalf("session %d after the conversion: %v", i, err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if got := idsIn(t, path, n); got != 0 {
		t.Fatalf("after Open converted the file, %d of its %d session IDs are still in its bytes (freed pages)", got, n)
	}
	if scrubMarked(t, path) {
		t.Fatal("the compacted file still bears the scrub mark: every Open would compact it")
	}
}

func TestAConversionWhoseCompactionFailsOpensAndTheNextOpenScrubs(t *testing.T) {
	path := filepath.Join(t.TempDir(), "v2.db")
	const n = 1200
	writeVersion2File(t, path, n)
	failed := errors.New("disk full")
	scrubCompact = func(string, string, *CompactOptions) (CompactResult, error) { return CompactResult{}, failed }
	s, err := Open(path, &BoltOptions{SweepInterval: -1})
	scrubCompact = Compact
	if err != nil {
		t.Fatalf("Open with a compaction that fails: %v; want the store to open anyway", err)
	}
	if _, err := s.Load(context.Background(), "v2-session-00007"); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if !scrubMarked(t, path) {
		t.Fatal("the mark went although the compaction failed")
	}
	if idsIn(t, path, n) == 0 {
		t.Fatal("no ID left although nothing compacted: the test shows nothing")
	}
	s, err = Open(path, &BoltOptions{SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if got := idsIn(t, path, n); got != 0 || scrubMarked(t, path) {
		t.Fatalf("the next Open left %d IDs, mark %v", got, scrubMarked(t, path))
	}
}

func TestAConversionKilledBeforeItsCompactionIsScrubbedByTheNextOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "v2.db")
	const n = 1500
	writeVersion2File(t, path, n)
	// What a process killed after the conversion, before the compaction,
	// leaves: the conversion's transactions committed, the mark in place.
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := upgradeFile(db, slog.New(slog.DiscardHandler), path); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if idsIn(t, path, n) == 0 || !scrubMarked(t, path) {
		t.Fatal("the converted, uncompacted file has no ID left or no mark: the test shows nothing")
	}
	s, err := Open(path, &BoltOptions{SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Load(context.Background(), fmt.Sprintf("v2-session-%05d", n-1)); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if got := idsIn(t, path, n); got != 0 {
		t.Fatalf("%d IDs left after the next Open", got)
	}
}

func TestRekeyMarksTheFileAndTheNextOpenLeavesNoOldForm(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sessions.db")
	oldKey, newKey := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)
	s, err := Open(path, &BoltOptions{SweepInterval: -1, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	const n = 1500
	for i := range n {
		if err := s.Save(context.Background(), Update{ID: fmt.Sprintf("s-%05d", i), Create: true,
			Expires: time.Now().Add(time.Hour), Set: map[string][]byte{"card": fmt.Appendf(nil, "card-number-%06d", i)}}); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	// Values in clear, sealed by a running app's Rekey: the file keeps
	// them in freed pages until the next Open.
	s, err = Open(path, &BoltOptions{SweepInterval: -1, ValueKeys: [][]byte{newKey, oldKey}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Rekey(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	s.Close()
	clear := func() int {
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		found := 0
		for i := range n {
			if bytes.Contains(raw, fmt.Appendf(nil, "card-number-%06d", i)) {
				found++
			}
		}
		return found
	}
	if clear() == 0 || !scrubMarked(t, path) {
		t.Fatalf("after Rekey: %d values in clear, mark %v; the test needs both", clear(), scrubMarked(t, path))
	}
	s, err = Open(path, &BoltOptions{SweepInterval: -1, ValueKeys: [][]byte{newKey}})
	if err != nil {
		t.Fatal(err)
	}
	if rec, err := s.Load(context.Background(), "s-01499"); err != nil || string(rec.Values["card"]) != "card-number-001499" {
		t.Fatalf("after the scrub: %+v, %v", rec, err)
	}
	s.Close()
	if got := clear(); got != 0 || scrubMarked(t, path) {
		t.Fatalf("after the next Open: %d values in clear, mark %v", got, scrubMarked(t, path))
	}
}

// TestTwoAppsStartingOnAFileToConvertLoseNoSave starts two apps at once on
// a file of the previous format: one converts and compacts while the other
// waits for the lock (and may find the file renamed under it), then each
// saves and acknowledges a session. Both saves last, every old session is
// reachable, and no ID is left in the file.
func TestTwoAppsStartingOnAFileToConvertLoseNoSave(t *testing.T) {
	for round := range 5 {
		path := filepath.Join(t.TempDir(), "v2.db")
		const n = 1500
		writeVersion2File(t, path, n)
		ctx := context.Background()
		exp := time.Now().Add(time.Hour)
		errs := make(chan error, 2)
		for _, app := range []string{"app-a", "app-b"} {
			go func() {
				s, err := Open(path, &BoltOptions{SweepInterval: -1, Timeout: 30 * time.Second,
					Logger: slog.New(slog.DiscardHandler)})
				if err != nil {
					errs <- fmt.Errorf("%s: %w", app, err)
					return
				}
				err = s.Save(ctx, Update{ID: app, Create: true, Expires: exp})
				errs <- errors.Join(err, s.Close())
			}()
		}
		for range 2 {
			if err := <-errs; err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
		}
		s, err := Open(path, &BoltOptions{SweepInterval: -1})
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range []string{"app-a", "app-b", "v2-session-00000", fmt.Sprintf("v2-session-%05d", n-1)} {
			if _, err := s.Load(ctx, id); err != nil {
				t.Fatalf("round %d: %s after two apps started at once: %v", round, id, err)
			}
		}
		s.Close()
		if got := idsIn(t, path, n); got != 0 {
			t.Fatalf("round %d: %d IDs left", round, got)
		}
	}
}
