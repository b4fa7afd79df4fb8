package boltsession

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestFirstVisitUnmodifiedSetsNoCookieAndNoRecord(t *testing.T) {
	e := newEnv(t, Options{})
	r := e.get(nil, "/get?k=views")
	if r.status != 200 || r.body != "none" {
		t.Fatalf("got %d %q", r.status, r.body)
	}
	if c := r.cookie("sid"); c != nil {
		t.Errorf("Set-Cookie %v on an unmodified first visit", c)
	}
	if n := e.count(); n != 0 {
		t.Errorf("%d records after an unmodified first visit", n)
	}
	if w := e.store.writes(); w != 0 {
		t.Errorf("%d store writes", w)
	}
}

func TestFirstVisitUnmodifiedWithSaveUninitializedSetsCookieAndRecord(t *testing.T) {
	e := newEnv(t, Options{SaveUninitialized: true})
	r := e.get(nil, "/noop")
	if r.cookie("sid") == nil {
		t.Fatal("no Set-Cookie with SaveUninitialized")
	}
	if n := e.count(); n != 1 {
		t.Fatalf("%d records, want 1", n)
	}
	// The cookie names the record.
	id := e.mustGet(nil, "/id")
	if e.record(id) == nil {
		t.Error("the cookie does not name the saved record")
	}
}

func TestModifiedSessionGetsRecordAndCookieWithDefaultAttributes(t *testing.T) {
	e := newEnv(t, Options{})
	r := e.get(nil, "/incr")
	c := r.cookie("sid")
	if c == nil {
		t.Fatal("no Set-Cookie after a modification")
	}
	raw := r.header.Get("Set-Cookie")
	for _, want := range []string{"HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=86400"} {
		if !strings.Contains(raw, want) {
			t.Errorf("Set-Cookie %q lacks %s", raw, want)
		}
	}
	if c.Secure {
		t.Errorf("Secure on plain HTTP with SecureAuto: %q", raw)
	}
	if !c.Expires.Equal(e.clock.Now().Add(24 * time.Hour)) {
		t.Errorf("Expires %v, want %v", c.Expires, e.clock.Now().Add(24*time.Hour))
	}
	id := e.mustGet(nil, "/id")
	rec := e.record(id)
	if rec == nil {
		t.Fatal("no record after a modification")
	}
	if !rec.Expires.Equal(e.clock.Now().Add(24 * time.Hour)) {
		t.Errorf("record expires %v", rec.Expires)
	}
	if got := e.mustGet(nil, "/incr"); got != "2" {
		t.Errorf("second visit counted %s, want 2", got)
	}
}

func TestCookieOptionsAreApplied(t *testing.T) {
	e := newEnv(t, Options{
		Name: "app",
		Cookie: CookieOptions{
			Path: "/", Domain: "", HTTPOnly: Off, SameSite: http.SameSiteStrictMode,
			Partitioned: true, Persist: Off,
		},
	}, envConfig{tls: true}) // Partitioned cookies are taken only when Secure
	raw := e.get(nil, "/incr").header.Get("Set-Cookie")
	if !strings.HasPrefix(raw, "app=") {
		t.Errorf("cookie name: %q", raw)
	}
	for _, bad := range []string{"HttpOnly", "Max-Age", "Expires"} {
		if strings.Contains(raw, bad) {
			t.Errorf("Set-Cookie %q has %s", raw, bad)
		}
	}
	for _, want := range []string{"SameSite=Strict", "Partitioned"} {
		if !strings.Contains(raw, want) {
			t.Errorf("Set-Cookie %q lacks %s", raw, want)
		}
	}
}

func TestSecureAutoOnPlainHTTPSendsNoSecureFlag(t *testing.T) {
	e := newEnv(t, Options{})
	if c := e.get(nil, "/incr").cookie("sid"); c == nil || c.Secure {
		t.Fatalf("cookie %v: want one without Secure", c)
	}
}

func TestSecureAutoOnTLSSetsSecure(t *testing.T) {
	e := newEnv(t, Options{}, envConfig{tls: true})
	c := e.get(nil, "/incr").cookie("sid")
	if c == nil || !c.Secure {
		t.Fatalf("cookie %v: want Secure over TLS", c)
	}
	if got := e.mustGet(nil, "/incr"); got != "2" {
		t.Errorf("the secure cookie did not come back: count %s", got)
	}
}

func TestSecureAutoBehindProxyFollowsXForwardedProtoOnlyWithTrustProxy(t *testing.T) {
	cases := []struct {
		name       string
		trustProxy bool
		xfp        string
		secure     bool
	}{
		{"trusted https", true, "https", true},
		{"trusted https first of list", true, "HTTPS , http", true},
		{"trusted http first of list", true, "http, https", false},
		{"untrusted https", false, "https", false},
		{"trusted no header", true, "", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, Options{TrustProxy: tc.trustProxy})
			req, _ := http.NewRequest("GET", e.srv.URL+"/incr", nil)
			if tc.xfp != "" {
				req.Header.Set("X-Forwarded-Proto", tc.xfp)
			}
			c := e.do(e.srv.Client(), req).cookie("sid")
			if c == nil {
				t.Fatal("no cookie")
			}
			if c.Secure != tc.secure {
				t.Errorf("Secure = %v, want %v", c.Secure, tc.secure)
			}
		})
	}
}

