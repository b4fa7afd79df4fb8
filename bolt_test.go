package boltsession

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// fakeClock is a settable clock for the store.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// openTest opens a store in a temp dir with the background sweeper off and
// closes it at the end of the test.
func openTest(t testing.TB, opts *BoltOptions) *BoltStore {
	t.Helper()
	if opts == nil {
		opts = &BoltOptions{}
	}
	if opts.SweepInterval == 0 {
		opts.SweepInterval = -1
	}
	s, err := Open(filepath.Join(t.TempDir(), "sessions.db"), opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func mustSave(t testing.TB, s Store, u Update) {
	t.Helper()
	if err := s.Save(context.Background(), u); err != nil {
		t.Fatalf("Save(%s): %v", u.ID, err)
	}
}

func TestBoltSaveLoadTouchDelete(t *testing.T) {
	clock := newFakeClock()
	s := openTest(t, &BoltOptions{Now: clock.Now})
	ctx := context.Background()
	owner := "u1"
	age := 48 * time.Hour
	mustSave(t, s, Update{ID: "a", Create: true, Created: clock.Now(), Expires: clock.Now().Add(time.Hour),
		Set: map[string][]byte{"k": []byte("v")}, Owner: &owner, MaxAge: &age})
	rec, err := s.Load(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	if rec.ID != "a" || string(rec.Values["k"]) != "v" || rec.Owner != "u1" || rec.MaxAge != age ||
		!rec.Created.Equal(clock.Now()) || !rec.Expires.Equal(clock.Now().Add(time.Hour)) {
		t.Fatalf("loaded %+v", rec)
	}
	if err := s.Touch(ctx, "a", clock.Now().Add(3*time.Hour)); err != nil {
		t.Fatal(err)
	}
	clock.Advance(2 * time.Hour)
	if _, err := s.Load(ctx, "a"); err != nil {
		t.Fatalf("Load after touch: %v", err)
	}
	if err := s.Delete(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Load(ctx, "a"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Load after delete: %v", err)
	}
	if err := s.Delete(ctx, "a"); err != nil {
		t.Fatalf("Delete of a missing record: %v", err)
	}
}

func TestBoltLoadOfExpiredRecordIsNotFoundBeforeSweep(t *testing.T) {
	clock := newFakeClock()
	s := openTest(t, &BoltOptions{Now: clock.Now})
	ctx := context.Background()
	mustSave(t, s, Update{ID: "a", Create: true, Expires: clock.Now().Add(time.Minute)})
	clock.Advance(time.Minute)
	if _, err := s.Load(ctx, "a"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Load: %v", err)
	}
	if err := s.Touch(ctx, "a", clock.Now().Add(time.Hour)); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Touch: %v", err)
	}
	if err := s.Save(ctx, Update{ID: "a", Set: map[string][]byte{"k": nil}}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("update Save: %v", err)
	}
}
