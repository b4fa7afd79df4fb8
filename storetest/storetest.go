// Package storetest is the conformance suite for boltsession.Store
// implementations. BoltStore and the redisstore module run it; a third-party
// store should too, so that the middleware's guarantees (per-key merge,
// expiry on load, a logout that a racing request cannot undo) hold on it.
//
// To run it against your own store, add a test to your package:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) boltsession.Store {
//			s := mystore.New(...) // a fresh, empty store for this subtest
//			t.Cleanup(func() { s.Close() })
//			return s
//		})
//	}
//
// newStore is called once per subtest and must return an empty store (a
// fresh file, a new key prefix, a flushed database): Count and Iterate are
// checked against exactly what the subtest saved. Subtests run one after
// another, never in parallel.
//
// The suite uses real time: records expire relative to time.Now, with
// expiries an hour in the past or the future, so it needs no clock
// injection and never sleeps. Stores must keep times to at least
// millisecond precision. The optional capabilities (OwnerIndex, Counter,
// Iterator) are checked when the store implements them and reported as
// skipped otherwise.
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/boltsession/boltsession"
)

// Run runs every conformance check against stores made by newStore, each
// as a subtest of t.
func Run(t *testing.T, newStore func(t *testing.T) boltsession.Store) {
	t.Helper()
	RunWith(t, newStore, Options{})
}

// Options tell the suite what a store documents about itself where that
// differs from the contract by the nature of its format. The zero value
// holds a store to the whole contract, as Run does.
type Options struct {
	// ValuesByMeaning, when not empty, says that the store keeps each
	// value as the msgpack value it encodes rather than byte for byte,
	// and why (a store in a format that another stack reads and writes,
	// such as JSON). A value that is exactly one well-formed msgpack value
	// may then come back in another encoding of the same value: integers
	// of any width as the same integer, float32 as the same float64, maps
	// with their keys in another order. The suite compares such values by
	// what they decode to, and logs the reason once, in the test RunWith
	// was given; bytes that are not one msgpack value must still come
	// back byte for byte.
	ValuesByMeaning string
}

// RunWith is Run for a store that documents a difference from the
// contract (see Options). What cannot hold is reported, not skipped
// silently.
func RunWith(t *testing.T, newStore func(t *testing.T) boltsession.Store, opts Options) {
	t.Helper()
	if opts.ValuesByMeaning != "" {
		t.Logf("values are compared by their msgpack meaning, not byte for byte: %s", opts.ValuesByMeaning)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if opts.ValuesByMeaning != "" {
				byMeaning.Store(t, opts.ValuesByMeaning)
				defer byMeaning.Delete(t)
			}
			c.fn(t, newStore(t))
		})
	}
}

var cases = []struct {
	name string
	fn   func(*testing.T, boltsession.Store)
}{
	{"SaveThenLoadReturnsTheRecord", testSaveLoad},
	{"LoadOfMissingRecordIsNotFound", testLoadMissing},
	{"TouchMovesExpiryAndKeepsValues", testTouch},
	{"TouchOfMissingRecordIsNotFound", testTouchMissing},
	{"DeleteRemovesAndIgnoresMissing", testDelete},
	{"ExpiredRecordIsNotLoaded", testExpiredNotLoaded},
	{"UpdateOfExpiredRecordIsNotFound", testUpdateExpired},
	{"UpdateMergesPerKey", testUpdateMerge},
	{"UpdateWithoutExpiryKeepsIt", testUpdateKeepsExpiry},
	{"UpdateOfMissingRecordIsNotFoundAndCreatesNothing", testUpdateMissing},
	{"UpdateAfterDeleteDoesNotRecreate", testUpdateAfterDelete},
	{"ConcurrentUpdatesRacingDeleteLeaveNoRecord", testRaceDelete},
	{"CreateNeverOverwritesALiveRecord", testCreateNeverOverwrites},
	{"ReplaceMovesTheRecordToTheNewID", testReplace},
	{"ReplaceOfAGoneSessionCreatesNothing", testReplaceGone},
	{"ReplaceOntoAnIDInUseIsExists", testReplaceOntoUsed},
	{"StepsOnAReplacedSessionAreErrReplaced", testStepsOnReplaced},
	{"DeleteOfAReplacedSessionEndsItsReplacements", testDeleteFollowsReplace},
	{"EveryInterleavingOfTwoLifecycleSteps", testInterleavings},
	{"ClearRemovesEveryValueBeforeSet", testClear},
	{"MaxAgeIsSetAndReset", testMaxAge},
	{"ConcurrentSavesOfDifferentKeysAllPersist", testConcurrentKeys},
	{"ConcurrentSavesOfManySessionsAllPersist", testConcurrentSessions},
	{"BinaryAndEmptyValuesRoundTrip", testBinaryValues},
	{"ReturnedRecordsDoNotShareMemory", testNoAliasing},
	{"CancelledContextIsHonoured", testCancelled},
	{"OwnerIndexListsLiveSessionsOldestFirst", testOwned},
	{"OwnerIndexFollowsOwnerChanges", testOwnerMoves},
	{"DestroyOwnerEndsEverySessionOfTheOwner", testDestroyOwner},
	{"CountCountsLiveSessions", testCount},
	{"IterateVisitsLiveSessions", testIterate},
	{"RandomOperationsMatchAModel", testModel},
}

