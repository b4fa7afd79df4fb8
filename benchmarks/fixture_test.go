package benchmarks

import (
	"fmt"
	"net/http"
	"os"
	"runtime"
	"testing"

	"github.com/boltsession/boltsession/benchmarks/internal/redisserver"
)

// The session every scenario works on: ten short string values, like a
// logged-in user's name, role, locale and a few flags, plus the counter
// that the writing scenarios increment.
const valueCount = 10

func valueKey(i int) string   { return fmt.Sprintf("k%d", i) }
func valueValue(i int) string { return fmt.Sprintf("value-%010d", i) }

// hashKey signs every cookie in these benchmarks (64 bytes, as a
// securecookie HMAC-SHA256 key would be generated).
var hashKey = []byte("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")

// redisAddr is the redis-server TestMain started, or "" when it could not
// (redisErr says why).
var (
	redisAddr string
	redisErr  error
)

func TestMain(m *testing.M) {
	srv, err := redisserver.Start()
	if err != nil {
		redisErr = err
	} else {
		redisAddr = srv.Addr
	}
	code := m.Run()
	if srv != nil {
		srv.Stop()
	}
	os.Exit(code)
}

// needRedis skips b when no redis-server could be started.
func needRedis(b *testing.B) {
	b.Helper()
	if redisAddr == "" {
		b.Skipf("Redis peers skipped: %v (apt-get install redis-server to measure them)", redisErr)
	}
}

// discardWriter is the cheapest http.ResponseWriter that still keeps
// headers (every middleware writes Set-Cookie or Vary), so the middleware
// benchmarks measure the middleware, not a recorder. Reset between requests.
type discardWriter struct {
	h    http.Header
	code int
}

func newDiscardWriter() *discardWriter { return &discardWriter{h: make(http.Header)} }

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *discardWriter) WriteHeader(code int)        { w.code = code }
func (w *discardWriter) reset()                      { clear(w.h); w.code = 0 }

// request returns a fresh shallow copy of tmpl for one iteration: gorilla's
// registry rewrites the request it is given in place, so a shared request
// would serve later iterations from its cache. Every stack pays the same
// one allocation.
func request(tmpl *http.Request) *http.Request {
	r := *tmpl
	return &r
}

// checkStatus fails b on a non-2xx answer, so a broken stack cannot post a
// fast figure.
func checkStatus(b *testing.B, w *discardWriter) {
	if w.code != 0 && w.code != http.StatusOK {
		b.Fatalf("handler answered %d", w.code)
	}
}

// procs is GOMAXPROCS, the unit of b.SetParallelism.
func procs() int { return runtime.GOMAXPROCS(0) }
