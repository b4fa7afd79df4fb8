package redisstore

import (
	"context"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

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

// TestConformanceWithWaitReplicasOnOneServer runs the suite on a server
// with one replica and WaitReplicas: every write waits for the replica on
// its own connection, including the ones resent after NOSCRIPT.
func TestConformanceWithWaitReplicasOnOneServer(t *testing.T) {
	primary := redistest.Start(t)
	host, port, _ := net.SplitHostPort(primary.Addr)
	replica := redistest.Start(t, "--replicaof", host, port)
	client := redis.NewClient(&redis.Options{Addr: primary.Addr})
	t.Cleanup(func() { client.Close() })
	rc := redis.NewClient(&redis.Options{Addr: replica.Addr})
	t.Cleanup(func() { rc.Close() })
	ctx := context.Background()
	for deadline := time.Now().Add(10 * time.Second); ; {
		info, _ := rc.Info(ctx, "replication").Result()
		if strings.Contains(info, "master_link_status:up") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("replica not linked: %s", info)
		}
		time.Sleep(20 * time.Millisecond)
	}
	n := 0
	storetest.Run(t, func(t *testing.T) boltsession.Store {
		n++
		return New(client, &Options{Prefix: "cw" + strconv.Itoa(n) + ":", WaitReplicas: 1, WaitTimeout: time.Second})
	})
	// The replica has everything: the last subtest's keys are there.
	if keys, err := rc.Keys(ctx, "cw"+strconv.Itoa(n)+":*").Result(); err != nil || len(keys) == 0 {
		t.Fatalf("replica holds %d keys of the last subtest (%v)", len(keys), err)
	}
}
