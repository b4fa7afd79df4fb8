package benchmarks

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/boltsession/boltsession/benchmarks/internal/stacks"
)

// middlewareStacks is every stack of the middleware scenarios, in table
// order; the Redis ones are skipped without redis-server.
var middlewareStacks = []string{"boltsession", "boltsession-redisstore", "boltsession-redisstore-cache", "scs-memstore", "scs-redisstore", "gorilla-filesystem", "no-session"}

// BenchmarkMiddlewareRead serves GET /read: an existing session, count read,
// nothing changed (for boltsession: inside TouchAfter, so no write at all).
func BenchmarkMiddlewareRead(b *testing.B) { benchMiddleware(b, "/read") }

// BenchmarkMiddlewareWrite serves GET /count: count read, incremented and
// saved (boltsession: fsynced).
func BenchmarkMiddlewareWrite(b *testing.B) { benchMiddleware(b, "/count") }

func benchMiddleware(b *testing.B, path string) {
	known := map[string]bool{}
	for _, n := range stacks.Names() {
		known[n] = true
	}
	for _, name := range middlewareStacks {
		b.Run(name, func(b *testing.B) {
			if !known[name] {
				b.Skipf("stack %s is not in this build", name)
			}
			cfg := stacks.Config{Dir: b.TempDir(), HashKey: hashKey}
			if stacks.NeedsRedis(name) {
				needRedis(b)
				cfg.RedisAddr = redisAddr
			}
			st, err := stacks.New(name, cfg)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { st.Close() })
			tmpl := seededRequest(b, st.Handler, path)
			w := newDiscardWriter()
			b.ReportAllocs()
			for b.Loop() {
				w.reset()
				st.Handler.ServeHTTP(w, request(tmpl))
				checkStatus(b, w)
			}
		})
	}
}

// seededRequest creates a session through /seed and returns a request for
// path that carries its cookie.
func seededRequest(b *testing.B, h http.Handler, path string) *http.Request {
	b.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/seed", nil))
	if rec.Code != http.StatusOK {
		b.Fatalf("/seed answered %d: %s", rec.Code, rec.Body)
	}
	r := httptest.NewRequest(http.MethodGet, path, nil)
	for _, c := range rec.Result().Cookies() {
		if c.Name == stacks.CookieName {
			r.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
			return r
		}
	}
	b.Fatal("/seed set no session cookie")
	return nil
}
