package boltsession

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"
)

// modelRecord is what the in-memory model holds for one ID: the record as
// the store must keep it, expired or not (expired ones stay until a sweep or
// a delete removes them).
type modelRecord struct {
	created time.Time
	expires time.Time
	maxAge  time.Duration
	owner   string
	values  map[string]string
}

// apply is what a merge of u does to the record.
func (rec *modelRecord) apply(u *Update) {
	if u.Clear {
		rec.values = map[string]string{}
	}
	for k, v := range u.Set {
		rec.values[k] = string(v)
	}
	for _, k := range u.Delete {
		delete(rec.values, k)
	}
	if !u.Expires.IsZero() {
		rec.expires = u.Expires
	}
	if u.Owner != nil {
		rec.owner = *u.Owner
	}
	if u.MaxAge != nil {
		rec.maxAge = *u.MaxAge
	}
}

// modelMarker is a kept marker of a replaced session: replaced by next,
// kept until until.
type modelMarker struct {
	next  string
	until time.Time
}

// storeModel is the reference the BoltStore is checked against: records
// by ID, and the markers of replaced sessions by the replaced ID.
type storeModel struct {
	recs    map[string]*modelRecord
	markers map[string]modelMarker
}

func newStoreModel() *storeModel {
	return &storeModel{recs: map[string]*modelRecord{}, markers: map[string]modelMarker{}}
}

func (m *storeModel) live(id string, now time.Time) *modelRecord {
	r := m.recs[id]
	if r == nil || !now.Before(r.expires) {
		return nil
	}
	return r
}

// replaced reports whether a marker for id is kept and not yet past.
func (m *storeModel) replaced(id string, now time.Time) bool {
	mk, ok := m.markers[id]
	return ok && now.Before(mk.until)
}

// gone is the error a merge or touch of a session that is not live gives.
func (m *storeModel) gone(id string, now time.Time) error {
	if m.replaced(id, now) {
		return ErrReplaced
	}
	return ErrNotFound
}

// end is what Delete does: remove id, then follow live markers.
func (m *storeModel) end(id string, now time.Time) {
	for {
		delete(m.recs, id)
		mk, ok := m.markers[id]
		delete(m.markers, id)
		if !ok || !now.Before(mk.until) {
			return
		}
		id = mk.next
	}
}

// modelRun drives one random sequence of operations against a BoltStore and
// the model, checking after each that the store answers as the model does
// and that the expiry and owner buckets index exactly the stored records.
type modelRun struct {
	t     *testing.T
	rng   *rand.Rand
	clock *testClock
	s     *BoltStore
	m     *storeModel
	ctx   context.Context
	log   []string
}

var (
	modelIDs    = []string{"a", "b", "c", "d"}
	modelOwners = []string{"", "u1", "u2", "u1x"}
	modelKeys   = []string{"k1", "k2", "k3"}
)

func (r *modelRun) pick(xs []string) string { return xs[r.rng.IntN(len(xs))] }

// expiry is a random expiry around now, in whole seconds so that distinct
// records often share one, and sometimes already past.
func (r *modelRun) expiry() time.Time {
	return r.clock.Now().Add(time.Duration(r.rng.IntN(8)-2) * time.Second)
}

func (r *modelRun) fail(format string, args ...any) {
	r.t.Helper()
	r.t.Fatalf("%s\nops:\n  %s", fmt.Sprintf(format, args...), strings.Join(r.log, "\n  "))
}

