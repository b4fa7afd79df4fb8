package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/boltsession/boltsession"
	"github.com/boltsession/boltsession/redisstore/redistest"
	"github.com/redis/go-redis/v9"
	"github.com/vmihailenco/msgpack/v5"
)

// crFixture is one redis-server with a ConnectRedisStore on a fixed clock.
type crFixture struct {
	client *redis.Client
	store  *ConnectRedisStore
	now    time.Time
}

func newCRFixture(t *testing.T, opts ConnectRedisOptions) *crFixture {
	t.Helper()
	srv := redistest.Start(t)
	client := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { client.Close() })
	f := &crFixture{client: client, now: time.Now().Truncate(time.Millisecond)}
	opts.Now = func() time.Time { return f.now }
	f.store = NewConnectRedis(client, &opts)
	f.store.scripts = newCRScripts(true)
	return f
}

func (f *crFixture) get(t *testing.T, key string) string {
	t.Helper()
	v, err := f.client.Get(context.Background(), key).Result()
	if err != nil {
		t.Fatalf("GET %s: %v", key, err)
	}
	return v
}

func (f *crFixture) pexpiretime(t *testing.T, key string) int64 {
	t.Helper()
	n, err := f.client.Do(context.Background(), "pexpiretime", key).Int64()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func mp(t testing.TB, v any) []byte {
	t.Helper()
	b, err := msgpack.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestConnectRedisCreateWritesWhatExpressSessionWrites pins down the value
// and TTL a session created from Go gets: express-session's cookie member
// for the configured options, one member per value, the creation time and
// owner in __boltsession, and the key expiring at the session's expiry.
func TestConnectRedisCreateWritesWhatExpressSessionWrites(t *testing.T) {
	for _, c := range []struct {
		name   string
		cookie ExpressCookie
		maxAge time.Duration
		want   string
	}{
		{"defaults", ExpressCookie{}, 0,
			`{"originalMaxAge":null,"expires":null,"httpOnly":true,"path":"/"}`},
		{"maxAge and sameSite", ExpressCookie{MaxAge: time.Hour, SameSite: "lax", Secure: boltsession.Off}, 0,
			`{"originalMaxAge":3600000,"expires":"EXP","secure":false,"httpOnly":true,"path":"/","sameSite":"lax"}`},
		{"every attribute", ExpressCookie{MaxAge: time.Minute, Path: "/app", Domain: "example.com", HTTPOnly: boltsession.Off,
			Secure: boltsession.On, SameSite: "strict", Partitioned: true, Priority: "high"}, 0,
			`{"originalMaxAge":60000,"partitioned":true,"priority":"high","expires":"EXP","secure":true,"httpOnly":false,"domain":"example.com","path":"/app","sameSite":"strict"}`},
		{"remember me on a browser-session app", ExpressCookie{}, 30 * 24 * time.Hour,
			`{"originalMaxAge":2592000000,"expires":"EXP","httpOnly":true,"path":"/"}`},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newCRFixture(t, ConnectRedisOptions{Cookie: c.cookie})
			expires := f.now.Add(90 * time.Minute)
			u := boltsession.Update{ID: "abc", Create: true, Created: f.now.Add(-time.Second), Expires: expires,
				Owner: ptr("user-1"), MaxAge: ptr(c.maxAge),
				Set: map[string][]byte{"views": mp(t, 1), "user": mp(t, struct {
					Name  string   `msgpack:"name"`
					Roles []string `msgpack:"roles"`
				}{"ada", []string{"x"}})}}
			if err := f.store.Save(context.Background(), u); err != nil {
				t.Fatal(err)
			}
			cookie := strings.Replace(c.want, "EXP", expires.UTC().Format("2006-01-02T15:04:05.000Z"), 1)
			want := `{"cookie":` + cookie + `,"user":{"name":"ada","roles":["x"]},"views":1,"__boltsession":{"created":` +
				jsonInt(f.now.Add(-time.Second).UnixMilli()) + `,"owner":"user-1"}}`
			if got := f.get(t, "sess:abc"); got != want {
				t.Fatalf("stored\n%s\nwant\n%s", got, want)
			}
			if got := f.pexpiretime(t, "sess:abc"); got != expires.UnixMilli() {
				t.Fatalf("PEXPIRETIME %d, want %d", got, expires.UnixMilli())
			}
			rec, err := f.store.Load(context.Background(), "abc")
			if err != nil {
				t.Fatal(err)
			}
			if rec.MaxAge != c.maxAge || rec.Owner != "user-1" || !rec.Expires.Equal(expires) {
				t.Fatalf("loaded %+v", rec)
			}
		})
	}
}

