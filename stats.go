package boltsession

import (
	"os"
	"time"

	bbolt "go.etcd.io/bbolt"
)

// Stats is a snapshot of a BoltStore's contents and activity, for metrics
// and health pages. Counters start at zero with each Open.
type Stats struct {
	// Sessions is the number of live sessions: records stored minus those
	// whose expiry is past. It is computed without decoding records.
	Sessions int

	// Expired is the number of records stored past their expiry that no
	// sweep has deleted yet.
	Expired int

	// FileSize is the size of the file on disk in bytes (bbolt does not
	// shrink a file; freed pages are reused, and Compact returns them).
	FileSize int64

	// Sweeps is the number of sweep passes run, background and on demand.
	Sweeps int64

	// Swept is the number of sessions the sweeps deleted.
	Swept int64

	// LastSweep is when the last sweep started; zero before the first.
	LastSweep time.Time

	// LastSweepDuration is how long the last sweep took.
	LastSweepDuration time.Duration

	// LastSweepError is the error of the last sweep, nil if it succeeded.
	LastSweepError error

	// Corrupt is the number of times a record was found undecodable (by
	// Load, a save, iteration or a sweep) since Open.
	Corrupt int64

	// Commits is the number of write transactions the group committer
	// committed; each is one fsync unless NoSync.
	Commits int64

	// Writes is the number of writes (saves, touches, deletes, owner
	// destructions) those transactions carried. Writes/Commits is the
	// average group size.
	Writes int64
}

// Stats returns a snapshot. On a closed store the counters are still
// returned, and Sessions, Expired and FileSize are zero.
func (s *BoltStore) Stats() Stats {
	s.sweepMu.Lock()
	st := Stats{
		Sweeps:            s.sweepStat.sweeps,
		Swept:             s.sweepStat.swept,
		LastSweep:         s.sweepStat.last,
		LastSweepDuration: s.sweepStat.lastDur,
		LastSweepError:    s.sweepStat.lastErr,
	}
	s.sweepMu.Unlock()
	st.Corrupt = s.corrupt.Load()
	st.Commits = s.commits.Load()
	st.Writes = s.writes.Load()

	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return st
	}
	_ = s.view("stats", func(tx *bbolt.Tx) error {
		stored, expired, err := countTx(tx, s.now())
		st.Expired = min(expired, stored)
		st.Sessions = stored - st.Expired
		return err
	})
	if fi, err := os.Stat(s.path); err == nil {
		st.FileSize = fi.Size()
	}
	return st
}