// precision is how far a stored time may be from the one saved.
const precision = time.Millisecond

func sameTime(a, b time.Time) bool {
	d := a.Sub(b)
	return d < precision && d > -precision
}

func ptr[T any](v T) *T { return &v }

// newRecord saves a fresh record with one value and an hour to live.
func newRecord(t *testing.T, s boltsession.Store, id string, values map[string]string) {
	t.Helper()
	u := boltsession.Update{ID: id, Create: true, Created: time.Now(), Expires: time.Now().Add(time.Hour),
		Set: map[string][]byte{}}
	for k, v := range values {
		u.Set[k] = []byte(v)
	}
	save(t, s, u)
}

// knownIDs maps the handle of every ID the suite saved back to the ID:
// stores key sessions by handle and list them by handle only (see
// boltsession.Handle), and the checks speak of IDs.
var knownIDs sync.Map

// idOf returns the ID of a record a store listed (Owned, Iterate), which
// names its session by Handle (and by ID, for a store that keeps IDs).
func idOf(t *testing.T, r *boltsession.Record) string {
	t.Helper()
	if r.Handle == "" {
		t.Errorf("record %q has no Handle", r.ID)
	}
	if r.ID != "" {
		if r.Handle != boltsession.Handle(r.ID) {
			t.Errorf("record %q has Handle %q, not its ID's", r.ID, r.Handle)
		}
		return r.ID
	}
	if id, ok := knownIDs.Load(r.Handle); ok {
		return id.(string)
	}
	return "handle:" + r.Handle
}

func remember(id string) { knownIDs.Store(boltsession.Handle(id), id) }

func save(t *testing.T, s boltsession.Store, u boltsession.Update) {
	t.Helper()
	remember(u.ID)
	if err := s.Save(context.Background(), u); err != nil {
		t.Fatalf("Save(%q, create=%v): %v", u.ID, u.Create, err)
	}
}

func load(t *testing.T, s boltsession.Store, id string) *boltsession.Record {
	t.Helper()
	rec, err := s.Load(context.Background(), id)
	if err != nil {
		t.Fatalf("Load(%q): %v", id, err)
	}
	if rec.ID != id {
		t.Fatalf("Load(%q) returned ID %q", id, rec.ID)
	}
	if rec.Handle != boltsession.Handle(id) {
		t.Fatalf("Load(%q) returned Handle %q, want boltsession.Handle of the ID", id, rec.Handle)
	}
	return rec
}

func loadMissing(t *testing.T, s boltsession.Store, id string) {
	t.Helper()
	rec, err := s.Load(context.Background(), id)
	if !errors.Is(err, boltsession.ErrNotFound) {
		t.Fatalf("Load(%q) = %+v, %v; want ErrNotFound", id, rec, err)
	}
	if rec != nil {
		t.Fatalf("Load(%q) returned a record with ErrNotFound", id)
	}
}

// values turns a record's values into strings for comparison.
func values(rec *boltsession.Record) map[string]string {
	out := make(map[string]string, len(rec.Values))
	for k, v := range rec.Values {
		out[k] = string(v)
	}
	return out
}