func TestSecureAlwaysOnPlainHTTPSendsNoCookieAndSavesNothing(t *testing.T) {
	e := newEnv(t, Options{Cookie: CookieOptions{Secure: SecureAlways}})
	for range 3 {
		r := e.get(nil, "/incr")
		if r.status != 200 {
			t.Fatalf("status %d", r.status)
		}
		if c := r.cookie("sid"); c != nil {
			t.Fatalf("cookie %v sent over plain HTTP", c)
		}
	}
	if n := e.count(); n != 0 {
		t.Errorf("%d orphan records", n)
	}
	if n := strings.Count(e.logs.String(), "SecureAlways"); n != 1 {
		t.Errorf("logged %d times, want once:\n%s", n, e.logs)
	}
}

func TestSecureAlwaysOnTLSWorks(t *testing.T) {
	e := newEnv(t, Options{Cookie: CookieOptions{Secure: SecureAlways}}, envConfig{tls: true})
	e.mustGet(nil, "/incr")
	if got := e.mustGet(nil, "/incr"); got != "2" {
		t.Errorf("count %s, want 2", got)
	}
}

func TestBadCookieStartsNewSessionWithoutErrorPage(t *testing.T) {
	e := newEnv(t, Options{})
	e.mustGet(nil, "/incr")
	good := e.jarCookie(nil)
	id := e.mustGet(nil, "/id")

	foreign, err := SecureCookie(otherHashKey)
	if err != nil {
		t.Fatal(err)
	}
	foreignValue, err := foreign.Encode("sid", id) // right ID, wrong key
	if err != nil {
		t.Fatal(err)
	}
	tampered := []byte(good)
	tampered[len(tampered)/2] ^= 1
	cases := map[string]string{
		"tampered":    string(tampered),
		"truncated":   good[:len(good)-5],
		"garbage":     "not-a-cookie!!",
		"oversized":   strings.Repeat("A", 5000),
		"foreign key": foreignValue,
	}
	for name, value := range cases {
		t.Run(name, func(t *testing.T) {
			r := e.rawRequest("/incr", value)
			if r.status != 200 || r.body != "1" {
				t.Fatalf("got %d %q, want a fresh session counting 1", r.status, r.body)
			}
			c := r.cookie("sid")
			if c == nil {
				t.Fatal("no new cookie")
			}
			if c.Value == value {
				t.Error("the bad cookie was echoed back")
			}
		})
	}
	if strings.Contains(e.logs.String(), id) {
		t.Error("a session ID reached the log")
	}
	if !strings.Contains(e.logs.String(), "oversized session cookie ignored") {
		t.Error("the oversized cookie reached the codec")
	}
}

func TestSignedCookieForDeletedOrExpiredRecordGetsNewID(t *testing.T) {
	for _, how := range []string{"deleted", "expired"} {
		t.Run(how, func(t *testing.T) {
			e := newEnv(t, Options{MaxAge: time.Hour})
			e.mustGet(nil, "/incr")
			oldID := e.mustGet(nil, "/id")
			oldCookie := e.jarCookie(nil)
			if how == "deleted" {
				if err := e.store.Delete(context.Background(), oldID); err != nil {
					t.Fatal(err)
				}
			} else {
				e.clock.Advance(time.Hour + time.Second)
			}
			r := e.rawRequest("/incr", oldCookie)
			if r.body != "1" {
				t.Fatalf("count %q, want a fresh session", r.body)
			}
			c := r.cookie("sid")
			if c == nil {
				t.Fatal("no cookie")
			}
			newID, err := e.m.cfg.Codec.Decode("sid", c.Value)
			if err != nil {
				t.Fatal(err)
			}
			if newID == oldID {
				t.Fatal("the client's stale ID was adopted (session fixation)")
			}
			if e.record(oldID) != nil {
				t.Error("the stale ID was re-created")
			}
		})
	}
}

func TestKeyRotationAcceptsOldKeyAndSignsWithNew(t *testing.T) {
	old := newEnv(t, Options{Keys: [][]byte{otherHashKey}})
	old.mustGet(nil, "/incr")
	oldCookie := old.jarCookie(nil)

	// The same store file behind a Manager whose first key is new and
	// whose second is the old one.
	old.store.Close()
	e := newEnv(t, Options{Keys: [][]byte{testHashKey, testBlockKey, otherHashKey}})
	e.store.Close()
	e.path = old.path
	e.openStore()
	e.clock.Advance(time.Minute) // the save moves the expiry, so a cookie goes out

	r := e.rawRequest("/incr", oldCookie)
	if r.body != "2" {
		t.Fatalf("old-key cookie not accepted: count %q", r.body)
	}
	c := r.cookie("sid")
	if c == nil {
		t.Fatal("no cookie after a modification")
	}
	newOnly, _ := SecureCookie(testHashKey, testBlockKey)
	if _, err := newOnly.Decode("sid", c.Value); err != nil {
		t.Errorf("the new cookie is not signed by the new key: %v", err)
	}
	oldOnly, _ := SecureCookie(otherHashKey)
	if _, err := oldOnly.Decode("sid", c.Value); err == nil {
		t.Error("the new cookie still verifies with the old key alone")
	}
}

