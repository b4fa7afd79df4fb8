// Package app holds what the example programs share: their command-line
// flags, the choice of store (the bbolt file, or a Redis server that several
// processes share), the signing key kept in a file, and a server that shuts
// down gracefully on SIGINT or SIGTERM.
package app

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/boltsession/boltsession"
	"github.com/redis/go-redis/v9"
)

// ShutdownTimeout bounds how long a stopping server waits for in-flight
// requests before it closes the store anyway.
const ShutdownTimeout = 10 * time.Second

// Flags holds the command-line settings every example takes.
type Flags struct {
	// Addr is the address to listen on (-addr, default 127.0.0.1:8080).
	// Port 0 picks a free port; the start log line names the one chosen.
	Addr string

	// DB is the session file (-db). It is not opened when Redis is set,
	// but still names the default key file.
	DB string

	// Redis is the URL of a Redis server to keep the sessions in instead
	// of DB (-redis, e.g. redis://127.0.0.1:6379/0; rediss:// for TLS).
	// Empty, the default, means the DB file. Several processes may share
	// one Redis server, which a bbolt file does not allow; they must also
	// share the key file. See RedisOptions.
	Redis string

	// RedisCluster is the URL of a Redis Cluster to keep the sessions in
	// instead (-redis-cluster, e.g.
	// redis://10.0.0.1:6379?addr=10.0.0.2:6379&addr=10.0.0.3:6379: the seed
	// nodes). Sessions spread over every master. At most one of Redis and
	// RedisCluster may be set. See RedisClusterOptions.
	RedisCluster string

	// KeyFile is the file holding the cookie signing key (-key-file,
	// default DB + ".key"). See LoadOrCreateKey.
	KeyFile string

	// MaxAge is the sessions' idle timeout (-max-age, default 24h).
	MaxAge time.Duration

	// SweepInterval is how often expired sessions are deleted
	// (-sweep-interval, default 1m; negative disables the sweeper). It
	// does not apply to Redis, which deletes expired sessions itself.
	SweepInterval time.Duration
}

// NewFlags defines the shared flags on fs and returns where their values
// land once fs is parsed. defaultDB is the -db default.
func NewFlags(fs *flag.FlagSet, defaultDB string) *Flags {
	f := &Flags{}
	fs.StringVar(&f.Addr, "addr", "127.0.0.1:8080", "address to listen on")
	fs.StringVar(&f.DB, "db", defaultDB, "session database file")
	fs.StringVar(&f.Redis, "redis", "", "keep sessions in the Redis server at this URL, e.g. redis://127.0.0.1:6379/0, instead of the -db file; processes sharing it must share -key-file too")
	fs.StringVar(&f.RedisCluster, "redis-cluster", "", "keep sessions in the Redis Cluster whose seed nodes this URL names, e.g. redis://10.0.0.1:6379?addr=10.0.0.2:6379&addr=10.0.0.3:6379, instead of the -db file")
	fs.StringVar(&f.KeyFile, "key-file", "", "cookie signing key file, created with 64 random bytes on first run (default <db>.key)")
	fs.DurationVar(&f.MaxAge, "max-age", 24*time.Hour, "idle timeout of a session")
	fs.DurationVar(&f.SweepInterval, "sweep-interval", time.Minute, "how often expired sessions are deleted from the -db file (negative: never)")
	return f
}

// KeyPath returns the key file to use: KeyFile, or DB + ".key" when
// KeyFile is empty.
func (f *Flags) KeyPath() string {
	if f.KeyFile != "" {
		return f.KeyFile
	}
	return f.DB + ".key"
}

// OpenBolt opens the session file named by DB with the flags' sweep
// interval.
func (f *Flags) OpenBolt(logger *slog.Logger) (*boltsession.BoltStore, error) {
	return boltsession.Open(f.DB, &boltsession.BoltOptions{
		SweepInterval: f.SweepInterval,
		Logger:        logger,
	})
}

// OpenStore opens the store the flags choose: a redisstore.Store when Redis
// or RedisCluster is set (see OpenRedis), the BoltStore on DB otherwise. Closing closer
// releases it: the Redis client, or the BoltStore itself. A DB file that
// another process holds gives an error wrapping boltsession.ErrLocked that
// points to -redis.
func (f *Flags) OpenStore(ctx context.Context, logger *slog.Logger) (store boltsession.Store, closer io.Closer, err error) {
	if f.Redis != "" || f.RedisCluster != "" {
		rs, client, err := f.OpenRedis(ctx)
		if err != nil {
			return nil, nil, err
		}
		return rs, client, nil
	}
	bs, err := f.OpenBolt(logger)
	if errors.Is(err, boltsession.ErrLocked) {
		return nil, nil, fmt.Errorf("%w (a session file serves one process; to run several, share a Redis server with -redis URL)", err)
	}
	if err != nil {
		return nil, nil, err
	}
	return bs, bs, nil
}

