package boltsession

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

// rendezvous, when armed, holds each of the requests fired together after
// it loaded its session until the others have loaded theirs too: they all
// race on the live session, and what order their saves land in is left to
// the scheduler.
type rendezvous struct {
	mu sync.Mutex
	wg *sync.WaitGroup
}

func (r *rendezvous) arm(n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.wg = nil
	if n > 0 {
		r.wg = &sync.WaitGroup{}
		r.wg.Add(n)
	}
}

func (r *rendezvous) arrive() {
	r.mu.Lock()
	wg := r.wg
	r.mu.Unlock()
	if wg != nil {
		wg.Done()
		wg.Wait()
	}
}

// raceRoutes adds the routes the race tests fire together. Each writes
// "loaded" when the request carried a live session, "new" otherwise, so a
// test knows which requests raced on the live session.
func raceRoutes(e *env, rv *rendezvous) {
	loaded := func(s *Session) string {
		if s.IsNew() {
			return "new"
		}
		return "loaded"
	}
	e.mux.HandleFunc("/login", func(w http.ResponseWriter, r *http.Request) {
		s := FromContext(r.Context())
		if err := errors.Join(s.Regenerate(), s.Set("user", r.FormValue("u")), s.SetOwner(r.FormValue("u"))); err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		io.WriteString(w, "ok")
	})
	e.mux.HandleFunc("/race/regenerate", func(w http.ResponseWriter, r *http.Request) {
		s := FromContext(r.Context())
		rv.arrive()
		if err := s.Regenerate(); err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		io.WriteString(w, loaded(s))
	})
	e.mux.HandleFunc("/race/logout", func(w http.ResponseWriter, r *http.Request) {
		s := FromContext(r.Context())
		rv.arrive()
		if err := s.Destroy(); err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		io.WriteString(w, loaded(s))
	})
	e.mux.HandleFunc("/race/cart", func(w http.ResponseWriter, r *http.Request) {
		s := FromContext(r.Context())
		rv.arrive()
		if err := s.Set("cart", r.FormValue("v")); err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		io.WriteString(w, loaded(s))
	})
}

// fireTogether sends the requests at once, each with the session cookie
// value c and no cookie jar, and returns their responses in order.
func fireTogether(e *env, c string, paths ...string) []response {
	start := make(chan struct{})
	out := make([]response, len(paths))
	var wg sync.WaitGroup
	for i, p := range paths {
		wg.Go(func() {
			<-start
			out[i] = e.rawRequest(p, c)
		})
	}
	close(start)
	wg.Wait()
	return out
}

// signIn makes a new client sign in as user and returns its cookie value.
func signIn(e *env, user string) string {
	e.t.Helper()
	c := e.newClient()
	e.mustGet(c, "/login?u="+user)
	v := e.jarCookie(c)
	if v == "" {
		e.t.Fatal("no session cookie after login")
	}
	return v
}

