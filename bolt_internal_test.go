package boltsession

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"
)

func TestNoSyncOptionReachesBbolt(t *testing.T) {
	for _, noSync := range []bool{false, true} {
		s, err := Open(filepath.Join(t.TempDir(), "s.db"), &BoltOptions{NoSync: noSync, SweepInterval: -1})
		if err != nil {
			t.Fatal(err)
		}
		if s.db.NoSync != noSync {
			t.Errorf("BoltOptions.NoSync %v gave bbolt NoSync %v", noSync, s.db.NoSync)
		}
		s.Close()
	}
}

// TestAPanicInsideACommitIsContainedAndTheQueueGoesOn pins down that a
// write whose transaction panics (bbolt on a damaged page, or a bug) inside a
// shared commit neither crashes the process nor stalls the writers queued
// behind it: its caller gets an error wrapping ErrCorrupt, the writes of its
// batch are answered, later writes commit, and Close returns.
func TestAPanicInsideACommitIsContainedAndTheQueueGoesOn(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "s.db"), &BoltOptions{SweepInterval: -1, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	entered, release := make(chan struct{}), make(chan struct{})
	panicked := make(chan error, 1)
	go func() {
		panicked <- s.write(ctx, "test", func(*bbolt.Tx, time.Time) error {
			close(entered)
			<-release // hold the commit so the next save queues behind it
			panic("damaged page")
		})
	}()
	<-entered
	queued := make(chan error, 1)
	go func() {
		queued <- s.Save(ctx, Update{ID: "queued", Create: true, Expires: time.Now().Add(time.Hour)})
	}()
	for {
		s.wmu.Lock()
		n := len(s.waiting)
		s.wmu.Unlock()
		if n == 2 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	close(release)
	if err := <-panicked; !errors.Is(err, ErrCorrupt) {
		t.Fatalf("the write whose transaction panicked returned %v, want ErrCorrupt", err)
	}
	select {
	case <-queued: // answered (committed, or refused with an error): not stuck
	case <-time.After(10 * time.Second):
		t.Fatal("a save queued behind the panicking write never returned")
	}
	if err := s.Save(ctx, Update{ID: "later", Create: true, Expires: time.Now().Add(time.Hour)}); err != nil {
		t.Fatalf("save after the panic: %v", err)
	}
	if _, err := s.Load(ctx, "later"); err != nil {
		t.Fatalf("load after the panic: %v", err)
	}
	if err := s.Close(); err != nil { // not deferred: with a stuck writer it would hang
		t.Fatal(err)
	}
}