func jsonInt(n int64) string { b, _ := json.Marshal(n); return string(b) }

// TestConnectRedisLoadsWhatNodeWrote reads the value connect-redis wrote
// (as recorded with MONITOR) and checks each part of the record.
func TestConnectRedisLoadsWhatNodeWrote(t *testing.T) {
	f := newCRFixture(t, ConnectRedisOptions{Cookie: ExpressCookie{MaxAge: time.Minute}})
	ctx := context.Background()
	expires := f.now.Add(50 * time.Second)
	value := `{"cookie":{"originalMaxAge":60000,"expires":"` + expires.UTC().Format(time.RFC3339Nano) +
		`","secure":false,"httpOnly":true,"path":"/","sameSite":"lax"},"user":{"id":42,"name":"alice"},"n":1,"ratio":0.1,"tags":["a",null,true],"when":"2026-11-30T02:36:22.097Z"}`
	if err := f.client.Set(ctx, "sess:node1", value, 0).Err(); err != nil {
		t.Fatal(err)
	}
	// connect-redis's touch: EXPIRE alone, cookie.expires stays as it was.
	if err := f.client.PExpireAt(ctx, "sess:node1", f.now.Add(55*time.Second)).Err(); err != nil {
		t.Fatal(err)
	}
	rec, err := f.store.Load(ctx, "node1")
	if err != nil {
		t.Fatal(err)
	}
	if !rec.Expires.Equal(f.now.Add(55 * time.Second)) {
		t.Errorf("expires %v, want the key's TTL %v (touch moves only that)", rec.Expires, f.now.Add(55*time.Second))
	}
	if !rec.Created.Equal(expires.Add(-time.Minute)) {
		t.Errorf("created %v, want the last full save %v", rec.Created, expires.Add(-time.Minute))
	}
	if rec.MaxAge != 0 || rec.Owner != "" {
		t.Errorf("max age %v owner %q, want the default and none", rec.MaxAge, rec.Owner)
	}
	type user struct {
		ID   int    `msgpack:"id"`
		Name string `msgpack:"name"`
	}
	var u user
	var n int
	var ratio float64
	var tags []any
	var when string
	for k, into := range map[string]any{"user": &u, "n": &n, "ratio": &ratio, "tags": &tags, "when": &when} {
		if err := msgpack.Unmarshal(rec.Values[k], into); err != nil {
			t.Errorf("%s: %v", k, err)
		}
	}
	if u != (user{42, "alice"}) || n != 1 || ratio != 0.1 || len(tags) != 3 || tags[0] != "a" || tags[1] != nil || tags[2] != true ||
		when != "2026-11-30T02:36:22.097Z" || len(rec.Values) != 5 {
		t.Errorf("values: %+v %d %v %v %q (%d values)", u, n, ratio, tags, when, len(rec.Values))
	}

	// A key without a TTL (disableTTL) expires at its cookie's expiry.
	if err := f.client.Persist(ctx, "sess:node1").Err(); err != nil {
		t.Fatal(err)
	}
	if rec, err := f.store.Load(ctx, "node1"); err != nil || !rec.Expires.Equal(expires) {
		t.Errorf("without a TTL: %v, %v; want cookie.expires %v", rec, err, expires)
	}
}

// TestConnectRedisMergeKeepsWhatNodeWroteAndLosesNoNodeSave: a merge
// rewrites only the members it changes, and a Node save that lands between
// its read and its write makes it merge again instead of being lost.
func TestConnectRedisMergeKeepsWhatNodeWroteAndLosesNoNodeSave(t *testing.T) {
	f := newCRFixture(t, ConnectRedisOptions{Cookie: ExpressCookie{MaxAge: time.Hour}})
	ctx := context.Background()
	exp := f.now.Add(time.Hour).UTC().Format("2006-01-02T15:04:05.000Z")
	node := func(extra string) string {
		return `{"cookie":{"originalMaxAge":3600000,"expires":"` + exp + `","httpOnly":true,"path":"/"},"zeta":1.10,"alpha":{"b":1,"a":2}` + extra + `}`
	}
	if err := f.client.Set(ctx, "sess:s", node(""), time.Hour).Err(); err != nil {
		t.Fatal(err)
	}
	raced := false
	f.store.afterRead = func() {
		if !raced { // a Node request saves the whole object meanwhile
			raced = true
			if err := f.client.Set(ctx, "sess:s", node(`,"fromNode":"yes"`), redis.KeepTTL).Err(); err != nil {
				t.Error(err)
			}
		}
	}
	newExp := f.now.Add(2 * time.Hour)
	if err := f.store.Save(ctx, boltsession.Update{ID: "s", Expires: newExp,
		Set: map[string][]byte{"fromGo": mp(t, "yes")}, Delete: []string{"zeta"}}); err != nil {
		t.Fatal(err)
	}
	if !raced {
		t.Fatal("the hook did not run")
	}
	got := f.get(t, "sess:s")
	want := `{"cookie":{"originalMaxAge":3600000,"expires":"` + newExp.UTC().Format("2006-01-02T15:04:05.000Z") +
		`","httpOnly":true,"path":"/"},"alpha":{"b":1,"a":2},"fromNode":"yes","fromGo":"yes","__boltsession":{"created":` +
		jsonInt(f.now.UnixMilli()) + `}}`
	if got != want {
		t.Fatalf("stored\n%s\nwant\n%s", got, want)
	}
	if e := f.pexpiretime(t, "sess:s"); e != newExp.UnixMilli() {
		t.Fatalf("PEXPIRETIME %d, want %d", e, newExp.UnixMilli())
	}
}

