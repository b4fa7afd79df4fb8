package redisstore

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"

	"github.com/boltsession/boltsession/redisstore/redistest"
	"github.com/redis/go-redis/v9"
)

// masterKeys is how many keys one master of a cluster holds.
type masterKeys struct {
	Addr        string
	First, Last int   // the master's slot range
	Keys        int64 // DBSIZE: sessions, owner sets and locks alike
}

// keysPerMaster returns how many keys each current master of c holds, in
// slot order. Replicas are not counted (they hold copies), nor is a master
// that was killed and not failed over (it cannot answer).
func keysPerMaster(t *testing.T, c *redistest.Cluster) []masterKeys {
	t.Helper()
	ctx := context.Background()
	var out []masterKeys
	for _, m := range c.Masters() {
		if !m.Running() {
			continue
		}
		rc := redis.NewClient(&redis.Options{Addr: m.Addr})
		n, err := rc.DBSize(ctx).Result()
		rc.Close()
		if err != nil {
			t.Fatalf("DBSIZE on %s: %v", m.Addr, err)
		}
		first, last := c.SlotRange(m)
		out = append(out, masterKeys{Addr: m.Addr, First: first, Last: last, Keys: n})
	}
	return out
}

// formatSpread renders keysPerMaster's result on one line, each master's
// share of the total in percent.
func formatSpread(ks []masterKeys) string {
	var total int64
	for _, k := range ks {
		total += k.Keys
	}
	parts := make([]string, len(ks))
	for i, k := range ks {
		share := 0.0
		if total > 0 {
			share = 100 * float64(k.Keys) / float64(total)
		}
		parts[i] = fmt.Sprintf("slots %d-%d: %d (%.1f%%)", k.First, k.Last, k.Keys, share)
	}
	return strings.Join(parts, ", ")
}

// newSessionID makes an ID as the Manager's default GenID does: 256 random
// bits, base64url, so that slot spreads measured here are the ones real IDs
// get.
func newSessionID() string {
	var b [32]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}
