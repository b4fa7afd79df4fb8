// Login shows sign-in with boltsession: the session ID is renewed at login,
// the session is tied to its user (the owner index), and a user can list
// their sessions and log out on one browser or on all of them.
//
//	go run ./examples/login         # then open http://127.0.0.1:8080/
//
// Routes (-help lists them too):
//
//	GET  /            an HTML page: a login form, or the user, their sessions and logout buttons
//	POST /login       form field "user" (1 to 64 bytes of printable text) → {"user":NAME}; 400 {"error":...} if invalid
//	GET  /me          {"user":NAME,"sessions":K} (K = the user's live sessions); 401 if not logged in
//	GET  /sessions    the user's live sessions: [{"created","expires","current"}]
//	POST /logout      ends this session → {"user":""}
//	POST /logout-all  ends every session of the user → {"destroyed":N}
//
// A request that accepts text/html (a browser submitting the page's forms)
// gets a 303 redirect to / instead of the JSON body, so the page shows the
// new state. Sessions live in ./login.db, the signing key in ./login.db.key.
// Flags as for examples/counter: -addr, -db, -redis, -key-file, -max-age,
// -sweep-interval (see -help).
//
// This is an example of session handling, not of authentication: anyone may
// log in as any name.
//
// This one file (with page.html) is the whole program: the flags, the store
// (the bbolt file, or Redis), the key, the Manager, the routes and a
// graceful shutdown that closes the store.
package main

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"html/template"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
	"unicode"
	"unicode/utf8"

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
}

func main() {
	var cfg config
	flag.StringVar(&cfg.addr, "addr", "127.0.0.1:8080", "address to listen on (port 0 picks a free one)")
	flag.StringVar(&cfg.db, "db", "login.db", "session database file")
	flag.StringVar(&cfg.keyFile, "key-file", "", "cookie signing key file, created with 64 random bytes on first run (default <db>.key)")
	flag.DurationVar(&cfg.maxAge, "max-age", 24*time.Hour, "idle timeout of a session")
	flag.DurationVar(&cfg.sweepInterval, "sweep-interval", time.Minute, "how often expired sessions are deleted from the -db file (negative: never)")
	flag.StringVar(&cfg.redisURL, "redis", "", "keep sessions in the Redis server at this URL, e.g. redis://127.0.0.1:6379/0, instead of the -db file; processes sharing it must share -key-file too")
	flag.Usage = usage
	flag.Parse() // a bad flag exits 2; -help exits 0
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "login: unexpected argument %q\n", flag.Arg(0))
		flag.Usage()
		os.Exit(2)
	}
	if cfg.redisURL != "" {
		var err error
		if cfg.redis, err = redisOptions(cfg.redisURL); err != nil {
			fmt.Fprintf(os.Stderr, "login: %v\n", err)
			flag.Usage()
			os.Exit(2)
		}
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
		logger.Error("login failed", "err", err)
		os.Exit(1)
	}
}

// routesHelp is the route list -help prints.
const routesHelp = `  GET  /            an HTML page: a login form, or the user, their sessions and logout buttons
  POST /login       form field "user" (1 to 64 bytes of printable text): {"user":NAME}; 400 {"error":...} if invalid
  GET  /me          {"user":NAME,"sessions":K} (K: the user's live sessions); 401 if not logged in
  GET  /sessions    the user's live sessions: [{"created":...,"expires":...,"current":true|false}]
  POST /logout      end this session: {"user":""}
  POST /logout-all  end every session of the user: {"destroyed":N}
  (A browser that sends Accept: text/html gets a 303 back to / instead of JSON.)
`

