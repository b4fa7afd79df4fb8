package main

import (
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/boltsession/boltsession/examples/internal/servertest"
	"github.com/boltsession/boltsession/redisstore/redistest"
)

func TestTwoLoginProcessesOnOneRedisShareSessionsAndLogoutAllEndsThemEverywhere(t *testing.T) {
	srv := redistest.Start(t)
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "login.key")
	db := filepath.Join(dir, "unused.db")
	a := servertest.Start(t, bin, "-redis", srv.URL(), "-key-file", keyFile, "-db", db)
	b := servertest.Start(t, bin, "-redis", srv.URL(), "-key-file", keyFile, "-db", db)
	key, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	onA, onB := &testServer{Process: a, key: key}, &testServer{Process: b, key: key}

	// alice signs in on one browser through each process.
	x, y := onA.browser(t), onB.browser(t)
	x.login("alice")
	y.login("alice")
	var got me
	x.json("GET", "/me", nil, http.StatusOK, &got)
	if got.User != "alice" || got.Sessions != 2 {
		t.Fatalf("/me on %s = %+v, want alice with 2 sessions", a.URL, got)
	}
	// The same browser, answered by the other process, is in the same
	// session.
	xOnB := &browser{t: t, c: x.c, srv: onB}
	xOnB.json("GET", "/me", nil, http.StatusOK, &got)
	if got.User != "alice" || got.Sessions != 2 {
		t.Fatalf("/me of the same browser on %s = %+v, want alice with 2 sessions", b.URL, got)
	}

	var destroyed struct {
		Destroyed int `json:"destroyed"`
	}
	y.json("POST", "/logout-all", nil, http.StatusOK, &destroyed)
	if destroyed.Destroyed != 2 {
		t.Fatalf("logout-all on %s destroyed %d sessions, want 2", b.URL, destroyed.Destroyed)
	}
	x.json("GET", "/me", nil, http.StatusUnauthorized, nil)

	for _, p := range []*servertest.Process{a, b} {
		if code := p.Signal(t, syscall.SIGTERM); code != 0 {
			t.Fatalf("exit code after SIGTERM = %d, want 0; log:\n%s", code, p.Log())
		}
	}
	if _, err := os.Stat(db); !os.IsNotExist(err) {
		t.Fatalf("with -redis the -db file was created (stat: %v)", err)
	}
}
