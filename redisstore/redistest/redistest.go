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
// StartSentinel runs a Redis Sentinel that monitors such a server, for
// tests of redis.NewFailoverClient and of a failover (SENTINEL FAILOVER).
//
// Stop and Restart let a test take the server away and bring it back (empty)
// on the same address, to check how a program rides out an outage.
//
// StartCluster builds a Redis Cluster the same way, one such server per
// node, and tells the test which node is master or replica of which slots.
// Failover and AwaitFailover replace a master by its replica, Rejoin brings
// a killed node back, and every change of shape returns only once every
// running node agrees the cluster is healthy:
//
//	c := redistest.StartCluster(t, redistest.ClusterOptions{Masters: 3, ReplicasPerMaster: 1})
//	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs()})
//	defer cc.Close()
//	// ... write, then c.SyncReplicas(master) so the write survives:
//	heir := c.Failover(master)
//	cc.ReloadState(ctx) // go-redis does not learn of a dead master by itself
//
// The package administers its servers over the Redis protocol itself and
// depends on no client library; tests bring their own.
package redistest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
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
	// conf, when set, is the configuration file of a Sentinel: the
	// server runs in Sentinel mode with it (see StartSentinel).
	conf string

	mu  sync.Mutex
	cmd *exec.Cmd
}

// Start launches redis-server for the test and registers its shutdown with
// t.Cleanup. Extra arguments are passed to redis-server after the defaults
// (for example "--cluster-enabled", "yes").
func Start(t testing.TB, extra ...string) *Server {
	t.Helper()
	path := lookServer(t)
	ports, err := freePorts(1)
	if err != nil {
		t.Fatalf("redistest: no free port: %v", err)
	}
	return startOn(t, path, ports[0], extra)
}

// startOn is Start with the redis-server binary found and the port chosen.
func startOn(t testing.TB, path string, port int, extra []string) *Server {
	t.Helper()
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

// StartSentinel launches a Redis Sentinel (redis-server in Sentinel mode)
// that monitors the master at masterAddr under the name master, with a
// quorum of one, and registers its shutdown with t.Cleanup. It reports a
// master down after a second without answers. Its Addr is what
// redis.FailoverOptions.SentinelAddrs takes; SENTINEL FAILOVER sent to it
// promotes a replica it has discovered.
func StartSentinel(t testing.TB, master, masterAddr string) *Server {
	t.Helper()
	path := lookServer(t)
	ports, err := freePorts(1)
	if err != nil {
		t.Fatalf("redistest: no free port: %v", err)
	}
	host, port, err := net.SplitHostPort(masterAddr)
	if err != nil {
		t.Fatalf("redistest: master address %q: %v", masterAddr, err)
	}
	s := &Server{
		Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[0])),
		t:    t,
		path: path,
		dir:  t.TempDir(),
	}
	// Sentinel rewrites its configuration file: it must be one of its own.
	s.conf = filepath.Join(s.dir, "sentinel.conf")
	conf := fmt.Sprintf("sentinel monitor %s %s %s 1\n"+
		"sentinel down-after-milliseconds %s 1000\n"+
		"sentinel failover-timeout %s 10000\n", master, host, port, master, master)
	if err := os.WriteFile(s.conf, []byte(conf), 0o600); err != nil {
		t.Fatalf("redistest: %v", err)
	}
	if err := s.start(); err != nil {
		t.Fatalf("redistest: sentinel: %v", err)
	}
	t.Cleanup(s.Stop)
	return s
}

// lookServer returns the path of redis-server, or skips the test (fails it
// under RequireEnv=1) with a hint on how to install it.
func lookServer(t testing.TB) string {
	t.Helper()
	path, err := exec.LookPath("redis-server")
	if err != nil {
		msg := "redis-server not found on PATH; install it (Debian/Ubuntu: apt-get install redis-server) to run the Redis tests"
		if os.Getenv(RequireEnv) == "1" {
			t.Fatalf("%s (%s=1 makes this a failure)", msg, RequireEnv)
		}
		t.Skip(msg)
	}
	return path
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

// Pause stops the server's process with SIGSTOP: its connections stay
// open but it answers nothing and, as a replica, acknowledges nothing,
// like a server stuck in a long pause. Resume continues it; Stop and the
// end of the test kill it paused or not. Pausing a stopped or paused
// server does nothing.
func (s *Server) Pause() { s.signal(syscall.SIGSTOP) }

// Resume continues a server that Pause stopped.
func (s *Server) Resume() { s.signal(syscall.SIGCONT) }

func (s *Server) signal(sig syscall.Signal) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		_ = s.cmd.Process.Signal(sig)
	}
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
	args = append(args, s.extra...)
	if s.conf != "" {
		args = append([]string{s.conf, "--sentinel"}, args...)
	}
	cmd := exec.Command(s.path, args...)
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

// ping sends PING and wants PONG back.
func ping(addr string) error {
	r, err := do(addr, "PING")
	if err != nil {
		return err
	}
	if r != "PONG" {
		return fmt.Errorf("unexpected reply %q", r)
	}
	return nil
}

// freePorts returns n distinct ports that were free a moment ago: all n
// listeners are open at once, so the kernel cannot hand out one port twice.
func freePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// running reports whether the server was started and not stopped since.
func (s *Server) running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cmd != nil
}