// TestConnectRedisTouchMovesOnlyTheTTL: as connect-redis's touch.
func TestConnectRedisTouchMovesOnlyTheTTL(t *testing.T) {
	f := newCRFixture(t, ConnectRedisOptions{Cookie: ExpressCookie{MaxAge: time.Hour}})
	ctx := context.Background()
	if err := f.store.Save(ctx, boltsession.Update{ID: "s", Create: true, Expires: f.now.Add(time.Hour),
		Set: map[string][]byte{"a": mp(t, 1)}}); err != nil {
		t.Fatal(err)
	}
	before := f.get(t, "sess:s")
	later := f.now.Add(3 * time.Hour)
	if err := f.store.Touch(ctx, "s", later); err != nil {
		t.Fatal(err)
	}
	if after := f.get(t, "sess:s"); after != before {
		t.Fatalf("touch rewrote the value:\n%s\n%s", before, after)
	}
	if e := f.pexpiretime(t, "sess:s"); e != later.UnixMilli() {
		t.Fatalf("PEXPIRETIME %d, want %d", e, later.UnixMilli())
	}
}

// TestConnectRedisRefusesWhatExpressCannotHold: value names express-session
// uses itself, and values Node could not load.
func TestConnectRedisRefusesWhatExpressCannotHold(t *testing.T) {
	f := newCRFixture(t, ConnectRedisOptions{})
	ctx := context.Background()
	for _, name := range []string{"cookie", "__boltsession", "save", "id", "__proto__", "toString"} {
		err := f.store.Save(ctx, boltsession.Update{ID: "s", Create: true, Expires: f.now.Add(time.Hour),
			Set: map[string][]byte{"ok": mp(t, 1), name: mp(t, 1)}})
		if !errors.Is(err, ErrReservedKey) || !strings.Contains(err.Error(), name) {
			t.Errorf("value named %q: %v, want ErrReservedKey", name, err)
		}
	}
	if n, _ := f.client.Exists(ctx, "sess:s").Result(); n != 0 {
		t.Fatal("a refused save wrote the session")
	}
	for _, c := range []struct{ name, value string }{
		{"not JSON", "not json{"},
		{"a number", "42"},
		{"no cookie", `{"user":1}`},
		{"a cookie that is not an object", `{"cookie":1}`},
	} {
		if err := f.client.Set(ctx, "sess:bad", c.value, time.Hour).Err(); err != nil {
			t.Fatal(err)
		}
		if _, err := f.store.Load(ctx, "bad"); !errors.Is(err, boltsession.ErrCorrupt) {
			t.Errorf("%s: Load: %v, want ErrCorrupt", c.name, err)
		}
		err := f.store.Save(ctx, boltsession.Update{ID: "bad", Set: map[string][]byte{"a": mp(t, 1)}})
		if !errors.Is(err, boltsession.ErrCorrupt) {
			t.Errorf("%s: merge: %v, want ErrCorrupt", c.name, err)
		}
		if got := f.get(t, "sess:bad"); got != c.value {
			t.Errorf("%s: the value became %q; it must be left as it is", c.name, got)
		}
	}
	if err := f.client.HSet(ctx, "sess:hash", "f", "v").Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := f.store.Load(ctx, "hash"); !errors.Is(err, boltsession.ErrCorrupt) {
		t.Errorf("a hash at the key: %v, want ErrCorrupt", err)
	}
	// An empty string is connect-redis's "no session" (and this store's
	// pending record).
	if err := f.client.Set(ctx, "sess:empty", "", time.Hour).Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := f.store.Load(ctx, "empty"); !errors.Is(err, boltsession.ErrNotFound) {
		t.Errorf("empty value: %v, want ErrNotFound", err)
	}
}

