package redisstore

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/boltsession/boltsession"
	"github.com/boltsession/boltsession/redisstore/redistest"
	"github.com/redis/go-redis/v9"
)

// clock is a settable time source for Options.Now.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Now().Truncate(time.Millisecond)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// fixture is one private redis-server, a client and a Store on it.
type fixture struct {
	srv    *redistest.Server
	client *redis.Client
	store  *Store
	clock  *clock
}

func newFixture(t *testing.T, opts *Options) *fixture {
	t.Helper()
	srv := redistest.Start(t)
	client := redis.NewClient(&redis.Options{
		Addr:        srv.Addr,
		DialTimeout: time.Second,
		ReadTimeout: time.Second,
		MaxRetries:  -1, // fail fast in outage tests
		// The settings the package doc recommends: ctx deadlines bound
		// every call, and a dead server is reported after one dial.
		ContextTimeoutEnabled: true,
		DialerRetries:         1,
	})
	t.Cleanup(func() { client.Close() })
	c := newClock()
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Now == nil {
		o.Now = c.Now
	}
	return &fixture{srv: srv, client: client, store: New(client, &o), clock: c}
}

func ptr[T any](v T) *T { return &v }

// sessKey is the hash of session id under the default prefix: keyed by
// its handle.
func sessKey(id string) string { return "sess:{" + boltsession.Handle(id) + "}" }

// namesOf returns, for each record a store listed, which of known it is,
// found by its handle ("handle:..." for none of them). Listed records must
// name their session by handle alone: one that carries an ID fails the
// test.
func namesOf(t *testing.T, recs []boltsession.Record, known ...string) []string {
	t.Helper()
	out := make([]string, len(recs))
	for i, r := range recs {
		if r.ID != "" {
			t.Errorf("a listed record carries the ID %q", r.ID)
		}
		out[i] = nameOf(r.Handle, known...)
	}
	return out
}

// nameOf returns which of known has the handle h ("handle:"+h for none).
func nameOf(h string, known ...string) string {
	for _, id := range known {
		if boltsession.Handle(id) == h {
			return id
		}
	}
	return "handle:" + h
}

func (f *fixture) create(t *testing.T, id string, ttl time.Duration, owner string, values map[string][]byte) {
	t.Helper()
	u := boltsession.Update{ID: id, Create: true, Created: f.clock.Now(), Expires: f.clock.Now().Add(ttl), Set: values}
	if owner != "" {
		u.Owner = ptr(owner)
	}
	if err := f.store.Save(context.Background(), u); err != nil {
		t.Fatalf("create %s: %v", id, err)
	}
}

func TestSaveCreateThenLoadRoundTripsEveryField(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	now := f.clock.Now()
	u := boltsession.Update{
		ID: "abc", Create: true, Created: now.Add(-time.Minute), Expires: now.Add(time.Hour),
		Set:    map[string][]byte{"views": {0x05}, "empty": {}},
		Owner:  ptr("user-1"),
		MaxAge: ptr(30 * 24 * time.Hour),
	}
	if err := f.store.Save(ctx, u); err != nil {
		t.Fatal(err)
	}
	r, err := f.store.Load(ctx, "abc")
	if err != nil {
		t.Fatal(err)
	}
	if r.ID != "abc" || r.Handle != boltsession.Handle("abc") || !r.Created.Equal(u.Created) || !r.Expires.Equal(u.Expires) ||
		r.Owner != "user-1" || r.MaxAge != 30*24*time.Hour {
		t.Fatalf("record = %+v", r)
	}
	if len(r.Values) != 2 || string(r.Values["views"]) != "\x05" || r.Values["empty"] == nil || len(r.Values["empty"]) != 0 {
		t.Fatalf("values = %q", r.Values)
	}
}

func TestLoadMissingIsNotFound(t *testing.T) {
	f := newFixture(t, nil)
	if _, err := f.store.Load(context.Background(), "nope"); !errors.Is(err, boltsession.ErrNotFound) {
		t.Fatalf("err = %v, want ErrNotFound", err)
	}
}