func wantValues(t *testing.T, rec *boltsession.Record, want map[string]string) {
	t.Helper()
	if got := values(rec); !sameValues(t, got, want) {
		t.Fatalf("record %q values = %v, want %v", rec.ID, got, want)
	}
}

func testSaveLoad(t *testing.T, s boltsession.Store) {
	created := time.Now().Add(-time.Minute)
	expires := time.Now().Add(time.Hour)
	save(t, s, boltsession.Update{ID: "s1", Create: true, Created: created, Expires: expires,
		Set:   map[string][]byte{"name": []byte("ada"), "n": {0x2a}},
		Owner: ptr("user-1"), MaxAge: ptr(72 * time.Hour)})
	rec := load(t, s, "s1")
	wantValues(t, rec, map[string]string{"name": "ada", "n": "\x2a"})
	if !sameTime(rec.Created, created) || !sameTime(rec.Expires, expires) {
		t.Errorf("times = created %v expires %v, want %v and %v", rec.Created, rec.Expires, created, expires)
	}
	if rec.Owner != "user-1" || rec.MaxAge != 72*time.Hour {
		t.Errorf("owner %q max age %v, want user-1 and 72h", rec.Owner, rec.MaxAge)
	}
}

func testLoadMissing(t *testing.T, s boltsession.Store) {
	loadMissing(t, s, "never-saved")
}

func testTouch(t *testing.T, s boltsession.Store) {
	newRecord(t, s, "s1", map[string]string{"a": "1"})
	later := time.Now().Add(5 * time.Hour)
	if err := s.Touch(context.Background(), "s1", later); err != nil {
		t.Fatalf("Touch: %v", err)
	}
	rec := load(t, s, "s1")
	if !sameTime(rec.Expires, later) {
		t.Errorf("expires %v after touch, want %v", rec.Expires, later)
	}
	wantValues(t, rec, map[string]string{"a": "1"})

	// A touch into the past ends the session.
	if err := s.Touch(context.Background(), "s1", time.Now().Add(-time.Hour)); err != nil {
		t.Fatalf("Touch into the past: %v", err)
	}
	loadMissing(t, s, "s1")
}

func testTouchMissing(t *testing.T, s boltsession.Store) {
	err := s.Touch(context.Background(), "nope", time.Now().Add(time.Hour))
	if !errors.Is(err, boltsession.ErrNotFound) {
		t.Fatalf("Touch of a missing record: %v, want ErrNotFound", err)
	}
	loadMissing(t, s, "nope")
}

