package boltsession_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/boltsession/boltsession"
)

func TestSweepRemovesExpiredRecordsAndTheirIndexEntries(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	clock := boltsession.NewTestClock()
	s := openAt(t, path, &boltsession.BoltOptions{Now: clock.Now})
	ctx := context.Background()
	for i := range 10 {
		life := time.Hour
		if i < 4 {
			life = time.Minute
		}
		mustSave(t, s, boltsession.Update{ID: fmt.Sprintf("s%d", i), Create: true, Expires: clock.Now().Add(life),
			Owner: ptr(fmt.Sprintf("user%d", i%2)), Set: map[string][]byte{"k": []byte("v")}})
	}
	clock.Advance(2 * time.Minute)
	res, err := s.Sweep(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.Swept != 4 || res.Corrupt != 0 || res.Stale != 0 || res.Transactions != 1 {
		t.Fatalf("Sweep = %+v, want 4 swept in 1 transaction", res)
	}
	for i := range 10 {
		_, err := s.Load(ctx, fmt.Sprintf("s%d", i))
		if live := i >= 4; live != (err == nil) {
			t.Fatalf("s%d after sweep: %v", i, err)
		}
	}
	// Nothing left to do: no transaction.
	if res, err := s.Sweep(ctx); err != nil || res.Swept != 0 || res.Transactions != 0 {
		t.Fatalf("second Sweep = %+v, %v", res, err)
	}
	s.Close()
	for bucket, want := range map[string]int{"sessions": 6, "expiry": 6, "owners": 6} {
		if n := bucketLen(t, path, bucket); n != want {
			t.Errorf("bucket %s holds %d keys after the sweep, want %d", bucket, n, want)
		}
	}
}

func TestSweepDeletesInChunks(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	clock := boltsession.NewTestClock()
	s := openAt(t, path, &boltsession.BoltOptions{Now: clock.Now, SweepChunk: 7, NoSync: true})
	for i := range 110 {
		life := time.Minute
		if i%11 == 0 {
			life = time.Hour // 10 live
		}
		mustSave(t, s, boltsession.Update{ID: fmt.Sprintf("s%03d", i), Create: true, Expires: clock.Now().Add(life),
			Owner: ptr("u")})
	}
	clock.Advance(2 * time.Minute)
	res, err := s.Sweep(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if res.Swept != 100 || res.Transactions != 15 { // ceil(100/7)
		t.Fatalf("Sweep = %+v, want 100 swept in 15 transactions", res)
	}
	if owned, _ := s.Owned(context.Background(), "u"); len(owned) != 10 {
		t.Fatalf("%d owned sessions left, want 10", len(owned))
	}
	s.Close()
	if n := bucketLen(t, path, "owners"); n != 10 {
		t.Fatalf("owners bucket holds %d entries, want 10", n)
	}
}

func TestSweepHonoursCancelledContext(t *testing.T) {
	clock := boltsession.NewTestClock()
	s := openTest(t, &boltsession.BoltOptions{Now: clock.Now})
	mustSave(t, s, boltsession.Update{ID: "a", Create: true, Expires: clock.Now().Add(time.Minute)})
	clock.Advance(time.Hour)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Sweep(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Sweep with a cancelled context: %v", err)
	}
	if st := s.Stats(); !errors.Is(st.LastSweepError, context.Canceled) || st.Expired != 1 {
		t.Fatalf("stats after a cancelled sweep: %+v", st)
	}
}

// waitFor polls cond for up to five seconds; background goroutines give no
// other signal.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestBackgroundSweeperRunsAndCloseStopsIt(t *testing.T) {
	before := runtime.NumGoroutine()
	clock := boltsession.NewTestClock()
	s, err := boltsession.Open(filepath.Join(t.TempDir(), "s.db"),
		&boltsession.BoltOptions{Now: clock.Now, SweepInterval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	mustSave(t, s, boltsession.Update{ID: "old", Create: true, Expires: clock.Now().Add(time.Minute)})
	mustSave(t, s, boltsession.Update{ID: "new", Create: true, Expires: clock.Now().Add(time.Hour)})
	clock.Advance(2 * time.Minute)
	waitFor(t, "the background sweep", func() bool { return s.Stats().Swept == 1 })
	if st := s.Stats(); st.LastSweepError != nil || st.Sessions != 1 {
		t.Fatalf("stats after background sweep: %+v", st)
	}
	mustLoad(t, s, "new")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	sweeps := s.Stats().Sweeps
	waitFor(t, "the store's goroutines to end", func() bool { return runtime.NumGoroutine() <= before })
	time.Sleep(20 * time.Millisecond) // twenty sweep intervals
	if got := s.Stats().Sweeps; got != sweeps {
		t.Fatalf("sweeps went on after Close: %d, then %d", sweeps, got)
	}
}

func TestNegativeSweepIntervalDisablesTheSweeper(t *testing.T) {
	before := runtime.NumGoroutine()
	s := openTest(t, &boltsession.BoltOptions{SweepInterval: -1})
	// Only the group committer runs.
	if n := runtime.NumGoroutine(); n > before+1 {
		t.Fatalf("%d goroutines after Open, want at most %d", n, before+1)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.Sweeps != 0 {
		t.Fatalf("a disabled sweeper swept: %+v", st)
	}
}
