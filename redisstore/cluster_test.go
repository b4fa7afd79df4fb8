package redisstore

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/boltsession/boltsession"
	"github.com/boltsession/boltsession/redisstore/redistest"
	"github.com/boltsession/boltsession/storetest"
	"github.com/redis/go-redis/v9"
)

// startCluster runs a Redis Cluster shaped by opts (see
// redistest.StartCluster) and returns it with a ClusterClient seeded with
// every node, closed when the test ends. The client dials once per attempt,
// as the package doc advises for web apps, so a call routed to a dead node
// fails at once instead of after five dials.
//
// After a Failover the client still routes the failed range to the dead
// node: go-redis refreshes its slot map on a MOVED or ASK reply, a READONLY
// error, ClusterClient.ReloadState, or when the map is older than
// ClusterOptions.ClusterStateReloadInterval (60s), but not on a connection
// error. ReloadState only starts the refresh; a test retries its call until
// the new map is in place.
func startCluster(t *testing.T, opts redistest.ClusterOptions) (*redistest.Cluster, *redis.ClusterClient) {
	t.Helper()
	c := redistest.StartCluster(t, opts)
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs(), DialerRetries: 1})
	t.Cleanup(func() { cc.Close() })
	return c, cc
}

func TestConformanceOnCluster(t *testing.T) {
	_, cc := startCluster(t, redistest.ClusterOptions{Masters: 3})
	n := 0
	storetest.Run(t, func(t *testing.T) boltsession.Store {
		n++
		return New(cc, &Options{Prefix: "{conf" + strconv.Itoa(n) + "}:"})
	})
}

func TestClusterDefaultPrefixKeepsOwnerAndSessionInOneSlot(t *testing.T) {
	c, cc := startCluster(t, redistest.ClusterOptions{Masters: 3})
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
	a, err := cc.ClusterKeySlot(ctx, "sess:a").Result()
	if err != nil {
		t.Fatal(err)
	}
	owner := ""
	for i := 0; owner == ""; i++ {
		o := "user" + strconv.Itoa(i)
		b, err := cc.ClusterKeySlot(ctx, "sess:owner:"+o).Result()
		if err != nil {
			t.Fatal(err)
		}
		if c.MasterForSlot(int(a)) != c.MasterForSlot(int(b)) {
			owner = o
		}
	}
	err = saveScript.Run(ctx, cc, []string{"sess:a"}, "a", "sess:owner:", nanos(now), "1", nanos(now), "0",
		nanos(now.Add(time.Hour)), millis(now.Add(time.Hour)), "1", owner, "0", "0", "", millis(now), 0).Err()
	if err == nil {
		t.Fatal("a script reaching a key on another node succeeded")
	}
	t.Logf("untagged save on Cluster: %v", err)
	// And the Store refuses such a Prefix up front.
	if _, err := New(cc, &Options{Prefix: "sess:"}).Load(ctx, "a"); err == nil || errors.Is(err, boltsession.ErrNotFound) {
		t.Fatalf("untagged Prefix on Cluster: err = %v", err)
	}
}
