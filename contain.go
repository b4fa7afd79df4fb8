package boltsession

import (
	"bytes"
	"errors"
	"fmt"
	"runtime/debug"
	"time"

	bbolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// Containment. bbolt trusts the file it reads: a damaged page makes it
// panic (an index out of range, "invalid page type"), and a page missing
// from a file cut short makes a read of its mapping fault (SIGBUS). Open
// checks a file before bbolt reads it (internal/boltfile), but damage can
// also come later, from a disk error or a process that writes over the
// file. So every transaction of the store runs through view or update:
// with debug.SetPanicOnFault a fault becomes a panic, and contain turns a
// panic into an error wrapping ErrCorrupt that names the file, instead of
// the end of the process that embeds the store.
//
// bbolt rolls a transaction back when a panic leaves it, which releases its
// locks, except when the rollback itself fails (a damaged freelist page):
// then its write lock stays held and every later write, and Close, would
// wait for it forever. After a contained panic in a write, update checks
// that the lock is free; if it is not, the store marks itself failed: writes
// return the error at once, reads go on, and Close returns without waiting
// for the lock.

// view runs fn in a read transaction under containment.
func (s *BoltStore) view(op string, fn func(*bbolt.Tx) error) (err error) {
	defer s.contain(op, false, &err)
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	return s.db.View(fn)
}

// update runs fn in a write transaction under containment. A store failed
// by an earlier contained panic refuses it.
func (s *BoltStore) update(op string, fn func(*bbolt.Tx) error) (err error) {
	if err := s.failure(); err != nil {
		return err
	}
	// bbolt runs one write transaction at a time; txMu extends that to
	// the handing of its changes to the cache, so that the cache takes
	// them in commit order, each before the next write begins (see
	// readcache.go and records.current).
	s.txMu.Lock()
	defer s.txMu.Unlock()
	var w written
	// After the commit or rollback, even a contained panic's, and before
	// the write is acknowledged.
	defer func() {
		s.hooks.at("committed")
		w.apply(s.cache, err == nil)
	}()
	defer s.contain(op, true, &err)
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	return s.db.Update(func(tx *bbolt.Tx) error {
		// s.written is only touched inside a write transaction, under
		// bbolt's writer lock.
		s.written = &w
		defer func() { s.written = nil }()
		return fn(tx)
	})
}

// containDamage runs fn, outside a store (Compact, Upgrade's look at a
// file), with a damaged page's panic or fault turned into an error
// wrapping ErrCorrupt: "<what> a damaged page".
func containDamage(what string, fn func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: %s a damaged page (%v)", ErrCorrupt, what, p)
		}
	}()
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	return fn()
}

// failure returns the error that failed the store for writes, or nil.
func (s *BoltStore) failure() error {
	if p := s.failed.Load(); p != nil {
		return *p
	}
	return nil
}

// contain recovers a panic of the transaction op and sets *err to the
// error that reports it. write says whether the transaction was a write.
func (s *BoltStore) contain(op string, write bool, err *error) {
	p := recover()
	if p == nil {
		return
	}
	s.corrupt.Add(1)
	*err = fmt.Errorf("%w: %s: %s failed reading a damaged page (%v); the file needs salvage (boltsession salvage) or a backup",
		ErrCorrupt, s.path, op, p)
	s.log.Error("boltsession: a damaged page of the session file made a transaction fail; the process goes on",
		"path", s.path, "op", op, "panic", fmt.Sprint(p))
	s.log.Debug("boltsession: where the transaction failed", "path", s.path, "op", op, "stack", string(debug.Stack()))
	if write && !s.writeLockFree() {
		failed := fmt.Errorf("%w: %s: bbolt's write lock is stuck after a damaged page; writes are refused until the file is salvaged and the process restarted",
			ErrCorrupt, s.path)
		s.failed.CompareAndSwap(nil, &failed)
		s.log.Error("boltsession: the session file refuses writes from now on", "path", s.path)
	}
}

// writeLockFree reports whether bbolt's write lock can be taken within a
// second: after a rollback that failed it never can, and the goroutine
// that tried stays blocked (one goroutine, once per store).
func (s *BoltStore) writeLockFree() bool {
	free := make(chan bool, 1)
	go func() {
		defer func() {
			if recover() != nil { // the rollback reloads the freelist, which may be the damaged page
				free <- false
			}
		}()
		defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
		tx, err := s.db.Begin(true)
		if err != nil {
			free <- !errors.Is(err, bolterrors.ErrDatabaseNotOpen)
			return
		}
		free <- tx.Rollback() == nil
	}()
	select {
	case ok := <-free:
		return ok
	case <-time.After(time.Second):
		return false
	}
}

// closeDB closes bbolt's file. On a store failed by a stuck write lock,
// bbolt's Close would wait for that lock forever: it is given a second,
// after which Close returns the failure and the file stays open (and
// locked) until the process exits.
func (s *BoltStore) closeDB() error {
	if s.failure() == nil {
		return s.db.Close()
	}
	done := make(chan error, 1)
	go func() { done <- s.db.Close() }()
	select {
	case err := <-done:
		return err
	case <-time.After(time.Second):
		return s.failure()
	}
}

// errKeyOrder reports a cursor walk that met a key not after the one
// before it: a damaged page links back into the tree (a copy of the file
// taken while it was written can hold one), and a walk that did not check
// would visit the same keys forever.
var errKeyOrder = fmt.Errorf("%w: keys out of order in the file: a damaged page links back into the tree; "+
	"the file needs salvage (boltsession salvage) or a backup", ErrCorrupt)

// keyOrder checks that a cursor walk's keys strictly increase. The keys it
// keeps point into the transaction's pages, valid until it ends.
type keyOrder struct{ last []byte }

func (o *keyOrder) next(k []byte) error {
	if o.last != nil && bytes.Compare(k, o.last) <= 0 {
		return errKeyOrder
	}
	o.last = k
	return nil
}