func TestLazyTouchWritesNothingInsideTouchAfterAndTouchesOnceAfter(t *testing.T) {
	e := newEnv(t, Options{MaxAge: time.Hour, TouchAfter: 10 * time.Minute})
	e.mustGet(nil, "/incr")
	id := e.mustGet(nil, "/id")
	before := e.record(id).Expires
	e.store.resetCounts()

	for range 20 {
		e.clock.Advance(20 * time.Second) // 400s in all, inside 10 minutes
		r := e.get(nil, "/get?k=views")
		if r.body != "1" {
			t.Fatalf("read %q", r.body)
		}
		if c := r.cookie("sid"); c != nil {
			t.Fatalf("cookie %v on an untouched read", c)
		}
	}
	if w := e.store.writes(); w != 0 {
		t.Fatalf("%d store writes for 20 reads inside TouchAfter", w)
	}
	e.clock.Advance(5 * time.Minute) // 700s since the last save
	r := e.get(nil, "/get?k=views")
	if got := e.store.touches.Load(); got != 1 {
		t.Fatalf("%d touches after TouchAfter, want 1", got)
	}
	if w := e.store.writes(); w != 1 {
		t.Errorf("%d writes, want the one touch", w)
	}
	if c := r.cookie("sid"); c == nil || c.MaxAge != 3600 {
		t.Errorf("cookie after touch: %v, want Max-Age 3600", c)
	}
	after := e.record(id).Expires
	if want := e.clock.Now().Add(time.Hour); !after.Equal(want) || !after.After(before) {
		t.Errorf("expires %v → %v, want %v", before, after, want)
	}
	e.get(nil, "/get?k=views")
	if got := e.store.touches.Load(); got != 1 {
		t.Errorf("%d touches: the touch did not reset the lazy window", got)
	}
}

func TestNegativeTouchAfterTouchesOnEveryRequest(t *testing.T) {
	e := newEnv(t, Options{TouchAfter: -1})
	e.mustGet(nil, "/incr")
	e.store.resetCounts()
	for range 3 {
		e.clock.Advance(time.Second)
		e.mustGet(nil, "/get?k=views")
	}
	if got := e.store.touches.Load(); got != 3 {
		t.Errorf("%d touches, want 3", got)
	}
}

func TestSessionTouchForcesExtension(t *testing.T) {
	e := newEnv(t, Options{})
	e.mux.HandleFunc("/touch", func(w http.ResponseWriter, r *http.Request) { FromContext(r.Context()).Touch() })
	e.mustGet(nil, "/incr")
	e.store.resetCounts()
	e.clock.Advance(time.Second)
	e.mustGet(nil, "/touch")
	if got := e.store.touches.Load(); got != 1 {
		t.Errorf("%d touches, want 1", got)
	}
}

func TestRollingSendsCookieOnEveryResponse(t *testing.T) {
	e := newEnv(t, Options{Rolling: true, MaxAge: time.Hour})
	e.mustGet(nil, "/incr")
	e.store.resetCounts()
	e.clock.Advance(time.Minute)
	r := e.get(nil, "/get?k=views")
	c := r.cookie("sid")
	if c == nil {
		t.Fatal("Rolling: no cookie on an unmodified request")
	}
	// Inside TouchAfter nothing is written, so the cookie tells the
	// expiry the store holds.
	if c.MaxAge != 3540 {
		t.Errorf("Max-Age %d, want 3540 (the stored expiry)", c.MaxAge)
	}
	if w := e.store.writes(); w != 0 {
		t.Errorf("%d writes inside TouchAfter", w)
	}
}

func TestResaveWritesUnmodifiedSession(t *testing.T) {
	e := newEnv(t, Options{Resave: true})
	e.mustGet(nil, "/incr")
	e.store.resetCounts()
	e.mustGet(nil, "/get?k=views")
	if got := e.store.saves.Load(); got != 1 {
		t.Errorf("%d saves of an unmodified session with Resave, want 1", got)
	}
}

func TestIdleExpiryEndsSession(t *testing.T) {
	e := newEnv(t, Options{MaxAge: 30 * time.Minute})
	e.mustGet(nil, "/incr")
	e.clock.Advance(29 * time.Minute)
	if got := e.mustGet(nil, "/incr"); got != "2" {
		t.Fatalf("count %s inside MaxAge", got)
	}
	e.clock.Advance(29 * time.Minute) // the save slid the expiry
	if got := e.mustGet(nil, "/get?k=views"); got != "2" {
		t.Fatalf("count %s: activity did not slide the expiry", got)
	}
	e.clock.Advance(31 * time.Minute)
	if got := e.mustGet(nil, "/get?k=views"); got != "none" {
		t.Errorf("count %s after 31 idle minutes, want a fresh session", got)
	}
}

func TestAbsoluteExpiryCapsActiveSessionAndCookie(t *testing.T) {
	e := newEnv(t, Options{MaxAge: time.Hour, AbsoluteMaxAge: 90 * time.Minute})
	e.mustGet(nil, "/incr")
	e.clock.Advance(50 * time.Minute)
	r := e.get(nil, "/incr")
	if r.body != "2" {
		t.Fatalf("count %s", r.body)
	}
	if c := r.cookie("sid"); c == nil || c.MaxAge != 40*60 {
		t.Fatalf("cookie %v: want Max-Age capped at 2400", c)
	}
	e.clock.Advance(39 * time.Minute)
	if got := e.mustGet(nil, "/incr"); got != "3" {
		t.Fatalf("count %s before the cap", got)
	}
	e.clock.Advance(2 * time.Minute) // 91 minutes after creation, 2 after last use
	if got := e.mustGet(nil, "/get?k=views"); got != "none" {
		t.Errorf("count %s past AbsoluteMaxAge, want a fresh session", got)
	}
}