// TestConnectRedisOptionsThatCannotWork are refused on every call.
func TestConnectRedisOptionsThatCannotWork(t *testing.T) {
	for _, o := range []ConnectRedisOptions{
		{Prefix: "sess{"},
		{Prefix: "a}b"},
		{Cookie: ExpressCookie{SameSite: "sometimes"}},
		{Cookie: ExpressCookie{Priority: "urgent"}},
		{Cookie: ExpressCookie{MaxAge: -time.Second}},
	} {
		s := NewConnectRedis(redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"}), &o)
		if _, err := s.Load(context.Background(), "x"); err == nil || errors.Is(err, boltsession.ErrNotFound) {
			t.Errorf("%+v: Load gave %v, want the misconfiguration", o, err)
		}
	}
	s := NewConnectRedis(redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"}), &ConnectRedisOptions{Prefix: "{app}:sess:"})
	if s.misconfigured != nil || s.markerKey("x") != "{app}:replaced-by:{app}:sess:x" {
		t.Errorf("hash-tagged prefix: %v, marker %q", s.misconfigured, s.markerKey("x"))
	}
}

// FuzzConnectRedisValue feeds values as Node (or anything else) could have
// left them at a session key: parsing never panics, and a value that
// parses takes a merge and parses again.
func FuzzConnectRedisValue(f *testing.F) {
	for _, s := range []string{
		`{"cookie":{"originalMaxAge":60000,"expires":"2026-11-30T02:36:22.097Z","secure":false,"httpOnly":true,"path":"/","sameSite":"lax"},"user":{"id":42},"n":1}`,
		`{"cookie":{"originalMaxAge":null,"expires":null,"httpOnly":true,"path":"/"},"__boltsession":{"created":1,"owner":"u"}}`,
		`{"cookie":{},"a":{"$msgpack":"AQ=="},"a":2}`,
		`{"cookie":1}`, `null`, `42`, `{"cookie":{"originalMaxAge":1e400}}`,
	} {
		f.Add([]byte(s))
	}
	cookie := &ExpressCookie{MaxAge: time.Hour}
	now := time.Unix(1_800_000_000, 0)
	f.Fuzz(func(t *testing.T, data []byte) {
		sess, err := parseSession(data)
		if err != nil {
			if !errors.Is(err, boltsession.ErrCorrupt) {
				t.Fatalf("error not wrapping ErrCorrupt: %v", err)
			}
			return
		}
		if _, err := sess.record("id", now.Add(time.Hour), time.Hour, now); err != nil && !errors.Is(err, boltsession.ErrCorrupt) {
			t.Fatalf("record: %v", err)
		}
		sess.apply(boltsession.Update{Set: map[string][]byte{"k": {1}}, Delete: []string{"n"}, Expires: now.Add(time.Hour),
			MaxAge: ptr(time.Duration(0)), Owner: ptr("o")}, cookie, now.Add(time.Hour), now)
		out := sess.obj.render()
		again, err := parseSession(out)
		if err != nil {
			t.Fatalf("%s merged into %s, which does not parse: %v", data, out, err)
		}
		if raw, _ := again.obj.get("k"); string(raw) != "1" || again.meta.Owner != "o" {
			t.Fatalf("merge lost: %s", out)
		}
	})
}

// TestConnectRedisLockSerializesGoRequestsOutsidePrefix: under Serialize the
// lock excludes a second holder until released, and lives at a key that
// connect-redis's SCAN of the prefix never sees.
func TestConnectRedisLockSerializesGoRequestsOutsidePrefix(t *testing.T) {
	f := newCRFixture(t, ConnectRedisOptions{})
	ctx := context.Background()
	unlock, err := f.store.LockSession(ctx, "s", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.store.LockSession(ctx, "s", 20*time.Millisecond); !errors.Is(err, boltsession.ErrBusy) {
		t.Fatalf("second lock while held: %v, want ErrBusy", err)
	}
	keys, err := f.client.Keys(ctx, "sess:*").Result()
	if err != nil || len(keys) != 0 {
		t.Fatalf("keys under the prefix while locked: %v, %v", keys, err)
	}
	unlock()
	again, err := f.store.LockSession(ctx, "s", time.Second)
	if err != nil {
		t.Fatalf("lock after release: %v", err)
	}
	again()
}
