package boltsession

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// ErrBusy reports a request that waited longer than Options.LockTimeout for
// another request on the same session to finish (Options.Serialize). The
// default ErrorHandler answers it with 503 Service Unavailable and a
// Retry-After header: the client may simply try again.
var ErrBusy = errors.New("boltsession: session is busy: another request on it held the lock too long")

// DefaultLockTimeout is how long a request waits for the session lock when
// Options.Serialize is on and Options.LockTimeout is zero.
const DefaultLockTimeout = 5 * time.Second

// SessionLocker is the optional capability of a Store that several
// processes share (the redisstore module's Store) to make Options.Serialize
// hold across all of them. When the store has it, the Manager takes the
// store's lock after its own in-process one, so the store sees at most one
// waiter per process and session.
type SessionLocker interface {
	// LockSession takes the lock of session id for one request, waiting
	// at most wait and no longer than ctx allows. It returns the function
	// that releases the lock; calling that more than once is harmless.
	// Past the wait it returns an error wrapping ErrBusy; a cancelled ctx
	// gives an error wrapping ctx's error.
	LockSession(ctx context.Context, id string, wait time.Duration) (unlock func(), err error)
}

// lockSession takes the locks of session id under Options.Serialize: the
// in-process lock, then the store's when it is a SessionLocker, both within
// one LockTimeout. It returns the function that releases them.
func (m *Manager) lockSession(ctx context.Context, id string) (func(), error) {
	deadline := time.Now().Add(m.cfg.LockTimeout)
	unlockLocal, err := m.locks.lock(ctx, id, m.cfg.LockTimeout)
	if err != nil {
		return nil, err
	}
	sl, ok := m.store.(SessionLocker)
	if !ok {
		return unlockLocal, nil
	}
	wait := time.Until(deadline)
	if wait <= 0 {
		unlockLocal()
		return nil, fmt.Errorf("%w (waited %v)", ErrBusy, m.cfg.LockTimeout)
	}
	unlockStore, err := sl.LockSession(ctx, id, wait)
	if err != nil {
		unlockLocal()
		return nil, err
	}
	return func() {
		unlockStore()
		unlockLocal()
	}, nil
}

// sessionLocks serializes the requests that carry the same session ID, so that
// a read-modify-write of one key (a counter, a cart) by concurrent requests
// loses no update: each request loads the record only after the previous one
// has saved it. Per-key merge alone cannot give that, because both requests
// read the same old value.
//
// The table holds an entry only while some request holds or waits for that
// ID's lock, so its size is bounded by the number of requests in flight, not
// by the number of sessions. The lock lives in this process; a store shared
// by several processes serializes them through SessionLocker.
type sessionLocks struct {
	mu    sync.Mutex
	locks map[string]*sessionLock
}

// sessionLock is one ID's lock. The buffered channel is the lock itself (a
// send takes it, a receive gives it back), which lets a waiter give up on a
// timer or a cancelled context; a sync.Mutex cannot.
type sessionLock struct {
	held chan struct{}
	refs int // holders and waiters; the entry is removed at zero
}

// lock takes the lock of id, waiting at most wait (DefaultLockTimeout if wait
// is not positive) and no longer than ctx allows. It returns the function that
// releases the lock; calling that more than once is harmless. Past the wait it
// returns an error wrapping ErrBusy; a cancelled ctx gives ctx's error.
func (t *sessionLocks) lock(ctx context.Context, id string, wait time.Duration) (unlock func(), err error) {
	if wait <= 0 {
		wait = DefaultLockTimeout
	}
	t.mu.Lock()
	if t.locks == nil {
		t.locks = make(map[string]*sessionLock)
	}
	l := t.locks[id]
	if l == nil {
		l = &sessionLock{held: make(chan struct{}, 1)}
		t.locks[id] = l
	}
	l.refs++
	t.mu.Unlock()

	// Most requests find the lock free: take it without a timer.
	select {
	case l.held <- struct{}{}:
		return t.unlocker(id, l), nil
	default:
	}

	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case l.held <- struct{}{}:
		return t.unlocker(id, l), nil
	case <-timer.C:
		t.drop(id, l)
		return nil, fmt.Errorf("%w (waited %v)", ErrBusy, wait)
	case <-ctx.Done():
		t.drop(id, l)
		return nil, fmt.Errorf("boltsession: waiting for the session lock: %w", ctx.Err())
	}
}

// unlocker returns the release function for a lock taken on l.
func (t *sessionLocks) unlocker(id string, l *sessionLock) func() {
	var once sync.Once
	return func() {
		once.Do(func() {
			<-l.held
			t.drop(id, l)
		})
	}
}

// drop gives up one reference to l and removes the entry when nobody holds or
// waits for it any more.
func (t *sessionLocks) drop(id string, l *sessionLock) {
	t.mu.Lock()
	l.refs--
	if l.refs == 0 {
		delete(t.locks, id)
	}
	t.mu.Unlock()
}

// len reports how many IDs have a holder or a waiter (for tests).
func (t *sessionLocks) len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.locks)
}
