package redisstore

import (
	"testing"
	"time"
)

// awaitFresh waits until the store's cache may answer: its tracking
// connection is up and has confirmed itself fresh. It polls with a
// deadline instead of sleeping a guessed time.
func awaitFresh(tb testing.TB, s *Store) {
	tb.Helper()
	for deadline := time.Now().Add(5 * time.Second); !s.CacheStats().Fresh; {
		if time.Now().After(deadline) {
			tb.Fatalf("the cache's tracking connection is not fresh after 5s: %+v", s.CacheStats())
		}
		time.Sleep(time.Millisecond)
	}
}