func testDelete(t *testing.T, s boltsession.Store) {
	newRecord(t, s, "s1", map[string]string{"a": "1"})
	newRecord(t, s, "s2", map[string]string{"b": "2"})
	if err := s.Delete(context.Background(), "s1"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	loadMissing(t, s, "s1")
	wantValues(t, load(t, s, "s2"), map[string]string{"b": "2"})
	if err := s.Delete(context.Background(), "s1"); err != nil {
		t.Fatalf("Delete of a deleted record: %v", err)
	}
	if err := s.Delete(context.Background(), "never-saved"); err != nil {
		t.Fatalf("Delete of a missing record: %v", err)
	}
}

func testExpiredNotLoaded(t *testing.T, s boltsession.Store) {
	save(t, s, boltsession.Update{ID: "old", Create: true, Created: time.Now().Add(-2 * time.Hour),
		Expires: time.Now().Add(-time.Hour), Set: map[string][]byte{"a": []byte("1")}})
	loadMissing(t, s, "old")
	newRecord(t, s, "live", nil)
	load(t, s, "live")
}

func testUpdateExpired(t *testing.T, s boltsession.Store) {
	save(t, s, boltsession.Update{ID: "old", Create: true, Created: time.Now().Add(-2 * time.Hour),
		Expires: time.Now().Add(-time.Hour)})
	err := s.Save(context.Background(), boltsession.Update{ID: "old", Expires: time.Now().Add(time.Hour),
		Set: map[string][]byte{"a": []byte("1")}})
	if !errors.Is(err, boltsession.ErrNotFound) {
		t.Fatalf("update of an expired record: %v, want ErrNotFound", err)
	}
	if err := s.Touch(context.Background(), "old", time.Now().Add(time.Hour)); !errors.Is(err, boltsession.ErrNotFound) {
		t.Fatalf("touch of an expired record: %v, want ErrNotFound", err)
	}
	loadMissing(t, s, "old")
}

func testUpdateMerge(t *testing.T, s boltsession.Store) {
	newRecord(t, s, "s1", map[string]string{"keep": "k", "change": "old", "drop": "d"})
	save(t, s, boltsession.Update{ID: "s1",
		Set:    map[string][]byte{"change": []byte("new"), "add": []byte("a")},
		Delete: []string{"drop", "absent"}})
	wantValues(t, load(t, s, "s1"), map[string]string{"keep": "k", "change": "new", "add": "a"})
}

func testUpdateKeepsExpiry(t *testing.T, s boltsession.Store) {
	expires := time.Now().Add(2 * time.Hour)
	save(t, s, boltsession.Update{ID: "s1", Create: true, Created: time.Now(), Expires: expires})
	save(t, s, boltsession.Update{ID: "s1", Set: map[string][]byte{"a": []byte("1")}})
	if rec := load(t, s, "s1"); !sameTime(rec.Expires, expires) {
		t.Fatalf("expires %v after an update without expiry, want %v", rec.Expires, expires)
	}
	later := time.Now().Add(3 * time.Hour)
	save(t, s, boltsession.Update{ID: "s1", Expires: later})
	if rec := load(t, s, "s1"); !sameTime(rec.Expires, later) {
		t.Fatalf("expires %v after an update with expiry, want %v", rec.Expires, later)
	}
}

func testUpdateMissing(t *testing.T, s boltsession.Store) {
	err := s.Save(context.Background(), boltsession.Update{ID: "ghost", Expires: time.Now().Add(time.Hour),
		Set: map[string][]byte{"a": []byte("1")}, Owner: ptr("user-1")})
	if !errors.Is(err, boltsession.ErrNotFound) {
		t.Fatalf("update of a missing record: %v, want ErrNotFound", err)
	}
	loadMissing(t, s, "ghost")
	if idx, ok := s.(boltsession.OwnerIndex); ok {
		recs, err := idx.Owned(context.Background(), "user-1")
		if err != nil || len(recs) != 0 {
			t.Fatalf("Owned after a failed update = %v, %v; want none", recs, err)
		}
	}
}

func testUpdateAfterDelete(t *testing.T, s boltsession.Store) {
	newRecord(t, s, "s1", map[string]string{"user": "ada"})
	if err := s.Delete(context.Background(), "s1"); err != nil {
		t.Fatal(err)
	}
	// A request that loaded s1 before the logout now saves its change.
	err := s.Save(context.Background(), boltsession.Update{ID: "s1", Expires: time.Now().Add(time.Hour),
		Set: map[string][]byte{"cart": []byte("1")}})
	if !errors.Is(err, boltsession.ErrNotFound) {
		t.Fatalf("update after delete: %v, want ErrNotFound", err)
	}
	if err := s.Touch(context.Background(), "s1", time.Now().Add(time.Hour)); !errors.Is(err, boltsession.ErrNotFound) {
		t.Fatalf("touch after delete: %v, want ErrNotFound", err)
	}
	loadMissing(t, s, "s1")
}

func testRaceDelete(t *testing.T, s boltsession.Store) {
	newRecord(t, s, "s1", nil)
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			key := fmt.Sprintf("k%d", i)
			err := s.Save(context.Background(), boltsession.Update{ID: "s1", Set: map[string][]byte{key: []byte("v")}})
			if err != nil && !errors.Is(err, boltsession.ErrNotFound) {
				t.Errorf("update: %v", err)
			}
		})
		if i == 8 {
			wg.Go(func() {
				if err := s.Delete(context.Background(), "s1"); err != nil {
					t.Errorf("delete: %v", err)
				}
			})
		}
	}
	wg.Wait()
	// Whatever order they ran in, every update after the delete failed:
	// the record stays gone.
	loadMissing(t, s, "s1")
}

