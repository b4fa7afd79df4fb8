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

// damagedStore is a store whose file gets a page overwritten with garbage
// while the store holds it open, as a disk error would do: Open's check has
// already passed, and the damage is met by whatever reads that page.
type damagedStore struct {
	*BoltStore
	clock *testClock
}

// openToDamage opens a store with sessions s0..s199 (half of them expiring
// in a minute, the rest in an hour), enough for each bucket to have pages of
// its own, and a background sweeper every interval (-1: none).
func openToDamage(t *testing.T, interval time.Duration) *damagedStore {
	t.Helper()
	clock := newTestClock()
	// No read cache: the reads must reach the damaged page, where a
	// record saved or loaded before the damage would otherwise come from
	// memory, whole.
	s, err := Open(filepath.Join(t.TempDir(), "s.db"), &BoltOptions{SweepInterval: interval, Now: clock.Now,
		Logger: slog.New(slog.DiscardHandler), CacheSize: -1})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i := range 200 {
		life := time.Hour
		if i%2 == 0 {
			life = time.Minute
		}
		if err := s.Save(ctx, Update{ID: fmt.Sprintf("s%d", i), Create: true, Expires: clock.Now().Add(life),
			Owner: ptrTo(fmt.Sprint("u", i%7)), Set: map[string][]byte{"v": bytes.Repeat([]byte("x"), 100)}}); err != nil {
			t.Fatal(err)
		}
	}
	return &damagedStore{BoltStore: s, clock: clock}
}

// damage overwrites the root page of the named bucket with garbage, through
// the file: bbolt's read-only mapping of the file sees it at once.
func (d *damagedStore) damage(t *testing.T, bucket []byte) {
	t.Helper()
	var root uint64
	if err := d.db.View(func(tx *bbolt.Tx) error {
		root = uint64(tx.Bucket(bucket).Root())
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if root == 0 {
		t.Fatalf("bucket %s is inline: no page of its own to damage", bucket)
	}
	f, err := os.OpenFile(d.path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	garbage := bytes.Repeat([]byte{0xa5}, d.pageSize)
	if _, err := f.WriteAt(garbage, int64(root)*int64(d.pageSize)); err != nil {
		t.Fatal(err)
	}
}

// closeWithin fails the test if Close does not return within a few seconds
// (a lock left held by a panic would make it wait forever).
func closeWithin(t *testing.T, s *BoltStore) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- s.Close() }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Close hung after a damaged page")
	}
}

// TestSweeperOnADamagedPageKeepsTheProcessAlive: the background sweeper
// meets a damaged page of the expiry index; bbolt panics in the sweeper's
// goroutine, which would end the process. The panic is contained: the
// sweep fails with ErrCorrupt (in Stats and the log), loads of sessions on
// sound pages go on, and Close returns.
func TestSweeperOnADamagedPageKeepsTheProcessAlive(t *testing.T) {
	d := openToDamage(t, 5*time.Millisecond)
	d.damage(t, bucketExpiry)
	d.clock.Advance(2 * time.Minute) // half the sessions are due for the sweep
	deadline := time.Now().Add(10 * time.Second)
	for d.Stats().LastSweepError == nil {
		if time.Now().After(deadline) {
			t.Fatal("no sweep reported an error")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := d.Stats().LastSweepError; !errors.Is(err, ErrCorrupt) || !bytes.Contains([]byte(err.Error()), []byte(d.path)) {
		t.Fatalf("sweep error %v, want ErrCorrupt naming the file", err)
	}
	if _, err := d.Load(context.Background(), "s1"); err != nil {
		t.Fatalf("Load of a session on a sound page after the sweep failed: %v", err)
	}
	closeWithin(t, d.BoltStore)
}

// TestEveryOperationOnADamagedPageIsErrCorruptAndCloseReturns runs each
// operation that reads a damaged bucket: each fails with ErrCorrupt instead
// of a panic, no lock stays held, and Close returns.
func TestEveryOperationOnADamagedPageIsErrCorruptAndCloseReturns(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		bucket []byte
		name   string
		op     func(s *BoltStore) error
	}{
		{bucketSessions, "Load", func(s *BoltStore) error { _, err := s.Load(ctx, "s1"); return err }},
		{bucketSessions, "Save", func(s *BoltStore) error {
			return s.Save(ctx, Update{ID: "s1", Set: map[string][]byte{"k": nil}})
		}},
		{bucketSessions, "Delete", func(s *BoltStore) error { return s.Delete(ctx, "s1") }},
		{bucketSessions, "Iterate", func(s *BoltStore) error { return s.Iterate(ctx, func(*Record) error { return nil }) }},
		{bucketSessions, "Count", func(s *BoltStore) error { _, err := s.Count(ctx); return err }},
		{bucketExpiry, "Sweep", func(s *BoltStore) error { _, err := s.Sweep(ctx); return err }},
		{bucketExpiry, "Inspect", func(s *BoltStore) error { _, err := s.Inspect(ctx); return err }},
		{bucketOwners, "Owned", func(s *BoltStore) error { _, err := s.Owned(ctx, "u1"); return err }},
		{bucketOwners, "DestroyOwner", func(s *BoltStore) error { _, err := s.DestroyOwner(ctx, "u1"); return err }},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := openToDamage(t, -1)
			d.damage(t, c.bucket)
			d.clock.Advance(2 * time.Minute)
			if err := c.op(d.BoltStore); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("%s on a damaged page: %v, want ErrCorrupt", c.name, err)
			}
			// Stats reads the damaged file too; it must not panic either.
			_ = d.Stats()
			closeWithin(t, d.BoltStore)
		})
	}
}