func TestUpdateMergesPerKeyAndClearDeleteApply(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	f.create(t, "s", time.Hour, "", map[string][]byte{"a": []byte("1"), "b": []byte("2"), "c": []byte("3")})
	steps := []boltsession.Update{
		{ID: "s", Set: map[string][]byte{"a": []byte("A")}},
		{ID: "s", Set: map[string][]byte{"d": []byte("D")}, Delete: []string{"b"}},
	}
	for _, u := range steps {
		if err := f.store.Save(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	r, err := f.store.Load(ctx, "s")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"a": "A", "c": "3", "d": "D"}
	if got := strValues(r); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("values = %v, want %v", got, want)
	}
	if err := f.store.Save(ctx, boltsession.Update{ID: "s", Clear: true, Set: map[string][]byte{"z": []byte("Z")}}); err != nil {
		t.Fatal(err)
	}
	r, err = f.store.Load(ctx, "s")
	if err != nil {
		t.Fatal(err)
	}
	if got := strValues(r); fmt.Sprint(got) != fmt.Sprint(map[string]string{"z": "Z"}) {
		t.Fatalf("after clear values = %v", got)
	}
	if r.Created.IsZero() || r.Expires.IsZero() {
		t.Fatalf("clear dropped metadata: %+v", r)
	}
}

func strValues(r *boltsession.Record) map[string]string {
	m := make(map[string]string, len(r.Values))
	for k, v := range r.Values {
		m[k] = string(v)
	}
	return m
}

func TestConcurrentUpdatesOfDifferentKeysAllPersist(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	f.create(t, "s", time.Hour, "", nil)
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			k := "k" + strconv.Itoa(i)
			if err := f.store.Save(ctx, boltsession.Update{ID: "s", Set: map[string][]byte{k: []byte(k)}}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	r, err := f.store.Load(ctx, "s")
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Values) != 20 {
		t.Fatalf("%d values persisted, want 20", len(r.Values))
	}
}

func TestUpdateOfMissingOrExpiredRecordIsNotFoundAndWritesNothing(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	err := f.store.Save(ctx, boltsession.Update{ID: "gone", Set: map[string][]byte{"a": []byte("1")}, Expires: f.clock.Now().Add(time.Hour)})
	if !errors.Is(err, boltsession.ErrNotFound) {
		t.Fatalf("update of missing: err = %v, want ErrNotFound", err)
	}
	if n, _ := f.client.Exists(ctx, sessKey("gone")).Result(); n != 0 {
		t.Fatal("update of a missing record created it")
	}

	f.create(t, "old", time.Minute, "", nil)
	f.clock.Advance(time.Minute) // exactly at Expires: no longer live
	err = f.store.Save(ctx, boltsession.Update{ID: "old", Set: map[string][]byte{"a": []byte("1")}, Expires: f.clock.Now().Add(time.Hour)})
	if !errors.Is(err, boltsession.ErrNotFound) {
		t.Fatalf("update of expired: err = %v, want ErrNotFound", err)
	}
	if v, _ := f.client.HExists(ctx, sessKey("old"), "v:a").Result(); v {
		t.Fatal("update of an expired record wrote a value")
	}
}

func TestCreateOverwritesOnlyAnExpiredRecord(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	f.create(t, "s", time.Minute, "alice", map[string][]byte{"old": []byte("1")})
	err := f.store.Save(ctx, boltsession.Update{ID: "s", Create: true, Expires: f.clock.Now().Add(time.Hour)})
	if !errors.Is(err, boltsession.ErrExists) {
		t.Fatalf("create of a live ID: %v, want ErrExists", err)
	}
	// Expired by the store's clock, still in Redis: dead, so overwritten.
	f.clock.Advance(time.Minute)
	f.create(t, "s", time.Hour, "bob", map[string][]byte{"new": []byte("2")})
	r, err := f.store.Load(ctx, "s")
	if err != nil {
		t.Fatal(err)
	}
	if got := strValues(r); fmt.Sprint(got) != "map[new:2]" || r.Owner != "bob" {
		t.Fatalf("record = %+v", r)
	}
	if owned, err := f.store.Owned(ctx, "alice"); err != nil || len(owned) != 0 {
		t.Fatalf("overwritten record still listed under its old owner: %v, %v", owned, err)
	}
}

