package redisstore

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/boltsession/boltsession"
)

// rawField reads one field of a session's hash as Redis holds it.
func (f *fixture) rawField(t *testing.T, id, field string) string {
	t.Helper()
	v, err := f.client.HGet(context.Background(), sessKey(id), field).Result()
	if err != nil {
		t.Fatalf("HGET %s of %s: %v", field, id, err)
	}
	return v
}

func TestValueKeysSealEachValueInItsFieldAndKeepEverythingElseReadable(t *testing.T) {
	f := newFixture(t, &Options{ValueKeys: [][]byte{testValueKey}})
	ctx := context.Background()
	f.create(t, "s", time.Hour, "alice", map[string][]byte{"user": []byte("\xa5alice"), "empty": {}})
	for field, plain := range map[string]string{"v:user": "\xa5alice", "v:empty": ""} {
		raw := f.rawField(t, "s", field)
		if !boltsession.IsSealed([]byte(raw)) || len(raw) != len(plain)+37 || (plain != "" && strings.Contains(raw, plain)) {
			t.Fatalf("%s is stored as %q: want the value sealed (37 bytes more, nothing in clear)", field, raw)
		}
	}
	// What stays in clear, by design: the owner, the times, value names.
	if f.rawField(t, "s", "m:owner") != "alice" || f.rawField(t, "s", "m:expires") == "" {
		t.Fatal("owner or expiry not in clear")
	}
	// A merge seals the one field it writes and leaves the others as they are.
	before := f.rawField(t, "s", "v:user")
	if err := f.store.Save(ctx, boltsession.Update{ID: "s", Set: map[string][]byte{"cart": []byte("\x03")}}); err != nil {
		t.Fatal(err)
	}
	if f.rawField(t, "s", "v:user") != before || !boltsession.IsSealed([]byte(f.rawField(t, "s", "v:cart"))) {
		t.Fatal("a merge of one key rewrote another, or did not seal its own")
	}
	r, err := f.store.Load(ctx, "s")
	if err != nil {
		t.Fatal(err)
	}
	if got := strValues(r); len(got) != 3 || got["user"] != "\xa5alice" || got["cart"] != "\x03" || got["empty"] != "" {
		t.Fatalf("values = %q", got)
	}
	// A regenerate writes every value anew, sealed for the new session.
	if err := f.store.Save(ctx, boltsession.Update{ID: "n", Create: true, Replaces: "s", Expires: f.clock.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if r, err := f.store.Load(ctx, "n"); err != nil || string(r.Values["user"]) != "\xa5alice" {
		t.Fatalf("after a regenerate: %+v, %v", r, err)
	}
}

func TestSealedValueMovedToAnotherFieldOrSessionDoesNotOpen(t *testing.T) {
	f := newFixture(t, &Options{ValueKeys: [][]byte{testValueKey}})
	ctx := context.Background()
	f.create(t, "a", time.Hour, "", map[string][]byte{"role": []byte("user"), "x": []byte("1")})
	f.create(t, "b", time.Hour, "", map[string][]byte{"role": []byte("admin")})
	// Whoever can write to Redis swaps sealed values around.
	f.client.HSet(ctx, sessKey("a"), "v:x", f.rawField(t, "a", "v:role"))
	f.client.HSet(ctx, sessKey("b"), "v:role", f.rawField(t, "a", "v:role"))
	for _, id := range []string{"a", "b"} {
		if _, err := f.store.Load(ctx, id); !errors.Is(err, boltsession.ErrCorrupt) {
			t.Errorf("Load(%s) with a value moved in from elsewhere: %v, want ErrCorrupt", id, err)
		}
	}
}

func TestValueKeysRotateAndResealLeavesNothingForTheOldKey(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	oldKey, newKey := bytes.Repeat([]byte{1}, 16), bytes.Repeat([]byte{2}, 32)
	clearStore := f.store
	f.create(t, "c", time.Hour, "", map[string][]byte{"a": []byte("in clear")})
	f.store = f.otherProcess(t, &Options{Now: f.clock.Now, ValueKeys: [][]byte{oldKey}})
	f.create(t, "o", time.Hour, "", map[string][]byte{"a": []byte("old key"), "b": []byte("old key too")})
	rotated := f.otherProcess(t, &Options{Now: f.clock.Now, ValueKeys: [][]byte{newKey, oldKey}})
	onlyNew := f.otherProcess(t, &Options{Now: f.clock.Now, ValueKeys: [][]byte{newKey}})

	// The rotated store reads both; a store without the old key cannot,
	// and says why; neither can one without keys.
	for id, want := range map[string]string{"c": "in clear", "o": "old key"} {
		if r, err := rotated.Load(ctx, id); err != nil || string(r.Values["a"]) != want {
			t.Fatalf("rotated Load(%s) = %+v, %v", id, r, err)
		}
	}
	for name, s := range map[string]*Store{"the new key alone": onlyNew, "no keys": clearStore} {
		if _, err := s.Load(ctx, "o"); !errors.Is(err, boltsession.ErrKey) {
			t.Fatalf("Load with %s: %v, want ErrKey", name, err)
		}
		if err := s.Iterate(ctx, func(*boltsession.Record) error { return nil }); !errors.Is(err, boltsession.ErrKey) {
			t.Fatalf("Iterate with %s: %v, want ErrKey", name, err)
		}
	}
	// Reseal without the old key seals the value in clear and leaves the
	// two it cannot open, saying why.
	if n, err := onlyNew.Reseal(ctx); !errors.Is(err, boltsession.ErrKey) || n != 1 {
		t.Fatalf("Reseal without the old key = %d, %v; want 1 and an error wrapping ErrKey", n, err)
	}
	if _, err := clearStore.Reseal(ctx); err == nil {
		t.Fatal("Reseal without ValueKeys did not refuse")
	}

	n, err := rotated.Reseal(ctx)
	if err != nil || n != 2 {
		t.Fatalf("Reseal = %d, %v; want the 2 values still sealed with the old key", n, err)
	}
	if n, err := rotated.Reseal(ctx); err != nil || n != 0 {
		t.Fatalf("second Reseal = %d, %v; want 0", n, err)
	}
	for id, want := range map[string]string{"c": "in clear", "o": "old key"} {
		if r, err := onlyNew.Load(ctx, id); err != nil || string(r.Values["a"]) != want {
			t.Fatalf("after Reseal, Load(%s) with the new key alone = %+v, %v", id, r, err)
		}
		if raw := f.rawField(t, id, "v:a"); strings.Contains(raw, want) {
			t.Fatalf("after Reseal %s holds %q", id, raw)
		}
	}
}

func TestResealLosesNoSaveAndRevivesNoSession(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	f.create(t, "kept", time.Hour, "", map[string][]byte{"a": []byte("1")})
	f.create(t, "ended", time.Hour, "", map[string][]byte{"a": []byte("1")})
	sealer := f.otherProcess(t, &Options{Now: f.clock.Now, ValueKeys: [][]byte{testValueKey}})
	// What Reseal read, then a save and a logout in between, then its write.
	kept, ended := map[string]string{"v:a": f.rawField(t, "kept", "v:a")}, map[string]string{"v:a": f.rawField(t, "ended", "v:a")}
	if err := f.store.Save(ctx, boltsession.Update{ID: "kept", Set: map[string][]byte{"a": []byte("2")}}); err != nil {
		t.Fatal(err)
	}
	if err := f.store.Delete(ctx, "ended"); err != nil {
		t.Fatal(err)
	}
	for id, fields := range map[string]map[string]string{"kept": kept, "ended": ended} {
		args, err := sealer.resealArgs(handleOf(id), fields)
		if err != nil {
			t.Fatal(err)
		}
		c := newCall(sealer.scripts.reseal, []string{sessKey(id)}, args...)
		if err := sealer.run(ctx, c); err != nil || c.int(1) != 0 {
			t.Fatalf("reseal of %s after a save or logout wrote %d fields (%v)", id, c.int(1), err)
		}
	}
	if r, err := sealer.Load(ctx, "kept"); err != nil || string(r.Values["a"]) != "2" {
		t.Fatalf("the save that came between was lost: %+v, %v", r, err)
	}
	if n, _ := f.client.Exists(ctx, sessKey("ended")).Result(); n != 0 {
		t.Fatal("Reseal brought back a session that ended")
	}
}

func TestOptionsThatCannotWorkAreReportedByEveryMethod(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	for name, opts := range map[string]*Options{
		"a value key of 20 bytes":     {ValueKeys: [][]byte{make([]byte, 20)}},
		"a value key given twice":     {ValueKeys: [][]byte{testValueKey, testValueKey}},
		"ValueKeys with CreateLegacy": {ValueKeys: [][]byte{testValueKey}, CreateLegacy: true},
	} {
		s := f.otherProcess(t, opts)
		if _, err := s.Load(ctx, "s"); err == nil {
			t.Errorf("%s: Load gave no error", name)
		}
		err := s.Save(ctx, boltsession.Update{ID: "s", Create: true, Expires: time.Now().Add(time.Hour)})
		if err == nil {
			t.Errorf("%s: Save gave no error", name)
		}
	}
	if n, _ := f.client.DBSize(ctx).Result(); n != 0 {
		t.Fatalf("a misconfigured store wrote %d keys", n)
	}
	// NoLegacy turns CreateLegacy off, so the two go together.
	s := f.otherProcess(t, &Options{ValueKeys: [][]byte{testValueKey}, CreateLegacy: true, NoLegacy: true})
	if err := s.Save(ctx, boltsession.Update{ID: "s", Create: true, Expires: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
}

func TestDeleteHandleEndsTheSessionItsReplacementsAndLegacySessions(t *testing.T) {
	f := newFixture(t, &Options{Now: time.Now})
	ctx := context.Background()
	_, cur := legacyFixture(t, f.client, Options{})
	now := time.Now()
	for _, id := range []string{"s", "other"} {
		if err := cur.Save(ctx, boltsession.Update{ID: id, Create: true, Created: now, Expires: now.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := cur.Save(ctx, boltsession.Update{ID: "n", Create: true, Replaces: "s", Expires: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	// An operator has the handle of the old session (a log line, Owned):
	// the logout reaches its replacement too. Either case of hex works.
	if err := cur.DeleteHandle(ctx, strings.ToUpper(boltsession.Handle("s"))); err != nil {
		t.Fatal(err)
	}
	// A session still in the legacy layout, keyed by its ID there.
	if err := cur.DeleteHandle(ctx, boltsession.Handle("l2")); err != nil {
		t.Fatal(err)
	}
	if got := liveIDs(t, cur, "s", "n", "l2", "other", "l1"); strings.Join(got, " ") != "other l1" {
		t.Fatalf("live after DeleteHandle of s and l2: %v, want [other l1]", got)
	}
	if err := cur.DeleteHandle(ctx, boltsession.Handle("nobody")); err != nil {
		t.Fatalf("DeleteHandle of a handle that names no session: %v", err)
	}
	for _, bad := range []string{"", "other", boltsession.Handle("other")[:63], boltsession.Handle("other")[:63] + "g"} {
		if err := cur.DeleteHandle(ctx, bad); err == nil {
			t.Errorf("DeleteHandle(%q) accepted a string that is not a handle", bad)
		}
	}
	if got := liveIDs(t, cur, "other"); len(got) != 1 {
		t.Fatal("a refused DeleteHandle deleted something")
	}
}

func TestValueKeysMoveALegacySessionBeforeWritingItsValues(t *testing.T) {
	f := newFixture(t, &Options{Now: time.Now})
	ctx := context.Background()
	_, _ = legacyFixture(t, f.client, Options{})
	s := f.otherProcess(t, &Options{ValueKeys: [][]byte{testValueKey}})
	// Legacy values in clear read as they are.
	if r, err := s.Load(ctx, "l2"); err != nil || string(r.Values["user"]) != "l2" {
		t.Fatalf("Load of a legacy session with ValueKeys = %+v, %v", r, err)
	}
	// A touch writes no value: the session stays where it is.
	if err := s.Touch(ctx, "l1", time.Now().Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if n, _ := f.client.Exists(ctx, s.legacyKey("l1")).Result(); n != 1 {
		t.Fatal("a touch moved a legacy session")
	}
	// A merge moves it first, then seals what it writes and what it moved.
	if err := s.Save(ctx, boltsession.Update{ID: "l2", Set: map[string][]byte{"cart": []byte("\x01")}}); err != nil {
		t.Fatal(err)
	}
	if n, _ := f.client.Exists(ctx, s.legacyKey("l2")).Result(); n != 0 {
		t.Fatal("a merge with ValueKeys left the session in the legacy layout")
	}
	for _, field := range []string{"v:user", "v:cart"} {
		if !boltsession.IsSealed([]byte(f.rawField(t, "l2", field))) {
			t.Fatalf("%s of the moved session is not sealed", field)
		}
	}
	if r, err := s.Load(ctx, "l2"); err != nil || string(r.Values["user"]) != "l2" || string(r.Values["cart"]) != "\x01" {
		t.Fatalf("the moved session = %+v, %v", r, err)
	}
	// The contract's answers stay: a replaced legacy session, a missing one.
	if err := s.Save(ctx, boltsession.Update{ID: "l3", Set: map[string][]byte{"a": nil}}); !errors.Is(err, boltsession.ErrReplaced) {
		t.Fatalf("merge into a replaced legacy session: %v, want ErrReplaced", err)
	}
	if err := s.Save(ctx, boltsession.Update{ID: "gone", Set: map[string][]byte{"a": nil}}); !errors.Is(err, boltsession.ErrNotFound) {
		t.Fatalf("merge into no session: %v, want ErrNotFound", err)
	}
	// MoveLegacy seals the values of what it moves.
	if n, err := s.MoveLegacy(ctx); err != nil || n != 3 {
		t.Fatalf("MoveLegacy = %d, %v; want 3 (l1 l4 raw)", n, err)
	}
	for _, id := range []string{"l1", "l4", "raw"} {
		if !boltsession.IsSealed([]byte(f.rawField(t, id, "v:user"))) {
			t.Fatalf("%s moved with its value in clear", id)
		}
	}
}

// FuzzValueForms feeds the stored form of a value (what Redis returns, so
// outside input) to both kinds of store: it never panics, a form that is
// neither of the two is ErrCorrupt, and what a store writes reads back.
func FuzzValueForms(f *testing.F) {
	sl, err := boltsession.NewValueSealer([][]byte{testValueKey})
	if err != nil {
		f.Fatal(err)
	}
	stores := []*Store{{}, {sealer: sl}}
	sealed, _ := stores[1].encodeValue(handleOf("s"), "v:k", []byte("v"))
	f.Add([]byte("\x00\xa1v"), []byte("v"))
	f.Add(sealed, []byte{})
	f.Add([]byte("\xc2"), []byte("\xc2"))
	f.Add([]byte{}, bytes.Repeat([]byte{0xc2}, 40))
	f.Fuzz(func(t *testing.T, stored, value []byte) {
		h := handleOf("s")
		for _, s := range stores {
			v, err := s.decodeValue(h, "v:k", string(stored))
			if err == nil && (len(stored) == 0 || (stored[0] != valueClear && stored[0] != valueSealed)) {
				t.Fatalf("the form %x decoded to %x", stored, v)
			}
			if err != nil && !errors.Is(err, boltsession.ErrCorrupt) && !errors.Is(err, boltsession.ErrKey) {
				t.Fatalf("the form %x: %v, neither ErrCorrupt nor ErrKey", stored, err)
			}
			form, err := s.encodeValue(h, "v:k", value)
			if err != nil {
				t.Fatal(err)
			}
			back, err := s.decodeValue(h, "v:k", string(form))
			if err != nil || !bytes.Equal(back, value) {
				t.Fatalf("%x written as %x reads back as %x, %v", value, form, back, err)
			}
			if _, err := s.decodeValue(h, "v:other", string(form)); s.sealer != nil && !errors.Is(err, boltsession.ErrCorrupt) {
				t.Fatalf("a sealed value opened in another field: %v", err)
			}
		}
	})
}
