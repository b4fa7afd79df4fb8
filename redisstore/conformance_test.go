package redisstore

import (
	"context"
	"strconv"
	"testing"

	"github.com/boltsession/boltsession"
	"github.com/boltsession/boltsession/redisstore/redistest"
	"github.com/boltsession/boltsession/storetest"
	"github.com/redis/go-redis/v9"
)

// TestConformance runs the shared Store suite. One redis-server serves every
// subtest; each gets its own Prefix, so each sees an empty store.
func TestConformance(t *testing.T) {
	f := newFixture(t, nil)
	n := 0
	storetest.Run(t, func(t *testing.T) boltsession.Store {
		n++
		return New(f.client, &Options{Prefix: "conf" + strconv.Itoa(n) + ":"})
	})
}

// TestConformanceOnRing runs the suite on a go-redis Ring of two servers:
// sessions and their owners' indexes are placed by their hash tags on
// either shard, as on Cluster.
func TestConformanceOnRing(t *testing.T) {
	a, b := redistest.Start(t), redistest.Start(t)
	ring := redis.NewRing(&redis.RingOptions{Addrs: map[string]string{"a": a.Addr, "b": b.Addr}})
	t.Cleanup(func() { ring.Close() })
	n := 0
	storetest.Run(t, func(t *testing.T) boltsession.Store {
		n++
		p := "ring" + strconv.Itoa(n)
		return New(ring, &Options{Prefix: p + ":", LegacyPrefix: "{" + p + "}:"})
	})
	// Both shards hold sessions.
	ctx := context.Background()
	for _, srv := range []*redistest.Server{a, b} {
		c := redis.NewClient(&redis.Options{Addr: srv.Addr})
		keys, err := c.Keys(ctx, "ring*").Result()
		c.Close()
		if err != nil || len(keys) == 0 {
			t.Errorf("shard %s holds %d keys (%v): the ring did not spread the sessions", srv.Addr, len(keys), err)
		}
	}
}