func TestReplaceLeavesAMarkerThatExpiresWithTheGrace(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	f.create(t, "old", 24*time.Hour, "alice", map[string][]byte{"a": []byte("1")})
	err := f.store.Save(ctx, boltsession.Update{ID: "new", Create: true, Replaces: "old",
		Expires: f.clock.Now().Add(24 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	h, err := f.client.HGetAll(ctx, sessKey("old")).Result()
	if err != nil || len(h) != 2 || h["m:next"] != boltsession.Handle("new") || h["m:owner"] != "alice" {
		t.Fatalf("marker = %v, %v; want {m:next: the handle of new, m:owner: alice}", h, err)
	}
	// PEXPIREAT is on the injected clock's time: the marker lasts the
	// grace from there, not the old session's remaining day.
	at, err := f.client.Do(ctx, "PEXPIRETIME", sessKey("old")).Int64()
	if err != nil {
		t.Fatal(err)
	}
	if want := f.clock.Now().Add(boltsession.ReplacedGrace).UnixMilli(); at != want {
		t.Fatalf("marker expires at %d, want %d (ReplacedGrace after the replace)", at, want)
	}
	if owned, err := f.store.Owned(ctx, "alice"); err != nil || fmt.Sprint(namesOf(t, owned, "old", "new")) != "[new]" {
		t.Fatalf("Owned(alice) after the replace = %v, %v; want [new]", owned, err)
	}
}

func TestExpiredRecordIsMissingBeforeRedisDeletesIt(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	f.create(t, "s", time.Minute, "", nil)
	f.clock.Advance(time.Minute)
	if _, err := f.store.Load(ctx, "s"); !errors.Is(err, boltsession.ErrNotFound) {
		t.Fatalf("Load: err = %v, want ErrNotFound", err)
	}
	if err := f.store.Touch(ctx, "s", f.clock.Now().Add(time.Hour)); !errors.Is(err, boltsession.ErrNotFound) {
		t.Fatalf("Touch: err = %v, want ErrNotFound", err)
	}
	// Redis still holds it (its own clock has not reached the expiry).
	if n, _ := f.client.Exists(ctx, sessKey("s")).Result(); n != 1 {
		t.Fatal("expected the key still in Redis")
	}
}

func TestExpiryIsPEXPIREATOnTheHash(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	exp := f.clock.Now().Add(time.Hour)
	f.create(t, "s", time.Hour, "", nil)
	at, err := f.client.PExpireTime(ctx, sessKey("s")).Result()
	if err != nil {
		t.Fatal(err)
	}
	if at != time.Duration(exp.UnixMilli())*time.Millisecond {
		t.Fatalf("PEXPIRETIME = %v, want %v", at, exp.UnixMilli())
	}

	later := exp.Add(2 * time.Hour)
	if err := f.store.Touch(ctx, "s", later); err != nil {
		t.Fatal(err)
	}
	at, _ = f.client.PExpireTime(ctx, sessKey("s")).Result()
	if at != time.Duration(later.UnixMilli())*time.Millisecond {
		t.Fatalf("after Touch PEXPIRETIME = %v, want %v", at, later.UnixMilli())
	}
	r, err := f.store.Load(ctx, "s")
	if err != nil || !r.Expires.Equal(later) {
		t.Fatalf("after Touch Load = %+v, %v", r, err)
	}
}

func TestRedisDeletesTheSessionAtItsExpiry(t *testing.T) {
	f := newFixture(t, &Options{Now: time.Now})
	ctx := context.Background()
	if err := f.store.Save(ctx, boltsession.Update{ID: "s", Create: true, Created: time.Now(), Expires: time.Now().Add(50 * time.Millisecond)}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		n, err := f.client.Exists(ctx, sessKey("s")).Result()
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("Redis kept the session past its PEXPIREAT")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestUserKeysNamedLikeReservedFieldsDoNotCollide(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	values := map[string][]byte{
		"m:created": []byte("x"), "m:expires": []byte("y"), "m:owner": []byte("z"),
		"m:maxage": []byte("w"), "v:nested": []byte("v"), "": []byte("empty key"),
	}
	f.create(t, "s", time.Hour, "alice", values)
	r, err := f.store.Load(ctx, "s")
	if err != nil {
		t.Fatal(err)
	}
	if r.Owner != "alice" || r.Expires.Before(f.clock.Now()) || r.MaxAge != 0 {
		t.Fatalf("metadata overwritten by user keys: %+v", r)
	}
	if fmt.Sprint(strValues(r)) != fmt.Sprint(map[string]string{
		"": "empty key", "m:created": "x", "m:expires": "y", "m:maxage": "w", "m:owner": "z", "v:nested": "v",
	}) {
		t.Fatalf("values = %q", r.Values)
	}
	// Deleting the user's "m:owner" leaves the real owner alone.
	if err := f.store.Save(ctx, boltsession.Update{ID: "s", Delete: []string{"m:owner"}}); err != nil {
		t.Fatal(err)
	}
	r, _ = f.store.Load(ctx, "s")
	if r.Owner != "alice" || r.Values["m:owner"] != nil {
		t.Fatalf("after delete: owner %q values %q", r.Owner, r.Values)
	}
	owned, err := f.store.Owned(ctx, "alice")
	if err != nil || len(owned) != 1 {
		t.Fatalf("Owned = %v, %v", owned, err)
	}
}

func TestIDsShapedLikeOwnerKeysAreRefused(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	err := f.store.Save(ctx, boltsession.Update{ID: "owner:alice", Create: true, Created: f.clock.Now(), Expires: f.clock.Now().Add(time.Hour)})
	if err == nil {
		t.Fatal("Save accepted an ID that would collide with an owner set")
	}
	if _, err := f.store.Load(ctx, "owner:alice"); !errors.Is(err, boltsession.ErrNotFound) {
		t.Fatalf("Load: %v", err)
	}
}

func TestCorruptRecordsGiveErrCorrupt(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	f.client.Set(ctx, sessKey("string"), `{"cookie":{}}`, 0) // a connect-redis JSON value
	f.client.HSet(ctx, sessKey("nometa"), "v:a", "\x001")
	f.client.HSet(ctx, sessKey("badtime"), "m:created", "yesterday", "m:expires", "99999999999999999999")
	// A value field of the per-session layout starts with the byte that
	// tells its form (clear or sealed); any other is damage.
	f.client.HSet(ctx, sessKey("badvalue"), "m:created", "1", "m:expires", "99999999999999999999", "v:a", "1")
	f.client.HSet(ctx, sessKey("emptyvalue"), "m:created", "1", "m:expires", "99999999999999999999", "v:a", "")
	for _, id := range []string{"string", "nometa", "badtime", "badvalue", "emptyvalue"} {
		if _, err := f.store.Load(ctx, id); !errors.Is(err, boltsession.ErrCorrupt) {
			t.Errorf("Load(%s): err = %v, want ErrCorrupt", id, err)
		}
	}
	if err := f.store.Save(ctx, boltsession.Update{ID: "string", Set: map[string][]byte{"a": nil}}); !errors.Is(err, boltsession.ErrNotFound) {
		t.Errorf("update of a non-session key: err = %v, want ErrNotFound", err)
	}
	f.create(t, "string", time.Hour, "", nil) // Create replaces it
	if _, err := f.store.Load(ctx, "string"); err != nil {
		t.Errorf("Load after Create over a foreign key: %v", err)
	}
}

func TestDeleteRemovesTheRecordAndMissingIsFine(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	f.create(t, "s", time.Hour, "alice", nil)
	if err := f.store.Delete(ctx, "s"); err != nil {
		t.Fatal(err)
	}
	if err := f.store.Delete(ctx, "s"); err != nil {
		t.Fatalf("second Delete: %v", err)
	}
	if n, _ := f.client.Exists(ctx, sessKey("s")).Result(); n != 0 {
		t.Fatal("session hash left after Delete")
	}
	if owned, err := f.store.Owned(ctx, "alice"); err != nil || len(owned) != 0 {
		t.Fatalf("Owned(alice) after Delete = %v, %v", owned, err)
	}
}

func TestOwnerIndexListsLiveSessionsSkipsStaleMembersAndDropsThemAfterTheirCoverage(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	f.create(t, "first", time.Hour, "alice", nil)
	f.clock.Advance(time.Second)
	f.create(t, "short", 10*time.Second, "alice", nil)
	f.clock.Advance(time.Second)
	f.create(t, "second", time.Hour, "alice", nil)
	f.create(t, "moved", time.Hour, "alice", nil)
	f.create(t, "bobs", time.Hour, "bob", nil)
	// "moved" changes owner; "deleted" vanishes behind the index's back.
	if err := f.store.Save(ctx, boltsession.Update{ID: "moved", Owner: ptr("bob")}); err != nil {
		t.Fatal(err)
	}
	f.create(t, "deleted", time.Hour, "alice", nil)
	f.client.Del(ctx, sessKey("deleted"))
	f.clock.Advance(10 * time.Second) // "short" expires by the store's clock

	owned, err := f.store.Owned(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	ids := namesOf(t, owned, "first", "second", "short", "moved", "deleted")
	for _, r := range owned {
		if r.Values != nil || r.Owner != "alice" || r.Created.IsZero() || r.Expires.IsZero() {
			t.Errorf("owned record %+v", r)
		}
	}
	if fmt.Sprint(ids) != "[first second]" {
		t.Fatalf("Owned(alice) = %v, want [first second] oldest first", ids)
	}
	// The stale members stay (a claimed save may still be on its way to
	// them) until their coverage has ended OwnerIndexMargin ago.
	members, _ := f.client.ZRange(ctx, "sess:{owner:alice}", 0, -1).Result()
	for i, m := range members {
		members[i] = nameOf(m, "first", "second", "short", "moved", "deleted")
	}
	sort.Strings(members)
	if fmt.Sprint(members) != "[deleted first moved second short]" {
		t.Fatalf("alice's index = %v, want every claimed member", members)
	}
	bobs, _ := f.store.Owned(ctx, "bob")
	if len(bobs) != 2 {
		t.Fatalf("Owned(bob) = %v", bobs)
	}

	// Each member's score covers its session; the index outlives them.
	score := func(id string) int64 {
		t.Helper()
		v, err := f.client.ZScore(ctx, "sess:{owner:alice}", boltsession.Handle(id)).Result()
		if err != nil {
			t.Fatalf("ZSCORE %s: %v", id, err)
		}
		return int64(v)
	}
	expireAt := func(key string) time.Duration {
		t.Helper()
		d, err := f.client.PExpireTime(ctx, key).Result()
		if err != nil || d < 0 {
			t.Fatalf("PEXPIRETIME %s = %v, %v; want an expiry", key, d, err)
		}
		return d
	}
	for _, id := range []string{"first", "second"} {
		if sc, e := score(id), expireAt(sessKey(id)).Milliseconds(); sc < e {
			t.Fatalf("%s: coverage %d before its expiry %d", id, sc, e)
		}
	}
	if o, s := expireAt("sess:{owner:alice}"), expireAt(sessKey("second")); o < s+OwnerIndexMargin {
		t.Fatalf("owner index expires at %v ms, before its session's %v ms + the margin", o.Milliseconds(), s.Milliseconds())
	}
	// A touch past the coverage claims again first.
	before := score("first")
	later := f.clock.Now().Add(48 * time.Hour)
	if err := f.store.Touch(ctx, "first", later); err != nil {
		t.Fatal(err)
	}
	if sc := score("first"); sc <= before || sc < later.UnixMilli() {
		t.Fatalf("after a touch to %d the coverage is %d (was %d)", later.UnixMilli(), sc, before)
	}
	if o := expireAt("sess:{owner:alice}"); o.Milliseconds() < later.UnixMilli() {
		t.Fatalf("Touch did not extend the owner index: it expires at %v ms, its session at %v ms", o.Milliseconds(), later.UnixMilli())
	}

	n, err := f.store.DestroyOwner(ctx, "alice")
	if err != nil || n != 2 {
		t.Fatalf("DestroyOwner = %d, %v; want 2", n, err)
	}
	if n, _ := f.client.Exists(ctx, sessKey("first"), sessKey("second")).Result(); n != 0 {
		t.Fatalf("%d of alice's sessions left", n)
	}
	if _, err := f.store.Load(ctx, "moved"); err != nil {
		t.Fatalf("DestroyOwner(alice) removed bob's session: %v", err)
	}
	if err := f.store.Save(ctx, boltsession.Update{ID: "first", Set: map[string][]byte{"a": nil}}); !errors.Is(err, boltsession.ErrNotFound) {
		t.Fatalf("save after DestroyOwner: err = %v, want ErrNotFound", err)
	}
	if owned, _ := f.store.Owned(ctx, "alice"); len(owned) != 0 {
		t.Fatalf("Owned after DestroyOwner = %v", owned)
	}
	// Once every coverage has ended OwnerIndexMargin ago, a read drops the
	// members, and Redis the index itself.
	f.clock.Advance(5*24*time.Hour + OwnerIndexMargin)
	if _, err := f.store.Owned(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if n, _ := f.client.ZCard(ctx, "sess:{owner:alice}").Result(); n != 0 {
		t.Fatalf("%d members left after their coverage ended", n)
	}
}

func TestRemovingTheOwnerTakesTheSessionOutOfTheIndex(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	f.create(t, "s", time.Hour, "alice", nil)
	if err := f.store.Save(ctx, boltsession.Update{ID: "s", Owner: ptr("")}); err != nil {
		t.Fatal(err)
	}
	r, _ := f.store.Load(ctx, "s")
	if r.Owner != "" {
		t.Fatalf("owner = %q", r.Owner)
	}
	if owned, err := f.store.Owned(ctx, "alice"); err != nil || len(owned) != 0 {
		t.Fatalf("still listed under alice: %v, %v", owned, err)
	}
}

func TestCountAndIterateSeeOnlyLiveSessions(t *testing.T) {
	f := newFixture(t, &Options{ScanCount: 3})
	ctx := context.Background()
	for i := range 25 {
		f.create(t, "live"+strconv.Itoa(i), time.Hour, "o"+strconv.Itoa(i%4), map[string][]byte{"i": []byte(strconv.Itoa(i))})
	}
	for i := range 5 {
		f.create(t, "dying"+strconv.Itoa(i), time.Minute, "", nil)
	}
	f.client.HSet(ctx, sessKey("corrupt"), "v:a", "\x001")
	f.client.Set(ctx, sessKey("string"), "x", 0)
	f.client.HSet(ctx, "other:x", "m:created", "1", "m:expires", "99999999999999999999")
	f.clock.Advance(time.Minute)

	n, err := f.store.Count(ctx)
	if err != nil || n != 25 {
		t.Fatalf("Count = %d, %v; want 25", n, err)
	}
	var live []string
	for i := range 25 {
		live = append(live, "live"+strconv.Itoa(i))
	}
	seen := map[string]bool{}
	err = f.store.Iterate(ctx, func(r *boltsession.Record) error {
		id := namesOf(t, []boltsession.Record{*r}, live...)[0]
		if seen[id] {
			t.Errorf("visited %s twice", id)
		}
		seen[id] = true
		if string(r.Values["i"]) != strings.TrimPrefix(id, "live") {
			t.Errorf("record %s has values %q", id, r.Values)
		}
		return nil
	})
	if err != nil || len(seen) != 25 {
		t.Fatalf("Iterate visited %d, err %v; want 25", len(seen), err)
	}
	stop := errors.New("enough")
	visits := 0
	err = f.store.Iterate(ctx, func(*boltsession.Record) error { visits++; return stop })
	if !errors.Is(err, stop) || visits != 1 {
		t.Fatalf("Iterate after fn error: err %v, visits %d", err, visits)
	}
}

func TestGlobCharactersInPrefixAreMatchedLiterally(t *testing.T) {
	f := newFixture(t, &Options{Prefix: "app[1]*:"})
	ctx := context.Background()
	f.create(t, "s", time.Hour, "", nil)
	f.client.HSet(ctx, "app1x:t", "m:created", "1", "m:expires", "99999999999999999999")
	if n, err := f.store.Count(ctx); err != nil || n != 1 {
		t.Fatalf("Count = %d, %v; want 1", n, err)
	}
}

func TestCancelledContextIsHonoured(t *testing.T) {
	f := newFixture(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := f.store.Load(ctx, "s"); !errors.Is(err, context.Canceled) {
		t.Errorf("Load: %v", err)
	}
	if err := f.store.Save(ctx, boltsession.Update{ID: "s", Create: true, Created: f.clock.Now(), Expires: f.clock.Now().Add(time.Hour)}); !errors.Is(err, context.Canceled) {
		t.Errorf("Save: %v", err)
	}
	if _, err := f.store.Count(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Count: %v", err)
	}
}

func TestEveryClientGetsThePerSessionLayoutAndItsLegacyPrefix(t *testing.T) {
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{"127.0.0.1:1"}})
	defer cc.Close()
	ring := redis.NewRing(&redis.RingOptions{Addrs: map[string]string{"a": "127.0.0.1:1"}})
	defer ring.Close()
	one := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	defer one.Close()
	for _, c := range []struct {
		name         string
		client       redis.UniversalClient
		opts         *Options
		prefix, lgcy string
	}{
		{"single server", one, nil, "sess:", "sess:"},
		{"cluster", cc, nil, "sess:", "{sess}:"},
		{"ring", ring, nil, "sess:", "{sess}:"},
		{"explicit prefix", one, &Options{Prefix: "app:"}, "app:", "app:"},
		{"explicit untagged prefix on cluster", cc, &Options{Prefix: "app:"}, "app:", ""},
		{"explicit tagged prefix on cluster", cc, &Options{Prefix: "{app}:"}, "{app}:", "{app}:"},
		{"explicit legacy prefix", cc, &Options{Prefix: "app:", LegacyPrefix: "{app}:"}, "app:", "{app}:"},
		{"no legacy", one, &Options{NoLegacy: true}, "sess:", ""},
	} {
		s := New(c.client, c.opts)
		if s.Prefix() != c.prefix || s.LegacyPrefix() != c.lgcy {
			t.Errorf("%s: prefix %q legacy %q, want %q and %q", c.name, s.Prefix(), s.LegacyPrefix(), c.prefix, c.lgcy)
		}
	}
	for prefix, want := range map[string]bool{
		"{sess}:": true, "app:{s}:": true, "sess:": false, "{}sess:": false, "{sess:": false, "a{b}{c}": true,
	} {
		if got := hasHashTag(prefix); got != want {
			t.Errorf("hasHashTag(%q) = %v, want %v", prefix, got, want)
		}
	}
	for id, want := range map[string]bool{
		"abc": true, "": false, "a{b": false, "a}b": false, "owner:x": false, "lock:x": false, "x:owner:": true,
	} {
		if got := validID(id); got != want {
			t.Errorf("validID(%q) = %v, want %v", id, got, want)
		}
	}
}

func TestClosedClientGivesErrClosed(t *testing.T) {
	f := newFixture(t, nil)
	f.client.Close()
	if _, err := f.store.Load(context.Background(), "s"); !errors.Is(err, boltsession.ErrClosed) {
		t.Fatalf("Load on a closed client: %v", err)
	}
}
