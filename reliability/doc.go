// Package reliability holds the tests that try to break boltsession: crash
// durability under SIGKILL, a full or read-only disk, corrupt records,
// hostile cookies, logout races, and a bounded soak under mixed load on
// BoltStore and on the Redis store. It has no API; it is a module of its own
// so that its test-only dependencies (goleak, go-redis) stay out of the root
// module.
//
//	go test -race ./reliability            # as CI runs it, about a minute
//	go test -short ./reliability           # 3 s soaks, no crash rounds
//	BOLTSESSION_SOAK=5m go test -run Soak ./reliability
//
// BOLTSESSION_SOAK sets the soaks' duration (default 30 s on BoltStore, 10 s
// on Redis); BOLTSESSION_SOAK_NOSYNC=1 runs the BoltStore soak without fsync.
// The disk tests mount a tmpfs and use chattr, so they need root (CI runs as
// root) and are skipped with the reason otherwise. The Redis soak needs
// redis-server; BOLTSESSION_REQUIRE_REDIS=1 turns its absence from a skip
// into a failure.
package reliability
