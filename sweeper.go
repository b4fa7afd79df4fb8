package boltsession

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	bbolt "go.etcd.io/bbolt"
)

// SweepResult reports one sweep pass.
type SweepResult struct {
	// Swept is the number of expired sessions deleted.
	Swept int

	// Corrupt is the number of undecodable records deleted because their
	// expiry entry was past; they are included in Swept.
	Corrupt int

	// Stale is the number of expiry entries removed that no longer matched
	// a record (the record had been replaced or deleted without them).
	Stale int

	// Replaced is the number of markers of replaced sessions removed (see
	// Update.Replaces): kept for ReplacedGrace, they are swept like
	// expired sessions.
	Replaced int

	// Transactions is the number of write transactions the pass committed:
	// the entries removed divided by SweepChunk, rounded up. A pass with
	// nothing to do commits none (and costs no fsync).
	Transactions int

	// Duration is how long the pass took.
	Duration time.Duration
}

// sweepStats is what Stats reports about sweeps, guarded by sweepMu.
type sweepStats struct {
	sweeps  int64
	swept   int64
	last    time.Time
	lastDur time.Duration
	lastErr error
}

// errNothingExpired rolls back a sweep transaction that found nothing.
var errNothingExpired = errors.New("nothing expired")

// sweepLoop runs a sweep every interval until Close.
func (s *BoltStore) sweepLoop(interval time.Duration) {
	defer s.wg.Done()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-s.sweeperCtx.Done():
			return
		case <-t.C:
			if _, err := s.Sweep(s.sweeperCtx); err != nil &&
				!errors.Is(err, context.Canceled) && !errors.Is(err, ErrClosed) {
				s.log.Error("boltsession: background sweep failed", "path", s.path, "err", err)
			}
		}
	}
}

// Sweep deletes every session whose expiry is past (by the store clock), with
// its expiry and owner index entries, in transactions of at most SweepChunk
// deletions. It walks the expiry index from its start up to now, so its cost
// grows with the number of expired sessions, not the number stored. Expired
// records are invisible to Load before any sweep; sweeping only reclaims
// their space.
//
// A cancelled ctx stops the pass between transactions; what was already
// deleted stays deleted and is counted. The outcome is also kept in Stats.
func (s *BoltStore) Sweep(ctx context.Context) (SweepResult, error) {
	s.sweepRunning.Lock()
	defer s.sweepRunning.Unlock()
	start := time.Now()
	var res SweepResult
	err := s.sweep(ctx, &res)
	res.Duration = time.Since(start)

	s.sweepMu.Lock()
	s.sweepStat.sweeps++
	s.sweepStat.swept += int64(res.Swept)
	s.sweepStat.last = start
	s.sweepStat.lastDur = res.Duration
	s.sweepStat.lastErr = err
	s.sweepMu.Unlock()
	return res, err
}

func (s *BoltStore) sweep(ctx context.Context, res *SweepResult) error {
	var last []byte // the first entry the previous chunk deleted
	for {
		if err := s.enter(ctx, "sweep"); err != nil {
			return err
		}
		now := s.now()
		var done bool
		err := s.update("sweep", func(tx *bbolt.Tx) error {
			var err error
			done, last, err = s.sweepChunk(tx, now, res, last)
			return err
		})
		s.mu.RUnlock()
		if errors.Is(err, errNothingExpired) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("boltsession: sweep: %w", err)
		}
		res.Transactions++
		if done {
			return nil
		}
	}
}

// sweepChunk deletes up to s.chunk expired entries (sessions first, then
// markers of replaced sessions past their time) and reports whether it
// reached the end of what has expired. Counts are added to res only when
// the transaction commits, which bbolt does unless it returns an error; on
// error the caller discards res anyway.
//
// prev is the first entry the previous chunk of the pass deleted, and the
// chunk returns its own: a chunk that finds prev again made no progress (a
// damaged page keeps a key that Delete cannot remove) and fails with
// ErrCorrupt instead of a pass that never ends.
func (s *BoltStore) sweepChunk(tx *bbolt.Tx, now time.Time, res *SweepResult, prev []byte) (bool, []byte, error) {
	r := s.recordsOf(tx)
	limit := expiryLimit(now)

	// Collect first: deleting under a bbolt cursor can make it skip keys.
	var keys, markers [][]byte
	c := r.expiry.Cursor()
	for k, _ := c.First(); k != nil && len(keys) < s.chunk; k, _ = c.Next() {
		if bytes.Compare(k[:min(len(k), 8)], limit) > 0 {
			break
		}
		keys = append(keys, bytes.Clone(k))
	}
	mc := r.replaced.Cursor()
	for k, _ := mc.Seek([]byte{markerByUntil}); k != nil && len(keys)+len(markers) < s.chunk; k, _ = mc.Next() {
		if k[0] != markerByUntil || bytes.Compare(k[1:min(len(k), 9)], limit) > 0 {
			break
		}
		markers = append(markers, bytes.Clone(k))
	}

	if len(keys)+len(markers) == 0 {
		return true, nil, errNothingExpired // roll back: nothing to commit or fsync
	}
	var first []byte
	if len(keys) > 0 {
		first = keys[0]
	} else {
		first = markers[0]
	}
	if prev != nil && bytes.Equal(first, prev) {
		return false, nil, fmt.Errorf("%w: an expired entry is still there after its deletion committed: a damaged page", ErrCorrupt)
	}
	var swept, corrupt, stale int
	for _, k := range keys {
		if err := r.expiry.Delete(k); err != nil {
			return false, nil, err
		}
		if len(k) < 8 {
			stale++
			continue
		}
		key := k[8:]
		raw := r.sessions.Get(key)
		if raw == nil {
			stale++
			continue
		}
		rec, err := s.decodeIndexFields(key, raw)
		if err != nil {
			// Undecodable and past its indexed expiry: nothing can be
			// saved from it.
			s.corrupt.Add(1)
			corrupt++
			swept++
			if err := r.remove(key, nil); err != nil {
				return false, nil, err
			}
			continue
		}
		if int64(binary.BigEndian.Uint64(k[:8])) != max(timeToNanos(rec.Expires), 0) {
			stale++ // the record moved on; its own entry is elsewhere
			continue
		}
		if err := r.remove(key, rec); err != nil {
			return false, nil, err
		}
		swept++
	}
	for _, k := range markers {
		if err := r.replaced.Delete(k); err != nil {
			return false, nil, err
		}
		if len(k) < 9 {
			continue
		}
		// The marker itself goes with its time entry, unless it holds
		// another time (then this entry was stale).
		ik := markerIDKey(k[9:])
		if v := r.replaced.Get(ik); len(v) >= 8 && bytes.Equal(v[:8], k[1:9]) {
			if err := r.replaced.Delete(ik); err != nil {
				return false, nil, err
			}
		}
	}
	res.Swept += swept
	res.Corrupt += corrupt
	res.Stale += stale
	res.Replaced += len(markers)
	return len(keys)+len(markers) < s.chunk, first, nil
}
