package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/boltsession/boltsession"
	"github.com/boltsession/boltsession/examples/internal/servertest"
)

// bin is the login program, built once by TestMain.
var bin string

func TestMain(m *testing.M) {
	os.Exit(servertest.RunWithBinary(m, ".", &bin))
}

// testServer is one running login program with its files.
type testServer struct {
	*servertest.Process
	key []byte // the signing key, read back from the key file
}

func start(t *testing.T) *testServer {
	t.Helper()
	db := filepath.Join(t.TempDir(), "login.db")
	p := servertest.Start(t, bin, "-db", db)
	key, err := os.ReadFile(db + ".key")
	if err != nil {
		t.Fatal(err)
	}
	return &testServer{Process: p, key: key}
}

// browser is one client with its own cookie jar.
type browser struct {
	t   *testing.T
	c   *http.Client
	srv *testServer
}

func (s *testServer) browser(t *testing.T) *browser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &browser{t: t, c: &http.Client{Jar: jar, Timeout: 10 * time.Second}, srv: s}
}

type reply struct {
	status int
	header http.Header
	body   string
}

func (b *browser) do(method, path string, form url.Values, accept string) reply {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, b.srv.URL+path, body)
	if err != nil {
		b.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		b.t.Fatal(err)
	}
	return reply{resp.StatusCode, resp.Header, string(out)}
}

