package redisstore

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/boltsession/boltsession"
	"github.com/redis/go-redis/v9"
)

// legacyFixture writes sessions the way releases before the per-session
// layout did (one hash LegacyPrefix+ID, owner sets, markers) through a
// Store with CreateLegacy, plus one hash written field by field as those
// releases stored it, and returns a Store of this release on the same
// prefixes.
func legacyFixture(t *testing.T, client redis.UniversalClient, opts Options) (old, cur *Store) {
	t.Helper()
	ctx := context.Background()
	o := opts
	o.CreateLegacy = true
	old = New(client, &o)
	cur = New(client, &opts)
	now := time.Now()
	for _, c := range []struct{ id, owner string }{{"l1", "dave"}, {"l2", ""}, {"l3", "dave"}} {
		u := boltsession.Update{ID: c.id, Create: true, Created: now.Add(-time.Hour), Expires: now.Add(time.Hour),
			Set: map[string][]byte{"user": []byte(c.id)}}
		if c.owner != "" {
			u.Owner = ptr(c.owner)
		}
		if err := old.Save(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	if err := old.Save(ctx, boltsession.Update{ID: "l4", Create: true, Replaces: "l3", Expires: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	raw := old.legacyKey("raw")
	exp := now.Add(time.Hour)
	if err := client.HSet(ctx, raw, "m:created", nanos(now), "m:expires", nanos(exp), "m:owner", "dave",
		"v:user", "raw").Err(); err != nil {
		t.Fatal(err)
	}
	client.PExpireAt(ctx, raw, exp)
	client.SAdd(ctx, old.legacyOwnerKey("dave"), "raw")
	if n, _ := client.Exists(ctx, old.sessionKey(handleOf("l1")), old.sessionKey(handleOf("l4"))).Result(); n != 0 {
		t.Fatal("CreateLegacy wrote the per-session layout")
	}
	return old, cur
}

// checkLegacyLifecycle drives cur through every step on legacy sessions
// and then moves them all.
func checkLegacyLifecycle(t *testing.T, client redis.UniversalClient, old, cur *Store) {
	ctx := context.Background()
	if got := liveIDs(t, cur, "l1", "l2", "l3", "l4", "raw"); !slices.Equal(got, []string{"l1", "l2", "l4", "raw"}) {
		t.Fatalf("legacy sessions live through the new store: %v", got)
	}
	if rec, err := cur.Load(ctx, "l4"); err != nil || string(rec.Values["user"]) != "l3" || rec.Owner != "dave" {
		t.Fatalf("l4 = %+v, %v", rec, err)
	}
	// A create never shadows a legacy session.
	now := time.Now()
	if err := cur.Save(ctx, boltsession.Update{ID: "l1", Create: true, Expires: now.Add(time.Hour)}); !errors.Is(err, boltsession.ErrExists) {
		t.Fatalf("create of a legacy session's ID: %v, want ErrExists", err)
	}
	if err := cur.Save(ctx, boltsession.Update{ID: "l1", Set: map[string][]byte{"cart": []byte("1")}}); err != nil {
		t.Fatal(err)
	}
	if err := cur.Touch(ctx, "l2", now.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := cur.Save(ctx, boltsession.Update{ID: "n1", Create: true, Created: now, Expires: now.Add(time.Hour), Owner: ptr("dave")}); err != nil {
		t.Fatal(err)
	}
	ownedIDs := func() []string {
		t.Helper()
		recs, err := cur.Owned(ctx, "dave")
		if err != nil {
			t.Fatal(err)
		}
		ids := namesOf(t, recs, "l1", "l2", "l3", "l4", "l5", "n1", "raw")
		slices.Sort(ids)
		return ids
	}
	if got := ownedIDs(); !slices.Equal(got, []string{"l1", "l4", "n1", "raw"}) {
		t.Fatalf("Owned(dave) across both layouts = %v", got)
	}
	// Both the old and the new store see one another's writes.
	if rec, err := old.Load(ctx, "l1"); err != nil || string(rec.Values["cart"]) != "1" {
		t.Fatalf("old store reads l1 = %+v, %v", rec, err)
	}
	// A regenerate of a legacy session moves it to the per-session layout
	// and replaces it there: the new ID is never written to Redis. A
	// logout through a legacy marker.
	if err := cur.Save(ctx, boltsession.Update{ID: "l5", Create: true, Replaces: "l1", Expires: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"l1", "l5"} {
		// One key at a time: on Cluster they sit in different slots.
		if n, _ := client.Exists(ctx, cur.legacyKey(id)).Result(); n != 0 {
			t.Errorf("after a regenerate of a legacy session, %s is in the legacy layout", id)
		}
		if n, _ := client.Exists(ctx, cur.sessionKey(handleOf(id))).Result(); n != 1 {
			t.Errorf("after a regenerate of a legacy session, %s is not in the per-session layout", id)
		}
	}
	if err := cur.Delete(ctx, "l3"); err != nil {
		t.Fatal(err)
	}
	if got := liveIDs(t, cur, "l1", "l3", "l4", "l5"); !slices.Equal(got, []string{"l5"}) {
		t.Fatalf("after a regenerate of l1 and a logout of l3 (replaced by l4): live %v, want [l5]", got)
	}
	if n, err := cur.Count(ctx); err != nil || n != 4 {
		t.Fatalf("Count over both layouts = %d, %v; want 4 (l2 l5 n1 raw)", n, err)
	}

	moved, err := cur.MoveLegacy(ctx)
	if err != nil || moved != 2 {
		t.Fatalf("MoveLegacy = %d, %v; want 2 (l2 raw)", moved, err)
	}
	for _, id := range []string{"l2", "l5", "raw"} {
		if n, _ := client.Exists(ctx, cur.sessionKey(handleOf(id))).Result(); n != 1 {
			t.Errorf("%s not in the per-session layout after the move", id)
		}
		if v, _ := client.HGet(ctx, cur.legacyKey(id), "m:created").Result(); v != "" {
			t.Errorf("%s still in the legacy layout after the move", id)
		}
	}
	if rec, err := cur.Load(ctx, "l5"); err != nil || string(rec.Values["cart"]) != "1" || rec.Owner != "dave" {
		t.Fatalf("l5 after the move = %+v, %v", rec, err)
	}
	if got := ownedIDs(); !slices.Equal(got, []string{"l5", "n1", "raw"}) {
		t.Fatalf("Owned(dave) after the move = %v", got)
	}
	if moved, err := cur.MoveLegacy(ctx); err != nil || moved != 0 {
		t.Fatalf("second MoveLegacy = %d, %v; want 0", moved, err)
	}
	checkOnlyHandlesStored(t, client, cur)
	if n, err := cur.DestroyOwner(ctx, "dave"); err != nil || n != 3 {
		t.Fatalf("DestroyOwner(dave) = %d, %v; want 3", n, err)
	}
	if got := liveIDs(t, cur, "l2", "l5", "n1", "raw"); !slices.Equal(got, []string{"l2"}) {
		t.Fatalf("live after DestroyOwner(dave): %v", got)
	}
}

func TestLegacyLayoutStaysReadableWritableAndMovesOnOneServer(t *testing.T) {
	f := newFixture(t, &Options{Now: time.Now})
	old, cur := legacyFixture(t, f.client, Options{})
	checkLegacyLifecycle(t, f.client, old, cur)
}

func testLegacyOnCluster(t *testing.T, oc *onCluster) {
	old, cur := legacyFixture(t, oc.cc, Options{Prefix: "lg:", LegacyPrefix: "{lg}:", strictScripts: true})
	checkLegacyLifecycle(t, oc.cc, old, cur)
}

// testMoveRacing holds a move after each of its steps while requests act on
// the session, then lets it finish.
func testMoveRacing(t *testing.T, oc *onCluster) {
	ctx := context.Background()
	for _, step := range []string{"claim", "pending", "freeze"} {
		for _, rival := range []string{"merge", "logout", "load"} {
			t.Run(rival+" after "+step, func(t *testing.T) {
				p := "mv-" + step + "-" + rival
				_, cur := legacyFixture(t, oc.cc, Options{Prefix: p + ":", LegacyPrefix: "{" + p + "}:", strictScripts: true})
				mover := oc.store(Options{Prefix: p + ":", LegacyPrefix: "{" + p + "}:"})
				held, release := make(chan struct{}), make(chan struct{})
				var once bool
				mover.hooks = &hooks{afterStep: func(op, st string) error {
					if st == step && !once {
						once = true
						close(held)
						<-release
					}
					return nil
				}}
				done := make(chan error, 1)
				go func() {
					_, err := mover.MoveLegacy(ctx)
					done <- err
				}()
				<-held
				// The mover holds the first session it met; act on every
				// one of them, so the held one is among them.
				ids := []string{"l1", "l2", "l4", "raw"}
				var rivalErr error
				for _, id := range ids {
					switch rival {
					case "merge":
						rivalErr = errors.Join(rivalErr, cur.Save(ctx, boltsession.Update{ID: id, Set: map[string][]byte{"late": []byte(id)}}))
					case "logout":
						rivalErr = errors.Join(rivalErr, cur.Delete(ctx, id))
					case "load":
						rec, err := cur.Load(ctx, id)
						if err == nil && string(rec.Values["user"]) == "" {
							err = errors.New(id + " loaded without its values")
						}
						rivalErr = errors.Join(rivalErr, err)
					}
				}
				close(release)
				if err := <-done; err != nil {
					t.Fatalf("MoveLegacy: %v", err)
				}
				if rivalErr != nil {
					t.Fatalf("%s during the move: %v", rival, rivalErr)
				}
				for _, id := range ids {
					rec, err := cur.Load(ctx, id)
					switch rival {
					case "logout":
						if !errors.Is(err, boltsession.ErrNotFound) {
							t.Errorf("%s after a logout during the move: %+v, %v", id, rec, err)
						}
					case "merge":
						if err != nil || string(rec.Values["late"]) != id {
							t.Errorf("%s: an acknowledged merge during the move was lost: %+v, %v", id, rec, err)
						}
					default:
						if err != nil {
							t.Errorf("%s after the move: %v", id, err)
						}
					}
					if n, _ := oc.cc.Exists(ctx, cur.legacyKey(id)).Result(); n != 0 && rival != "logout" {
						if v, _ := oc.cc.HGet(ctx, cur.legacyKey(id), "m:created").Result(); v != "" {
							t.Errorf("%s left in the legacy layout", id)
						}
					}
				}
			})
		}
	}
}

func TestNoLegacyReadsOnlyThePerSessionLayout(t *testing.T) {
	f := newFixture(t, &Options{Now: time.Now})
	_, _ = legacyFixture(t, f.client, Options{})
	s := f.otherProcess(t, &Options{NoLegacy: true})
	if got := liveIDs(t, s, "l1", "l2", "raw"); len(got) != 0 {
		t.Fatalf("NoLegacy store loaded legacy sessions %v", got)
	}
	if n, err := s.MoveLegacy(context.Background()); err != nil || n != 0 {
		t.Fatalf("MoveLegacy with NoLegacy = %d, %v", n, err)
	}
}

// checkOnlyHandlesStored fails the test unless every key under the store's
// prefixes is one of the per-session layout, keyed by a handle, and every
// reference from one session or index to another is a handle: no session
// ID is stored.
func checkOnlyHandlesStored(t *testing.T, client redis.UniversalClient, s *Store) {
	t.Helper()
	ctx := context.Background()
	nodes, err := nodesOf(ctx, client)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, c := range nodes {
		for _, prefix := range []string{s.opts.Prefix, s.opts.LegacyPrefix} {
			keys, err := c.Keys(ctx, escapeGlob(prefix)+"*").Result()
			if err != nil {
				t.Fatal(err)
			}
			for _, k := range keys {
				n++
				if h, ok := s.handleOfSessionKey(k); ok {
					f := strs(c.HMGet(ctx, k, fieldNext, fieldPending))
					if (f[0] != "" && !isHandle(f[0])) || (f[1] != "" && f[1] != pendingMove && !isHandle(strings.TrimPrefix(f[1], "r:"))) {
						t.Errorf("session %s refers to another by %q %q, not by handle", h, f[0], f[1])
					}
					continue
				}
				owner, ok := strings.CutPrefix(k, s.opts.Prefix+"{"+ownerInfix)
				if !ok || !strings.HasSuffix(owner, "}") {
					t.Errorf("key %q is not of the per-session layout", k)
					continue
				}
				members, err := c.ZRange(ctx, k, 0, -1).Result()
				if err != nil {
					t.Fatal(err)
				}
				for _, m := range members {
					if !isHandle(m) {
						t.Errorf("the index %s holds %q, not a handle", k, m)
					}
				}
			}
		}
	}
	if n == 0 {
		t.Fatal("no keys under the store's prefixes")
	}
}
