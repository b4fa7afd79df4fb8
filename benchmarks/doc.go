// Package benchmarks measures boltsession side by side with the session
// stores its users would otherwise pick — gorilla/sessions FilesystemStore,
// scs with memstore and with redisstore — and with the floors under them:
// raw bbolt (an fsynced Update, a View get) and raw go-redis GET/SET.
//
// Every benchmark here is a sub-benchmark named after the stack it runs, in
// functions named after the scenario, so one
//
//	go test -run '^$' -bench . -benchmem
//
// prints one comparable set. Redis peers use a redis-server that the
// benchmark starts itself on a free loopback port; without redis-server on
// PATH they are skipped with a message.
//
// The HTTP-level comparison (wrk against small servers, Node included) is
// the program in cmd/compare; the scale checks are cmd/scale. See
// docs/PERFORMANCE.md for the method and the figures.
package benchmarks