// TestLogoutRacingRegenerateNeverLeavesTheUserSignedIn fires a regenerate
// (ID rotation, step-up login) and a logout on one session together, with no
// ordering, 100 times with both held until both loaded the live session and
// 100 times running free. Whenever the logout loaded the live session and
// was answered 2xx, no session of the user may survive: not the old one,
// not a regenerated one.
func TestLogoutRacingRegenerateNeverLeavesTheUserSignedIn(t *testing.T) {
	for _, both := range []bool{true, false} {
		t.Run(fmt.Sprintf("bothLoaded=%v", both), func(t *testing.T) {
			e := newEnv(t, Options{})
			rv := &rendezvous{}
			raceRoutes(e, rv)
			var raced, regenWon, regenLost int
			for round := range 100 {
				user := fmt.Sprintf("alice-%d", round)
				c := signIn(e, user)
				if both {
					rv.arm(2)
				}
				res := fireTogether(e, c, "/race/regenerate", "/race/logout")
				regen, logout := res[0], res[1]
				if logout.status != http.StatusOK {
					t.Fatalf("round %d: logout answered %d %q", round, logout.status, logout.body)
				}
				switch regen.status {
				case http.StatusOK:
					regenWon++
				case http.StatusConflict:
					regenLost++
					if regen.cookie("sid") != nil {
						t.Fatalf("round %d: the refused regenerate sent a session cookie", round)
					}
				default:
					t.Fatalf("round %d: regenerate answered %d %q", round, regen.status, regen.body)
				}
				if logout.body != "loaded" {
					continue // the logout came after the regenerate, on the old cookie: it ended nothing
				}
				raced++
				owned, err := e.m.Owned(context.Background(), user)
				if err != nil {
					t.Fatal(err)
				}
				if len(owned) != 0 {
					t.Fatalf("round %d: the logout was answered 200, but %d session(s) of %s survive (regenerate: %d %q)",
						round, len(owned), user, regen.status, regen.body)
				}
			}
			t.Logf("100 rounds: the logout loaded the live session in %d; regenerate acknowledged %d, refused %d",
				raced, regenWon, regenLost)
			if both && raced != 100 {
				t.Errorf("the rendezvous let %d logouts load after the regenerate", 100-raced)
			}
		})
	}
}

// TestWriteRacingRegenerateIsNeverAcknowledgedWithoutLanding fires a write
// of a cart and a regenerate on one session together, 100 times held until
// both loaded the live session and 100 times running free: a write that
// loaded the live session and was answered 2xx must be in the session the
// user ends up with; one that failed must not have landed.
func TestWriteRacingRegenerateIsNeverAcknowledgedWithoutLanding(t *testing.T) {
	for _, both := range []bool{true, false} {
		t.Run(fmt.Sprintf("bothLoaded=%v", both), func(t *testing.T) {
			e := newEnv(t, Options{})
			rv := &rendezvous{}
			raceRoutes(e, rv)
			var acknowledged, refused, late int
			for round := range 100 {
				user := fmt.Sprintf("bob-%d", round)
				c := signIn(e, user)
				if both {
					rv.arm(2)
				}
				res := fireTogether(e, c, fmt.Sprintf("/race/cart?v=%d", round), "/race/regenerate")
				write, regen := res[0], res[1]
				if regen.status != http.StatusOK {
					t.Fatalf("round %d: regenerate answered %d %q", round, regen.status, regen.body)
				}
				owned, err := e.m.Owned(context.Background(), user)
				if err != nil || len(owned) != 1 {
					t.Fatalf("round %d: Owned = %v, %v; want the one session", round, owned, err)
				}
				rec := e.recordByHandle(owned[0].Handle)
				switch {
				case write.body == "new":
					late++ // loaded after the regenerate: a new anonymous session took the write
				case write.status == http.StatusOK:
					acknowledged++
					var cart string
					if err := msgpack.Unmarshal(rec.Values["cart"], &cart); err != nil || cart != fmt.Sprint(round) {
						t.Fatalf("round %d: the write was answered 200, but the session holds cart %q (%v)", round, cart, err)
					}
				case write.status == http.StatusConflict:
					refused++
					if _, ok := rec.Values["cart"]; ok {
						t.Fatalf("round %d: the write was refused, but its value landed", round)
					}
				default:
					t.Fatalf("round %d: write answered %d %q", round, write.status, write.body)
				}
			}
			t.Logf("100 rounds: write acknowledged (and found) %d, refused %d, loaded after the regenerate %d",
				acknowledged, refused, late)
			if both && late > 0 {
				t.Errorf("the rendezvous let %d writes load after the regenerate", late)
			}
		})
	}
}

