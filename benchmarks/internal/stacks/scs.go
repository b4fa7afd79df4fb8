package stacks

import (
	"net/http"
	"time"

	"github.com/alexedwards/scs/redisstore"
	"github.com/alexedwards/scs/v2"
	"github.com/alexedwards/scs/v2/memstore"
	"github.com/gomodule/redigo/redis"
)

func init() {
	register("scs-memstore", newSCSMem)
	register("scs-redisstore", newSCSRedis)
}

// newSCSMem is scs with its in-process map store: no I/O at all, and
// nothing survives a restart.
func newSCSMem(Config) (*Stack, error) {
	// A cleanup interval of 0 starts no background goroutine; expiry is
	// still honoured on Find.
	return newSCS(memstore.NewWithCleanupInterval(0), func() error { return nil }), nil
}

// newSCSRedis is scs with its redigo-based Redis store.
func newSCSRedis(cfg Config) (*Stack, error) {
	pool := &redis.Pool{
		MaxIdle:     128,
		IdleTimeout: time.Minute,
		Dial:        func() (redis.Conn, error) { return redis.Dial("tcp", cfg.RedisAddr) },
	}
	return newSCS(redisstore.New(pool), pool.Close), nil
}

func newSCS(store scs.Store, closeStore func() error) *Stack {
	sm := scs.New()
	sm.Store = store
	sm.Cookie.Name = CookieName
	mux := http.NewServeMux()
	mux.HandleFunc("GET /seed", func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		for i := range ValueCount {
			sm.Put(ctx, ValueKey(i), Value(i))
		}
		sm.Put(ctx, "count", 0)
		writeCount(w, 0)
	})
	mux.HandleFunc("GET /read", func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		if !sm.Exists(ctx, "k0") {
			noSession(w)
			return
		}
		writeCount(w, sm.GetInt(ctx, "count"))
	})
	mux.HandleFunc("GET /count", func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		if !sm.Exists(ctx, "k0") {
			noSession(w)
			return
		}
		n := sm.GetInt(ctx, "count") + 1
		sm.Put(ctx, "count", n)
		writeCount(w, n)
	})
	return &Stack{Handler: sm.LoadAndSave(mux), Close: closeStore}
}
