package redisstore

import (
	"context"
	"errors"
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

// startCluster runs a two-node Redis Cluster: the first node serves slots
// 0-8191, the second 8192-16383, no replicas.
func startCluster(t *testing.T) *redis.ClusterClient {
	t.Helper()
	ctx := context.Background()
	ranges := [][2]string{{"0", "8191"}, {"8192", "16383"}}
	var addrs []string
	var admins []*redis.Client
	for _, r := range ranges {
		srv := redistest.Start(t, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf")
		admin := redis.NewClient(&redis.Options{Addr: srv.Addr})
		t.Cleanup(func() { admin.Close() })
		if err := admin.Do(ctx, "CLUSTER", "ADDSLOTSRANGE", r[0], r[1]).Err(); err != nil {
			t.Fatal(err)
		}
		addrs = append(addrs, srv.Addr)
		admins = append(admins, admin)
	}
	host, port, _ := net.SplitHostPort(addrs[1])
	if err := admins[0].ClusterMeet(ctx, host, port).Err(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for _, admin := range admins {
		for {
			info, err := admin.ClusterInfo(ctx).Result()
			if err == nil && strings.Contains(info, "cluster_state:ok") && strings.Contains(info, "cluster_known_nodes:2") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("cluster not ready: %v %q", err, info)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs})
	t.Cleanup(func() { cc.Close() })
	return cc
}

func TestConformanceOnCluster(t *testing.T) {
	cc := startCluster(t)
	n := 0
	storetest.Run(t, func(t *testing.T) boltsession.Store {
		n++
		return New(cc, &Options{Prefix: "{conf" + strconv.Itoa(n) + "}:"})
	})
}

func TestClusterDefaultPrefixKeepsOwnerAndSessionInOneSlot(t *testing.T) {
	cc := startCluster(t)
	ctx := context.Background()
	s := New(cc, nil)
	now := time.Now()
	err := s.Save(ctx, boltsession.Update{ID: "a", Create: true, Created: now, Expires: now.Add(time.Hour), Owner: ptr("alice")})
	if err != nil {
		t.Fatal(err)
	}
	if owned, err := s.Owned(ctx, "alice"); err != nil || len(owned) != 1 {
		t.Fatalf("Owned = %v, %v", owned, err)
	}
	if n, err := s.Count(ctx); err != nil || n != 1 {
		t.Fatalf("Count = %d, %v", n, err)
	}
	if n, err := s.DestroyOwner(ctx, "alice"); err != nil || n != 1 {
		t.Fatalf("DestroyOwner = %d, %v", n, err)
	}

	// Why the tag is required: without it a session and its owner set may
	// live on different nodes, and Redis refuses a script that reaches a key
	// its node does not serve.
	owner := ""
	for i := 0; owner == ""; i++ {
		o := "user" + strconv.Itoa(i)
		a, _ := cc.ClusterKeySlot(ctx, "sess:a").Result()
		b, _ := cc.ClusterKeySlot(ctx, "sess:owner:"+o).Result()
		if (a < 8192) != (b < 8192) {
			owner = o
		}
	}
	err = saveScript.Run(ctx, cc, []string{"sess:a"}, "a", "sess:owner:", nanos(now), "1", nanos(now), "0",
		nanos(now.Add(time.Hour)), millis(now.Add(time.Hour)), "1", owner, "0", "0", 0).Err()
	if err == nil {
		t.Fatal("a script reaching a key on another node succeeded")
	}
	t.Logf("untagged save on Cluster: %v", err)
	// And the Store refuses such a Prefix up front.
	if _, err := New(cc, &Options{Prefix: "sess:"}).Load(ctx, "a"); err == nil || errors.Is(err, boltsession.ErrNotFound) {
		t.Fatalf("untagged Prefix on Cluster: err = %v", err)
	}
}