// TestErrorHandlerTellsEndedFromReplaced holds a request that changes the
// session after its load while another request logs out, or regenerates:
// the change does not land, the answer is not 2xx, and ErrorHandler gets
// ErrEnded or ErrReplaced.
func TestErrorHandlerTellsEndedFromReplaced(t *testing.T) {
	for _, c := range []struct {
		rival string
		want  error
	}{
		{"/destroy", ErrEnded},
		{"/regenerate", ErrReplaced},
	} {
		t.Run(strings.TrimPrefix(c.rival, "/"), func(t *testing.T) {
			got := make(chan error, 1)
			e := newEnv(t, Options{ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
				got <- err
				http.Error(w, "conflict", http.StatusConflict)
			}})
			g := newGate()
			e.mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
				s := FromContext(r.Context())
				close(g.loaded)
				<-g.release
				if err := s.Set("late", "write"); err != nil {
					t.Errorf("Set: %v", err)
				}
				w.Header().Set("X-Handler", "1")
			})
			e.mustGet(nil, "/incr")
			done := make(chan response)
			go func() { done <- e.get(nil, "/slow") }()
			<-g.loaded
			e.mustGet(e.client, c.rival)
			close(g.release)
			r := <-done
			if r.status != http.StatusConflict {
				t.Fatalf("status %d %q, want the ErrorHandler's 409", r.status, r.body)
			}
			if err := <-got; !errors.Is(err, c.want) {
				t.Fatalf("ErrorHandler got %v, want %v", err, c.want)
			}
			if r.header.Get("X-Handler") != "" {
				t.Error("the error answer carries the handler's header")
			}
		})
	}
}

// TestReadRacingLogoutIsNotAnError: a request that changed nothing is not
// failed because the session ended under it (its lazy touch finds nothing).
func TestReadRacingLogoutIsNotAnError(t *testing.T) {
	e := newEnv(t, Options{TouchAfter: -1}) // touch on every request
	g := newGate()
	e.mux.HandleFunc("/slowread", func(w http.ResponseWriter, r *http.Request) {
		close(g.loaded)
		<-g.release
		io.WriteString(w, "read")
	})
	e.mustGet(nil, "/incr")
	done := make(chan response)
	go func() { done <- e.get(nil, "/slowread") }()
	<-g.loaded
	e.mustGet(nil, "/destroy")
	close(g.release)
	if r := <-done; r.status != 200 || r.cookie("sid") != nil {
		t.Fatalf("read racing a logout: %d %q, cookie %v; want 200 and no cookie", r.status, r.body, r.cookie("sid"))
	}
	if n := e.count(); n != 0 {
		t.Fatalf("%d records after the logout", n)
	}
}

func TestDestroyThenRegenerateStartsANewSessionForTheFlash(t *testing.T) {
	e := newEnv(t, Options{})
	e.mux.HandleFunc("/logout-flash", func(w http.ResponseWriter, r *http.Request) {
		s := FromContext(r.Context())
		if err := errors.Join(s.Destroy(), s.Regenerate(), s.Set("flash", "logged out")); err != nil {
			http.Error(w, err.Error(), 500)
		}
	})
	e.mux.HandleFunc("/flash", func(w http.ResponseWriter, r *http.Request) {
		v, err := Pop[string](FromContext(r.Context()), "flash")
		if err != nil {
			v = err.Error()
		}
		io.WriteString(w, v)
	})
	e.mustGet(nil, "/incr")
	oldID := e.mustGet(nil, "/id")
	e.mustGet(nil, "/logout-flash")
	if e.record(oldID) != nil {
		t.Fatal("the destroyed session survived")
	}
	if got := e.mustGet(nil, "/flash"); got != "logged out" {
		t.Fatalf("flash %q", got)
	}
	if got := e.mustGet(nil, "/get?k=views"); got != "none" {
		t.Fatalf("the new session carries the old one's values: views %s", got)
	}
}

