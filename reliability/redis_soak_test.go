package reliability_test

import (
	"bufio"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/boltsession/boltsession"
	"github.com/boltsession/boltsession/redisstore"
	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"
)

// startRedis runs a private redis-server (persistence off) on a free port
// until the test ends. Without redis-server the test is skipped, or fails
// under BOLTSESSION_REQUIRE_REDIS=1 as in CI.
func startRedis(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("BOLTSESSION_REQUIRE_REDIS") == "1" {
			t.Fatal("redis-server is not installed and BOLTSESSION_REQUIRE_REDIS=1")
		}
		t.Skip("redis-server is not installed (apt-get install redis-server); set BOLTSESSION_REQUIRE_REDIS=1 to make this a failure")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	dir := t.TempDir()
	cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", dir,
		"--save", "", "--appendonly", "no", "--logfile", filepath.Join(dir, "redis.log"))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	for deadline := time.Now().Add(10 * time.Second); ; {
		if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			c.SetDeadline(time.Now().Add(time.Second))
			c.Write([]byte("PING\r\n"))
			line, _ := bufio.NewReader(c).ReadString('\n')
			c.Close()
			if line == "+PONG\r\n" {
				return addr
			}
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, "redis.log"))
			t.Fatalf("redis-server did not answer:\n%s", log)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestSoakOnRedisLosesNothingAndLeaksNothing is the soak of issue item 6 on
// the Redis store: the same 64 clients and checks; Redis expires sessions
// itself (PEXPIREAT), so there is no sweeper. 10 s by default.
func TestSoakOnRedisLosesNothingAndLeaksNothing(t *testing.T) {
	addr := startRedis(t)
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	client := redis.NewClient(&redis.Options{Addr: addr, PoolSize: 2 * soakClients})
	store := redisstore.New(client, nil)
	r := newRedisRig(t, store, func(o *boltsession.Options) { o.MaxAge = soakMaxAge })
	runSoak(t, r, soakDuration(t, 10*time.Second), func() { client.Close() }, func() {
		n, err := store.Count(context.Background())
		keys, _ := client.DBSize(context.Background()).Result()
		t.Logf("redis: %d live sessions, %d keys (%v)", n, keys, err)
	})
}
