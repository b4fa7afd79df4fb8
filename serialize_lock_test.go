package boltsession

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

func TestSessionLocksExcludeRequestsOnTheSameID(t *testing.T) {
	var locks sessionLocks
	var wg sync.WaitGroup
	counter := 0 // unsynchronized on purpose: -race reports any overlap
	for range 32 {
		wg.Go(func() {
			for range 50 {
				unlock, err := locks.lock(context.Background(), "one", time.Minute)
				if err != nil {
					t.Error(err)
					return
				}
				counter++
				unlock()
			}
		})
	}
	wg.Wait()
	if counter != 32*50 {
		t.Fatalf("counter = %d, want %d", counter, 32*50)
	}
	if n := locks.len(); n != 0 {
		t.Fatalf("%d lock entries left after every request released", n)
	}
}

func TestSessionLocksDoNotBlockOtherIDs(t *testing.T) {
	var locks sessionLocks
	unlockA, err := locks.lock(context.Background(), "a", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	defer unlockA()
	// A lock on another ID must be granted at once; a tiny wait proves it
	// did not queue behind "a".
	unlockB, err := locks.lock(context.Background(), "b", time.Nanosecond)
	if err != nil {
		t.Fatalf("lock on another ID: %v", err)
	}
	unlockB()
}

func TestSessionLockWaitEndsWithErrBusy(t *testing.T) {
	var locks sessionLocks
	unlock, err := locks.lock(context.Background(), "id", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	_, err = locks.lock(context.Background(), "id", 10*time.Millisecond)
	if !errors.Is(err, ErrBusy) {
		t.Fatalf("second lock: err = %v, want ErrBusy", err)
	}
	unlock()
	unlock() // a second release must not free a lock someone else took
	if n := locks.len(); n != 0 {
		t.Fatalf("%d lock entries left", n)
	}
	again, err := locks.lock(context.Background(), "id", time.Nanosecond)
	if err != nil {
		t.Fatalf("lock after release: %v", err)
	}
	defer again()
	if _, err := locks.lock(context.Background(), "id", time.Millisecond); !errors.Is(err, ErrBusy) {
		t.Fatalf("double release freed the lock: err = %v", err)
	}
}

func TestSessionLockWaitEndsWithTheRequestContext(t *testing.T) {
	var locks sessionLocks
	unlock, err := locks.lock(context.Background(), "id", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = locks.lock(ctx, "id", time.Minute)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if errors.Is(err, ErrBusy) {
		t.Fatalf("a cancelled request is not a busy session: %v", err)
	}
}
