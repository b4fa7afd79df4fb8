package storetest

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/boltsession/boltsession"
)

// replace saves u as the replace of from by to and fails the test on error.
func replace(t *testing.T, s boltsession.Store, from, to string, u boltsession.Update) {
	t.Helper()
	u.ID, u.Create, u.Replaces = to, true, from
	remember(to)
	if err := s.Save(context.Background(), u); err != nil {
		t.Fatalf("replace %q by %q: %v", from, to, err)
	}
}

func testReplace(t *testing.T, s boltsession.Store) {
	created := time.Now().Add(-time.Minute)
	save(t, s, boltsession.Update{ID: "old", Create: true, Created: created, Expires: time.Now().Add(time.Hour),
		Set:   map[string][]byte{"keep": []byte("1"), "change": []byte("1"), "drop": []byte("1")},
		Owner: ptr("user-1"), MaxAge: ptr(72 * time.Hour)})
	expires := time.Now().Add(2 * time.Hour)
	replace(t, s, "old", "new", boltsession.Update{Expires: expires,
		Set: map[string][]byte{"change": []byte("2"), "add": []byte("3")}, Delete: []string{"drop"}})

	loadMissing(t, s, "old")
	rec := load(t, s, "new")
	wantValues(t, rec, map[string]string{"keep": "1", "change": "2", "add": "3"})
	if !sameTime(rec.Created, created) {
		t.Errorf("created %v after replace, want the replaced session's %v", rec.Created, created)
	}
	if !sameTime(rec.Expires, expires) {
		t.Errorf("expires %v after replace, want %v", rec.Expires, expires)
	}
	if rec.Owner != "user-1" || rec.MaxAge != 72*time.Hour {
		t.Errorf("owner %q max age %v after replace, want the replaced session's", rec.Owner, rec.MaxAge)
	}
	if idx, ok := s.(boltsession.OwnerIndex); ok {
		if got := ownedIDs(t, idx, "user-1"); !slices.Equal(got, []string{"new"}) {
			t.Errorf("Owned(user-1) = %v after replace, want [new]", got)
		}
	}
	if c, ok := s.(boltsession.Counter); ok {
		if n, err := c.Count(context.Background()); err != nil || n != 1 {
			t.Errorf("Count = %d, %v after replace, want 1", n, err)
		}
	}

	// The replace carries a change of owner and lifetime, and Clear.
	replace(t, s, "new", "newer", boltsession.Update{Expires: expires, Clear: true,
		Set: map[string][]byte{"only": []byte("x")}, Owner: ptr("user-2"), MaxAge: ptr(time.Duration(0))})
	rec = load(t, s, "newer")
	wantValues(t, rec, map[string]string{"only": "x"})
	if rec.Owner != "user-2" || rec.MaxAge != 0 {
		t.Errorf("owner %q max age %v, want user-2 and 0", rec.Owner, rec.MaxAge)
	}
	if idx, ok := s.(boltsession.OwnerIndex); ok {
		if got := ownedIDs(t, idx, "user-1"); len(got) != 0 {
			t.Errorf("Owned(user-1) = %v after the owner moved, want none", got)
		}
		if got := ownedIDs(t, idx, "user-2"); !slices.Equal(got, []string{"newer"}) {
			t.Errorf("Owned(user-2) = %v, want [newer]", got)
		}
	}
}

func testReplaceGone(t *testing.T, s boltsession.Store) {
	ctx := context.Background()
	for _, c := range []struct {
		name string
		prep func()
	}{
		{"missing", func() {}},
		{"deleted", func() {
			newRecord(t, s, "old", map[string]string{"user": "alice"})
			if err := s.Delete(ctx, "old"); err != nil {
				t.Fatal(err)
			}
		}},
		{"expired", func() {
			save(t, s, boltsession.Update{ID: "old", Create: true, Created: time.Now().Add(-2 * time.Hour),
				Expires: time.Now().Add(-time.Hour), Set: map[string][]byte{"user": []byte("alice")}})
		}},
	} {
		c.prep()
		err := s.Save(ctx, boltsession.Update{ID: "new", Create: true, Replaces: "old",
			Expires: time.Now().Add(time.Hour), Set: map[string][]byte{"x": []byte("1")}})
		if !errors.Is(err, boltsession.ErrNotFound) {
			t.Fatalf("%s: replace of a gone session: %v, want ErrNotFound", c.name, err)
		}
		loadMissing(t, s, "new")
		loadMissing(t, s, "old")
	}
}

