package redisstore

import (
	"strconv"
	"testing"

	"github.com/boltsession/boltsession"
	"github.com/boltsession/boltsession/storetest"
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
