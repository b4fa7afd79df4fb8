package redistest

import (
	"context"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func TestStartRunsAServerThatStopAndRestartControl(t *testing.T) {
	s := Start(t)
	if err := ping(s.Addr); err != nil {
		t.Fatalf("PING after Start: %v", err)
	}
	s.Stop()
	if c, err := net.Dial("tcp", s.Addr); err == nil {
		c.Close()
		t.Fatal("server still accepting after Stop")
	}
	s.Restart()
	if err := ping(s.Addr); err != nil {
		t.Fatalf("PING after Restart: %v", err)
	}
}

// TestMissingServerChild runs in a child process of the two tests below,
// with an empty PATH.
func TestMissingServerChild(t *testing.T) {
	if os.Getenv("REDISTEST_CHILD") != "1" {
		t.Skip("run only as the child of TestMissingServer*")
	}
	Start(t)
	t.Error("Start returned without a redis-server on PATH")
}

func runChild(t *testing.T, require string) (string, error) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestMissingServerChild$", "-test.v")
	cmd.Env = append(os.Environ(), "PATH="+t.TempDir(), "REDISTEST_CHILD=1", RequireEnv+"="+require)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func TestMissingServerSkipsWithAnInstallHint(t *testing.T) {
	out, err := runChild(t, "")
	if err != nil {
		t.Fatalf("child failed: %v\n%s", err, out)
	}
	if !strings.Contains(out, "--- SKIP") || !strings.Contains(out, "apt-get install redis-server") {
		t.Fatalf("child output lacks a skip with an install hint:\n%s", out)
	}
}

func TestMissingServerFailsWhenRequired(t *testing.T) {
	out, err := runChild(t, "1")
	if err == nil {
		t.Fatalf("child passed with %s=1:\n%s", RequireEnv, out)
	}
	if !strings.Contains(out, "--- FAIL") || !strings.Contains(out, "apt-get install redis-server") {
		t.Fatalf("child output lacks a failure with an install hint:\n%s", out)
	}
}

func TestURLNamesTheServerForParseURL(t *testing.T) {
	s := &Server{Addr: "127.0.0.1:6390"}
	opt, err := redis.ParseURL(s.URL())
	if err != nil || opt.Addr != s.Addr || opt.DB != 0 {
		t.Fatalf("ParseURL(%q) = %+v, %v; want Addr %s, DB 0", s.URL(), opt, err, s.Addr)
	}
}

func TestPauseLeavesTheConnectionOpenButUnansweredUntilResume(t *testing.T) {
	s := Start(t)
	c := redis.NewClient(&redis.Options{Addr: s.Addr, ReadTimeout: 200 * time.Millisecond, MaxRetries: -1})
	defer c.Close()
	ctx := context.Background()
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	s.Pause()
	if err := c.Ping(ctx).Err(); err == nil {
		t.Fatal("a paused server answered PING")
	}
	s.Resume()
	if err := ping(s.Addr); err != nil {
		t.Fatalf("PING after Resume: %v", err)
	}
}