// NewManager loads (or creates) the signing key and returns a Manager on
// store with the flags' MaxAge and every other option at its default.
func (f *Flags) NewManager(store boltsession.Store, logger *slog.Logger) (*boltsession.Manager, error) {
	key, err := LoadOrCreateKey(f.KeyPath())
	if err != nil {
		return nil, err
	}
	return boltsession.New(store, boltsession.Options{
		Keys:   [][]byte{key},
		MaxAge: f.MaxAge,
		Logger: logger,
	})
}

// Main runs an example program on the store its flags choose (see
// OpenStore) and returns its exit code: 0 after a graceful shutdown (or
// -help), 1 when something fails, 2 for bad flags (including a -redis or
// -redis-cluster value that is not a Redis URL, or both set). name is the program's name in usage and log messages; args are
// its arguments without the program name; defaultDB is the -db default.
// routes builds the application's handler, which Main wraps in the
// Manager's middleware.
//
// It logs one line when it starts serving, naming the address and the
// database file (db=) or the Redis URL without its password (redis= or
// redis-cluster=); on SIGINT or SIGTERM it lets in-flight requests finish,
// closes the store and returns 0.
func Main(name string, args []string, stderr io.Writer, defaultDB string, routes func(*boltsession.Manager) http.Handler) int {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	f := NewFlags(fs, defaultDB)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "%s: unexpected argument %q\n", name, fs.Arg(0))
		fs.Usage()
		return 2
	}
	if f.Redis != "" && f.RedisCluster != "" {
		fmt.Fprintf(stderr, "%s: -redis and -redis-cluster exclude each other\n", name)
		fs.Usage()
		return 2
	}
	if f.Redis != "" {
		if _, err := f.RedisOptions(); err != nil {
			fmt.Fprintf(stderr, "%s: %v\n", name, err)
			fs.Usage()
			return 2
		}
	}
	if f.RedisCluster != "" {
		if _, err := f.RedisClusterOptions(); err != nil {
			fmt.Fprintf(stderr, "%s: %v\n", name, err)
			fs.Usage()
			return 2
		}
	}

	logger := slog.New(slog.NewTextHandler(stderr, nil))
	slog.SetDefault(logger)
	redis.SetLogger(redisLog{logger})
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		// After the first signal, restore the default action so that a
		// second Ctrl-C stops a shutdown that hangs.
		<-ctx.Done()
		stop()
	}()
	if err := run(ctx, f, logger, routes); err != nil {
		logger.Error(name+" failed", "err", err)
		return 1
	}
	return 0
}

func run(ctx context.Context, f *Flags, logger *slog.Logger, routes func(*boltsession.Manager) http.Handler) (err error) {
	store, closer, err := f.OpenStore(ctx, logger)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := closer.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("close store: %w", cerr)
		}
	}()
	m, err := f.NewManager(store, logger)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", f.Addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	where := slog.String("db", f.DB)
	if f.Redis != "" {
		where = slog.String("redis", redactURL(f.Redis))
	}
	if f.RedisCluster != "" {
		where = slog.String("redis-cluster", redactURL(f.RedisCluster))
	}
	logger.Info("serving", "addr", "http://"+ln.Addr().String(), where)
	return Serve(ctx, ln, m.Middleware(routes(m)), logger)
}

// Serve serves h on ln until ctx is done, then stops accepting connections
// and waits up to ShutdownTimeout for in-flight requests to finish. It
// returns nil after a clean shutdown, and the error otherwise (including a
// shutdown that timed out). The caller closes the store after Serve
// returns, so no request is cut off from it.
func Serve(ctx context.Context, ln net.Listener, h http.Handler, logger *slog.Logger) error {
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
	sctx, cancel := context.WithTimeout(context.Background(), ShutdownTimeout)
	defer cancel()
	err := srv.Shutdown(sctx)
	<-served // http.ErrServerClosed, now that Shutdown has begun
	if err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

// WriteJSON writes v as the JSON response body with the given status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	// The status is out: an encoding error can only be logged by the
	// server, and v is always a plain value of the caller's.
	_ = json.NewEncoder(w).Encode(v)
}