func usage() {
	fmt.Fprint(flag.CommandLine.Output(), `Usage: login [flags]

Sign-in with sessions: a new session ID at login, the user's sessions
listed, log out here or everywhere. Open http://127.0.0.1:8080/ in a browser.

Routes:
`+routesHelp+`
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

	s := &server{m: m}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.home)
	mux.HandleFunc("POST /login", s.login)
	mux.HandleFunc("GET /me", s.me)
	mux.HandleFunc("GET /sessions", s.sessions)
	mux.HandleFunc("POST /logout", s.logout)
	mux.HandleFunc("POST /logout-all", s.logoutAll)

	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	logger.Info("serving", "addr", "http://"+ln.Addr().String(), where)
	return serve(ctx, ln, m.Middleware(mux), logger)
}

// openStore opens the store cfg chooses: the Redis server with -redis,
// which several processes can share, or else the bbolt file, which serves
// one. closeStore releases it; where names it for the log, without a
// password.
func openStore(ctx context.Context, cfg config, logger *slog.Logger) (store boltsession.Store, closeStore func() error, where slog.Attr, err error) {
	if cfg.redis != nil {
		client, err := connectRedis(ctx, cfg.redis, cfg.redisURL)
		if err != nil {
			return nil, nil, slog.Attr{}, err
		}
		return redisstore.New(client, nil), client.Close, slog.String("redis", redactURL(cfg.redisURL)), nil
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

// maxUser is the longest user name accepted, in bytes.
const maxUser = 64

//go:embed page.html
var pageHTML string

// page escapes everything it prints (html/template), so a user named
// <script> is shown, not run.
var page = template.Must(template.New("page").Parse(pageHTML))

type server struct {
	m *boltsession.Manager
}

// sessionInfo describes one of the user's sessions without its ID: a
// session ID is a bearer credential, so no response carries another
// session's.
type sessionInfo struct {
	Created time.Time `json:"created"`
	Expires time.Time `json:"expires"`
	Current bool      `json:"current"`
}

// pageData is what page.html shows: the user and their sessions when
// logged in, else the login form with Error (if any) above it.
type pageData struct {
	User     string
	Sessions []sessionInfo
	Error    string
}

type errorBody struct {
	Error string `json:"error"`
}

// user returns the logged-in user's name, or "" when nobody is logged in.
func user(s *boltsession.Session) string {
	name, err := boltsession.Get[string](s, "user")
	if err != nil {
		return ""
	}
	return name
}

// wantsHTML reports whether the client is a browser navigating (submitting
// the page's forms), which is better served by a redirect than by JSON.
func wantsHTML(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "text/html")
}

// checkUser tells why name cannot be a user name, or returns "".
func checkUser(name string) string {
	switch {
	case name == "":
		return "user is required"
	case len(name) > maxUser:
		return "user must be at most 64 bytes"
	case !utf8.ValidString(name) || strings.ContainsFunc(name, unicode.IsControl):
		return "user must be printable UTF-8 text"
	}
	return ""
}

// list returns the user's live sessions, marking the one of this request.
func (s *server) list(r *http.Request, sess *boltsession.Session, name string) ([]sessionInfo, error) {
	recs, err := s.m.Owned(r.Context(), name)
	if err != nil {
		return nil, err
	}
	infos := make([]sessionInfo, 0, len(recs))
	for _, rec := range recs {
		infos = append(infos, sessionInfo{
			Created: rec.Created.UTC(),
			Expires: rec.Expires.UTC(),
			Current: rec.Handle == sess.Handle(),
		})
	}
	return infos, nil
}

func (s *server) home(w http.ResponseWriter, r *http.Request) {
	sess := boltsession.FromContext(r.Context())
	data := pageData{User: user(sess)}
	if data.User != "" {
		infos, err := s.list(r, sess, data.User)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		data.Sessions = infos
	}
	s.render(w, r, http.StatusOK, data)
}

func (s *server) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	if err := r.ParseForm(); err != nil {
		s.reject(w, r, "cannot read the form")
		return
	}
	name := r.PostForm.Get("user")
	if msg := checkUser(name); msg != "" {
		s.reject(w, r, msg)
		return
	}
	sess := boltsession.FromContext(r.Context())
	// A new ID at login, so an ID planted or seen before login is worth
	// nothing after it (session fixation).
	sess.Regenerate()
	if err := sess.Set("user", name); err != nil {
		s.fail(w, r, err)
		return
	}
	sess.SetOwner(name)
	if wantsHTML(r) {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		User string `json:"user"`
	}{name})
}

// signedIn returns the request's session and its user, or answers 401
// and returns ok false when nobody is logged in.
func signedIn(w http.ResponseWriter, r *http.Request) (sess *boltsession.Session, name string, ok bool) {
	sess = boltsession.FromContext(r.Context())
	if name = user(sess); name == "" {
		writeJSON(w, http.StatusUnauthorized, errorBody{"not logged in"})
		return nil, "", false
	}
	return sess, name, true
}

// userSessions returns the logged-in user and their live sessions, or
// answers 401 or 500 and returns ok false.
func (s *server) userSessions(w http.ResponseWriter, r *http.Request) (name string, infos []sessionInfo, ok bool) {
	sess, name, ok := signedIn(w, r)
	if !ok {
		return "", nil, false
	}
	infos, err := s.list(r, sess, name)
	if err != nil {
		s.fail(w, r, err)
		return "", nil, false
	}
	return name, infos, true
}

func (s *server) me(w http.ResponseWriter, r *http.Request) {
	name, infos, ok := s.userSessions(w, r)
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, struct {
		User     string `json:"user"`
		Sessions int    `json:"sessions"`
	}{name, len(infos)})
}

func (s *server) sessions(w http.ResponseWriter, r *http.Request) {
	_, infos, ok := s.userSessions(w, r)
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, infos)
}

func (s *server) logout(w http.ResponseWriter, r *http.Request) {
	boltsession.FromContext(r.Context()).Destroy()
	if wantsHTML(r) {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		User string `json:"user"`
	}{""})
}

func (s *server) logoutAll(w http.ResponseWriter, r *http.Request) {
	sess, name, ok := signedIn(w, r)
	if !ok {
		return
	}
	n, err := s.m.DestroyOwner(r.Context(), name)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	// DestroyOwner deleted this session's record too; Destroy also expires
	// this browser's cookie.
	sess.Destroy()
	if wantsHTML(r) {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		Destroyed int `json:"destroyed"`
	}{n})
}

// reject answers an invalid login: 400 with a JSON error, or the page with
// the message for a browser.
func (s *server) reject(w http.ResponseWriter, r *http.Request, msg string) {
	if wantsHTML(r) {
		s.render(w, r, http.StatusBadRequest, pageData{Error: msg})
		return
	}
	writeJSON(w, http.StatusBadRequest, errorBody{msg})
}

func (s *server) fail(w http.ResponseWriter, r *http.Request, err error) {
	slog.ErrorContext(r.Context(), "login example: request failed", "path", r.URL.Path, "err", err)
	writeJSON(w, http.StatusInternalServerError, errorBody{"internal error"})
}

func (s *server) render(w http.ResponseWriter, r *http.Request, status int, data pageData) {
	var buf strings.Builder
	if err := page.Execute(&buf, data); err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(buf.String()))
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

// connectRedis returns a client once the server answers a PING (within 5s),
// so that a mistyped URL stops the program instead of turning every request
// into a 500.
func connectRedis(ctx context.Context, opt *redis.Options, rawURL string) (*redis.Client, error) {
	client := redis.NewClient(opt)
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := client.Ping(ctx).Err(); err != nil {
		client.Close()
		return nil, fmt.Errorf("redis %s: %w", redactURL(rawURL), err)
	}
	return client, nil
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
