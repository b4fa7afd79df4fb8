package boltsession_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/boltsession/boltsession"
)

// fragmentedFile returns a closed session file that held 2000 sessions of
// which all but 200 were deleted, so most of its pages are free.
func fragmentedFile(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "sessions.db")
	s := openAt(t, path, &boltsession.BoltOptions{NoSync: true})
	now := time.Now()
	var recs []boltsession.Record
	for i := range 2000 {
		recs = append(recs, boltsession.Record{ID: fmt.Sprintf("id-%05d", i), Expires: now.Add(time.Hour),
			Owner: fmt.Sprintf("u%d", i%10), Values: map[string][]byte{"p": []byte("\xc4\x00")}})
		recs[i].Values["pad"] = append([]byte{0xc5, 0x01, 0x90}, make([]byte, 400)...)
	}
	if _, err := s.Restore(context.Background(), records(nil, recs...)); err != nil {
		t.Fatal(err)
	}
	for i := 1; i < 10; i++ {
		if _, err := s.DestroyOwner(context.Background(), fmt.Sprintf("u%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func liveIDs(t *testing.T, path string) []string {
	t.Helper()
	s := openAt(t, path, nil)
	defer s.Close()
	var ids []string
	err := s.Iterate(context.Background(), func(r *boltsession.Record) error {
		if len(r.Values["pad"]) != 403 {
			t.Errorf("%s: values %d bytes", r.ID, len(r.Values["pad"]))
		}
		ids = append(ids, r.ID)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

func TestCompactInPlaceShrinksTheFileAndKeepsEverySession(t *testing.T) {
	path := fragmentedFile(t)
	want := strings.Join(liveIDs(t, path), ",")
	var calls int
	res, err := boltsession.Compact(path, "", &boltsession.CompactOptions{Progress: func(w, total int64) {
		calls++
		if w > total {
			t.Errorf("progress %d of %d", w, total)
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if res.After >= res.Before || fi.Size() != res.After || calls == 0 {
		t.Fatalf("Compact = %+v, file now %d bytes, %d progress calls", res, fi.Size(), calls)
	}
	if got := strings.Join(liveIDs(t, path), ","); got != want || strings.Count(got, ",") != 199 {
		t.Fatalf("sessions after compaction differ: %d", strings.Count(got, ",")+1)
	}
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".*")); len(left) != 0 {
		t.Fatalf("temporary files left: %q", left)
	}
}

func TestCompactToANewFileLeavesTheSourceAlone(t *testing.T) {
	path := fragmentedFile(t)
	before, _ := os.ReadFile(path)
	dst := filepath.Join(t.TempDir(), "small.db")
	if _, err := boltsession.Compact(path, dst, nil); err != nil {
		t.Fatal(err)
	}
	after, _ := os.ReadFile(path)
	if string(before) != string(after) {
		t.Fatal("the source changed")
	}
	if len(liveIDs(t, dst)) != 200 {
		t.Fatal("the copy lacks sessions")
	}
	if _, err := boltsession.Compact(path, dst, nil); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("Compact onto an existing file: %v", err)
	}
}

func TestCompactRefusesAHeldFileAndAForeignFile(t *testing.T) {
	path := fragmentedFile(t)
	s := openAt(t, path, nil)
	_, err := boltsession.Compact(path, "", &boltsession.CompactOptions{Timeout: 50 * time.Millisecond})
	if !errors.Is(err, boltsession.ErrLocked) {
		t.Fatalf("Compact of a held file: %v, want ErrLocked", err)
	}
	s.Close()

	foreign := filepath.Join(t.TempDir(), "foreign.db")
	db, err := bbolt.Open(foreign, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = db.Update(func(tx *bbolt.Tx) error { _, err := tx.CreateBucket([]byte("x")); return err })
	db.Close()
	if _, err := boltsession.Compact(foreign, "", nil); !errors.Is(err, boltsession.ErrVersion) {
		t.Fatalf("Compact of a foreign file: %v, want ErrVersion", err)
	}
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(foreign), ".*")); len(left) != 0 {
		t.Fatalf("temporary files left: %q", left)
	}
}
