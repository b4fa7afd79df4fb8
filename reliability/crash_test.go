package reliability_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/boltsession/boltsession"
	"github.com/vmihailenco/msgpack/v5"
	bolt "go.etcd.io/bbolt"
)

// buildCrashServer compiles testdata/crashserver once per test binary.
var buildCrashServer = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "crashserver")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "crashserver")
	cmd := exec.Command(goTool(), "build", "-o", bin, "./testdata/crashserver")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build crashserver: %v\n%s", err, out)
	}
	return bin, nil
})

func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return filepath.Join(os.Getenv("GOROOT"), "bin", "go")
}

// crashSession is one session driven by two writers, each counting in its own
// key, so every round also checks that per-key merges of concurrent saves
// survive a crash.
type crashSession struct {
	cookie string // the Cookie header value
	id     string // decoded from the cookie, as the server would
	keys   [2]*crashCounter
}

// crashCounter is what one writer knows about its key: the highest count the
// server acknowledged and how many requests it sent whose answer never came.
// After a crash the stored count must be at least acked (nothing acknowledged
// is lost) and at most acked+unanswered (nothing was invented).
type crashCounter struct {
	name       string
	acked      int
	unanswered int
}

// TestCrashKeepsEveryAcknowledgedSaveAndLogout is issue item 1: SIGKILL a
// server process at random moments while writers hammer it and a client logs
// in and out, then check the file with bbolt's consistency check, find every
// acknowledged save in it and none of the sessions whose logout was
// acknowledged.
func TestCrashKeepsEveryAcknowledgedSaveAndLogout(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills a server process; not run with -short")
	}
	bin, err := buildCrashServer()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		noSync bool
		rounds int
	}{
		{"fsync", false, 20},
		// NoSync skips fsync; a killed process still loses nothing because
		// its writes are in the kernel's page cache. What NoSync risks is a
		// machine crash, which a test cannot stage; see the Guarantees.
		{"nosync", true, 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			runCrashRounds(t, bin, tc.noSync, tc.rounds)
		})
	}
}

func runCrashRounds(t *testing.T, bin string, noSync bool, rounds int) {
	dbPath := filepath.Join(t.TempDir(), "sessions.db")
	key := make([]byte, 32)
	rand.Read(key)
	codec, err := boltsession.SecureCookie(key)
	if err != nil {
		t.Fatal(err)
	}
	const nSessions = 8
	var sessions []*crashSession
	var loggedOut []string // IDs whose logout was acknowledged
	totalAcked, totalUnanswered := 0, 0
	for round := range rounds {
		srv := startCrashServer(t, bin, dbPath, key, noSync)
		if sessions == nil {
			sessions = createCrashSessions(t, srv.url, codec, nSessions)
		}
		ctx, stop := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		var mu sync.Mutex
		acked, unanswered := 0, 0
		// One client logs in and out in a loop: every logout the server
		// acknowledged must stay done after the crash.
		wg.Go(func() {
			ids, err := driveLogouts(ctx, srv.url, codec)
			if err != nil {
				t.Errorf("round %d: %v", round, err)
			}
			mu.Lock()
			loggedOut = append(loggedOut, ids...)
			mu.Unlock()
		})
		for _, s := range sessions {
			for _, c := range s.keys {
				wg.Go(func() {
					a, u, err := driveCrashCounter(ctx, srv.url, s.cookie, c)
					if err != nil {
						t.Errorf("round %d: %v", round, err)
					}
					mu.Lock()
					acked += a
					unanswered += u
					mu.Unlock()
				})
			}
		}
		delay := 50*time.Millisecond + randDuration(250*time.Millisecond)
		time.Sleep(delay)
		srv.kill(t)
		stop()
		wg.Wait()
		totalAcked += acked
		totalUnanswered += unanswered
		checkCrashFile(t, round, dbPath, sessions, loggedOut)
		if t.Failed() {
			t.Fatalf("round %d (killed after %v) failed", round, delay)
		}
	}
	t.Logf("%d rounds, noSync=%v: %d acknowledged saves all found after SIGKILL; %d requests cut off by the kill; %d acknowledged logouts all still done",
		rounds, noSync, totalAcked, totalUnanswered, len(loggedOut))
}

type crashServer struct {
	cmd *exec.Cmd
	url string
}

func startCrashServer(t *testing.T, bin, dbPath string, key []byte, noSync bool) *crashServer {
	t.Helper()
	args := []string{"-db", dbPath, "-key", hex.EncodeToString(key)}
	if noSync {
		args = append(args, "-nosync")
	}
	cmd := exec.Command(bin, args...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("crashserver did not start: %v", err)
	}
	url, ok := strings.CutPrefix(strings.TrimSpace(line), "listening ")
	if !ok {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("crashserver said %q", line)
	}
	srv := &crashServer{cmd: cmd, url: url}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	return srv
}

// kill sends SIGKILL: no deferred function, no Close, no flush runs.
func (s *crashServer) kill(t *testing.T) {
	t.Helper()
	if err := s.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	s.cmd.Wait()
}

