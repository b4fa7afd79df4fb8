package storetest

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/boltsession/boltsession"
)

// modelRecord is what a correct store holds for one ID.
type modelRecord struct {
	expires time.Time
	maxAge  time.Duration
	owner   string
	values  map[string]string
}

// apply is what a merge of u does to the record.
func (rec *modelRecord) apply(u *boltsession.Update) {
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

// testModel runs a fixed pseudo-random sequence of creates, per-key
// updates, touches, replaces, deletes and owner destructions on a few IDs and owners
// (one owner a prefix of another) and after every step checks Load, Owned
// and Count against an in-memory model of the contract. Expiries are an
// hour or more in the past or the future, so no clock is needed; what an
// index of owners or expiries forgets to clean up shows as a session
// listed, counted or destroyed that should not be.
func testModel(t *testing.T, s boltsession.Store) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(1, 2))
	ids := []string{"m1", "m2", "m3"}
	for _, id := range ids {
		remember(id)
	}
	owners := []string{"", "u", "u2"}
	keys := []string{"a", "b", "c"}
	pick := func(xs []string) string { return xs[rng.IntN(len(xs))] }
	expiry := func() time.Time {
		if rng.IntN(4) == 0 {
			return time.Now().Add(-time.Hour)
		}
		return time.Now().Add(time.Duration(1+rng.IntN(4)) * time.Hour)
	}
	model := map[string]*modelRecord{}
	replacedBy := map[string]string{} // markers of replaced sessions: old ID → new ID
	live := func(id string) *modelRecord {
		if r := model[id]; r != nil && time.Now().Before(r.expires) {
			return r
		}
		return nil
	}
	// gone is the error a step on a session that is not live gives.
	gone := func(id string) error {
		if _, ok := replacedBy[id]; ok {
			return boltsession.ErrReplaced
		}
		return boltsession.ErrNotFound
	}
	inUse := func(id string) bool {
		_, replaced := replacedBy[id]
		return live(id) != nil || replaced
	}
	var ops []string
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf("%s\nafter:\n  %s", fmt.Sprintf(format, args...), strings.Join(ops, "\n  "))
	}

	for range 300 {
		id := pick(ids)
		switch rng.IntN(7) {
		case 0, 1:
			u := boltsession.Update{ID: id, Create: true, Created: time.Now(), Expires: expiry(), Set: map[string][]byte{}}
			rec := &modelRecord{expires: u.Expires, values: map[string]string{}}
			for _, k := range keys {
				if rng.IntN(2) == 0 {
					v := fmt.Sprint(rng.IntN(3))
					u.Set[k], rec.values[k] = []byte(v), v
				}
			}
			if rng.IntN(2) == 0 {
				u.Owner = ptr(pick(owners))
				rec.owner = *u.Owner
			}
			ops = append(ops, fmt.Sprintf("create %s live=%v owner=%q", id, u.Expires.After(time.Now()), rec.owner))
			err := s.Save(ctx, u)
			if inUse(id) {
				if !errors.Is(err, boltsession.ErrExists) {
					fail("create of %s in use: %v, want ErrExists", id, err)
				}
				continue
			}
			if err != nil {
				fail("create %s: %v", id, err)
			}
			model[id] = rec
		case 2:
			u := boltsession.Update{ID: id, Set: map[string][]byte{}}
			if rng.IntN(2) == 0 {
				u.Expires = expiry()
			}
			if rng.IntN(2) == 0 {
				u.Owner = ptr(pick(owners))
			}
			if rng.IntN(3) == 0 {
				u.MaxAge = ptr(time.Duration(rng.IntN(3)) * time.Hour)
			}
			for _, k := range keys {
				switch rng.IntN(3) {
				case 0:
					u.Set[k] = []byte(fmt.Sprint(rng.IntN(3)))
				case 1:
					u.Delete = append(u.Delete, k)
				}
			}
			ops = append(ops, fmt.Sprintf("update %s owner=%v", id, u.Owner != nil))
			err := s.Save(ctx, u)
			rec := live(id)
			if rec == nil {
				if want := gone(id); !errors.Is(err, want) {
					fail("update of a gone %s: %v, want %v", id, err, want)
				}
				continue
			}
			if err != nil {
				fail("update %s: %v", id, err)
			}
			rec.apply(&u)
		case 3:
			exp := expiry()
			ops = append(ops, fmt.Sprintf("touch %s live=%v", id, exp.After(time.Now())))
			err := s.Touch(ctx, id, exp)
			rec := live(id)
			if rec == nil {
				if want := gone(id); !errors.Is(err, want) {
					fail("touch of a gone %s: %v, want %v", id, err, want)
				}
				continue
			}
			if err != nil {
				fail("touch %s: %v", id, err)
			}
			rec.expires = exp
		case 4:
			ops = append(ops, "delete "+id)
			if err := s.Delete(ctx, id); err != nil {
				fail("delete %s: %v", id, err)
			}
			for next, ok := id, true; ok; { // the replacements end too
				delete(model, next)
				old := next
				next, ok = replacedBy[old]
				delete(replacedBy, old)
			}
		case 6:
			next := pick(ids)
			if next == id {
				continue
			}
			u := boltsession.Update{ID: next, Create: true, Replaces: id, Expires: expiry(),
				Set: map[string][]byte{pick(keys): []byte("r")}}
			ops = append(ops, fmt.Sprintf("replace %s by %s live=%v", id, next, u.Expires.After(time.Now())))
			err := s.Save(ctx, u)
			from := live(id)
			switch {
			case inUse(next):
				if !errors.Is(err, boltsession.ErrExists) {
					fail("replace onto %s in use: %v, want ErrExists", next, err)
				}
				continue
			case from == nil:
				if want := gone(id); !errors.Is(err, want) {
					fail("replace of a gone %s: %v, want %v", id, err, want)
				}
				continue
			case err != nil:
				fail("replace %s by %s: %v", id, next, err)
			}
			rec := *from
			rec.values = maps.Clone(from.values)
			rec.apply(&u)
			model[next] = &rec
			delete(model, id)
			replacedBy[id] = next
		case 5:
			idx, ok := s.(boltsession.OwnerIndex)
			if !ok {
				continue
			}
			owner := pick(owners[1:])
			ops = append(ops, fmt.Sprintf("destroy owner %q", owner))
			n, err := idx.DestroyOwner(ctx, owner)
			if err != nil {
				fail("destroy owner %q: %v", owner, err)
			}
			want := 0
			for mid, rec := range model {
				if rec.owner == owner {
					if live(mid) != nil {
						want++
					}
					delete(model, mid)
				}
			}
			if n != want {
				fail("destroy owner %q ended %d sessions, want %d", owner, n, want)
			}
		}
		checkModel(t, s, ids, owners, live, fail)
	}
}

