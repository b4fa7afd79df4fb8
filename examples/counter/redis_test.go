package main

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/boltsession/boltsession/examples/internal/servertest"
	"github.com/boltsession/boltsession/redisstore/redistest"
)

func TestTwoCounterProcessesOnOneRedisShareEachVisitorsCount(t *testing.T) {
	srv := redistest.Start(t)
	twoProcessesShareEachVisitorsCount(t, "-redis", srv.URL(), "redis="+srv.URL())
}

// TestTwoCounterProcessesOnARedisClusterShareEachVisitorsCount is the same
// on a 3-master Redis Cluster, named by its seed nodes.
func TestTwoCounterProcessesOnARedisClusterShareEachVisitorsCount(t *testing.T) {
	c := redistest.StartCluster(t, redistest.ClusterOptions{Masters: 3, NodeTimeout: 5 * time.Second})
	addrs := c.Addrs()
	url := "redis://" + addrs[0] + "?addr=" + addrs[1] + "&addr=" + addrs[2]
	twoProcessesShareEachVisitorsCount(t, "-redis-cluster", url, `redis-cluster="`+url+`"`)
}

// twoProcessesShareEachVisitorsCount runs two counter processes with the
// Redis flag and URL given, sends one visitor to both in turn and another
// to each, and checks that each visitor's count goes on whichever process
// answers, that a reset on one is seen by the other, and that the log
// names the store (logged).
func twoProcessesShareEachVisitorsCount(t *testing.T, flag, url, logged string) {
	t.Helper()
	dir := t.TempDir()
	key := filepath.Join(dir, "counter.key")
	db := filepath.Join(dir, "unused.db")
	a := servertest.Start(t, bin, flag, url, "-key-file", key, "-db", db)
	b := servertest.Start(t, bin, flag, url, "-key-file", key, "-db", db)
	if a.URL == b.URL {
		t.Fatalf("both processes serve %s", a.URL)
	}

	// The cookie jar ignores ports, so both processes get the same cookie,
	// as behind a load balancer.
	c := newClient(t)
	procs := []*servertest.Process{a, b}
	for want := 1; want <= 6; want++ {
		p := procs[want%2]
		if got := call(t, c, "GET", p.URL+"/"); got != want {
			t.Fatalf("visit %d (on %s): views = %d", want, p.URL, got)
		}
	}
	other := newClient(t)
	if got := call(t, other, "GET", a.URL+"/"); got != 1 {
		t.Fatalf("a second visitor's first visit: views = %d, want 1", got)
	}

	if got := call(t, c, "POST", a.URL+"/reset"); got != 0 {
		t.Fatalf("reset on %s: views = %d, want 0", a.URL, got)
	}
	if got := call(t, c, "GET", b.URL+"/"); got != 1 {
		t.Fatalf("on %s after a reset on %s: views = %d, want 1", b.URL, a.URL, got)
	}
	if got := call(t, other, "GET", b.URL+"/"); got != 2 {
		t.Fatalf("the other visitor on %s: views = %d, want 2 (its session untouched by the reset)", b.URL, got)
	}

	for _, p := range procs {
		if code := p.Signal(t, syscall.SIGTERM); code != 0 {
			t.Fatalf("exit code after SIGTERM = %d, want 0; log:\n%s", code, p.Log())
		}
		if !strings.Contains(p.Log(), logged) {
			t.Fatalf("log does not name %s:\n%s", logged, p.Log())
		}
	}
	if _, err := os.Stat(db); !os.IsNotExist(err) {
		t.Fatalf("with %s the -db file was created (stat: %v)", flag, err)
	}
}

func TestCounterRedisFlagErrorsStopTheProgramAtStart(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()

	for _, tc := range []struct {
		name, url string
		code      int
		want      string
	}{
		{"not a redis URL", "http://" + closed, 2, "invalid URL scheme"},
		{"not a URL, with a password", "redis://:s3cret@127.0.0.1:12x/0", 2, "invalid port"},
		{"nobody listening", "redis://" + closed + "/0", 1, "redis redis://" + closed + "/0"},
		{"nobody listening, with a password", "redis://:s3cret@" + closed + "/0", 1, "redis redis://:xxxxx@" + closed + "/0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key := filepath.Join(t.TempDir(), "k")
			code, stderr := servertest.Run(t, bin, "-redis", tc.url, "-key-file", key, "-addr", "127.0.0.1:0")
			if code != tc.code || !strings.Contains(stderr, tc.want) || strings.Contains(stderr, "msg=serving") {
				t.Fatalf("exit %d, stderr:\n%s\nwant exit %d naming %q, before serving", code, stderr, tc.code, tc.want)
			}
			if strings.Contains(stderr, "s3cret") {
				t.Fatalf("the password is in the output:\n%s", stderr)
			}
		})
	}
}