func createCrashSessions(t *testing.T, url string, codec boltsession.CookieCodec, n int) []*crashSession {
	t.Helper()
	var sessions []*crashSession
	for i := range n {
		resp, err := http.Post(url+"/incr?key=a", "", nil)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || string(body) != "1" {
			t.Fatalf("first save: %s %q", resp.Status, body)
		}
		var cookie *http.Cookie
		for _, c := range resp.Cookies() {
			if c.Name == "sid" {
				cookie = c
			}
		}
		if cookie == nil {
			t.Fatalf("session %d: no session cookie in %v", i, resp.Header)
		}
		id, err := codec.Decode(cookie.Name, cookie.Value)
		if err != nil {
			t.Fatal(err)
		}
		sessions = append(sessions, &crashSession{
			cookie: cookie.Name + "=" + cookie.Value,
			id:     id,
			keys:   [2]*crashCounter{{name: "a", acked: 1}, {name: "b"}},
		})
	}
	return sessions
}

// driveCrashCounter increments c until the server dies or ctx ends, and
// returns how many increments were acknowledged and how many were not. An
// answer that contradicts the earlier ones (a lost or an invented save) is
// an error.
func driveCrashCounter(ctx context.Context, url, cookie string, c *crashCounter) (acked, unanswered int, err error) {
	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	for ctx.Err() == nil {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url+"/incr?key="+c.name, nil)
		req.Header.Set("Cookie", cookie)
		resp, err := client.Do(req)
		if err != nil {
			c.unanswered++
			return acked, unanswered + 1, nil
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		n, convErr := strconv.Atoi(string(body))
		if err != nil || resp.StatusCode != http.StatusOK || convErr != nil {
			// The process died mid-response: the save may or may not
			// have happened, so it counts as unanswered.
			c.unanswered++
			return acked, unanswered + 1, nil
		}
		// Every earlier unanswered request may have been saved.
		if n < c.acked+1 || n > c.acked+c.unanswered+1 {
			return acked, unanswered, fmt.Errorf("key %s: server counted %d after acked=%d unanswered=%d",
				c.name, n, c.acked, c.unanswered)
		}
		c.acked, c.unanswered = n, 0
		acked++
	}
	return acked, unanswered, nil
}

// driveLogouts starts a session and logs it out, again and again, until the
// server dies or ctx ends, and returns the IDs whose logout was
// acknowledged.
func driveLogouts(ctx context.Context, url string, codec boltsession.CookieCodec) ([]string, error) {
	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	post := func(path, cookie string) (*http.Response, error) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url+path, nil)
		if cookie != "" {
			req.Header.Set("Cookie", cookie)
		}
		resp, err := client.Do(req)
		if err != nil {
			return nil, err
		}
		_, err = io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, err
	}
	var done []string
	for ctx.Err() == nil {
		resp, err := post("/incr?key=a", "")
		if err != nil || resp.StatusCode != http.StatusOK {
			return done, nil
		}
		var cookie *http.Cookie
		for _, c := range resp.Cookies() {
			if c.Name == "sid" {
				cookie = c
			}
		}
		if cookie == nil {
			return done, errors.New("a new session got no cookie")
		}
		id, err := codec.Decode(cookie.Name, cookie.Value)
		if err != nil {
			return done, err
		}
		resp, err = post("/logout", cookie.Name+"="+cookie.Value)
		if err != nil || resp.StatusCode != http.StatusOK {
			return done, nil
		}
		done = append(done, id)
	}
	return done, nil
}

// checkCrashFile runs bbolt's consistency check on the file the killed server
// left, then opens it as a session store and finds every acknowledged count.
func checkCrashFile(t *testing.T, round int, dbPath string, sessions []*crashSession, loggedOut []string) {
	t.Helper()
	db, err := bolt.Open(dbPath, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatalf("round %d: reopen with bbolt: %v", round, err)
	}
	err = db.View(func(tx *bolt.Tx) error {
		var errs []error
		for err := range tx.Check() {
			errs = append(errs, err)
		}
		return errors.Join(errs...)
	})
	db.Close()
	if err != nil {
		t.Fatalf("round %d: bbolt consistency check: %v", round, err)
	}

	store, err := boltsession.Open(dbPath, &boltsession.BoltOptions{SweepInterval: -1})
	if err != nil {
		t.Fatalf("round %d: reopen as session store: %v", round, err)
	}
	defer store.Close()
	for _, id := range loggedOut {
		if _, err := store.Load(context.Background(), id); !errors.Is(err, boltsession.ErrNotFound) {
			t.Errorf("round %d: a session whose logout was acknowledged is back after the crash (%v)", round, err)
		}
	}
	for i, s := range sessions {
		rec, err := store.Load(context.Background(), s.id)
		if err != nil {
			t.Errorf("round %d: session %d: %v", round, i, err)
			continue
		}
		for _, c := range s.keys {
			stored := 0
			if b, ok := rec.Values[c.name]; ok {
				if err := msgpack.Unmarshal(b, &stored); err != nil {
					t.Errorf("round %d: session %d key %s: %v", round, i, c.name, err)
					continue
				}
			}
			if stored < c.acked {
				t.Errorf("round %d: session %d key %s: LOST acknowledged save: stored %d, acknowledged %d",
					round, i, c.name, stored, c.acked)
			}
			if stored > c.acked+c.unanswered {
				t.Errorf("round %d: session %d key %s: stored %d but only %d were sent",
					round, i, c.name, stored, c.acked+c.unanswered)
			}
			// The next round starts from what the store holds.
			c.acked, c.unanswered = stored, 0
		}
	}
}

func randDuration(max time.Duration) time.Duration {
	n, err := rand.Int(rand.Reader, big.NewInt(int64(max)))
	if err != nil {
		return max / 2
	}
	return time.Duration(n.Int64())
}
