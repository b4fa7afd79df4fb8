package boltsession

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"
)

// A write that fails after it started writing must not commit its partial
// change nor fail the other writes of its batch.
func TestGroupCommitRetriesAloneAfterAFailedWrite(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "s.db"), &BoltOptions{SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	create := func(id string) func(*bbolt.Tx, time.Time) error {
		return func(tx *bbolt.Tx, now time.Time) error {
			return s.applySave(s.recordsOf(tx), &Update{ID: id, Create: true, Expires: now.Add(time.Hour)}, now)
		}
	}
	diskFull := errors.New("disk full")
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	ops := []*writeOp{
		{ctx: context.Background(), fn: create("x")},
		{ctx: context.Background(), fn: func(tx *bbolt.Tx, _ time.Time) error {
			if err := tx.Bucket(bucketSessions).Put([]byte("poison"), []byte("half-written")); err != nil {
				return err
			}
			return diskFull
		}},
		{ctx: context.Background(), fn: create("y")},
		{ctx: context.Background(), fn: func(tx *bbolt.Tx, now time.Time) error {
			return s.applySave(s.recordsOf(tx), &Update{ID: "missing", Set: map[string][]byte{"k": nil}}, now)
		}},
		{ctx: cancelled, fn: create("cancelled")},
	}
	for _, op := range ops {
		op.done = make(chan error, 1)
	}
	s.commit(ops)

	want := []error{nil, diskFull, nil, ErrNotFound, context.Canceled}
	for i, op := range ops {
		got := <-op.done
		if (want[i] == nil) != (got == nil) || (want[i] != nil && !errors.Is(got, want[i])) {
			t.Errorf("op %d: %v, want %v", i, got, want[i])
		}
	}
	ctx := context.Background()
	for _, id := range []string{"x", "y"} {
		if _, err := s.Load(ctx, id); err != nil {
			t.Errorf("Load(%s): %v", id, err)
		}
	}
	for _, id := range []string{"poison", "missing", "cancelled"} {
		if _, err := s.Load(ctx, id); !errors.Is(err, ErrNotFound) {
			t.Errorf("Load(%s): %v, want ErrNotFound", id, err)
		}
	}
}