// TestAbsoluteMaxAgeIsCheckedWhenASessionLoads pins down that the absolute
// lifetime is enforced on load, not only when an expiry is computed: an app
// restarted with a (lower) AbsoluteMaxAge ends the sessions older than it at
// their next request, although their stored expiry lies ahead.
func TestAbsoluteMaxAgeIsCheckedWhenASessionLoads(t *testing.T) {
	e := newEnv(t, Options{MaxAge: 24 * time.Hour})
	e.mustGet(nil, "/incr")
	e.clock.Advance(2 * time.Hour)
	if got := e.mustGet(nil, "/get?k=views"); got != "1" {
		t.Fatalf("count %s before the restart", got)
	}
	capped, err := New(e.store, Options{Keys: [][]byte{testHashKey}, MaxAge: 24 * time.Hour, AbsoluteMaxAge: time.Hour, Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(e.srv.URL)
	req := httptest.NewRequest(http.MethodGet, "/get?k=views", nil)
	for _, c := range e.client.Jar.Cookies(u) {
		req.AddCookie(c)
	}
	rec := httptest.NewRecorder()
	capped.Middleware(e.mux).ServeHTTP(rec, req)
	if got := rec.Body.String(); got != "none" {
		t.Errorf("count %s from a session two hours old under a one-hour AbsoluteMaxAge, want a fresh session", got)
	}
}

func TestSetMaxAgeRememberMeHoldsAcrossRequestsAndRestart(t *testing.T) {
	e := newEnv(t, Options{MaxAge: time.Hour})
	e.mux.HandleFunc("/remember", func(w http.ResponseWriter, r *http.Request) {
		s := FromContext(r.Context())
		s.SetMaxAge(30 * 24 * time.Hour)
		s.Set("user", "alice")
	})
	r := e.get(nil, "/remember")
	if c := r.cookie("sid"); c == nil || c.MaxAge != 30*24*3600 {
		t.Fatalf("cookie %v: want Max-Age of 30 days", c)
	}
	e.clock.Advance(10 * 24 * time.Hour) // far past the default hour
	e.restart()
	r = e.get(nil, "/incr")
	if r.body != "1" {
		t.Fatalf("count %s", r.body)
	}
	if c := r.cookie("sid"); c == nil || c.MaxAge != 30*24*3600 {
		t.Fatalf("cookie %v: the 30-day Max-Age did not follow the save", c)
	}
	id := e.mustGet(nil, "/id")
	if rec := e.record(id); rec == nil || rec.MaxAge != 30*24*time.Hour {
		t.Fatalf("record %+v: per-session MaxAge not kept", rec)
	}
	e.clock.Advance(29 * 24 * time.Hour)
	if got := e.mustGet(nil, "/get?k=views"); got != "1" {
		t.Errorf("count %s after 29 idle days, want the remembered session", got)
	}
}

func TestRegenerateKeepsValuesUnderNewIDAndDeletesOld(t *testing.T) {
	e := newEnv(t, Options{})
	e.mustGet(nil, "/incr")
	oldID := e.mustGet(nil, "/id")
	oldCookie := e.jarCookie(nil)
	created := e.record(oldID).Created
	e.clock.Advance(time.Minute)

	r := e.get(nil, "/regenerate")
	if r.cookie("sid") == nil {
		t.Fatal("no new cookie after Regenerate")
	}
	newID := e.mustGet(nil, "/id")
	if newID == oldID {
		t.Fatal("Regenerate kept the ID")
	}
	if e.record(oldID) != nil {
		t.Error("the old record survived Regenerate")
	}
	rec := e.record(newID)
	if rec == nil || !rec.Created.Equal(created) {
		t.Fatalf("new record %+v: want Created kept at %v", rec, created)
	}
	if got := e.mustGet(nil, "/get?k=views"); got != "1" {
		t.Errorf("views %s after Regenerate, want 1", got)
	}
	if got := e.rawRequest("/get?k=views", oldCookie).body; got != "none" {
		t.Errorf("the old cookie still reaches the values: %s", got)
	}
}

func TestRegenerateOfNewEmptySessionSavesAndSendsCookie(t *testing.T) {
	e := newEnv(t, Options{})
	if e.get(nil, "/regenerate").cookie("sid") == nil {
		t.Fatal("no cookie")
	}
	if n := e.count(); n != 1 {
		t.Errorf("%d records, want 1", n)
	}
}

func TestDestroyDeletesRecordAndExpiresCookie(t *testing.T) {
	e := newEnv(t, Options{})
	e.mustGet(nil, "/incr")
	id := e.mustGet(nil, "/id")
	r := e.get(nil, "/destroy")
	c := r.cookie("sid")
	if c == nil || c.MaxAge >= 0 {
		t.Fatalf("cookie %v: want an expired one", c)
	}
	if e.record(id) != nil {
		t.Error("record survived Destroy")
	}
	if v := e.jarCookie(nil); v != "" {
		t.Error("the browser kept the cookie")
	}
	if got := e.mustGet(nil, "/get?k=views"); got != "none" {
		t.Errorf("views %s after Destroy", got)
	}
}

// gate lets a test hold a handler after the session was loaded.
type gate struct {
	loaded  chan struct{}
	release chan struct{}
}

func newGate() *gate { return &gate{loaded: make(chan struct{}), release: make(chan struct{})} }

func TestDestroyCannotBeUndoneByRacingRequest(t *testing.T) {
	e := newEnv(t, Options{})
	g := newGate()
	e.mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		s := FromContext(r.Context())
		close(g.loaded)
		<-g.release
		s.Set("late", "write")
		s.Touch()
	})
	e.mustGet(nil, "/incr")
	id := e.mustGet(nil, "/id")

	done := make(chan response)
	go func() { done <- e.get(nil, "/slow") }()
	<-g.loaded
	e.mustGet(nil, "/destroy")
	close(g.release)
	r := <-done
	if r.status != http.StatusConflict {
		t.Fatalf("racing request: status %d %q; want 409: its change did not land", r.status, r.body)
	}
	if r.cookie("sid") != nil {
		t.Error("racing request re-sent the cookie")
	}
	if e.record(id) != nil {
		t.Fatal("the racing save brought the destroyed session back")
	}
	if n := e.count(); n != 0 {
		t.Errorf("%d records", n)
	}
}

