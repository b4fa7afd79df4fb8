package boltsession_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/boltsession/boltsession"
)

// TestSavesThatKeepOwnerAndExpiryKeepTheirIndexEntries pins the index
// entries across saves that leave the owner or the expiry as they are (the
// store skips rewriting such entries): the owner still finds the session,
// the sweeper still expires it on time, and no entry is left behind.
func TestSavesThatKeepOwnerAndExpiryKeepTheirIndexEntries(t *testing.T) {
	clock := boltsession.NewTestClock()
	path := filepath.Join(t.TempDir(), "sessions.db")
	s := openAt(t, path, &boltsession.BoltOptions{Now: clock.Now})
	ctx := context.Background()
	start := clock.Now()

	mustSave(t, s, boltsession.Update{ID: "a", Create: true, Expires: start.Add(time.Hour), Owner: ptr("u"),
		Set: map[string][]byte{"k": {1}}})
	mustSave(t, s, boltsession.Update{ID: "a", Set: map[string][]byte{"k": {2}}})                                                 // owner, expiry untouched
	mustSave(t, s, boltsession.Update{ID: "a", Set: map[string][]byte{"k": {3}}, Owner: ptr("u"), Expires: start.Add(time.Hour)}) // both restated
	if got, err := s.Owned(ctx, "u"); err != nil || len(got) != 1 || got[0].Handle != boltsession.Handle("a") {
		t.Fatalf("Owned(u) after updates = %v, %v; want [a]", got, err)
	}
	mustSave(t, s, boltsession.Update{ID: "a", Set: map[string][]byte{"k": {4}}, Expires: start.Add(2 * time.Hour)})

	clock.Advance(90 * time.Minute) // past the first expiry, before the second
	res, err := s.Sweep(ctx)
	if err != nil || res.Swept != 0 || res.Stale != 0 {
		t.Fatalf("Sweep at 90 min = %+v, %v; want nothing swept, no stale entry", res, err)
	}
	if rec := mustLoad(t, s, "a"); rec.Values["k"][0] != 4 || rec.Owner != "u" {
		t.Fatalf("record after updates = %+v", rec)
	}

	clock.Advance(31 * time.Minute)
	if res, err := s.Sweep(ctx); err != nil || res.Swept != 1 || res.Stale != 0 {
		t.Fatalf("Sweep past the second expiry = %+v, %v; want 1 swept, no stale entry", res, err)
	}
	if got, err := s.Owned(ctx, "u"); err != nil || len(got) != 0 {
		t.Fatalf("Owned(u) after the sweep = %v, %v; want none", got, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for _, b := range []string{"sessions", "expiry", "owners"} {
		if n := bucketLen(t, path, b); n != 0 {
			t.Errorf("bucket %s holds %d keys after the sweep, want 0", b, n)
		}
	}
}
