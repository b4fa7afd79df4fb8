package boltsession

import (
	"context"
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

// TestAPanickingWriteDoesNotStallTheQueue pins down that a write whose
// function panics inside a shared commit (a bug, never bad input) cannot
// leave the writers queued behind it waiting forever: the panic reaches its
// own caller (net/http recovers a handler's panic and keeps serving), the
// writes of its batch are answered with an error, and later writes commit.
func TestAPanickingWriteDoesNotStallTheQueue(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "s.db"), &BoltOptions{SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	entered, release := make(chan struct{}), make(chan struct{})
	panicked := make(chan any, 1)
	go func() {
		defer func() { panicked <- recover() }()
		_ = s.write(ctx, "test", func(*bbolt.Tx, time.Time) error {
			close(entered)
			<-release // hold the commit so the next save queues behind it
			panic("bug in a write")
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
	if p := <-panicked; p == nil {
		t.Fatal("the panic did not reach the write's caller")
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