func TestConcurrentRequestsSettingDifferentKeysBothPersist(t *testing.T) {
	e := newEnv(t, Options{})
	e.mustGet(nil, "/incr")
	var wg sync.WaitGroup
	loaded := make(chan struct{}, 2)
	release := make(chan struct{})
	e.mux.HandleFunc("/setint", func(w http.ResponseWriter, r *http.Request) {
		s := FromContext(r.Context())
		loaded <- struct{}{}
		<-release
		s.Set(r.FormValue("k"), 7)
	})
	for _, k := range []string{"a", "b"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e.mustGet(nil, "/setint?k="+k)
		}()
	}
	<-loaded
	<-loaded // both loaded the same version before either saved
	close(release)
	wg.Wait()
	for _, k := range []string{"a", "b", "views"} {
		if got := e.mustGet(nil, "/get?k="+k); got == "none" {
			t.Errorf("key %s lost", k)
		}
	}
}

func TestValueSetAfterBodyWrittenIsSaved(t *testing.T) {
	e := newEnv(t, Options{})
	e.mustGet(nil, "/incr")
	e.mux.HandleFunc("/late", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "body first")
		FromContext(r.Context()).Set("late", 5)
	})
	e.mustGet(nil, "/late")
	if got := e.mustGet(nil, "/get?k=late"); got != "5" {
		t.Errorf("late value %s, want 5", got)
	}
}

func TestNewSessionChangedAfterBodyWrittenIsNotOrphaned(t *testing.T) {
	e := newEnv(t, Options{})
	e.mux.HandleFunc("/late", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "body first")
		FromContext(r.Context()).Set("late", 5)
	})
	e.mustGet(nil, "/late")
	if n := e.count(); n != 0 {
		t.Errorf("%d records nobody holds a cookie for", n)
	}
}

func TestStreamingHandlerGetsCookie(t *testing.T) {
	e := newEnv(t, Options{})
	e.mux.HandleFunc("/stream", func(w http.ResponseWriter, r *http.Request) {
		FromContext(r.Context()).Set("streamed", 1)
		for i := range 3 {
			io.WriteString(w, "chunk\n")
			w.(http.Flusher).Flush()
			if i == 0 {
				// The flush was the commit point: the record is there
				// before the body is done.
				if e.count() != 1 {
					t.Error("record not saved at the first flush")
				}
			}
		}
	})
	r := e.get(nil, "/stream")
	if r.cookie("sid") == nil {
		t.Fatal("no Set-Cookie on a streamed response")
	}
	if r.header.Get("Content-Length") != "" {
		t.Error("response was not streamed")
	}
	if got := e.mustGet(nil, "/get?k=streamed"); got != "1" {
		t.Errorf("streamed %s", got)
	}
}

func TestResponseControllerWorksThroughWrapper(t *testing.T) {
	e := newEnv(t, Options{})
	var errs []error
	e.mux.HandleFunc("/rc", func(w http.ResponseWriter, r *http.Request) {
		FromContext(r.Context()).Set("k", 1)
		rc := http.NewResponseController(w)
		errs = append(errs,
			rc.SetWriteDeadline(time.Now().Add(time.Minute)),
			rc.SetReadDeadline(time.Now().Add(time.Minute)),
			rc.EnableFullDuplex())
		io.WriteString(w, "x")
		errs = append(errs, rc.Flush())
	})
	r := e.get(nil, "/rc")
	for i, err := range errs {
		if err != nil {
			t.Errorf("ResponseController call %d: %v", i, err)
		}
	}
	if r.cookie("sid") == nil {
		t.Error("no cookie")
	}
}

func TestHijackThroughWrapperSavesFirst(t *testing.T) {
	e := newEnv(t, Options{})
	e.mux.HandleFunc("/hijack", func(w http.ResponseWriter, r *http.Request) {
		FromContext(r.Context()).Set("k", 1)
		conn, buf, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Errorf("Hijack: %v", err)
			return
		}
		defer conn.Close()
		buf.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi")
		buf.Flush()
	})
	if r := e.get(nil, "/hijack"); r.body != "hi" {
		t.Fatalf("body %q", r.body)
	}
	if n := e.count(); n != 1 {
		t.Errorf("%d records: the session was not saved before the hijack", n)
	}
}

func TestEarlyHintsDoNotCommit(t *testing.T) {
	e := newEnv(t, Options{})
	e.mux.HandleFunc("/hints", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</style.css>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		FromContext(r.Context()).Set("k", 1)
		io.WriteString(w, "ok")
	})
	if e.get(nil, "/hints").cookie("sid") == nil {
		t.Error("a value set after 103 Early Hints got no cookie")
	}
}

