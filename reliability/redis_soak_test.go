package reliability_test

import (
	"context"
	"testing"
	"time"

	"github.com/boltsession/boltsession"
	"github.com/boltsession/boltsession/redisstore"
	"github.com/boltsession/boltsession/redisstore/redistest"
	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"
)

// TestSoakOnRedisLosesNothingAndLeaksNothing is the soak of issue item 6 on
// the Redis store, with Options.Serialize: the same 64 clients and checks,
// and no session lock left in Redis. Redis expires sessions itself
// (PEXPIREAT), so there is no sweeper. 10 s by default.
func TestSoakOnRedisLosesNothingAndLeaksNothing(t *testing.T) {
	addr := redistest.Start(t).Addr
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	client := redis.NewClient(&redis.Options{Addr: addr, PoolSize: 2 * soakClients})
	store := redisstore.New(client, nil)
	// Serialize on: every request on a session also takes its lock in
	// Redis, so the soak checks that no lock is ever left behind.
	r := newRedisRig(t, store, func(o *boltsession.Options) { o.MaxAge = soakMaxAge; o.Serialize = true })
	runSoak(t, r, soakDuration(t, 10*time.Second), func() { client.Close() }, func() {
		ctx := context.Background()
		n, err := store.Count(ctx)
		keys, _ := client.DBSize(ctx).Result()
		t.Logf("redis: %d live sessions, %d keys (%v)", n, keys, err)
		// Locks are Prefix{ID}:lock (see redisstore.Store.LockSession).
		locks, err := client.Keys(ctx, store.Prefix()+"{*}:lock").Result()
		if err != nil || len(locks) != 0 {
			t.Errorf("%d session locks left in Redis after every request ended (%v)", len(locks), err)
		}
	})
}