func TestChangesAfterDestroyFailWithErrDestroyed(t *testing.T) {
	e := newEnv(t, Options{})
	errs := make(chan []error, 1)
	e.mux.HandleFunc("/destroy-then-change", func(w http.ResponseWriter, r *http.Request) {
		s := FromContext(r.Context())
		s.Destroy()
		errs <- []error{s.Set("k", "v"), s.Delete("views"), s.Clear(), s.SetOwner("u"), s.SetMaxAge(1), s.Touch()}
	})
	e.mustGet(nil, "/incr")
	e.mustGet(nil, "/destroy-then-change")
	for i, err := range <-errs {
		if !errors.Is(err, ErrDestroyed) {
			t.Errorf("change %d after Destroy: %v, want ErrDestroyed", i, err)
		}
	}
	if n := e.count(); n != 0 {
		t.Fatalf("%d records: a change after Destroy was saved", n)
	}
}

func TestSessionOutsideTheMiddlewareNamesIt(t *testing.T) {
	s := FromContext(context.Background())
	for name, err := range map[string]error{
		"Set": s.Set("k", 1), "Delete": s.Delete("k"), "Clear": s.Clear(), "SetOwner": s.SetOwner("u"),
		"SetMaxAge": s.SetMaxAge(1), "Touch": s.Touch(), "Regenerate": s.Regenerate(), "Destroy": s.Destroy(),
		"Save": s.Save(context.Background()),
	} {
		if !errors.Is(err, ErrNoSession) {
			t.Errorf("%s on a nil Session: %v, want ErrNoSession", name, err)
		}
	}
	if _, err := Get[int](s, "k"); !errors.Is(err, ErrNoSession) {
		t.Errorf("Get on a nil Session: %v", err)
	}
	if !strings.Contains(ErrNoSession.Error(), "Manager.Middleware") {
		t.Errorf("ErrNoSession does not name the middleware: %v", ErrNoSession)
	}
	defer func() {
		if p := recover(); p == nil || !strings.Contains(fmt.Sprint(p), "Manager.Middleware") {
			t.Errorf("ID on a nil Session: panic %v, want one that names the middleware", p)
		}
	}()
	_ = s.ID()
}

// TestFailedSaveAnswersWithoutTheHandlersHeaders: the 500 that replaces a
// response whose save failed must not carry the headers the handler set
// for its own answer; what an outer handler set before stays.
func TestFailedSaveAnswersWithoutTheHandlersHeaders(t *testing.T) {
	e := newEnv(t, Options{}, envConfig{handler: func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-Outer", "kept")
			h.ServeHTTP(w, r)
		})
	}})
	e.mux.HandleFunc("/login-gzip", func(w http.ResponseWriter, r *http.Request) {
		FromContext(r.Context()).Set("user", "alice")
		h := w.Header()
		h.Set("Content-Encoding", "gzip")
		h.Set("Content-Type", "application/json")
		h.Set("Location", "/home")
		h.Add("Set-Cookie", "app=signed-in")
		w.WriteHeader(http.StatusFound)
		w.Write([]byte{0x1f, 0x8b})
	})
	e.store.failSave.Store(true)
	r := e.get(nil, "/login-gzip")
	if r.status != http.StatusInternalServerError {
		t.Fatalf("status %d, want 500", r.status)
	}
	for _, h := range []string{"Content-Encoding", "Location", "Set-Cookie"} {
		if v := r.header.Get(h); v != "" {
			t.Errorf("the error answer carries the handler's %s: %q", h, v)
		}
	}
	if ct := r.header.Get("Content-Type"); strings.Contains(ct, "json") {
		t.Errorf("the error answer is labelled %q", ct)
	}
	if r.header.Get("X-Outer") != "kept" {
		t.Error("the header an outer handler set was dropped")
	}
	if !strings.Contains(r.body, "Internal Server Error") {
		t.Errorf("body %q", r.body)
	}
}

