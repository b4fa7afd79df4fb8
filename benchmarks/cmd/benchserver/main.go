// Command benchserver serves one of the benchmark apps (see package
// internal/stacks) for an HTTP load generator. It prints one line,
// "listening on HOST:PORT", once it accepts connections, and exits cleanly
// on SIGINT or SIGTERM. cmd/compare starts it once per stack.
//
//	benchserver -stack boltsession -addr 127.0.0.1:0 -dir /tmp/x
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	_ "net/http/pprof" // served only with -pprof, on its own listener
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/boltsession/boltsession/benchmarks/internal/stacks"
)

func main() {
	name := flag.String("stack", "", "stack to serve: "+strings.Join(stacks.Names(), ", "))
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	dir := flag.String("dir", "", "data directory (default: a new temporary directory, removed at exit)")
	redisAddr := flag.String("redis", "", "Redis host:port for the Redis stacks")
	pprofAddr := flag.String("pprof", "", "serve net/http/pprof on this address (e.g. 127.0.0.1:6060) for profiling under load")
	flag.Parse()
	if *pprofAddr != "" {
		go func() { log.Println(http.ListenAndServe(*pprofAddr, nil)) }()
	}
	if err := run(*name, *addr, *dir, *redisAddr); err != nil {
		log.Fatal(err)
	}
}

func run(name, addr, dir, redisAddr string) error {
	if dir == "" {
		d, err := os.MkdirTemp("", "benchserver-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	st, err := stacks.New(name, stacks.Config{
		Dir:       dir,
		RedisAddr: redisAddr,
		HashKey:   []byte("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"),
	})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		_ = st.Close()
		return err
	}
	// Request logging would dominate the figures; errors still reach stderr.
	srv := &http.Server{Handler: st.Handler, ReadHeaderTimeout: 10 * time.Second}
	fmt.Printf("listening on %s\n", ln.Addr())

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		_ = st.Close()
		return err
	case <-ctx.Done():
	}
	shutCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Printf("shutdown: %v", err)
	}
	return st.Close()
}
