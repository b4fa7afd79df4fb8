package benchmarks

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alexedwards/scs/redisstore"
	"github.com/alexedwards/scs/v2"
	"github.com/alexedwards/scs/v2/memstore"
	redigo "github.com/gomodule/redigo/redis"
	"github.com/gorilla/sessions"
	goredis "github.com/redis/go-redis/v9"
	"github.com/vmihailenco/msgpack/v5"
	bolt "go.etcd.io/bbolt"
)

// storeBench is one stack's store-level operations on one seeded session.
type storeBench struct {
	// load reads the session back (decoding what the stack decodes on a
	// load).
	load func() error
	// save writes count = n to the session, as durable as the stack gets.
	save func(n int) error
}

// storeStack opens a stack's store, seeds one session and registers its
// cleanup with b.Cleanup.
type storeStack struct {
	name  string
	redis bool
	open  func(b *testing.B) storeBench
}

// storeStacks is every stack of the store-level scenarios, in table order:
// boltsession first, then the floors, then the peers.
func storeStacks() []storeStack {
	return append(boltsessionStoreStacks(), []storeStack{
		{name: "bbolt-floor", open: openBboltFloor},
		{name: "goredis-floor", redis: true, open: openGoRedisFloor},
		{name: "scs-memstore", open: openSCSMem},
		{name: "scs-redisstore", redis: true, open: openSCSRedis},
		{name: "gorilla-filesystem", open: openGorilla},
	}...)
}

// BenchmarkLoad reads one existing session of ten short values.
func BenchmarkLoad(b *testing.B) {
	for _, st := range storeStacks() {
		b.Run(st.name, func(b *testing.B) {
			if st.redis {
				needRedis(b)
			}
			sb := st.open(b)
			b.ReportAllocs()
			for b.Loop() {
				if err := sb.load(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkSave writes one changed value of an existing session, one
// writer: each stack as durable as it gets (boltsession and bbolt fsync;
// gorilla writes a file without fsync; scs and Redis fsync nothing).
func BenchmarkSave(b *testing.B) {
	for _, st := range storeStacks() {
		b.Run(st.name, func(b *testing.B) {
			if st.redis {
				needRedis(b)
			}
			sb := st.open(b)
			b.ReportAllocs()
			n := 0
			for b.Loop() {
				n++
				if err := sb.save(n); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// floorRecord is what the floors store: the ten values and the counter,
// msgpack-encoded, about the size of a session record.
func floorRecord(n int) []byte {
	m := make(map[string]any, valueCount+1)
	for i := range valueCount {
		m[valueKey(i)] = valueValue(i)
	}
	m["count"] = n
	b, err := msgpack.Marshal(m)
	if err != nil {
		panic(err)
	}
	return b
}

var floorBucket = []byte("sessions")

const floorID = "floor-session-id-0123456789abcdef0123456789a"

func openBboltFile(b *testing.B) *bolt.DB {
	db, err := bolt.Open(filepath.Join(b.TempDir(), "floor.db"), 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	if err := db.Update(func(tx *bolt.Tx) error {
		bk, err := tx.CreateBucketIfNotExists(floorBucket)
		if err != nil {
			return err
		}
		return bk.Put([]byte(floorID), floorRecord(0))
	}); err != nil {
		b.Fatal(err)
	}
	return db
}

// openBboltFloor is raw bbolt: a View that copies the value out, and an
// Update that puts it back (fsync on commit, bbolt's default).
func openBboltFloor(b *testing.B) storeBench {
	db := openBboltFile(b)
	rec := floorRecord(1)
	return storeBench{
		load: func() error {
			return db.View(func(tx *bolt.Tx) error {
				v := tx.Bucket(floorBucket).Get([]byte(floorID))
				out := make([]byte, len(v))
				copy(out, v)
				return nil
			})
		},
		save: func(int) error {
			return db.Update(func(tx *bolt.Tx) error {
				return tx.Bucket(floorBucket).Put([]byte(floorID), rec)
			})
		},
	}
}

// openGoRedisFloor is raw go-redis GET and SET (with a TTL, as a session
// store sets one) of the same bytes.
func openGoRedisFloor(b *testing.B) storeBench {
	rdb := goredis.NewClient(&goredis.Options{Addr: redisAddr})
	b.Cleanup(func() { rdb.Close() })
	ctx := context.Background()
	rec := floorRecord(0)
	if err := rdb.Set(ctx, floorID, rec, 24*time.Hour).Err(); err != nil {
		b.Fatal(err)
	}
	return storeBench{
		load: func() error { return rdb.Get(ctx, floorID).Err() },
		save: func(int) error { return rdb.Set(ctx, floorID, rec, 24*time.Hour).Err() },
	}
}

// scsBench loads through SessionManager.Load (store Find + gob decode of
// every value) and saves through Put + Commit (gob encode of every value +
// store Commit): what scs does for a session on each request.
func scsBench(b *testing.B, store scs.Store) storeBench {
	sm := scs.New()
	sm.Store = store
	ctx, err := sm.Load(context.Background(), "")
	if err != nil {
		b.Fatal(err)
	}
	for i := range valueCount {
		sm.Put(ctx, valueKey(i), valueValue(i))
	}
	sm.Put(ctx, "count", 0)
	token, _, err := sm.Commit(ctx)
	if err != nil {
		b.Fatal(err)
	}
	saveCtx, err := sm.Load(context.Background(), token)
	if err != nil {
		b.Fatal(err)
	}
	return storeBench{
		load: func() error {
			c, err := sm.Load(context.Background(), token)
			if err == nil && !sm.Exists(c, "k0") {
				b.Fatal("scs: seeded session not found")
			}
			return err
		},
		save: func(n int) error {
			sm.Put(saveCtx, "count", n)
			_, _, err := sm.Commit(saveCtx)
			return err
		},
	}
}

func openSCSMem(b *testing.B) storeBench { return scsBench(b, memstore.NewWithCleanupInterval(0)) }

var redisPrefix atomic.Int64

func openSCSRedis(b *testing.B) storeBench {
	pool := &redigo.Pool{
		MaxIdle: 128,
		Dial:    func() (redigo.Conn, error) { return redigo.Dial("tcp", redisAddr) },
	}
	b.Cleanup(func() { pool.Close() })
	return scsBench(b, redisstore.NewWithPrefix(pool, "scs"+string(rune('a'+redisPrefix.Add(1)))+":"))
}

// openGorilla loads with FilesystemStore.New (cookie decode + file read +
// securecookie/gob decode; New bypasses the per-request registry cache) and
// saves with FilesystemStore.Save (file write without fsync + cookie).
func openGorilla(b *testing.B) storeBench {
	store := sessions.NewFilesystemStore(b.TempDir(), hashKey)
	seedReq := httptest.NewRequest(http.MethodGet, "/", nil)
	s, _ := store.New(seedReq, "sid")
	for i := range valueCount {
		s.Values[valueKey(i)] = valueValue(i)
	}
	s.Values["count"] = 0
	w := newDiscardWriter()
	if err := store.Save(seedReq, w, s); err != nil {
		b.Fatal(err)
	}
	tmpl := httptest.NewRequest(http.MethodGet, "/", nil)
	tmpl.Header.Set("Cookie", (&http.Response{Header: w.h}).Cookies()[0].String())
	return storeBench{
		load: func() error {
			got, err := store.New(request(tmpl), "sid")
			if err == nil && got.IsNew {
				b.Fatal("gorilla: seeded session not found")
			}
			return err
		},
		save: func(n int) error {
			s.Values["count"] = n
			w.reset()
			return store.Save(seedReq, w, s)
		},
	}
}