// TestCookiesThatMustBeSecureAreNotSentOverPlainHTTP: browsers drop a
// SameSite=None, Partitioned, __Secure- or __Host- cookie without Secure,
// so with SecureAuto a plain-HTTP request gets no cookie and saves nothing,
// as SecureAlways does; over TLS the cookie goes out, Secure.
func TestCookiesThatMustBeSecureAreNotSentOverPlainHTTP(t *testing.T) {
	for _, c := range []struct {
		name string
		opts Options
	}{
		{"SameSite=None", Options{Cookie: CookieOptions{SameSite: http.SameSiteNoneMode}}},
		{"Partitioned", Options{Cookie: CookieOptions{Partitioned: true}}},
		{"__Secure-", Options{Name: "__Secure-sid"}},
		{"__Host-", Options{Name: "__Host-sid"}},
		{"SecureAlways", Options{Cookie: CookieOptions{Secure: SecureAlways}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, c.opts)
			name := e.m.cfg.Name
			r := e.get(nil, "/incr")
			if r.status != 200 || r.cookie(name) != nil {
				t.Fatalf("plain HTTP: %d, cookie %v; want 200 and no cookie", r.status, r.cookie(name))
			}
			if n := e.count(); n != 0 {
				t.Fatalf("plain HTTP saved %d orphan records", n)
			}
			if !strings.Contains(e.logs.String(), "must be Secure") {
				t.Error("not logged")
			}

			tls := newEnv(t, c.opts, envConfig{tls: true})
			ck := tls.get(nil, "/incr").cookie(name)
			if ck == nil || !ck.Secure {
				t.Fatalf("TLS: cookie %v, want a Secure one", ck)
			}
			if got := tls.mustGet(nil, "/incr"); got != "2" {
				t.Fatalf("TLS: second visit counted %s", got)
			}
		})
	}
}

func TestNewRefusesCookiePrefixesItsOptionsBreak(t *testing.T) {
	for name, o := range map[string]Options{
		"__Secure- with SecureNever": {Name: "__Secure-sid", Cookie: CookieOptions{Secure: SecureNever}},
		"__Host- with SecureNever":   {Name: "__Host-sid", Cookie: CookieOptions{Secure: SecureNever}},
		"__Host- with a Domain":      {Name: "__Host-sid", Cookie: CookieOptions{Domain: "example.com"}},
		"__Host- with a Path":        {Name: "__Host-sid", Cookie: CookieOptions{Path: "/app"}},
	} {
		o.Keys = [][]byte{testHashKey}
		if _, err := New(openBolt(t), o); err == nil {
			t.Errorf("%s: New accepted it", name)
		}
	}
}

// TestGenIDCollisionNeverOverwritesAnotherSession: a GenID that returns an
// ID in use makes the create draw again; one that always does fails the
// request, and the other user's session is untouched either way.
func TestGenIDCollisionNeverOverwritesAnotherSession(t *testing.T) {
	var mu sync.Mutex
	var queue []string
	genID := func(r *http.Request) string {
		mu.Lock()
		defer mu.Unlock()
		if len(queue) == 0 {
			return newID(r)
		}
		id := queue[0]
		queue = queue[1:]
		return id
	}
	e := newEnv(t, Options{GenID: genID})
	e.mustGet(nil, "/set?k=owner&v=victim")
	victim := e.mustGet(nil, "/id")

	mu.Lock()
	queue = []string{victim, victim}
	mu.Unlock()
	other := e.newClient()
	if got := e.mustGet(other, "/incr"); got != "1" {
		t.Fatalf("the new visitor counted %s, want 1: it got the victim's session", got)
	}
	if id := e.mustGet(other, "/id"); id == victim {
		t.Fatal("the new visitor got the victim's ID")
	}

	mu.Lock()
	queue = []string{victim, victim, victim, victim}
	mu.Unlock()
	if r := e.get(e.newClient(), "/incr"); r.status != http.StatusInternalServerError || r.cookie("sid") != nil {
		t.Fatalf("GenID always colliding: %d, cookie %v; want 500 and no cookie", r.status, r.cookie("sid"))
	}
	rec := e.record(victim)
	if rec == nil {
		t.Fatal("the victim's session is gone")
	}
	var owner string
	if err := msgpack.Unmarshal(rec.Values["owner"], &owner); err != nil || owner != "victim" || len(rec.Values) != 1 {
		t.Fatalf("the victim's session was changed: %v", rec.Values)
	}
}
