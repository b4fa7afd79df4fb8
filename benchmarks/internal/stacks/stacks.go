// Package stacks builds the same small web app on every session stack the
// benchmarks compare, so a figure differs only by the session machinery
// underneath. Every app serves:
//
//	GET /seed   create a session holding ten short string values and
//	            count = 0; the response carries its cookie
//	GET /read   read count from an existing session; nothing is changed
//	GET /count  read count, add one, save
//	GET /handled  how many /count requests the process has answered with
//	            200 (counted outside the session middleware), so a run can
//	            tell the increments acknowledged from the increments stored
//
// /read and /count answer 404 when the request carries no live session, so
// a benchmark whose cookies went stale fails instead of timing the
// new-session path. The middleware benchmarks call the handlers directly;
// cmd/benchserver serves them over TCP for wrk.
package stacks

import (
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"sync/atomic"
)

// Config says where a stack keeps its data.
type Config struct {
	// Dir is a directory the stack may write its files into (bbolt file,
	// gorilla session files).
	Dir string
	// RedisAddr is host:port of a Redis server, for the Redis stacks.
	RedisAddr string
	// HashKey signs cookies (64 bytes).
	HashKey []byte
}

// Stack is one running app.
type Stack struct {
	// Handler serves /seed, /read and /count.
	Handler http.Handler
	// Close releases the stack's store (closes files, pools).
	Close func() error
}

// CookieName is the session cookie every Go stack uses.
const CookieName = "sid"

// ValueCount is how many string values /seed stores besides count.
const ValueCount = 10

// ValueKey and Value name the seeded values.
func ValueKey(i int) string { return "k" + strconv.Itoa(i) }

// Value is the seeded value of ValueKey(i): 16 bytes.
func Value(i int) string { return fmt.Sprintf("value-%010d", i) }

var builders = map[string]func(Config) (*Stack, error){}

func register(name string, build func(Config) (*Stack, error)) { builders[name] = build }

// Names lists the stacks this build knows, sorted.
func Names() []string {
	names := make([]string, 0, len(builders))
	for n := range builders {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// NeedsRedis reports whether the named stack needs Config.RedisAddr.
func NeedsRedis(name string) bool {
	return name == "scs-redisstore" || name == "boltsession-redisstore" || name == "boltsession-redisstore-cache"
}

// New builds the named stack.
func New(name string, cfg Config) (*Stack, error) {
	build, ok := builders[name]
	if !ok {
		return nil, fmt.Errorf("stacks: unknown stack %q (known: %v)", name, Names())
	}
	if NeedsRedis(name) && cfg.RedisAddr == "" {
		return nil, fmt.Errorf("stacks: %s needs a Redis address", name)
	}
	st, err := build(cfg)
	if err != nil {
		return nil, err
	}
	st.Handler = countHandled(st.Handler)
	return st, nil
}

// countHandled serves /handled itself and counts the /count requests
// answered 200: every Go stack saves before its response goes out, so
// those are the acknowledged increments.
func countHandled(next http.Handler) http.Handler {
	var handled atomic.Int64
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/handled":
			writeCount(w, int(handled.Load()))
		case "/count":
			sw := &statusWriter{ResponseWriter: w}
			next.ServeHTTP(sw, r)
			if sw.status == http.StatusOK {
				handled.Add(1)
			}
		default:
			next.ServeHTTP(w, r)
		}
	})
}

// statusWriter remembers the status of a response.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// writeCount answers {"count":N}; every stack answers the same bytes.
func writeCount(w http.ResponseWriter, n int) {
	var buf [32]byte
	b := append(buf[:0], `{"count":`...)
	b = strconv.AppendInt(b, int64(n), 10)
	b = append(b, '}', '\n')
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b)
}

func noSession(w http.ResponseWriter) {
	http.Error(w, "no session", http.StatusNotFound)
}