func TestSessionSurvivesRestart(t *testing.T) {
	e := newEnv(t, Options{})
	e.mustGet(nil, "/incr")
	e.mustGet(nil, "/incr")
	e.restart()
	if got := e.mustGet(nil, "/incr"); got != "3" {
		t.Errorf("count %s after restart, want 3", got)
	}
}

func TestClosedStoreGoesToErrorHandlerWith500(t *testing.T) {
	e := newEnv(t, Options{})
	called := false
	e.mux.HandleFunc("/mark", func(w http.ResponseWriter, r *http.Request) { called = true })
	e.mustGet(nil, "/incr")
	e.store.Close()
	r := e.get(nil, "/mark")
	if r.status != 500 {
		t.Errorf("status %d, want 500", r.status)
	}
	if called {
		t.Error("handler ran although the session could not be loaded")
	}
	if !strings.Contains(e.logs.String(), "store is closed") {
		t.Errorf("error not logged:\n%s", e.logs)
	}
}

func TestSaveErrorAtCommitPointGives500AndDiscardsHandlerWrites(t *testing.T) {
	var handled error
	e := newEnv(t, Options{ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
		handled = err
		http.Error(w, "session trouble", http.StatusServiceUnavailable)
	}})
	var writeErr error
	e.mux.HandleFunc("/write", func(w http.ResponseWriter, r *http.Request) {
		FromContext(r.Context()).Set("k", 1)
		w.WriteHeader(200)
		_, writeErr = io.WriteString(w, "handler body")
	})
	e.store.failSave.Store(true)
	r := e.get(nil, "/write")
	if r.status != http.StatusServiceUnavailable || strings.Contains(r.body, "handler body") {
		t.Errorf("got %d %q: want the error handler's response only", r.status, r.body)
	}
	if handled == nil || !strings.Contains(handled.Error(), "injected") {
		t.Errorf("ErrorHandler got %v", handled)
	}
	if writeErr == nil {
		t.Error("the handler's write after a failed commit reported success")
	}
	if r.cookie("sid") != nil {
		t.Error("cookie sent for a session that was not saved")
	}
}

func TestCorruptRecordStartsFreshSession(t *testing.T) {
	e := newEnv(t, Options{})
	e.mustGet(nil, "/incr")
	id := e.mustGet(nil, "/id")
	corrupt := error(errors.Join(ErrCorrupt, errors.New("bad bytes")))
	e.store.loadErr.Store(&corrupt)
	r := e.get(nil, "/incr")
	if r.status != 200 || r.body != "1" {
		t.Fatalf("got %d %q, want a fresh session", r.status, r.body)
	}
	if !strings.Contains(e.logs.String(), "corrupt") {
		t.Error("corrupt record not logged")
	}
	if strings.Contains(e.logs.String(), id) {
		t.Error("the session ID reached the log")
	}
}

func TestOwnerIndexListsAndDestroysAllSessionsOfOwner(t *testing.T) {
	e := newEnv(t, Options{})
	e.mux.HandleFunc("/login", func(w http.ResponseWriter, r *http.Request) {
		s := FromContext(r.Context())
		s.Regenerate()
		s.SetOwner("alice")
		s.Set("user", "alice")
	})
	laptop, phone := e.newClient(), e.newClient()
	e.mustGet(laptop, "/login")
	e.clock.Advance(time.Second)
	e.mustGet(phone, "/login")
	e.mustGet(nil, "/incr") // someone else

	ctx := context.Background()
	owned, err := e.m.Owned(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if len(owned) != 2 || owned[0].Handle != Handle(e.mustGet(laptop, "/id")) {
		t.Fatalf("Owned = %+v, want laptop then phone", owned)
	}
	n, err := e.m.DestroyOwner(ctx, "alice")
	if err != nil || n != 2 {
		t.Fatalf("DestroyOwner = %d, %v", n, err)
	}
	for _, c := range []*http.Client{laptop, phone} {
		if got := e.mustGet(c, "/get?k=user"); got != "none" {
			t.Errorf("session lived through DestroyOwner: %s", got)
		}
	}
	if got := e.mustGet(nil, "/get?k=views"); got != "1" {
		t.Errorf("another owner's session was hit: %s", got)
	}
}

// plainStore hides BoltStore's optional capabilities.
type plainStore struct{ Store }

func TestOwnerOperationsNeedOwnerIndex(t *testing.T) {
	bs := openBolt(t)
	m, err := New(plainStore{bs}, Options{Keys: [][]byte{testHashKey}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Owned(context.Background(), "a"); !errors.Is(err, ErrUnsupported) {
		t.Errorf("Owned: %v", err)
	}
	if _, err := m.DestroyOwner(context.Background(), "a"); !errors.Is(err, ErrUnsupported) {
		t.Errorf("DestroyOwner: %v", err)
	}
	if m.Store() != (plainStore{bs}) {
		t.Error("Store() is not the store given to New")
	}
}

func TestSecondOpenOfHeldFileFailsWithinTimeout(t *testing.T) {
	e := newEnv(t, Options{})
	e.mustGet(nil, "/incr")
	start := time.Now()
	_, err := Open(e.path, &BoltOptions{Timeout: 100 * time.Millisecond})
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open: %v, want ErrLocked", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("second Open took %v", d)
	}
	if got := e.mustGet(nil, "/incr"); got != "2" {
		t.Errorf("the first store stopped working: %s", got)
	}
}

func TestExplicitSaveStoresBeforeCommitPoint(t *testing.T) {
	e := newEnv(t, Options{})
	e.mux.HandleFunc("/save", func(w http.ResponseWriter, r *http.Request) {
		s := FromContext(r.Context())
		s.Set("k", 1)
		if err := s.Save(r.Context()); err != nil {
			t.Errorf("Save: %v", err)
		}
		if e.record(s.ID()) == nil {
			t.Error("Save returned before the record was stored")
		}
	})
	r := e.get(nil, "/save")
	if r.cookie("sid") == nil {
		t.Error("an explicitly saved new session got no cookie")
	}
	if e.store.saves.Load() != 1 {
		t.Errorf("%d saves, want 1 (nothing changed after Save)", e.store.saves.Load())
	}
}

func TestNestedMiddlewareSharesTheSession(t *testing.T) {
	e := newEnv(t, Options{})
	inner := e.m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		FromContext(r.Context()).Set("views", 41)
	}))
	e.mux.Handle("/nested", inner)
	e.mustGet(nil, "/nested")
	if got := e.mustGet(nil, "/incr"); got != "42" {
		t.Errorf("count %s, want 42", got)
	}
}

