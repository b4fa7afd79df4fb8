package boltsession

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// onSession registers a handler at path that runs fn on the request's
// session and writes what fn returns.
func (e *env) onSession(path string, fn func(s *Session) string) {
	e.mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, fn(FromContext(r.Context())))
	})
}

type profile struct {
	Name  string
	Roles []string
	Age   int
}

func TestGetMissingIsErrNoValueAndWrongTypeIsErrType(t *testing.T) {
	e := newEnv(t, Options{})
	e.onSession("/types", func(s *Session) string {
		var out []string
		_, err := Get[int](s, "missing")
		out = append(out, fmt.Sprint(errors.Is(err, ErrNoValue), errors.Is(err, ErrType)))
		s.Set("n", 42)
		_, err = Get[string](s, "n")
		out = append(out, fmt.Sprint(errors.Is(err, ErrNoValue), errors.Is(err, ErrType)))
		_, err = Get[profile](s, "n")
		out = append(out, fmt.Sprint(errors.Is(err, ErrType)))
		n, err := Get[int](s, "n")
		out = append(out, fmt.Sprint(n, err))
		return strings.Join(out, " ")
	})
	if got := e.mustGet(nil, "/types"); got != "true false false true true 42 <nil>" {
		t.Errorf("got %q", got)
	}
}

func TestStructValuesRoundTripAcrossRequests(t *testing.T) {
	e := newEnv(t, Options{})
	want := profile{Name: "alice", Roles: []string{"admin", "dev"}, Age: 30}
	e.onSession("/put", func(s *Session) string {
		if err := s.Set("p", want); err != nil {
			return err.Error()
		}
		return "ok"
	})
	e.onSession("/read", func(s *Session) string {
		p, err := Get[profile](s, "p")
		if err != nil {
			return err.Error()
		}
		return fmt.Sprintf("%+v", p)
	})
	e.mustGet(nil, "/put")
	e.restart()
	if got := e.mustGet(nil, "/read"); got != fmt.Sprintf("%+v", want) {
		t.Errorf("got %s", got)
	}
}

func TestPopReadsOnceAsFlash(t *testing.T) {
	e := newEnv(t, Options{})
	e.onSession("/flash", func(s *Session) string { s.Set("flash", "saved!"); return "" })
	e.onSession("/pop", func(s *Session) string {
		v, err := Pop[string](s, "flash")
		if err != nil {
			return err.Error()
		}
		return v
	})
	e.onSession("/popwrong", func(s *Session) string {
		_, err := Pop[int](s, "flash")
		return fmt.Sprint(errors.Is(err, ErrType), s.Has("flash"))
	})
	e.mustGet(nil, "/flash")
	if got := e.mustGet(nil, "/popwrong"); got != "true true" {
		t.Errorf("Pop of the wrong type: %s (want ErrType and the value kept)", got)
	}
	if got := e.mustGet(nil, "/pop"); got != "saved!" {
		t.Errorf("first Pop %q", got)
	}
	if got := e.mustGet(nil, "/pop"); !strings.Contains(got, ErrNoValue.Error()) {
		t.Errorf("second Pop %q, want ErrNoValue", got)
	}
}

func TestSetOfSameBytesAndDeleteOfMissingKeyWriteNothing(t *testing.T) {
	e := newEnv(t, Options{})
	e.onSession("/seed", func(s *Session) string { s.Set("a", 1); s.Set("b", "x"); return "" })
	e.onSession("/same", func(s *Session) string {
		s.Set("a", 1)
		s.Set("b", "changed")
		s.Set("b", "x") // back to the stored bytes
		s.Delete("missing")
		return ""
	})
	e.mustGet(nil, "/seed")
	e.store.resetCounts()
	e.mustGet(nil, "/same")
	if w := e.store.writes(); w != 0 {
		t.Errorf("%d writes for changes that cancel out", w)
	}
}

func TestSaveIsPerKeyMergeOfChangedKeys(t *testing.T) {
	e := newEnv(t, Options{})
	e.onSession("/seed", func(s *Session) string { s.Set("a", 1); s.Set("b", 2); s.Set("c", 3); return "" })
	e.onSession("/change", func(s *Session) string {
		s.Set("a", 1)  // same bytes
		s.Set("b", 20) // changed
		s.Delete("c")  // present
		s.Delete("zz") // absent
		s.Set("d", 4)  // new
		return ""
	})
	e.mustGet(nil, "/seed")
	e.mustGet(nil, "/change")
	u := e.store.lastUpdate()
	if u.Create || u.Clear {
		t.Errorf("Create=%v Clear=%v, want a plain merge", u.Create, u.Clear)
	}
	if got := slices.Sorted(maps.Keys(u.Set)); !slices.Equal(got, []string{"b", "d"}) {
		t.Errorf("Set keys %v, want [b d]", got)
	}
	if !slices.Equal(u.Delete, []string{"c"}) {
		t.Errorf("Delete %v, want [c]", u.Delete)
	}
	if u.Owner != nil || u.MaxAge != nil {
		t.Errorf("owner/maxAge written although unchanged: %v %v", u.Owner, u.MaxAge)
	}
}

