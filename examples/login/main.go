// Login shows sign-in with boltsession: the session ID is renewed at login,
// the session is tied to its user (the owner index), and a user can list
// their sessions and log out on one browser or on all of them.
//
//	go run ./examples/login         # then open http://127.0.0.1:8080/
//
// Routes:
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
// Flags as for examples/counter (see -help).
//
// This is an example of session handling, not of authentication: anyone may
// log in as any name.
package main

import (
	_ "embed"
	"html/template"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/boltsession/boltsession"
	"github.com/boltsession/boltsession/examples/internal/app"
)

func main() {
	os.Exit(app.Main("login", os.Args[1:], os.Stderr, "login.db", routes))
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

func routes(m *boltsession.Manager) http.Handler {
	s := &server{m: m}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.home)
	mux.HandleFunc("POST /login", s.login)
	mux.HandleFunc("GET /me", s.me)
	mux.HandleFunc("GET /sessions", s.sessions)
	mux.HandleFunc("POST /logout", s.logout)
	mux.HandleFunc("POST /logout-all", s.logoutAll)
	return mux
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
			Current: rec.ID == sess.ID(),
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
	app.WriteJSON(w, http.StatusOK, struct {
		User string `json:"user"`
	}{name})
}

// signedIn returns the request's session and its user, or answers 401
// and returns ok false when nobody is logged in.
func signedIn(w http.ResponseWriter, r *http.Request) (sess *boltsession.Session, name string, ok bool) {
	sess = boltsession.FromContext(r.Context())
	if name = user(sess); name == "" {
		app.WriteJSON(w, http.StatusUnauthorized, errorBody{"not logged in"})
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
	app.WriteJSON(w, http.StatusOK, struct {
		User     string `json:"user"`
		Sessions int    `json:"sessions"`
	}{name, len(infos)})
}

func (s *server) sessions(w http.ResponseWriter, r *http.Request) {
	_, infos, ok := s.userSessions(w, r)
	if !ok {
		return
	}
	app.WriteJSON(w, http.StatusOK, infos)
}

func (s *server) logout(w http.ResponseWriter, r *http.Request) {
	boltsession.FromContext(r.Context()).Destroy()
	if wantsHTML(r) {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	app.WriteJSON(w, http.StatusOK, struct {
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
	app.WriteJSON(w, http.StatusOK, struct {
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
	app.WriteJSON(w, http.StatusBadRequest, errorBody{msg})
}

func (s *server) fail(w http.ResponseWriter, r *http.Request, err error) {
	slog.ErrorContext(r.Context(), "login example: request failed", "path", r.URL.Path, "err", err)
	app.WriteJSON(w, http.StatusInternalServerError, errorBody{"internal error"})
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