func (r *modelRun) step() {
	now := r.clock.Now()
	id := r.pick(modelIDs)
	switch op := r.rng.IntN(13); op {
	case 0, 1: // create
		u := Update{ID: id, Create: true, Expires: r.expiry(), Set: map[string][]byte{}}
		if r.rng.IntN(2) == 0 {
			u.Created = now.Add(-time.Duration(r.rng.IntN(5)) * time.Second)
		}
		for _, k := range modelKeys {
			if r.rng.IntN(2) == 0 {
				u.Set[k] = []byte(fmt.Sprint(r.rng.IntN(3)))
			}
		}
		if r.rng.IntN(2) == 0 {
			u.Owner = ptrTo(r.pick(modelOwners))
		}
		if r.rng.IntN(3) == 0 {
			u.MaxAge = ptrTo(time.Duration(r.rng.IntN(3)) * time.Minute)
		}
		r.log = append(r.log, fmt.Sprintf("create %s exp=%v owner=%v", id, u.Expires.Sub(now), deref(u.Owner)))
		err := r.s.Save(r.ctx, u)
		if r.m.live(id, now) != nil || r.m.replaced(id, now) {
			if !errors.Is(err, ErrExists) {
				r.fail("create of %s in use: got %v, want ErrExists", id, err)
			}
			return
		}
		if err != nil {
			r.fail("create %s: %v", id, err)
		}
		delete(r.m.markers, id) // a marker past its time goes
		rec := &modelRecord{created: u.Created, expires: u.Expires, values: map[string]string{}}
		if rec.created.IsZero() {
			rec.created = now
		}
		for k, v := range u.Set {
			rec.values[k] = string(v)
		}
		if u.Owner != nil {
			rec.owner = *u.Owner
		}
		if u.MaxAge != nil {
			rec.maxAge = *u.MaxAge
		}
		r.m.recs[id] = rec
	case 2, 3: // per-key update
		u := Update{ID: id, Clear: r.rng.IntN(5) == 0}
		for _, k := range modelKeys {
			switch r.rng.IntN(3) {
			case 0:
				if u.Set == nil {
					u.Set = map[string][]byte{}
				}
				u.Set[k] = []byte(fmt.Sprint(r.rng.IntN(3)))
			case 1:
				u.Delete = append(u.Delete, k)
			}
		}
		if r.rng.IntN(2) == 0 {
			u.Expires = r.expiry()
		}
		if r.rng.IntN(2) == 0 {
			u.Owner = ptrTo(r.pick(modelOwners))
		}
		if r.rng.IntN(3) == 0 {
			u.MaxAge = ptrTo(time.Duration(r.rng.IntN(3)) * time.Minute)
		}
		r.log = append(r.log, fmt.Sprintf("update %s exp=%v owner=%v clear=%v", id, u.Expires.Sub(now), deref(u.Owner), u.Clear))
		err := r.s.Save(r.ctx, u)
		rec := r.m.live(id, now)
		if rec == nil {
			if want := r.m.gone(id, now); !errors.Is(err, want) {
				r.fail("update of gone %s: got %v, want %v", id, err, want)
			}
			return
		}
		if err != nil {
			r.fail("update %s: %v", id, err)
		}
		rec.apply(&u)
	case 10: // replace
		next := r.pick(modelIDs)
		u := Update{ID: next, Create: true, Replaces: id, Expires: r.expiry()}
		if r.rng.IntN(2) == 0 {
			u.Set = map[string][]byte{r.pick(modelKeys): []byte("r")}
		}
		if r.rng.IntN(3) == 0 {
			u.Owner = ptrTo(r.pick(modelOwners))
		}
		r.log = append(r.log, fmt.Sprintf("replace %s by %s exp=%v owner=%v", id, next, u.Expires.Sub(now), deref(u.Owner)))
		err := r.s.Save(r.ctx, u)
		from := r.m.live(id, now)
		switch {
		case next == id:
			if err == nil {
				r.fail("replace of %s by itself succeeded", id)
			}
			return
		case r.m.live(next, now) != nil || r.m.replaced(next, now):
			if !errors.Is(err, ErrExists) {
				r.fail("replace by %s in use: got %v, want ErrExists", next, err)
			}
			return
		case from == nil:
			if want := r.m.gone(id, now); !errors.Is(err, want) {
				r.fail("replace of gone %s: got %v, want %v", id, err, want)
			}
			return
		}
		if err != nil {
			r.fail("replace %s by %s: %v", id, next, err)
		}
		rec := *from
		rec.values = maps.Clone(from.values)
		rec.apply(&u)
		r.m.recs[next] = &rec
		delete(r.m.recs, id)
		delete(r.m.markers, next)
		until := from.expires
		if grace := now.Add(ReplacedGrace); grace.Before(until) {
			until = grace
		}
		r.m.markers[id] = modelMarker{next: next, until: until}
	case 4: // touch
		exp := r.expiry()
		r.log = append(r.log, fmt.Sprintf("touch %s exp=%v", id, exp.Sub(now)))
		err := r.s.Touch(r.ctx, id, exp)
		rec := r.m.live(id, now)
		if rec == nil {
			if want := r.m.gone(id, now); !errors.Is(err, want) {
				r.fail("touch of gone %s: got %v, want %v", id, err, want)
			}
			return
		}
		if err != nil {
			r.fail("touch %s: %v", id, err)
		}
		rec.expires = exp
	case 5: // delete
		r.log = append(r.log, "delete "+id)
		if err := r.s.Delete(r.ctx, id); err != nil {
			r.fail("delete %s: %v", id, err)
		}
		r.m.end(id, now)
	case 6: // destroy owner
		owner := r.pick(modelOwners)
		r.log = append(r.log, fmt.Sprintf("destroy owner %q", owner))
		n, err := r.s.DestroyOwner(r.ctx, owner)
		if err != nil {
			r.fail("destroy owner %q: %v", owner, err)
		}
		want := 0
		if owner != "" {
			for mid, rec := range r.m.recs {
				if rec.owner == owner {
					if now.Before(rec.expires) {
						want++
					}
					delete(r.m.recs, mid)
				}
			}
		}
		if n != want {
			r.fail("destroy owner %q ended %d, want %d", owner, n, want)
		}
	case 7: // sweep
		r.log = append(r.log, "sweep")
		res, err := r.s.Sweep(r.ctx)
		if err != nil {
			r.fail("sweep: %v", err)
		}
		want, wantMarkers := 0, 0
		for mid, rec := range r.m.recs {
			if !now.Before(rec.expires) {
				want++
				delete(r.m.recs, mid)
			}
		}
		for mid, mk := range r.m.markers {
			if !now.Before(mk.until) {
				wantMarkers++
				delete(r.m.markers, mid)
			}
		}
		if res.Swept != want || res.Replaced != wantMarkers || res.Stale != 0 || res.Corrupt != 0 {
			r.fail("sweep: %+v, want Swept %d, Replaced %d and nothing stale or corrupt", res, want, wantMarkers)
		}
	case 8, 9: // advance the clock
		d := time.Duration(r.rng.IntN(2000)) * time.Millisecond
		r.log = append(r.log, fmt.Sprintf("advance %v", d))
		r.clock.Advance(d)
	default: // reads only
	}
}

