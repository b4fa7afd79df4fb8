// Package redistest starts a private redis-server for tests, so that tests
// of redisstore, and of applications built on it, run against a real server
// without any setup beyond having redis-server installed.
//
// Start runs the redis-server found on PATH on a free 127.0.0.1 port, in a
// temporary directory, with persistence off (--save "" --appendonly no), and
// stops it when the test ends. Where redis-server is missing the test is
// skipped with a hint to install it; with BOLTSESSION_REQUIRE_REDIS=1 in the
// environment it fails instead, so CI cannot pass by skipping.
//
// A test uses it like this:
//
//	func TestSessionsSurviveAcrossInstances(t *testing.T) {
//		srv := redistest.Start(t)
//		client := redis.NewClient(&redis.Options{Addr: srv.Addr})
//		defer client.Close()
//		store := redisstore.New(client, nil)
//		// ... or hand srv.URL() to a program under test.
//	}
//
// Stop and Restart let a test take the server away and bring it back (empty)
// on the same address, to check how a program rides out an outage.
package redistest

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"
)

// RequireEnv names the environment variable that turns a missing
// redis-server from a skip into a failure.
const RequireEnv = "BOLTSESSION_REQUIRE_REDIS"

// Server is one redis-server process started by Start.
type Server struct {
	// Addr is host:port of the server, stable across Stop and Restart.
	Addr string

	t     testing.TB
	path  string
	dir   string
	extra []string

	mu  sync.Mutex
	cmd *exec.Cmd
}

// Start launches redis-server for the test and registers its shutdown with
// t.Cleanup. Extra arguments are passed to redis-server after the defaults
// (for example "--cluster-enabled", "yes").
func Start(t testing.TB, extra ...string) *Server {
	t.Helper()
	path, err := exec.LookPath("redis-server")
	if err != nil {
		msg := "redis-server not found on PATH; install it (Debian/Ubuntu: apt-get install redis-server) to run the Redis tests"
		if os.Getenv(RequireEnv) == "1" {
			t.Fatalf("%s (%s=1 makes this a failure)", msg, RequireEnv)
		}
		t.Skip(msg)
	}
	port, err := freePort()
	if err != nil {
		t.Fatalf("redistest: no free port: %v", err)
	}
	s := &Server{
		Addr:  net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		t:     t,
		path:  path,
		dir:   t.TempDir(),
		extra: extra,
	}
	if err := s.start(); err != nil {
		t.Fatalf("redistest: %v", err)
	}
	t.Cleanup(s.Stop)
	return s
}

// URL returns the server's address as a redis:// URL for database 0, the
// form redis.ParseURL reads, e.g. "redis://127.0.0.1:41235/0".
func (s *Server) URL() string { return "redis://" + s.Addr + "/0" }

// Stop kills the server and waits for it to exit. Stopping a stopped server
// does nothing.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
	s.cmd = nil
}

// Restart starts the server again on the same port, empty (persistence is
// off), after Stop.
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	if err := s.start(); err != nil {
		s.t.Fatalf("redistest: restart: %v", err)
	}
}

func (s *Server) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, port, _ := net.SplitHostPort(s.Addr)
	args := []string{
		"--port", port,
		"--bind", "127.0.0.1",
		"--dir", s.dir,
		"--save", "",
		"--appendonly", "no",
		"--logfile", filepath.Join(s.dir, "redis.log"),
	}
	cmd := exec.Command(s.path, append(args, s.extra...)...)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", s.path, err)
	}
	// A restart may find the port in TIME_WAIT or the old process not yet
	// gone; poll until the server answers or a generous deadline passes.
	deadline := time.Now().Add(10 * time.Second)
	for {
		if err := ping(s.Addr); err == nil {
			s.cmd = cmd
			return nil
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			log, _ := os.ReadFile(filepath.Join(s.dir, "redis.log"))
			return fmt.Errorf("redis-server on %s did not answer PING within 10s; log:\n%s", s.Addr, log)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ping sends an inline PING and waits for +PONG, without a client library.
func ping(addr string) error {
	c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(500 * time.Millisecond))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if line != "+PONG\r\n" {
		return fmt.Errorf("unexpected reply %q", line)
	}
	return nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