func TestSessionIDsNeverLogged(t *testing.T) {
	e := newEnv(t, Options{})
	e.mustGet(nil, "/incr")
	id := e.mustGet(nil, "/id")
	e.store.failSave.Store(true)
	e.get(nil, "/incr") // save error
	e.store.failSave.Store(false)
	e.store.Delete(context.Background(), id)
	e.get(nil, "/incr") // stale cookie
	logs := e.logs.String()
	if !strings.Contains(logs, "injected") {
		t.Fatalf("the save error was not logged:\n%s", logs)
	}
	if strings.Contains(logs, id) {
		t.Errorf("session ID in the log:\n%s", logs)
	}
	if !strings.Contains(logs, logID(id)) {
		t.Errorf("the session's short hash is not in the log:\n%s", logs)
	}
}

func TestDestroyThenRegenerateStartsNewSessionAndDeletesOld(t *testing.T) {
	e := newEnv(t, Options{})
	e.mux.HandleFunc("/relogin", func(w http.ResponseWriter, r *http.Request) {
		s := FromContext(r.Context())
		s.Destroy()
		s.Regenerate()
		s.Set("user", "bob")
	})
	e.mustGet(nil, "/incr")
	oldID := e.mustGet(nil, "/id")
	r := e.get(nil, "/relogin")
	if r.cookie("sid") == nil || r.cookie("sid").MaxAge <= 0 {
		t.Fatalf("cookie %v: want the new session's", r.cookie("sid"))
	}
	if e.record(oldID) != nil {
		t.Error("old record survived")
	}
	if got := e.mustGet(nil, "/get?k=views"); got != "none" {
		t.Errorf("old values carried over: %s", got)
	}
	if n := e.count(); n != 1 {
		t.Errorf("%d records, want the new one", n)
	}
}

func TestRegenerateAfterResponseStartedFailsAndKeepsOldSession(t *testing.T) {
	e := newEnv(t, Options{})
	regenErr := make(chan error, 1)
	e.mux.HandleFunc("/lateregen", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "body first")
		regenErr <- FromContext(r.Context()).Regenerate()
	})
	e.mustGet(nil, "/incr")
	oldID := e.mustGet(nil, "/id")
	e.mustGet(nil, "/lateregen")
	if e.record(oldID) == nil {
		t.Fatal("the old record was deleted although the new cookie could not be sent")
	}
	if n := e.count(); n != 1 {
		t.Errorf("%d records: an orphan was created", n)
	}
	if got := e.mustGet(nil, "/incr"); got != "2" {
		t.Errorf("count %s: the client lost its session", got)
	}
	if err := <-regenErr; err == nil || !strings.Contains(err.Error(), "after the response has started") {
		t.Errorf("Regenerate after the response started returned %v, want an error saying so", err)
	}
}

func TestSecondManagerInsideFirstKeepsItsOwnSession(t *testing.T) {
	e := newEnv(t, Options{})
	admin, err := New(e.store, Options{Name: "adm", Keys: [][]byte{otherHashKey}, Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	e.mux.Handle("/admin", admin.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		FromContext(r.Context()).Set("admin", true)
	})))
	r := e.get(nil, "/admin")
	if r.cookie("adm") == nil {
		t.Error("the inner Manager set no cookie")
	}
	if r.cookie("sid") != nil {
		t.Error("the outer session was modified by the inner handler")
	}
}

func TestExplicitSaveReportsWhatCannotBeSaved(t *testing.T) {
	t.Run("insecure", func(t *testing.T) {
		e := newEnv(t, Options{Cookie: CookieOptions{Secure: SecureAlways}})
		e.onSession("/save", func(s *Session) string {
			s.Set("k", 1)
			return words(s.Save(context.Background()) != nil)
		})
		if got := e.mustGet(nil, "/save"); got != "true" {
			t.Errorf("Save over plain HTTP with SecureAlways: error %s", got)
		}
	})
	t.Run("new session after the response started", func(t *testing.T) {
		e := newEnv(t, Options{})
		e.mux.HandleFunc("/save", func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "body first")
			s := FromContext(r.Context())
			s.Set("k", 1)
			if err := s.Save(r.Context()); err == nil {
				t.Error("Save of a new session after the response started succeeded")
			}
		})
		e.mustGet(nil, "/save")
		if n := e.count(); n != 0 {
			t.Errorf("%d orphan records", n)
		}
	})
}