func testReplaceOntoUsed(t *testing.T, s boltsession.Store) {
	newRecord(t, s, "old", map[string]string{"a": "1"})
	newRecord(t, s, "taken", map[string]string{"b": "2"})
	err := s.Save(context.Background(), boltsession.Update{ID: "taken", Create: true, Replaces: "old",
		Expires: time.Now().Add(time.Hour)})
	if !errors.Is(err, boltsession.ErrExists) {
		t.Fatalf("replace onto a live ID: %v, want ErrExists", err)
	}
	wantValues(t, load(t, s, "old"), map[string]string{"a": "1"})
	wantValues(t, load(t, s, "taken"), map[string]string{"b": "2"})
	if err := s.Save(context.Background(), boltsession.Update{ID: "old", Create: true, Replaces: "old",
		Expires: time.Now().Add(time.Hour)}); err == nil {
		t.Fatal("a session replaced itself")
	}
	wantValues(t, load(t, s, "old"), map[string]string{"a": "1"})
}

func testStepsOnReplaced(t *testing.T, s boltsession.Store) {
	ctx := context.Background()
	newRecord(t, s, "old", map[string]string{"a": "1"})
	replace(t, s, "old", "new", boltsession.Update{Expires: time.Now().Add(time.Hour)})

	loadMissing(t, s, "old")
	err := s.Save(ctx, boltsession.Update{ID: "old", Set: map[string][]byte{"late": []byte("w")}})
	if !errors.Is(err, boltsession.ErrReplaced) {
		t.Errorf("merge into a replaced session: %v, want ErrReplaced", err)
	}
	if err := s.Touch(ctx, "old", time.Now().Add(2*time.Hour)); !errors.Is(err, boltsession.ErrReplaced) {
		t.Errorf("touch of a replaced session: %v, want ErrReplaced", err)
	}
	err = s.Save(ctx, boltsession.Update{ID: "other", Create: true, Replaces: "old", Expires: time.Now().Add(time.Hour)})
	if !errors.Is(err, boltsession.ErrReplaced) {
		t.Errorf("second replace of a replaced session: %v, want ErrReplaced", err)
	}
	loadMissing(t, s, "other")
	err = s.Save(ctx, boltsession.Update{ID: "old", Create: true, Expires: time.Now().Add(time.Hour)})
	if !errors.Is(err, boltsession.ErrExists) {
		t.Errorf("create of a replaced session's ID: %v, want ErrExists", err)
	}
	loadMissing(t, s, "old")
	wantValues(t, load(t, s, "new"), map[string]string{"a": "1"})
}

func testDeleteFollowsReplace(t *testing.T, s boltsession.Store) {
	ctx := context.Background()
	newRecord(t, s, "s1", map[string]string{"user": "alice"})
	replace(t, s, "s1", "s2", boltsession.Update{Expires: time.Now().Add(time.Hour)})
	replace(t, s, "s2", "s3", boltsession.Update{Expires: time.Now().Add(time.Hour)})
	newRecord(t, s, "bystander", nil)

	// A logout that loaded s1 before both replaces ends s3.
	if err := s.Delete(ctx, "s1"); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"s1", "s2", "s3"} {
		loadMissing(t, s, id)
	}
	load(t, s, "bystander")
	// Nothing of the chain is left to act on: a merge finds no session.
	err := s.Save(ctx, boltsession.Update{ID: "s3", Set: map[string][]byte{"x": nil}})
	if !errors.Is(err, boltsession.ErrNotFound) {
		t.Errorf("merge into the ended replacement: %v, want ErrNotFound", err)
	}
	if c, ok := s.(boltsession.Counter); ok {
		if n, err := c.Count(ctx); err != nil || n != 1 {
			t.Errorf("Count = %d, %v, want 1 (the bystander)", n, err)
		}
	}
}
