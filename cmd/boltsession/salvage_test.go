package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/boltsession/boltsession"
	bbolt "go.etcd.io/bbolt"
)

// damagedFile writes a file of 600 sessions, then overwrites part of the
// first leaf page that holds session records, as a disk error would: Open
// refuses the file. It returns the path and the IDs.
func damagedFile(t testing.TB) (string, []string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "sessions.db")
	s, err := boltsession.Open(path, &boltsession.BoltOptions{SweepInterval: -1, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]string, 600)
	for i := range ids {
		ids[i] = fmt.Sprintf("salvage-session-%04d", i)
		err := s.Save(context.Background(), boltsession.Update{ID: ids[i], Create: true, Expires: time.Now().Add(time.Hour),
			Set: map[string][]byte{"v": fmt.Appendf(nil, "salvage-me-%04d", i)}})
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := bbolt.Open(path, 0o600, nil) // writable: tx.Page needs the freelist
	if err != nil {
		t.Fatal(err)
	}
	ps := db.Info().PageSize
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	victim := -1
	_ = db.View(func(tx *bbolt.Tx) error {
		for id := 2; (id+1)*ps <= len(data) && victim < 0; id++ {
			info, err := tx.Page(id)
			if err == nil && info != nil && info.Type == "leaf" && bytes.Contains(data[id*ps:(id+1)*ps], []byte("salvage-me-")) {
				victim = id
			}
		}
		return nil
	})
	db.Close()
	if victim < 0 {
		t.Fatal("no leaf page of sessions found")
	}
	copy(data[victim*ps+16:], bytes.Repeat([]byte{0xee}, 64)) // past the page header: the first elements
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path, ids
}

func TestSalvageCopiesWhatIsReadableOfADamagedFile(t *testing.T) {
	path, ids := damagedFile(t)
	cli(t, "", "stats", path).expect(t, 1, "damaged", "boltsession salvage")

	out := filepath.Join(t.TempDir(), "salvaged.db")
	r := cli(t, "", "salvage", path, out)
	r.expect(t, 0, "salvaged ", " sessions of "+path+" into "+out, "lost: bbolt file: page ")
	got := records(t, out)
	if len(got) < len(ids)*9/10 || len(got) == len(ids) {
		t.Fatalf("salvaged %d of %d sessions; want all but those on the damaged page", len(got), len(ids))
	}
	if !strings.Contains(r.stdout, fmt.Sprintf("salvaged %d sessions", len(got))) {
		t.Fatalf("salvage says %q; the new file holds %d sessions", r.stdout, len(got))
	}
	for _, id := range ids {
		if rec, ok := got[boltsession.Handle(id)]; ok && !strings.HasPrefix(string(rec.Values["v"]), "salvage-me-") {
			t.Fatalf("session %s salvaged with %q", id, rec.Values["v"])
		}
	}

	// NEW is never overwritten.
	before, _ := os.ReadFile(out)
	cli(t, "", "salvage", path, out).expect(t, 1, "already exists")
	if after, _ := os.ReadFile(out); !bytes.Equal(before, after) {
		t.Fatal("a second salvage changed NEW")
	}
}

func TestSalvageOfAFileAnAppHoldsIsRefused(t *testing.T) {
	path := standardFile(t)
	app, err := boltsession.Open(path, &boltsession.BoltOptions{SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	out := filepath.Join(t.TempDir(), "salvaged.db")
	cli(t, "", "salvage", path, out).expect(t, 1, "held by another process")
	if _, err := os.Stat(out); err == nil {
		t.Fatal("a refused salvage wrote NEW")
	}
}

func TestSalvageOfSomethingWithNoSessionsSaysSo(t *testing.T) {
	dir := t.TempDir()
	junk := filepath.Join(dir, "junk.db")
	if err := os.WriteFile(junk, bytes.Repeat([]byte("not a session file "), 2000), 0o600); err != nil {
		t.Fatal(err)
	}
	cli(t, "", "salvage", junk, filepath.Join(dir, "new.db")).expect(t, 1, "no session could be read")
	cli(t, "", "salvage", filepath.Join(dir, "missing.db"), filepath.Join(dir, "new.db")).expect(t, 1, "no such file")
	if _, err := os.Stat(filepath.Join(dir, "new.db")); err == nil {
		t.Fatal("a failed salvage wrote NEW")
	}
}
