package boltsession

import (
	"context"
	"errors"
	"slices"
	"time"

	bbolt "go.etcd.io/bbolt"
)

// Group commit. bbolt's db.Batch waits up to 10 ms for company before it
// commits, which caps a lone writer at about 100 saves a second. Here the
// writer at the front of the queue commits: it takes its own write and
// whatever else is already queued at that moment (no waiting, up to
// MaxBatch), applies them all in one db.Update and so one fsync, answers
// each caller, and hands the front to the next queued writer. Writes that
// arrive during a commit queue up and ride on the next one, so the batch
// size follows the load by itself. A lone writer commits on its own
// goroutine: no hand-off to a committer goroutine and back, which on a busy
// machine costs two scheduling delays per save.

// writeOp is one queued write. fn runs inside the shared write transaction
// with the store clock's time; it must return rejected (and have written
// nothing) when the write must not happen, so the other writes of the batch
// still commit.
type writeOp struct {
	ctx  context.Context
	fn   func(tx *bbolt.Tx, now time.Time) error
	done chan error

	answered bool // set by the leader that sent its outcome
}

// answer sends w its outcome. Only the leader whose batch holds w calls it.
func (w *writeOp) answer(err error) {
	w.answered = true
	w.done <- err
}

// rejected marks an error that an operation returned before writing
// anything: the shared transaction stays valid and commits for the others.
type rejected struct{ err error }

func (r rejected) Error() string { return r.err.Error() }
func (r rejected) Unwrap() error { return r.err }

// errLead is sent to the writer that reaches the front of the queue: it
// commits the next batch.
var errLead = errors.New("boltsession: lead the next commit")

// write queues fn and waits for its transaction to commit, committing it
// (and the writes queued behind it) itself when it is first in line. A ctx
// cancelled before its batch is taken gives the context's error and
// nothing is written; once taken, the write completes and its outcome is
// returned, so an error always means nothing was written.
func (s *BoltStore) write(ctx context.Context, op string, fn func(*bbolt.Tx, time.Time) error) error {
	if err := s.enter(ctx, op); err != nil {
		return err
	}
	defer s.mu.RUnlock()
	w := &writeOp{ctx: ctx, fn: fn, done: make(chan error, 1)}
	s.wmu.Lock()
	s.waiting = append(s.waiting, w)
	lead := len(s.waiting) == 1
	s.wmu.Unlock()
	var err error
	if !lead {
		// Either a leader committed this write, or it is first in line now.
		if err = <-w.done; err == errLead {
			lead = true
		}
	}
	if lead {
		s.lead()
		err = <-w.done // lead answered it with its batch
	}
	if r, ok := err.(rejected); ok {
		return r.err // ErrNotFound bare, as Load returns it; the others carry their prefix
	}
	return wrapIf(op, err)
}

// lead commits the batch at the front of the queue (the caller's own write
// first), removes it and passes the front to the next writer, if any.
func (s *BoltStore) lead() {
	s.wmu.Lock()
	batch := slices.Clone(s.waiting[:min(len(s.waiting), s.max)])
	s.wmu.Unlock()
	defer s.handOff(batch)
	s.commit(batch)
}

// errPanicked answers the writes of a batch in which one write panicked
// (a bug): bbolt rolled the transaction back, so none of them was written.
var errPanicked = errors.New("boltsession: a write in the same commit panicked; nothing was written")

// handOff removes the leader's batch from the queue and passes the front to
// the next writer. It runs even when a write panicked inside the commit:
// then the batch's unanswered writes get errPanicked and the panic goes on
// to the leader's caller, so the writers queued behind never wait forever.
func (s *BoltStore) handOff(batch []*writeOp) {
	if p := recover(); p != nil {
		for _, w := range batch {
			if !w.answered {
				w.answer(errPanicked)
			}
		}
		defer panic(p)
	}
	s.wmu.Lock()
	n := copy(s.waiting, s.waiting[len(batch):])
	clear(s.waiting[n:]) // drop references for the collector
	s.waiting = s.waiting[:n]
	if n > 0 {
		s.waiting[0].done <- errLead // its channel is empty: it is not answered yet
	}
	s.wmu.Unlock()
}

// commit applies a batch in one transaction. If a write fails after it
// started writing (something validation could not foresee, such as a full
// disk), the transaction is rolled back and each write is retried in a
// transaction of its own, so only the failing one reports the error.
func (s *BoltStore) commit(batch []*writeOp) {
	live := batch[:0:0]
	for _, w := range batch {
		if err := w.ctx.Err(); err != nil {
			w.answer(err)
			continue
		}
		live = append(live, w)
	}
	if len(live) == 0 {
		return
	}
	now := s.now()
	results := make([]error, len(live))
	err := s.update("commit", func(tx *bbolt.Tx) error {
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
			w.answer(results[i])
		}
		return
	}
	if len(live) == 1 {
		live[0].answer(err)
		return
	}
	for _, w := range live {
		s.commit([]*writeOp{w})
	}
}