// json makes a request and decodes its JSON body into v, checking status.
func (b *browser) json(method, path string, form url.Values, wantStatus int, v any) reply {
	b.t.Helper()
	r := b.do(method, path, form, "")
	if r.status != wantStatus {
		b.t.Fatalf("%s %s: status %d, want %d: %s", method, path, r.status, wantStatus, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		b.t.Fatalf("%s %s: Content-Type %q, want application/json", method, path, ct)
	}
	if v != nil {
		if err := json.Unmarshal([]byte(r.body), v); err != nil {
			b.t.Fatalf("%s %s: body %q: %v", method, path, r.body, err)
		}
	}
	return r
}

func (b *browser) login(name string) {
	b.t.Helper()
	var got struct{ User string }
	b.json("POST", "/login", url.Values{"user": {name}}, http.StatusOK, &got)
	if got.User != name {
		b.t.Fatalf("login as %q answered user %q", name, got.User)
	}
}

type me struct {
	User     string `json:"user"`
	Sessions int    `json:"sessions"`
	Error    string `json:"error"`
}

// sessionID decodes this browser's session cookie with the server's key.
func (b *browser) sessionID() string {
	b.t.Helper()
	u, _ := url.Parse(b.srv.URL)
	codec, err := boltsession.SecureCookie(b.srv.key)
	if err != nil {
		b.t.Fatal(err)
	}
	for _, c := range b.c.Jar.Cookies(u) {
		if c.Name == "sid" {
			id, err := codec.Decode(c.Name, c.Value)
			if err != nil {
				b.t.Fatalf("decode session cookie: %v", err)
			}
			return id
		}
	}
	b.t.Fatal("no session cookie")
	return ""
}

func TestLoginRejectsAnInvalidUserWith400JSON(t *testing.T) {
	srv := start(t)
	for _, tc := range []struct {
		name string
		form url.Values
	}{
		{"missing field", url.Values{}},
		{"empty", url.Values{"user": {""}}},
		{"65 bytes", url.Values{"user": {strings.Repeat("a", 65)}}},
		{"control character", url.Values{"user": {"a\x00b"}}},
		{"invalid UTF-8", url.Values{"user": {"a\xffb"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := srv.browser(t)
			var got me
			r := b.json("POST", "/login", tc.form, http.StatusBadRequest, &got)
			if got.Error == "" {
				t.Fatalf("body %q has no error message", r.body)
			}
			if sc := r.header.Values("Set-Cookie"); len(sc) != 0 {
				t.Fatalf("a rejected login set cookies %q", sc)
			}
			b.json("GET", "/me", nil, http.StatusUnauthorized, &got)
		})
	}
	b := srv.browser(t)
	b.login(strings.Repeat("a", 64)) // the longest name accepted
}

func TestLoginSetsTheOwnerAndRenewsTheSessionID(t *testing.T) {
	srv := start(t)
	b := srv.browser(t)
	var got me
	b.json("GET", "/me", nil, http.StatusUnauthorized, &got)
	if got.Error != "not logged in" {
		t.Fatalf("/me before login: %+v", got)
	}

	b.login("alice")
	first := b.sessionID()
	b.json("GET", "/me", nil, http.StatusOK, &got)
	if got.User != "alice" || got.Sessions != 1 {
		t.Fatalf("/me = %+v, want alice with 1 session", got)
	}

	b.login("alice")
	if b.sessionID() == first {
		t.Fatal("a second login kept the session ID; want it regenerated")
	}
	b.json("GET", "/me", nil, http.StatusOK, &got)
	if got.Sessions != 1 {
		t.Fatalf("after logging in again: %d sessions, want 1 (the old ID's record deleted)", got.Sessions)
	}
}

func TestTwoBrowsersAreTwoSessionsAndLogoutAllEndsBoth(t *testing.T) {
	srv := start(t)
	a, b, other := srv.browser(t), srv.browser(t), srv.browser(t)
	a.login("alice")
	b.login("alice")
	other.login("bob")

	var got me
	a.json("GET", "/me", nil, http.StatusOK, &got)
	if got.User != "alice" || got.Sessions != 2 {
		t.Fatalf("/me = %+v, want alice with 2 sessions", got)
	}

	var list []map[string]any
	r := a.json("GET", "/sessions", nil, http.StatusOK, &list)
	if len(list) != 2 {
		t.Fatalf("/sessions lists %d sessions, want 2: %s", len(list), r.body)
	}
	current := 0
	for _, s := range list {
		for k := range s {
			if k != "created" && k != "expires" && k != "current" {
				t.Fatalf("/sessions entry has field %q: %s", k, r.body)
			}
		}
		if s["current"] == true {
			current++
		}
	}
	if current != 1 {
		t.Fatalf("%d entries marked current, want 1: %s", current, r.body)
	}
	for _, id := range []string{a.sessionID(), b.sessionID()} {
		if strings.Contains(r.body, id) {
			t.Fatalf("/sessions shows a full session ID: %s", r.body)
		}
	}

	var destroyed struct {
		Destroyed int `json:"destroyed"`
	}
	a.json("POST", "/logout-all", nil, http.StatusOK, &destroyed)
	if destroyed.Destroyed != 2 {
		t.Fatalf("logout-all destroyed %d, want 2", destroyed.Destroyed)
	}
	a.json("GET", "/me", nil, http.StatusUnauthorized, nil)
	b.json("GET", "/me", nil, http.StatusUnauthorized, nil)
	other.json("GET", "/me", nil, http.StatusOK, &got)
	if got.User != "bob" || got.Sessions != 1 {
		t.Fatalf("bob after alice's logout-all: %+v", got)
	}
	a.json("POST", "/logout-all", nil, http.StatusUnauthorized, nil)
}

func TestLogoutEndsOnlyThisSession(t *testing.T) {
	srv := start(t)
	a, b := srv.browser(t), srv.browser(t)
	a.login("alice")
	b.login("alice")
	a.json("POST", "/logout", nil, http.StatusOK, nil)
	u, _ := url.Parse(srv.URL)
	if cookies := a.c.Jar.Cookies(u); len(cookies) != 0 {
		t.Fatalf("after logout the browser still holds %v", cookies)
	}
	a.json("GET", "/me", nil, http.StatusUnauthorized, nil)
	var got me
	b.json("GET", "/me", nil, http.StatusOK, &got)
	if got.Sessions != 1 {
		t.Fatalf("the other browser sees %d sessions, want 1", got.Sessions)
	}
}

func TestPageEscapesTheUserName(t *testing.T) {
	srv := start(t)
	for _, name := range []string{
		`<script>alert(1)</script>`,
		`"><img src=x onerror=alert(1)>`,
	} {
		b := srv.browser(t)
		b.login(name)
		r := b.do("GET", "/", nil, "text/html")
		if r.status != http.StatusOK || !strings.HasPrefix(r.header.Get("Content-Type"), "text/html") {
			t.Fatalf("GET /: status %d, Content-Type %q", r.status, r.header.Get("Content-Type"))
		}
		if !strings.Contains(r.body, `id="user"`) {
			t.Fatalf("page does not show the logged-in user:\n%s", r.body)
		}
		if strings.Contains(r.body, name) || strings.Contains(r.body, "<script") || strings.Contains(r.body, "<img") {
			t.Fatalf("page echoes %q unescaped:\n%s", name, r.body)
		}
	}
	b := srv.browser(t)
	b.login(`<script>alert(1)</script>`)
	r := b.do("GET", "/", nil, "text/html")
	if !strings.Contains(r.body, "&lt;script&gt;alert(1)&lt;/script&gt;") {
		t.Fatalf("page does not show the escaped name:\n%s", r.body)
	}
}

func TestBrowserFormsRedirectBackToThePage(t *testing.T) {
	srv := start(t)
	b := srv.browser(t)
	const accept = "text/html,application/xhtml+xml,*/*;q=0.8"

	r := b.do("GET", "/", nil, accept)
	if !strings.Contains(r.body, `action="/login"`) {
		t.Fatalf("logged-out page has no login form:\n%s", r.body)
	}
	// The client follows the 303 with a GET of the page.
	r = b.do("POST", "/login", url.Values{"user": {"carol"}}, accept)
	if r.status != http.StatusOK || !strings.Contains(r.body, "Signed in as <strong>carol</strong>") {
		t.Fatalf("after the login form: status %d:\n%s", r.status, r.body)
	}
	if !strings.Contains(r.body, "this browser") {
		t.Fatalf("page does not list this browser's session:\n%s", r.body)
	}
	r = b.do("POST", "/login", url.Values{"user": {""}}, accept)
	if r.status != http.StatusBadRequest || !strings.Contains(r.body, `id="error"`) {
		t.Fatalf("empty name from the form: status %d:\n%s", r.status, r.body)
	}
	r = b.do("POST", "/logout", nil, accept)
	if r.status != http.StatusOK || !strings.Contains(r.body, `action="/login"`) {
		t.Fatalf("after the logout form: status %d:\n%s", r.status, r.body)
	}
}