func TestShortSetMaxAgeSlidesUnderReadOnlyTraffic(t *testing.T) {
	// The default TouchAfter (MaxAge/10 = 2.4h) is longer than this
	// session's own idle lifetime: lazy touching must follow the session's
	// lifetime, or an active session expires after its first hour.
	e := newEnv(t, Options{MaxAge: 24 * time.Hour})
	e.mux.HandleFunc("/short", func(w http.ResponseWriter, r *http.Request) {
		s := FromContext(r.Context())
		s.SetMaxAge(time.Hour)
		s.Set("views", 1)
	})
	e.mustGet(nil, "/short")
	for i := range 9 { // three hours of reads, one every 20 minutes
		e.clock.Advance(20 * time.Minute)
		if got := e.mustGet(nil, "/get?k=views"); got != "1" {
			t.Fatalf("read %d after %v: %s, the active session expired", i, time.Duration(i+1)*20*time.Minute, got)
		}
	}
}

func TestTouchAfterNotShorterThanMaxAgeStillSlides(t *testing.T) {
	e := newEnv(t, Options{MaxAge: time.Hour, TouchAfter: 2 * time.Hour})
	e.mustGet(nil, "/incr")
	for i := range 9 {
		e.clock.Advance(20 * time.Minute)
		if got := e.mustGet(nil, "/get?k=views"); got != "1" {
			t.Fatalf("read %d: %s, the active session expired", i, got)
		}
	}
}

func TestDestroyThenRegenerateStartsTheAbsoluteLifetimeAfresh(t *testing.T) {
	// Logout and a new login in one request: the new session must not
	// inherit the old one's creation time, or AbsoluteMaxAge would end it
	// when the old session's cap runs out.
	e := newEnv(t, Options{MaxAge: time.Hour, AbsoluteMaxAge: 2 * time.Hour})
	e.mux.HandleFunc("/relogin", func(w http.ResponseWriter, r *http.Request) {
		s := FromContext(r.Context())
		s.Destroy()
		s.Regenerate()
		s.Set("views", 1)
		if !s.Created().Equal(e.clock.Now()) {
			t.Errorf("Created %v, want now %v", s.Created(), e.clock.Now())
		}
	})
	e.mustGet(nil, "/incr")
	e.clock.Advance(50 * time.Minute)
	e.mustGet(nil, "/incr")
	e.clock.Advance(40 * time.Minute)
	if got := e.mustGet(nil, "/incr"); got != "3" {
		t.Fatalf("views %s: the first session did not last", got)
	}
	e.mustGet(nil, "/relogin")
	e.clock.Advance(45 * time.Minute)
	if got := e.mustGet(nil, "/get?k=views"); got != "1" {
		t.Errorf("the new session ended %v after it began: %s", 45*time.Minute, got)
	}
}

func TestSetMaxAgeMakesABrowserSessionCookiePersistAndBack(t *testing.T) {
	// With browser-session cookies (Persist Off), "remember me" is what
	// express-session users do with req.session.cookie.maxAge: that one
	// session's cookie gets a Max-Age, and losing it again makes the
	// cookie a browser-session one again.
	e := newEnv(t, Options{MaxAge: time.Hour, Cookie: CookieOptions{Persist: Off}})
	e.onSession("/remember", func(s *Session) string {
		s.SetMaxAge(30 * 24 * time.Hour)
		return words(s.Set("user", "alice") == nil)
	})
	e.onSession("/forget", func(s *Session) string {
		s.SetMaxAge(0)
		return "ok"
	})
	if c := e.get(nil, "/incr").cookie("sid"); c == nil || c.MaxAge != 0 {
		t.Fatalf("cookie %v: want a browser-session cookie", c)
	}
	if c := e.get(nil, "/remember").cookie("sid"); c == nil || c.MaxAge != 30*24*3600 {
		t.Fatalf("cookie %v after SetMaxAge: want Max-Age of 30 days", c)
	}
	e.clock.Advance(2 * time.Hour) // past MaxAge: only the remembered lifetime holds
	r := e.get(nil, "/forget")
	if c := r.cookie("sid"); c == nil || c.MaxAge != 0 {
		t.Fatalf("cookie %v after SetMaxAge(0): want a browser-session cookie again", c)
	}
}

func TestRegenerateCannotBringBackADestroyedSession(t *testing.T) {
	// A request that loaded the session before a logout and regenerates
	// after it (an ID rotation, a step-up) must not carry the destroyed
	// session's values into a new record.
	e := newEnv(t, Options{})
	g := newGate()
	e.mux.HandleFunc("/slowregen", func(w http.ResponseWriter, r *http.Request) {
		s := FromContext(r.Context())
		close(g.loaded)
		<-g.release
		s.Regenerate()
	})
	e.mustGet(nil, "/incr")
	done := make(chan response)
	go func() { done <- e.get(nil, "/slowregen") }()
	<-g.loaded
	e.mustGet(nil, "/destroy")
	close(g.release)
	r := <-done
	if r.status != http.StatusConflict {
		t.Fatalf("racing request: status %d %q; want 409: the regeneration did not land", r.status, r.body)
	}
	if c := r.cookie("sid"); c != nil {
		t.Errorf("racing request sent cookie %v for a resurrected session", c)
	}
	if n := e.count(); n != 0 {
		t.Errorf("%d records after the logout, want none", n)
	}
}
