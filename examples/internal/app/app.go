// Package app holds what the example programs share: their command-line
// flags, the signing key kept in a file beside the database, and a server
// that shuts down gracefully on SIGINT or SIGTERM.
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
)

// ShutdownTimeout bounds how long a stopping server waits for in-flight
// requests before it closes the store anyway.
const ShutdownTimeout = 10 * time.Second

// Flags holds the command-line settings every example takes.
type Flags struct {
	// Addr is the address to listen on (-addr, default 127.0.0.1:8080).
	// Port 0 picks a free port; the start log line names the one chosen.
	Addr string

	// DB is the session file (-db).
	DB string

	// KeyFile is the file holding the cookie signing key (-key-file,
	// default DB + ".key"). See LoadOrCreateKey.
	KeyFile string

	// MaxAge is the sessions' idle timeout (-max-age, default 24h).
	MaxAge time.Duration

	// SweepInterval is how often expired sessions are deleted
	// (-sweep-interval, default 1m; negative disables the sweeper).
	SweepInterval time.Duration
}

// NewFlags defines the shared flags on fs and returns where their values
// land once fs is parsed. defaultDB is the -db default.
func NewFlags(fs *flag.FlagSet, defaultDB string) *Flags {
	f := &Flags{}
	fs.StringVar(&f.Addr, "addr", "127.0.0.1:8080", "address to listen on")
	fs.StringVar(&f.DB, "db", defaultDB, "session database file")
	fs.StringVar(&f.KeyFile, "key-file", "", "cookie signing key file, created with 64 random bytes on first run (default <db>.key)")
	fs.DurationVar(&f.MaxAge, "max-age", 24*time.Hour, "idle timeout of a session")
	fs.DurationVar(&f.SweepInterval, "sweep-interval", time.Minute, "how often expired sessions are deleted (negative: never)")
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

// Main runs an example program on a BoltStore and returns its exit code:
// 0 after a graceful shutdown (or -help), 1 when something fails, 2 for bad
// flags. name is the program's name in usage and log messages; args are
// its arguments without the program name; defaultDB is the -db default.
// routes builds the application's handler, which Main wraps in the
// Manager's middleware.
//
// It logs one line when it starts serving, naming the address and the
// database file; on SIGINT or SIGTERM it lets in-flight requests finish,
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

	logger := slog.New(slog.NewTextHandler(stderr, nil))
	slog.SetDefault(logger)
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
	store, err := f.OpenBolt(logger)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := store.Close(); cerr != nil && err == nil {
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
	logger.Info("serving", "addr", "http://"+ln.Addr().String(), "db", f.DB)
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