func TestKeysHasDeleteClear(t *testing.T) {
	e := newEnv(t, Options{})
	e.onSession("/fill", func(s *Session) string {
		for _, k := range []string{"c", "a", "b"} {
			s.Set(k, k)
		}
		return strings.Join(s.Keys(), ",")
	})
	e.onSession("/delete", func(s *Session) string {
		s.Delete("b")
		return words(s.Has("a"), s.Has("b"), strings.Join(s.Keys(), ","))
	})
	e.onSession("/clear", func(s *Session) string { s.Clear(); return fmt.Sprint(len(s.Keys())) })
	e.onSession("/keys", func(s *Session) string { return strings.Join(s.Keys(), ",") })
	if got := e.mustGet(nil, "/fill"); got != "a,b,c" {
		t.Errorf("Keys %q, want sorted", got)
	}
	if got := e.mustGet(nil, "/delete"); got != "true false a,c" {
		t.Errorf("after Delete: %q", got)
	}
	if got := e.mustGet(nil, "/keys"); got != "a,c" {
		t.Errorf("Delete not saved: %q", got)
	}
	e.mustGet(nil, "/clear")
	if got := e.mustGet(nil, "/keys"); got != "" {
		t.Errorf("Clear not saved: %q", got)
	}
}

func TestClearRemovesKeysAddedByConcurrentRequest(t *testing.T) {
	e := newEnv(t, Options{})
	e.mustGet(nil, "/incr")
	g := newGate()
	e.mux.HandleFunc("/slowclear", func(w http.ResponseWriter, r *http.Request) {
		s := FromContext(r.Context())
		close(g.loaded)
		<-g.release
		s.Clear()
	})
	done := make(chan response)
	go func() { done <- e.get(nil, "/slowclear") }()
	<-g.loaded
	e.mustGet(nil, "/set?k=added&v=1")
	close(g.release)
	<-done
	e.onSession("/keys", func(s *Session) string { return strings.Join(s.Keys(), ",") })
	if got := e.mustGet(nil, "/keys"); got != "" {
		t.Errorf("keys after Clear: %q", got)
	}
}

func TestSessionIsSafeForGoroutinesOfOneRequest(t *testing.T) {
	e := newEnv(t, Options{})
	e.onSession("/fanout", func(s *Session) string {
		var wg sync.WaitGroup
		for i := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				k := fmt.Sprint("k", i)
				s.Set(k, i)
				Get[int](s, k)
				s.Has(k)
				s.Keys()
				s.ID()
				s.Touch()
			}()
		}
		wg.Wait()
		return fmt.Sprint(len(s.Keys()))
	})
	if got := e.mustGet(nil, "/fanout"); got != "8" {
		t.Fatalf("%s keys", got)
	}
	e.onSession("/keys", func(s *Session) string { return strings.Join(s.Keys(), ",") })
	if got := strings.Split(e.mustGet(nil, "/keys"), ","); !slices.Equal(got, []string{"k0", "k1", "k2", "k3", "k4", "k5", "k6", "k7"}) {
		t.Errorf("saved keys %v", got)
	}
}

func TestSetOfUnencodableValueFails(t *testing.T) {
	e := newEnv(t, Options{})
	e.onSession("/bad", func(s *Session) string {
		err := s.Set("ch", make(chan int))
		return fmt.Sprint(err != nil, s.Has("ch"))
	})
	if got := e.mustGet(nil, "/bad"); got != "true false" {
		t.Errorf("got %s", got)
	}
}

func TestSessionAccessors(t *testing.T) {
	e := newEnv(t, Options{})
	e.onSession("/info", func(s *Session) string {
		s.SetOwner("bob")
		return words(s.IsNew(), s.Owner(), s.Created().Equal(e.clock.Now()), s.Expires().Sub(s.Created()), len(s.ID()))
	})
	if got := e.mustGet(nil, "/info"); got != "true bob true 24h0m0s 43" {
		t.Errorf("first request: %s", got)
	}
	e.onSession("/info2", func(s *Session) string { return words(s.IsNew(), s.Owner()) })
	if got := e.mustGet(nil, "/info2"); got != "false bob" {
		t.Errorf("second request: %s", got)
	}
}

func TestFromContextOutsideMiddlewareIsNil(t *testing.T) {
	r, _ := http.NewRequest("GET", "/", nil)
	if FromContext(r.Context()) != nil {
		t.Error("FromContext outside the middleware is not nil")
	}
}

// words formats its arguments separated by spaces.
func words(a ...any) string { return strings.TrimSuffix(fmt.Sprintln(a...), "\n") }

func TestExpiresOfNewSessionFollowsSetMaxAge(t *testing.T) {
	e := newEnv(t, Options{MaxAge: time.Hour})
	e.onSession("/remember", func(s *Session) string {
		s.SetMaxAge(30 * 24 * time.Hour)
		return s.Expires().Sub(e.clock.Now()).String()
	})
	if got, want := e.mustGet(nil, "/remember"), (30 * 24 * time.Hour).String(); got != want {
		t.Errorf("Expires of a new session after SetMaxAge is %s from now, want %s (what a save now gives it)", got, want)
	}
}
