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
// the Redis store: the same 64 clients and checks; Redis expires sessions
// itself (PEXPIREAT), so there is no sweeper. 10 s by default.
func TestSoakOnRedisLosesNothingAndLeaksNothing(t *testing.T) {
	addr := redistest.Start(t).Addr
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	client := redis.NewClient(&redis.Options{Addr: addr, PoolSize: 2 * soakClients})
	store := redisstore.New(client, nil)
	r := newRedisRig(t, store, func(o *boltsession.Options) { o.MaxAge = soakMaxAge })
	runSoak(t, r, soakDuration(t, 10*time.Second), func() { client.Close() }, func() {
		n, err := store.Count(context.Background())
		keys, _ := client.DBSize(context.Background()).Result()
		t.Logf("redis: %d live sessions, %d keys (%v)", n, keys, err)
	})
}