// check compares every read the store offers with the model, then the raw
// buckets with the model.
func (r *modelRun) check() {
	r.t.Helper()
	now := r.clock.Now()
	for _, id := range modelIDs {
		got, err := r.s.Load(r.ctx, id)
		want := r.m.live(id, now)
		if want == nil {
			if !errors.Is(err, ErrNotFound) {
				r.fail("load %s: got %v, %v; want ErrNotFound", id, got, err)
			}
			continue
		}
		if err != nil {
			r.fail("load %s: %v", id, err)
		}
		if !got.Created.Equal(want.created) || !got.Expires.Equal(want.expires) ||
			got.Owner != want.owner || got.MaxAge != want.maxAge {
			r.fail("load %s: got %+v, want %+v", id, got, want)
		}
		vals := map[string]string{}
		for k, v := range got.Values {
			vals[k] = string(v)
		}
		if !maps.Equal(vals, want.values) {
			r.fail("load %s values: got %v, want %v", id, vals, want.values)
		}
	}
	for _, owner := range modelOwners[1:] {
		recs, err := r.s.Owned(r.ctx, owner)
		if err != nil {
			r.fail("owned %q: %v", owner, err)
		}
		var got, want []string
		for _, rec := range recs {
			got = append(got, rec.Handle)
		}
		for id, rec := range r.m.recs {
			if rec.owner == owner && now.Before(rec.expires) {
				want = append(want, Handle(id))
			}
		}
		sort.Strings(got)
		sort.Strings(want)
		if !slices.Equal(got, want) {
			r.fail("owned %q: got %v, want %v", owner, got, want)
		}
	}
	n, err := r.s.Count(r.ctx)
	if err != nil {
		r.fail("count: %v", err)
	}
	live := 0
	for id := range r.m.recs {
		if r.m.live(id, now) != nil {
			live++
		}
	}
	if n != live {
		r.fail("count: got %d, want %d", n, live)
	}

	want := map[string]map[string]bool{"sessions": {}, "expiry": {}, "owners": {}, "replaced": {}}
	for id, rec := range r.m.recs {
		want["sessions"][string(keyOf(id))] = true
		want["expiry"][string(expiryKey(rec.expires, keyOf(id)))] = true
		if rec.owner != "" {
			want["owners"][string(ownerKey(rec.owner, keyOf(id)))] = true
		}
	}
	for id, mk := range r.m.markers {
		want["replaced"][string(markerIDKey(keyOf(id)))] = true
		want["replaced"][string(markerUntilKey(mk.until, keyOf(id)))] = true
	}
	got := bucketKeys(r.t, r.s)
	for _, b := range []string{"sessions", "expiry", "owners", "replaced"} {
		if !maps.Equal(got[b], want[b]) {
			r.fail("bucket %s: got %q, want %q", b, slices.Sorted(maps.Keys(got[b])), slices.Sorted(maps.Keys(want[b])))
		}
	}
}

