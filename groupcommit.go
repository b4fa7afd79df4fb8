package boltsession

import (
	"context"
	"errors"
	"fmt"
	"time"

	bbolt "go.etcd.io/bbolt"
)

// Group commit. bbolt's db.Batch waits up to 10 ms for company before it
// commits, which caps a lone writer at about 100 saves a second. Here one
// committer goroutine takes the first queued write and whatever else is
// already queued at that moment (no waiting), applies them all in one
// db.Update and so one fsync, and answers each caller. Writes that arrive
// during a commit queue up and ride on the next one, so the batch size
// follows the load by itself.

// writeOp is one queued write. fn runs inside the shared write transaction
// with the store clock's time; it must return rejected (and have written
// nothing) when the write must not happen, so the other writes of the batch
// still commit.
type writeOp struct {
	ctx  context.Context
	fn   func(tx *bbolt.Tx, now time.Time) error
	done chan error
}

// rejected marks an error that an operation returned before writing
// anything: the shared transaction stays valid and commits for the others.
type rejected struct{ err error }

func (r rejected) Error() string { return r.err.Error() }
func (r rejected) Unwrap() error { return r.err }

// write queues fn for the committer and waits for its transaction to
// commit. A ctx cancelled before the committer takes the write gives the
// context's error and nothing is written; once taken, the write completes
// and its outcome is returned, so an error always means nothing was
// written.
func (s *BoltStore) write(ctx context.Context, op string, fn func(*bbolt.Tx, time.Time) error) error {
	if err := s.enter(ctx, op); err != nil {
		return err
	}
	defer s.mu.RUnlock()
	w := &writeOp{ctx: ctx, fn: fn, done: make(chan error, 1)}
	select {
	case s.queue <- w:
	case <-ctx.Done():
		return fmt.Errorf("boltsession: %s: %w", op, ctx.Err())
	}
	err := <-w.done
	if r, ok := err.(rejected); ok {
		return r.err // ErrNotFound bare, as Load returns it; the others carry their prefix
	}
	return wrapIf(op, err)
}

// commitLoop is the committer goroutine. It stops when Close closes
// stopCommit, which happens only after every write in flight has been
// answered.
func (s *BoltStore) commitLoop() {
	defer s.wg.Done()
	batch := make([]*writeOp, 0, s.max)
	for {
		select {
		case w := <-s.queue:
			batch = append(batch[:0], w)
		case <-s.stopCommit:
			return
		}
	drain:
		for len(batch) < s.max {
			select {
			case w := <-s.queue:
				batch = append(batch, w)
			default:
				break drain
			}
		}
		s.commit(batch)
		clear(batch) // drop references for the collector
	}
}

// commit applies a batch in one transaction. If a write fails after it
// started writing (something validation could not foresee, such as a full
// disk), the transaction is rolled back and each write is retried in a
// transaction of its own, so only the failing one reports the error.
func (s *BoltStore) commit(batch []*writeOp) {
	live := batch[:0:0]
	for _, w := range batch {
		if err := w.ctx.Err(); err != nil {
			w.done <- err
			continue
		}
		live = append(live, w)
	}
	if len(live) == 0 {
		return
	}
	now := s.now()
	results := make([]error, len(live))
	err := s.db.Update(func(tx *bbolt.Tx) error {
		for i, w := range live {
			err := w.fn(tx, now)
			if err != nil && !errors.As(err, new(rejected)) {
				return err
			}
			results[i] = err
		}
		return nil
	})
	if err == nil {
		s.commits.Add(1)
		for i, w := range live {
			if results[i] == nil {
				s.writes.Add(1)
			}
			w.done <- results[i]
		}
		return
	}
	if len(live) == 1 {
		live[0].done <- err
		return
	}
	for _, w := range live {
		s.commit([]*writeOp{w})
	}
}
