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
//
// This one file is the whole program: the flags, the store (the bbolt file,
// or Redis), the key, the Manager, the routes and a graceful shutdown that
// closes the store.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/boltsession/boltsession"
	"github.com/boltsession/boltsession/redisstore"
	"github.com/redis/go-redis/v9"
)

// config is what the command line sets.
type config struct {
	addr          string
	db            string
	keyFile       string
	maxAge        time.Duration
	sweepInterval time.Duration
	redisURL      string
	redis         *redis.Options // parsed from redisURL; nil without -redis
	clusterURL    string
	cluster       *redis.ClusterOptions // parsed from clusterURL; nil without -redis-cluster
}

func main() {
	var cfg config
	flag.StringVar(&cfg.addr, "addr", "127.0.0.1:8080", "address to listen on (port 0 picks a free one)")
	flag.StringVar(&cfg.db, "db", "sessions.db", "session database file")
	flag.StringVar(&cfg.keyFile, "key-file", "", "cookie signing key file, created with 64 random bytes on first run (default <db>.key)")
	flag.DurationVar(&cfg.maxAge, "max-age", 24*time.Hour, "idle timeout of a session")
	flag.DurationVar(&cfg.sweepInterval, "sweep-interval", time.Minute, "how often expired sessions are deleted from the -db file (negative: never)")
	flag.StringVar(&cfg.redisURL, "redis", "", "keep sessions in the Redis server at this URL, e.g. redis://127.0.0.1:6379/0, instead of the -db file; processes sharing it must share -key-file too")
	flag.StringVar(&cfg.clusterURL, "redis-cluster", "", "keep sessions in the Redis Cluster whose seed nodes this URL names, e.g. redis://10.0.0.1:6379?addr=10.0.0.2:6379, instead of the -db file")
	flag.Usage = usage
	flag.Parse() // a bad flag exits 2; -help exits 0
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "counter: unexpected argument %q\n", flag.Arg(0))
		flag.Usage()
		os.Exit(2)
	}
	var err error
	switch {
	case cfg.redisURL != "" && cfg.clusterURL != "":
		err = errors.New("-redis and -redis-cluster exclude each other")
	case cfg.redisURL != "":
		cfg.redis, err = redisOptions(cfg.redisURL)
	case cfg.clusterURL != "":
		cfg.cluster, err = clusterOptions(cfg.clusterURL)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "counter: %v\n", err)
		flag.Usage()
		os.Exit(2)
	}
	if cfg.keyFile == "" {
		cfg.keyFile = cfg.db + ".key"
	}

	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	slog.SetDefault(logger)
	redis.SetLogger(redisLog{logger})

	// The first SIGINT (Ctrl-C) or SIGTERM starts a graceful shutdown;
	// restoring the default action then lets a second one stop a shutdown
	// that hangs.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop()
	}()
	if err := run(ctx, cfg, logger); err != nil {
		logger.Error("counter failed", "err", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprint(flag.CommandLine.Output(), `Usage: counter [flags]

Counts each visitor's visits in a session.

Routes:
  GET  /        count this visit: {"views":N}
  POST /reset   end the session (record deleted, cookie expired): {"views":0}

Flags:
`)
	flag.PrintDefaults()
}

// run serves until ctx is done, then lets in-flight requests finish and
// closes the store.
func run(ctx context.Context, cfg config, logger *slog.Logger) (err error) {
	store, closeStore, where, err := openStore(ctx, cfg, logger)
	if err != nil {
		return err
	}
	// Closing stops the sweeper and releases the file (or the Redis
	// client). It runs after serve has returned, so no request loses its
	// store midway.
	defer func() {
		if cerr := closeStore(); cerr != nil && err == nil {
			err = fmt.Errorf("close store: %w", cerr)
		}
	}()

	// The key that signs the session cookie, kept in a file so that
	// cookies stay valid across restarts.
	key, err := boltsession.LoadOrCreateKey(cfg.keyFile)
	if err != nil {
		return err
	}
	m, err := boltsession.New(store, boltsession.Options{
		Keys:   [][]byte{key},
		MaxAge: cfg.maxAge,
		Logger: logger,
	})
	if err != nil {
		return err
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", count)
	mux.HandleFunc("POST /reset", reset)

	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	logger.Info("serving", "addr", "http://"+ln.Addr().String(), where)
	return serve(ctx, ln, m.Middleware(mux), logger)
}

// openStore opens the store cfg chooses: the Redis server with -redis or
// the Redis Cluster with -redis-cluster, which several processes can share,
// or else the bbolt file, which serves one. closeStore releases it; where
// names it for the log, without a password.
func openStore(ctx context.Context, cfg config, logger *slog.Logger) (store boltsession.Store, closeStore func() error, where slog.Attr, err error) {
	if cfg.redis != nil || cfg.cluster != nil {
		var client redis.UniversalClient
		rawURL, flagName := cfg.redisURL, "redis"
		if cfg.cluster != nil {
			client, rawURL, flagName = redis.NewClusterClient(cfg.cluster), cfg.clusterURL, "redis-cluster"
		} else {
			client = redis.NewClient(cfg.redis)
		}
		if err := pingRedis(ctx, client, rawURL); err != nil {
			return nil, nil, slog.Attr{}, err
		}
		return redisstore.New(client, nil), client.Close, slog.String(flagName, redactURL(rawURL)), nil
	}
	bs, err := boltsession.Open(cfg.db, &boltsession.BoltOptions{SweepInterval: cfg.sweepInterval, Logger: logger})
	if errors.Is(err, boltsession.ErrLocked) {
		return nil, nil, slog.Attr{}, fmt.Errorf("%w (a session file serves one process; to run several, share a Redis server with -redis URL)", err)
	}
	if err != nil {
		return nil, nil, slog.Attr{}, err
	}
	return bs, bs.Close, slog.String("db", cfg.db), nil
}

// views is the JSON body of every response.
type views struct {
	Views int `json:"views"`
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
	writeJSON(w, http.StatusOK, views{n})
}

// reset ends the session: the record is deleted and the cookie expired.
func reset(w http.ResponseWriter, r *http.Request) {
	boltsession.FromContext(r.Context()).Destroy()
	writeJSON(w, http.StatusOK, views{0})
}

// writeJSON writes v as the response body with the given status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	// The status is out: an encoding error could only be logged, and v is
	// always a plain value of ours.
	_ = json.NewEncoder(w).Encode(v)
}

// shutdownTimeout bounds how long a stopping server waits for in-flight
// requests before the store is closed anyway.
const shutdownTimeout = 10 * time.Second

// serve serves h on ln until ctx is done, then stops accepting connections
// and waits up to shutdownTimeout for in-flight requests. It returns nil
// after a clean shutdown.
func serve(ctx context.Context, ln net.Listener, h http.Handler, logger *slog.Logger) error {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	logger.Info("shutting down: finishing in-flight requests")
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	err := srv.Shutdown(sctx)
	<-served // http.ErrServerClosed, now that Shutdown has begun
	if err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

// redisOptions parses a Redis URL (redis://[user:pass@]host:6379/0,
// rediss:// for TLS) into client options for a web server: a request's
// deadline bounds its Redis calls (go-redis ignores deadlines without
// ContextTimeoutEnabled), and a server that is down fails a request after
// one dial instead of five with backoff. Query parameters go-redis knows,
// such as dial_timeout=2s, are honoured. Errors never show the password.
func redisOptions(rawURL string) (*redis.Options, error) {
	opt, err := redis.ParseURL(rawURL)
	if err != nil {
		var uerr *url.Error // it repeats the whole URL, password included
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return nil, fmt.Errorf("-redis %s: %w", redactURL(rawURL), err)
	}
	opt.ContextTimeoutEnabled = true
	opt.DialerRetries = 1
	return opt, nil
}

// clusterOptions parses the URL of a Redis Cluster's seed nodes
// (redis://[user:pass@]host1:6379?addr=host2:6379&addr=host3:6379) into
// client options set up as redisOptions sets up a server's.
func clusterOptions(rawURL string) (*redis.ClusterOptions, error) {
	opt, err := redis.ParseClusterURL(rawURL)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return nil, fmt.Errorf("-redis-cluster %s: %w", redactURL(rawURL), err)
	}
	opt.ContextTimeoutEnabled = true
	opt.DialerRetries = 1
	return opt, nil
}

// pingRedis waits (5s at most) for the server or cluster to answer a PING,
// so that a mistyped URL stops the program instead of turning every request
// into a 500; the client is closed if it does not.
func pingRedis(ctx context.Context, client redis.UniversalClient, rawURL string) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := client.Ping(ctx).Err(); err != nil {
		client.Close()
		return fmt.Errorf("redis %s: %w", redactURL(rawURL), err)
	}
	return nil
}

// redactURL hides the password of a Redis URL. A string that does not parse
// may hold a password where url.Parse cannot find it, so it is not shown.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

// redisLog passes go-redis's own messages (failed dials, pool trouble) to
// the program's logger, so they share its format.
type redisLog struct{ logger *slog.Logger }

func (l redisLog) Printf(ctx context.Context, format string, v ...any) {
	l.logger.WarnContext(ctx, fmt.Sprintf(format, v...), "from", "go-redis")
}