// bucketKeys returns the keys of the sessions, expiry, owners and replaced
// buckets.
func bucketKeys(t *testing.T, s *BoltStore) map[string]map[string]bool {
	t.Helper()
	got := map[string]map[string]bool{}
	err := s.db.View(func(tx *bbolt.Tx) error {
		for _, b := range []string{"sessions", "expiry", "owners", "replaced"} {
			got[b] = map[string]bool{}
			if err := tx.Bucket([]byte(b)).ForEach(func(k, _ []byte) error {
				got[b][string(k)] = true
				return nil
			}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// indexConsistent reports how the expiry and owner buckets differ from what
// the stored records call for, without a model.
func indexConsistent(t *testing.T, s *BoltStore) error {
	t.Helper()
	want := map[string]map[string]bool{"expiry": {}, "owners": {}}
	err := s.db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketSessions).ForEach(func(k, v []byte) error {
			rec, err := s.decodeRecord(k, "", v)
			if err != nil {
				return err
			}
			want["expiry"][string(expiryKey(rec.Expires, k))] = true
			if rec.Owner != "" {
				want["owners"][string(ownerKey(rec.Owner, k))] = true
			}
			return nil
		})
	})
	if err != nil {
		return err
	}
	got := bucketKeys(t, s)
	for _, b := range []string{"expiry", "owners"} {
		if !maps.Equal(got[b], want[b]) {
			return fmt.Errorf("bucket %s: got %q, want %q", b, slices.Sorted(maps.Keys(got[b])), slices.Sorted(maps.Keys(want[b])))
		}
	}
	// Each marker has its time entry and nothing else is there.
	markers := map[string]bool{}
	err = s.db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketReplaced).ForEach(func(k, v []byte) error {
			if k[0] == markerByID {
				if tx.Bucket(bucketSessions).Get(k[1:]) != nil {
					return fmt.Errorf("marker of %x beside a record of that key", k[1:])
				}
				markers[string(markerUntilKey(nanosToTime(int64(binary.BigEndian.Uint64(v))), k[1:]))] = true
			}
			return nil
		})
	})
	if err != nil {
		return err
	}
	for k := range got["replaced"] {
		if k[0] == markerByUntil && !markers[k] {
			return fmt.Errorf("replaced bucket: time entry %q without its marker", k)
		}
		delete(markers, k)
	}
	if len(markers) > 0 {
		return fmt.Errorf("replaced bucket: markers without their time entry: %q", slices.Sorted(maps.Keys(markers)))
	}
	return nil
}

