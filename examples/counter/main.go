// Counter is the smallest boltsession app: it counts each visitor's visits.
//
//	go run ./examples/counter
//	curl -c jar -b jar http://127.0.0.1:8080/          # {"views":1}
//	curl -c jar -b jar http://127.0.0.1:8080/          # {"views":2}
//	curl -c jar -b jar -X POST http://127.0.0.1:8080/reset  # {"views":0}
//
// Sessions live in ./sessions.db and the cookie signing key in
// ./sessions.db.key, so the count survives a restart. Flags: -addr, -db,
// -redis, -redis-cluster, -key-file, -max-age, -sweep-interval (see -help).
//
// A bbolt file serves one process. To run several instances behind a load
// balancer, keep the sessions in Redis and give every instance the same key
// file; a visitor's count then goes on whichever instance answers:
//
//	go run ./examples/counter -redis redis://127.0.0.1:6379/0 -key-file counter.key -addr 127.0.0.1:8080 &
//	go run ./examples/counter -redis redis://127.0.0.1:6379/0 -key-file counter.key -addr 127.0.0.1:8081 &
//	curl -c jar -b jar http://127.0.0.1:8080/          # {"views":1}
//	curl -c jar -b jar http://127.0.0.1:8081/          # {"views":2}
//
// On a Redis Cluster, name its seed nodes with -redis-cluster instead; the
// sessions spread over every master:
//
//	go run ./examples/counter -redis-cluster 'redis://10.0.0.1:6379?addr=10.0.0.2:6379&addr=10.0.0.3:6379' -key-file counter.key
package main

import (
	"errors"
	"net/http"
	"os"

	"github.com/boltsession/boltsession"
	"github.com/boltsession/boltsession/examples/internal/app"
)

func main() {
	os.Exit(app.Main("counter", os.Args[1:], os.Stderr, "sessions.db", routes))
}

// views is the JSON body of every response.
type views struct {
	Views int `json:"views"`
}

func routes(*boltsession.Manager) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", count)
	mux.HandleFunc("POST /reset", reset)
	return mux
}

// count adds this visit to the session's count and returns it.
func count(w http.ResponseWriter, r *http.Request) {
	s := boltsession.FromContext(r.Context())
	n, err := boltsession.Get[int](s, "views")
	if err != nil && !errors.Is(err, boltsession.ErrNoValue) {
		// A value that is not an int: start over rather than fail forever.
		n = 0
	}
	n++
	if err := s.Set("views", n); err != nil {
		http.Error(w, "cannot store the count", http.StatusInternalServerError)
		return
	}
	app.WriteJSON(w, http.StatusOK, views{n})
}

// reset ends the session: the record is deleted and the cookie expired.
func reset(w http.ResponseWriter, r *http.Request) {
	boltsession.FromContext(r.Context()).Destroy()
	app.WriteJSON(w, http.StatusOK, views{0})
}
