package boltsession_test

import (
	"testing"

	"github.com/boltsession/boltsession"
)

// TestQueuedWritesAreHandedOnInBatchesOfMaxBatch saves from many goroutines
// with a tiny MaxBatch: every save is committed exactly once, by the writer
// at the front of the queue, in batches no larger than MaxBatch, and none is
// left waiting once its leader has finished.
func TestQueuedWritesAreHandedOnInBatchesOfMaxBatch(t *testing.T) {
	s := openTest(t, &boltsession.BoltOptions{MaxBatch: 2}) // fsync on: writers queue up
	const writers, each = 32, 4
	saveConcurrently(t, s, writers, each)
	st := s.Stats()
	if st.Writes != writers*each || st.Sessions != writers*each {
		t.Fatalf("Writes %d, Sessions %d; want %d each", st.Writes, st.Sessions, writers*each)
	}
	if st.Commits < writers*each/2 {
		t.Fatalf("%d saves in %d commits: a batch exceeded MaxBatch 2", st.Writes, st.Commits)
	}
	t.Logf("%d saves in %d commits", st.Writes, st.Commits)
}