// checkModel compares Load, Owned and Count with the model's live records.
func checkModel(t *testing.T, s boltsession.Store, ids, owners []string,
	live func(string) *modelRecord, fail func(string, ...any)) {
	t.Helper()
	ctx := context.Background()
	nLive := 0
	for _, id := range ids {
		want := live(id)
		got, err := s.Load(ctx, id)
		if want == nil {
			if !errors.Is(err, boltsession.ErrNotFound) {
				fail("Load(%s) = %+v, %v; want ErrNotFound", id, got, err)
			}
			continue
		}
		nLive++
		if err != nil {
			fail("Load(%s): %v", id, err)
		}
		if !sameTime(got.Expires, want.expires) || got.Owner != want.owner || got.MaxAge != want.maxAge ||
			!sameValues(t, values(got), want.values) {
			fail("Load(%s) = expires %v owner %q maxAge %v values %v; want %v %q %v %v", id,
				got.Expires, got.Owner, got.MaxAge, values(got), want.expires, want.owner, want.maxAge, want.values)
		}
	}
	if idx, ok := s.(boltsession.OwnerIndex); ok {
		for _, owner := range owners[1:] {
			recs, err := idx.Owned(ctx, owner)
			if err != nil {
				fail("Owned(%q): %v", owner, err)
			}
			var got, want []string
			for _, r := range recs {
				got = append(got, idOf(t, &r))
			}
			for _, id := range ids {
				if r := live(id); r != nil && r.owner == owner {
					want = append(want, id)
				}
			}
			slices.Sort(got)
			if !slices.Equal(got, want) {
				fail("Owned(%q) = %v, want %v", owner, got, want)
			}
		}
	}
	if c, ok := s.(boltsession.Counter); ok {
		if n, err := c.Count(ctx); err != nil || n != nLive {
			fail("Count = %d, %v; want %d", n, err, nLive)
		}
	}
}