func ptrTo[T any](v T) *T { return &v }

func deref(p *string) string {
	if p == nil {
		return "<nil>"
	}
	return fmt.Sprintf("%q", *p)
}

func openModelStore(t *testing.T, clock *testClock, chunk int) *BoltStore {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "sessions.db"),
		&BoltOptions{SweepInterval: -1, NoSync: true, Now: clock.Now, SweepChunk: chunk})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestRandomOperationsKeepStoreAndIndexesEqualToModel runs random sequences
// of Create, update, replace, Touch, Delete, DestroyOwner, Sweep and clock steps on a
// few IDs and owners, and after every step compares Load, Owned and Count
// with an in-memory model and the sessions, expiry and owners buckets with
// exactly the keys the model's records call for: no record resurrected, no
// expired record returned, no index entry left behind.
func TestRandomOperationsKeepStoreAndIndexesEqualToModel(t *testing.T) {
	seeds, steps := 40, 150
	if testing.Short() {
		seeds = 10
	}
	for seed := range seeds {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			clock := newTestClock()
			r := &modelRun{
				t:     t,
				rng:   rand.New(rand.NewPCG(uint64(seed), 7)),
				clock: clock,
				s:     openModelStore(t, clock, 1+seed%3),
				m:     newStoreModel(),
				ctx:   context.Background(),
			}
			for range steps {
				r.step()
				r.check()
			}
		})
	}
}

// TestConcurrentOperationsOnOneIDLeaveIndexesConsistent fires creates,
// updates, touches, replaces, deletes, owner destructions and sweeps at the same few
// IDs from many goroutines, so that they share group commits in every
// order, and then checks that the expiry and owners buckets index exactly
// the records left.
func TestConcurrentOperationsOnOneIDLeaveIndexesConsistent(t *testing.T) {
	clock := newTestClock()
	s := openModelStore(t, clock, 2)
	ctx := context.Background()
	for round := range 20 {
		var wg sync.WaitGroup
		for g := range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				rng := rand.New(rand.NewPCG(uint64(round), uint64(g)))
				for range 20 {
					id := modelIDs[rng.IntN(2)]
					exp := clock.Now().Add(time.Duration(rng.IntN(6)-1) * time.Second)
					owner := modelOwners[rng.IntN(len(modelOwners))]
					var err error
					switch rng.IntN(7) {
					case 0:
						err = s.Save(ctx, Update{ID: id, Create: true, Expires: exp, Owner: &owner,
							Set: map[string][]byte{"k": {byte(g)}}})
					case 1:
						err = s.Save(ctx, Update{ID: id, Expires: exp, Owner: &owner, Delete: []string{"k"}})
					case 2:
						err = s.Touch(ctx, id, exp)
					case 3:
						err = s.Delete(ctx, id)
					case 4:
						_, err = s.DestroyOwner(ctx, owner)
					case 5:
						_, err = s.Sweep(ctx)
					case 6:
						err = s.Save(ctx, Update{ID: modelIDs[2+rng.IntN(2)], Create: true, Replaces: id,
							Expires: exp, Set: map[string][]byte{"r": {byte(g)}}})
					}
					if err != nil && !errors.Is(err, ErrNotFound) && !errors.Is(err, ErrExists) && !errors.Is(err, ErrReplaced) {
						t.Errorf("round %d: %v", round, err)
					}
				}
			}()
		}
		wg.Wait()
		if err := indexConsistent(t, s); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		clock.Advance(700 * time.Millisecond)
	}
}