func testCreateNeverOverwrites(t *testing.T, s boltsession.Store) {
	save(t, s, boltsession.Update{ID: "s1", Create: true, Created: time.Now().Add(-time.Hour),
		Expires: time.Now().Add(time.Hour), Set: map[string][]byte{"old": []byte("1")},
		Owner: ptr("user-1"), MaxAge: ptr(time.Hour)})
	err := s.Save(context.Background(), boltsession.Update{ID: "s1", Create: true, Created: time.Now(),
		Expires: time.Now().Add(2 * time.Hour), Set: map[string][]byte{"new": []byte("2")}})
	if !errors.Is(err, boltsession.ErrExists) {
		t.Fatalf("create of a live ID: %v, want ErrExists", err)
	}
	rec := load(t, s, "s1")
	wantValues(t, rec, map[string]string{"old": "1"})
	if rec.Owner != "user-1" || rec.MaxAge != time.Hour {
		t.Errorf("owner %q max age %v after a refused create, want user-1 and 1h", rec.Owner, rec.MaxAge)
	}

	// An expired record is dead: a create of its ID makes a new record.
	save(t, s, boltsession.Update{ID: "s2", Create: true, Created: time.Now().Add(-2 * time.Hour),
		Expires: time.Now().Add(-time.Hour), Set: map[string][]byte{"old": []byte("1")}, Owner: ptr("user-1")})
	created := time.Now()
	expires := time.Now().Add(2 * time.Hour)
	save(t, s, boltsession.Update{ID: "s2", Create: true, Created: created, Expires: expires,
		Set: map[string][]byte{"new": []byte("2")}})
	rec = load(t, s, "s2")
	wantValues(t, rec, map[string]string{"new": "2"})
	if !sameTime(rec.Created, created) || !sameTime(rec.Expires, expires) {
		t.Errorf("times after create: %v %v, want %v %v", rec.Created, rec.Expires, created, expires)
	}
	if rec.Owner != "" || rec.MaxAge != 0 {
		t.Errorf("owner %q max age %v after create, want none", rec.Owner, rec.MaxAge)
	}
	if idx, ok := s.(boltsession.OwnerIndex); ok {
		if got := ownedIDs(t, idx, "user-1"); !slices.Equal(got, []string{"s1"}) {
			t.Errorf("Owned(user-1) = %v, want [s1]", got)
		}
	}
}

func testClear(t *testing.T, s boltsession.Store) {
	newRecord(t, s, "s1", map[string]string{"a": "1", "b": "2"})
	save(t, s, boltsession.Update{ID: "s1", Clear: true, Set: map[string][]byte{"c": []byte("3")}})
	wantValues(t, load(t, s, "s1"), map[string]string{"c": "3"})
	save(t, s, boltsession.Update{ID: "s1", Clear: true})
	wantValues(t, load(t, s, "s1"), map[string]string{})
}

func testMaxAge(t *testing.T, s boltsession.Store) {
	newRecord(t, s, "s1", nil)
	save(t, s, boltsession.Update{ID: "s1", MaxAge: ptr(30 * 24 * time.Hour)})
	if got := load(t, s, "s1").MaxAge; got != 30*24*time.Hour {
		t.Fatalf("max age %v, want 720h", got)
	}
	save(t, s, boltsession.Update{ID: "s1", Set: map[string][]byte{"a": nil}})
	if got := load(t, s, "s1").MaxAge; got != 30*24*time.Hour {
		t.Fatalf("max age %v after an update that leaves it, want 720h", got)
	}
	save(t, s, boltsession.Update{ID: "s1", MaxAge: ptr(time.Duration(0))})
	if got := load(t, s, "s1").MaxAge; got != 0 {
		t.Fatalf("max age %v after reset, want 0", got)
	}
}

func testConcurrentKeys(t *testing.T, s boltsession.Store) {
	newRecord(t, s, "s1", map[string]string{"base": "b"})
	const writers = 32
	var wg sync.WaitGroup
	for i := range writers {
		wg.Go(func() {
			k := fmt.Sprintf("k%02d", i)
			err := s.Save(context.Background(), boltsession.Update{ID: "s1",
				Set: map[string][]byte{k: []byte(k)}, Expires: time.Now().Add(time.Hour)})
			if err != nil {
				t.Errorf("Save %s: %v", k, err)
			}
		})
	}
	wg.Wait()
	want := map[string]string{"base": "b"}
	for i := range writers {
		k := fmt.Sprintf("k%02d", i)
		want[k] = k
	}
	wantValues(t, load(t, s, "s1"), want)
}

