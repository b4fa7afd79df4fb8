package stacks

import (
	"net/http"
	"sync/atomic"
)

func init() { register("no-session", newNone) }

// newNone is the same app with no session at all: the ceiling of net/http
// on this machine. The counter is one process-wide atomic.
func newNone(Config) (*Stack, error) {
	var count atomic.Int64
	mux := http.NewServeMux()
	mux.HandleFunc("GET /seed", func(w http.ResponseWriter, r *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: CookieName, Value: "none", Path: "/"})
		writeCount(w, 0)
	})
	mux.HandleFunc("GET /read", func(w http.ResponseWriter, r *http.Request) {
		writeCount(w, int(count.Load()))
	})
	mux.HandleFunc("GET /count", func(w http.ResponseWriter, r *http.Request) {
		writeCount(w, int(count.Add(1)))
	})
	return &Stack{Handler: mux, Close: func() error { return nil }}, nil
}
