package main

import (
	"strings"
	"testing"

	"github.com/boltsession/boltsession/examples/internal/servertest"
)

func TestLoginHelpListsItsRoutesAndFlags(t *testing.T) {
	code, stderr := servertest.Run(t, bin, "-help")
	if code != 0 {
		t.Fatalf("-help: exit %d, want 0; stderr:\n%s", code, stderr)
	}
	for _, want := range []string{
		"Usage: login", "Routes:",
		"GET  /  ", "POST /login", "GET  /me", "GET  /sessions", "POST /logout ", "POST /logout-all",
		"-addr", "-db", "-key-file", "-max-age", "-sweep-interval", "-redis", `(default "login.db")`,
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("-help does not show %q:\n%s", want, stderr)
		}
	}
}

func TestLoginBadUsageExits2BeforeServing(t *testing.T) {
	for _, args := range [][]string{
		{"-no-such-flag"},
		{"stray"},
		{"-sweep-interval", "often"},
		{"-redis", "http://127.0.0.1:6379/0"},
	} {
		code, stderr := servertest.Run(t, bin, append(args, "-addr", "127.0.0.1:0")...)
		if code != 2 || !strings.Contains(stderr, "Usage: login") || strings.Contains(stderr, "msg=serving") {
			t.Errorf("login %q: exit %d, want 2 with the usage and before serving; stderr:\n%s", args, code, stderr)
		}
	}
}