func testConcurrentSessions(t *testing.T, s boltsession.Store) {
	const n = 64
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			id := fmt.Sprintf("s%02d", i)
			err := s.Save(context.Background(), boltsession.Update{ID: id, Create: true, Created: time.Now(),
				Expires: time.Now().Add(time.Hour), Set: map[string][]byte{"i": []byte(id)}})
			if err != nil {
				t.Errorf("Save %s: %v", id, err)
			}
		})
	}
	wg.Wait()
	for i := range n {
		id := fmt.Sprintf("s%02d", i)
		wantValues(t, load(t, s, id), map[string]string{"i": id})
	}
}

func testBinaryValues(t *testing.T, s boltsession.Store) {
	bin := []byte{0, 1, 2, 0xff, 0xfe, '\n', 0}
	big := bytes.Repeat([]byte("x"), 64<<10)
	save(t, s, boltsession.Update{ID: "s1", Create: true, Created: time.Now(), Expires: time.Now().Add(time.Hour),
		Set: map[string][]byte{"bin": bin, "empty": {}, "big": big, "ключ": []byte("значение")}})
	rec := load(t, s, "s1")
	if !bytes.Equal(rec.Values["bin"], bin) || !bytes.Equal(rec.Values["big"], big) ||
		string(rec.Values["ключ"]) != "значение" {
		t.Fatalf("values did not round-trip: %q", rec.Values["bin"])
	}
	if v, ok := rec.Values["empty"]; !ok || len(v) != 0 {
		t.Fatalf("empty value: present %v, %q", ok, v)
	}
}

func testNoAliasing(t *testing.T, s boltsession.Store) {
	set := map[string][]byte{"a": []byte("alpha"), "b": []byte("bravo")}
	save(t, s, boltsession.Update{ID: "s1", Create: true, Created: time.Now(), Expires: time.Now().Add(time.Hour), Set: set})
	// The store must not keep the caller's slices...
	set["a"][0] = 'X'
	first := load(t, s, "s1")
	wantValues(t, first, map[string]string{"a": "alpha", "b": "bravo"})
	// ...nor hand out its own: changing a returned record changes nothing
	// stored, and later writes change nothing returned.
	first.Values["a"][0] = 'Y'
	first.Values["c"] = []byte("new")
	wantValues(t, load(t, s, "s1"), map[string]string{"a": "alpha", "b": "bravo"})
	save(t, s, boltsession.Update{ID: "s1", Set: map[string][]byte{"a": []byte("ALPHA"), "b": []byte("BRAVO")}})
	for i := range 20 {
		newRecord(t, s, fmt.Sprintf("fill%d", i), map[string]string{"x": "yyyyyyyy"})
	}
	wantValues(t, first, map[string]string{"a": "Ylpha", "b": "bravo", "c": "new"})
}

func testCancelled(t *testing.T, s boltsession.Store) {
	newRecord(t, s, "s1", map[string]string{"a": "1"})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	wantCanceled := func(op string, err error) {
		t.Helper()
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a cancelled context: %v, want context.Canceled", op, err)
		}
	}
	_, err := s.Load(ctx, "s1")
	wantCanceled("Load", err)
	wantCanceled("Save (create)", s.Save(ctx, boltsession.Update{ID: "s2", Create: true, Created: time.Now(),
		Expires: time.Now().Add(time.Hour)}))
	wantCanceled("Save (update)", s.Save(ctx, boltsession.Update{ID: "s1", Set: map[string][]byte{"a": []byte("2")}}))
	wantCanceled("Touch", s.Touch(ctx, "s1", time.Now().Add(-time.Hour)))
	wantCanceled("Delete", s.Delete(ctx, "s1"))
	if idx, ok := s.(boltsession.OwnerIndex); ok {
		_, err := idx.Owned(ctx, "u")
		wantCanceled("Owned", err)
		_, err = idx.DestroyOwner(ctx, "u")
		wantCanceled("DestroyOwner", err)
	}
	if c, ok := s.(boltsession.Counter); ok {
		_, err := c.Count(ctx)
		wantCanceled("Count", err)
	}
	if it, ok := s.(boltsession.Iterator); ok {
		wantCanceled("Iterate", it.Iterate(ctx, func(*boltsession.Record) error { return nil }))
	}
	// Nothing of the cancelled calls happened.
	wantValues(t, load(t, s, "s1"), map[string]string{"a": "1"})
	loadMissing(t, s, "s2")
}

