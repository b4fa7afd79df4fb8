package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/boltsession/boltsession"
	"github.com/boltsession/boltsession/examples/internal/servertest"
)

// bin is the counter program, built once by TestMain.
var bin string

func TestMain(m *testing.M) {
	os.Exit(servertest.RunWithBinary(m, ".", &bin))
}

func newClient(t *testing.T) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, Timeout: 10 * time.Second}
}

// call makes one request and returns the decoded {"views":N} body.
func call(t *testing.T, c *http.Client, method, url string) int {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s %s: status %d: %s", method, url, resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("%s %s: Content-Type %q", method, url, ct)
	}
	var v struct {
		Views *int `json:"views"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil || v.Views == nil {
		t.Fatalf("%s %s: body %q is not {\"views\":N}: %v", method, url, body, err)
	}
	return *v.Views
}

func TestCounterCountsVisitsAndResetStartsOver(t *testing.T) {
	db := filepath.Join(t.TempDir(), "sessions.db")
	p := servertest.Start(t, bin, "-db", db)
	c := newClient(t)
	for want := 1; want <= 3; want++ {
		if got := call(t, c, "GET", p.URL+"/"); got != want {
			t.Fatalf("visit %d: views = %d", want, got)
		}
	}
	other := newClient(t)
	if got := call(t, other, "GET", p.URL+"/"); got != 1 {
		t.Fatalf("a second visitor's first visit: views = %d, want 1", got)
	}
	if got := call(t, c, "POST", p.URL+"/reset"); got != 0 {
		t.Fatalf("reset: views = %d, want 0", got)
	}
	u, _ := url.Parse(p.URL)
	if cookies := c.Jar.Cookies(u); len(cookies) != 0 {
		t.Fatalf("after reset the client still holds %v; want the cookie expired", cookies)
	}
	if got := call(t, c, "GET", p.URL+"/"); got != 1 {
		t.Fatalf("first visit after reset: views = %d, want 1", got)
	}
	if got := call(t, other, "GET", p.URL+"/"); got != 2 {
		t.Fatalf("the other visitor after the reset: views = %d, want 2", got)
	}

	resp, err := c.Get(p.URL + "/favicon.ico")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("GET /favicon.ico: status %d, want 404", resp.StatusCode)
	}
	if got := call(t, c, "GET", p.URL+"/"); got != 2 {
		t.Fatalf("after a 404: views = %d, want 2 (other paths do not count)", got)
	}

	if code := p.Signal(t, syscall.SIGTERM); code != 0 {
		t.Fatalf("exit code after SIGTERM = %d, want 0; log:\n%s", code, p.Log())
	}
	var starts []string
	for _, line := range strings.Split(p.Log(), "\n") {
		if strings.Contains(line, "msg=serving") {
			starts = append(starts, line)
		}
	}
	if len(starts) != 1 || !strings.Contains(starts[0], "db="+db) || !strings.Contains(starts[0], "addr="+p.URL) {
		t.Fatalf("start lines = %q; want one naming addr=%s and db=%s", starts, p.URL, db)
	}
}

func TestCounterCookieSurvivesRestartOnTheSameFiles(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "sessions.db")
	c := newClient(t)

	p := servertest.Start(t, bin, "-db", db)
	call(t, c, "GET", p.URL+"/")
	call(t, c, "GET", p.URL+"/")
	if code := p.Signal(t, syscall.SIGTERM); code != 0 {
		t.Fatalf("exit code = %d; log:\n%s", code, p.Log())
	}
	keyPath := db + ".key"
	key, err := os.ReadFile(keyPath)
	if err != nil {
		t.Fatalf("no key file beside the database: %v", err)
	}
	fi, _ := os.Stat(keyPath)
	if len(key) != 64 || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %d bytes, mode %o; want 64 bytes, mode 600", len(key), fi.Mode().Perm())
	}

	// The cookie jar ignores ports, so the new port gets the same cookie.
	p = servertest.Start(t, bin, "-db", db)
	if got := call(t, c, "GET", p.URL+"/"); got != 3 {
		t.Fatalf("after restart: views = %d, want 3", got)
	}
	if code := p.Signal(t, syscall.SIGINT); code != 0 {
		t.Fatalf("exit code after SIGINT = %d; log:\n%s", code, p.Log())
	}
	again, _ := os.ReadFile(keyPath)
	if !bytes.Equal(key, again) {
		t.Fatal("the restart replaced the key file")
	}

	// A run with a fresh key file cannot verify the old cookie: a new
	// session starts. This is why the key file is kept.
	p = servertest.Start(t, bin, "-db", db, "-key-file", filepath.Join(dir, "other.key"))
	if got := call(t, c, "GET", p.URL+"/"); got != 1 {
		t.Fatalf("with another key: views = %d, want 1 (old cookie refused)", got)
	}
}

func TestCounterExitsZeroOnSignalAndReleasesTheFile(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			db := filepath.Join(t.TempDir(), "sessions.db")
			p := servertest.Start(t, bin, "-db", db)
			c := newClient(t)
			call(t, c, "GET", p.URL+"/")
			if code := p.Signal(t, sig); code != 0 {
				t.Fatalf("exit code = %d, want 0; log:\n%s", code, p.Log())
			}
			// bbolt holds an exclusive lock while open: opening at once
			// proves the process closed the store.
			s, err := boltsession.Open(db, &boltsession.BoltOptions{Timeout: 100 * time.Millisecond, SweepInterval: -1})
			if err != nil {
				t.Fatalf("reopen after exit: %v", err)
			}
			defer s.Close()
			n, err := s.Count(t.Context())
			if err != nil || n != 1 {
				t.Fatalf("sessions in the file = %d, %v; want 1", n, err)
			}
		})
	}
}

func TestCounterSecondProcessOnTheSameFileFailsClearly(t *testing.T) {
	db := filepath.Join(t.TempDir(), "sessions.db")
	servertest.Start(t, bin, "-db", db)
	code, stderr := servertest.Run(t, bin, "-db", db, "-addr", "127.0.0.1:0")
	if code != 1 || !strings.Contains(stderr, "held by another process") || !strings.Contains(stderr, "-redis") {
		t.Fatalf("second process: exit %d, stderr:\n%s\nwant exit 1 naming the held file and pointing to -redis", code, stderr)
	}
}

func TestCounterMaxAgeFlagSetsTheCookieLifetime(t *testing.T) {
	db := filepath.Join(t.TempDir(), "sessions.db")
	p := servertest.Start(t, bin, "-db", db, "-max-age", "90m", "-sweep-interval", "-1s")
	resp, err := http.Get(p.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	cookies := resp.Cookies()
	if len(cookies) != 1 || cookies[0].MaxAge != 90*60 {
		t.Fatalf("Set-Cookie = %q, want one cookie with Max-Age=5400", resp.Header.Values("Set-Cookie"))
	}
}
