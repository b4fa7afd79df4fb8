package redisstore

import (
	"strconv"
	"testing"
	"time"

	"github.com/boltsession/boltsession"
	"github.com/boltsession/boltsession/redisstore/redistest"
	"github.com/boltsession/boltsession/storetest"
	"github.com/redis/go-redis/v9"
)

// crValuesByMeaning is what ConnectRedisStore tells the conformance suite:
// the one part of the contract its format cannot keep.
const crValuesByMeaning = "ConnectRedisStore keeps each value as a JSON member that a Node app reads and writes, " +
	"so a msgpack value comes back in the canonical encoding of the JSON mapping (integers as int64, maps with sorted keys); " +
	"bytes that are not one msgpack value are kept whole in a tag object"

// TestConnectRedisConformance runs the shared Store suite on the
// connect-redis format. Owner-index cases are reported as skipped: the
// store has no OwnerIndex (Node's saves know nothing of one).
func TestConnectRedisConformance(t *testing.T) {
	srv := redistest.Start(t)
	client := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { client.Close() })
	n := 0
	storetest.RunWith(t, func(t *testing.T) boltsession.Store {
		n++
		s := NewConnectRedis(client, &ConnectRedisOptions{Prefix: "cr" + strconv.Itoa(n) + ":",
			Cookie: ExpressCookie{MaxAge: 24 * time.Hour}})
		s.scripts = newCRScripts(true)
		return s
	}, storetest.Options{ValuesByMeaning: crValuesByMeaning})
}