func ownerIndex(t *testing.T, s boltsession.Store) boltsession.OwnerIndex {
	t.Helper()
	idx, ok := s.(boltsession.OwnerIndex)
	if !ok {
		t.Skipf("%T does not implement OwnerIndex", s)
	}
	return idx
}

func ownedIDs(t *testing.T, idx boltsession.OwnerIndex, owner string) []string {
	t.Helper()
	recs, err := idx.Owned(context.Background(), owner)
	if err != nil {
		t.Fatalf("Owned(%q): %v", owner, err)
	}
	ids := make([]string, 0, len(recs))
	for _, r := range recs {
		if r.Owner != owner {
			t.Errorf("Owned(%q) returned %q owned by %q", owner, idOf(t, &r), r.Owner)
		}
		if r.Values != nil {
			t.Errorf("Owned(%q) returned %q with values", owner, idOf(t, &r))
		}
		ids = append(ids, idOf(t, &r))
	}
	return ids
}

func testOwned(t *testing.T, s boltsession.Store) {
	idx := ownerIndex(t, s)
	now := time.Now()
	for i, id := range []string{"newer", "older", "oldest"} {
		save(t, s, boltsession.Update{ID: id, Create: true, Created: now.Add(-time.Duration(i) * time.Minute),
			Expires: now.Add(time.Hour), Owner: ptr("user-1"), Set: map[string][]byte{"a": []byte("1")}})
	}
	save(t, s, boltsession.Update{ID: "expired", Create: true, Created: now.Add(-2 * time.Hour),
		Expires: now.Add(-time.Hour), Owner: ptr("user-1")})
	save(t, s, boltsession.Update{ID: "other", Create: true, Created: now, Expires: now.Add(time.Hour),
		Owner: ptr("user-10")})
	newRecord(t, s, "anonymous", nil)

	if got, want := ownedIDs(t, idx, "user-1"), []string{"oldest", "older", "newer"}; !slices.Equal(got, want) {
		t.Fatalf("Owned(user-1) = %v, want %v (live only, oldest first)", got, want)
	}
	if got := ownedIDs(t, idx, "nobody"); len(got) != 0 {
		t.Fatalf("Owned(nobody) = %v", got)
	}
	// A session's expiry passing takes it off the list.
	if err := s.Touch(context.Background(), "older", now.Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	if got, want := ownedIDs(t, idx, "user-1"), []string{"oldest", "newer"}; !slices.Equal(got, want) {
		t.Fatalf("Owned(user-1) after one expired = %v, want %v", got, want)
	}
}

func testOwnerMoves(t *testing.T, s boltsession.Store) {
	idx := ownerIndex(t, s)
	newRecord(t, s, "s1", nil)
	save(t, s, boltsession.Update{ID: "s1", Owner: ptr("alice")})
	if got := ownedIDs(t, idx, "alice"); !slices.Equal(got, []string{"s1"}) {
		t.Fatalf("Owned(alice) = %v after setting the owner", got)
	}
	save(t, s, boltsession.Update{ID: "s1", Owner: ptr("bob")})
	if got := ownedIDs(t, idx, "alice"); len(got) != 0 {
		t.Fatalf("Owned(alice) = %v after moving to bob", got)
	}
	if got := ownedIDs(t, idx, "bob"); !slices.Equal(got, []string{"s1"}) {
		t.Fatalf("Owned(bob) = %v after moving", got)
	}
	if rec := load(t, s, "s1"); rec.Owner != "bob" {
		t.Fatalf("record owner %q, want bob", rec.Owner)
	}
	save(t, s, boltsession.Update{ID: "s1", Owner: ptr("")})
	if got := ownedIDs(t, idx, "bob"); len(got) != 0 {
		t.Fatalf("Owned(bob) = %v after removing the owner", got)
	}
	if err := s.Delete(context.Background(), "s1"); err != nil {
		t.Fatal(err)
	}
	save(t, s, boltsession.Update{ID: "s2", Create: true, Created: time.Now(), Expires: time.Now().Add(time.Hour),
		Owner: ptr("carol")})
	if err := s.Delete(context.Background(), "s2"); err != nil {
		t.Fatal(err)
	}
	if got := ownedIDs(t, idx, "carol"); len(got) != 0 {
		t.Fatalf("Owned(carol) = %v after delete", got)
	}
}

func testDestroyOwner(t *testing.T, s boltsession.Store) {
	idx := ownerIndex(t, s)
	now := time.Now()
	for _, id := range []string{"a1", "a2"} {
		save(t, s, boltsession.Update{ID: id, Create: true, Created: now, Expires: now.Add(time.Hour), Owner: ptr("alice")})
	}
	save(t, s, boltsession.Update{ID: "b1", Create: true, Created: now, Expires: now.Add(time.Hour), Owner: ptr("bob")})
	n, err := idx.DestroyOwner(context.Background(), "alice")
	if err != nil || n != 2 {
		t.Fatalf("DestroyOwner(alice) = %d, %v; want 2", n, err)
	}
	loadMissing(t, s, "a1")
	loadMissing(t, s, "a2")
	load(t, s, "b1")
	if got := ownedIDs(t, idx, "alice"); len(got) != 0 {
		t.Fatalf("Owned(alice) = %v after DestroyOwner", got)
	}
	// The ended sessions cannot be brought back by an update.
	err = s.Save(context.Background(), boltsession.Update{ID: "a1", Set: map[string][]byte{"x": nil}})
	if !errors.Is(err, boltsession.ErrNotFound) {
		t.Fatalf("update after DestroyOwner: %v, want ErrNotFound", err)
	}
	if n, err := idx.DestroyOwner(context.Background(), "alice"); err != nil || n != 0 {
		t.Fatalf("second DestroyOwner(alice) = %d, %v; want 0", n, err)
	}
	if n, err := idx.DestroyOwner(context.Background(), "nobody"); err != nil || n != 0 {
		t.Fatalf("DestroyOwner(nobody) = %d, %v; want 0", n, err)
	}
}

func testCount(t *testing.T, s boltsession.Store) {
	c, ok := s.(boltsession.Counter)
	if !ok {
		t.Skipf("%T does not implement Counter", s)
	}
	count := func() int {
		t.Helper()
		n, err := c.Count(context.Background())
		if err != nil {
			t.Fatalf("Count: %v", err)
		}
		return n
	}
	if n := count(); n != 0 {
		t.Fatalf("Count of an empty store = %d", n)
	}
	for i := range 5 {
		newRecord(t, s, fmt.Sprintf("s%d", i), nil)
	}
	save(t, s, boltsession.Update{ID: "expired", Create: true, Created: time.Now().Add(-2 * time.Hour),
		Expires: time.Now().Add(-time.Hour)})
	if n := count(); n != 5 {
		t.Fatalf("Count = %d, want 5 (expired not counted)", n)
	}
	if err := s.Delete(context.Background(), "s0"); err != nil {
		t.Fatal(err)
	}
	if err := s.Touch(context.Background(), "s1", time.Now().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 3 {
		t.Fatalf("Count = %d after a delete and an expiry, want 3", n)
	}
}

func testIterate(t *testing.T, s boltsession.Store) {
	it, ok := s.(boltsession.Iterator)
	if !ok {
		t.Skipf("%T does not implement Iterator", s)
	}
	want := map[string]string{}
	for i := range 300 { // more than one page of any batching store
		id := fmt.Sprintf("s%03d", i)
		newRecord(t, s, id, map[string]string{"i": id})
		want[id] = id
	}
	save(t, s, boltsession.Update{ID: "expired", Create: true, Created: time.Now().Add(-2 * time.Hour),
		Expires: time.Now().Add(-time.Hour)})
	got := map[string]string{}
	err := it.Iterate(context.Background(), func(r *boltsession.Record) error {
		id := idOf(t, r)
		if _, dup := got[id]; dup {
			t.Errorf("Iterate visited %q twice", id)
		}
		got[id] = string(r.Values["i"])
		return nil
	})
	if err != nil {
		t.Fatalf("Iterate: %v", err)
	}
	if !maps.Equal(got, want) {
		t.Fatalf("Iterate visited %d records, want the %d live ones", len(got), len(want))
	}

	stop := errors.New("stop")
	calls := 0
	err = it.Iterate(context.Background(), func(*boltsession.Record) error {
		calls++
		return stop
	})
	if !errors.Is(err, stop) || calls != 1 {
		t.Fatalf("Iterate after fn failed: %v after %d calls; want fn's error after 1", err, calls)
	}
}
