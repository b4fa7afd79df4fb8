package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/boltsession/boltsession"
	"github.com/vmihailenco/msgpack/v5"
	bbolt "go.etcd.io/bbolt"
)

// binary is the command built once for all tests, run as a user runs it.
var commandPath string

// holdEnv names the file a re-executed test binary holds open (see
// holdFile).
const holdEnv = "BOLTSESSION_TEST_HOLD"

func TestMain(m *testing.M) {
	if path := os.Getenv(holdEnv); path != "" {
		os.Exit(hold(path))
	}
	dir, err := os.MkdirTemp("", "boltsession-cli-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	commandPath = filepath.Join(dir, "boltsession")
	build := exec.Command("go", "build", "-buildvcs=false", "-o", commandPath, ".")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building the command:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// hold is the holding process: it opens the store as an app would, says
// "held" and keeps the file until its standard input closes.
func hold(path string) int {
	s, err := boltsession.Open(path, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println("held")
	_, _ = io.Copy(io.Discard, os.Stdin)
	s.Close()
	return 0
}

// holdFile starts another process that holds path open, like a running
// app, until the test ends.
func holdFile(t *testing.T, path string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), holdEnv+"="+path)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		_ = cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "held\n" {
		t.Fatalf("holder process: %q, %v", line, err)
	}
}

// result is what one run of the command gave.
type result struct {
	stdout, stderr string
	code           int
}

// cli runs the built command with args and stdin, as a user would. The
// context bounds a hang: a command that hangs fails the test instead of
// stalling it.
func cli(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, commandPath, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("boltsession %s: did not finish: %v", strings.Join(args, " "), ctx.Err())
	}
	code := 0
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		code = exit.ExitCode()
	} else if err != nil {
		t.Fatalf("boltsession %s: %v", strings.Join(args, " "), err)
	}
	return result{out.String(), errOut.String(), code}
}

// expect checks the exit status and that the output contains each of
// want (stdout for status 0, stderr otherwise).
func (r result) expect(t *testing.T, code int, want ...string) {
	t.Helper()
	if r.code != code {
		t.Fatalf("exit status %d, want %d\nstdout: %s\nstderr: %s", r.code, code, r.stdout, r.stderr)
	}
	text := r.stdout
	if code != 0 {
		text = r.stderr
	}
	for _, w := range want {
		if !strings.Contains(text, w) {
			t.Fatalf("output lacks %q\nstdout: %s\nstderr: %s", w, r.stdout, r.stderr)
		}
	}
}

// oneLineError checks that a failure printed exactly one line.
func (r result) oneLineError(t *testing.T) {
	t.Helper()
	if n := strings.Count(r.stderr, "\n"); n != 1 || !strings.HasPrefix(r.stderr, "boltsession: ") {
		t.Fatalf("want one error line starting with \"boltsession: \", got %d lines: %q", n, r.stderr)
	}
}

// now is the tests' reference time: sessions expire relative to it, and
// the command runs on the real clock.
var now = time.Now()

// session describes one session a test file holds.
type session struct {
	id      string
	owner   string
	expires time.Time
	maxAge  time.Duration
	values  map[string]any
}

func mustMsgpack(t testing.TB, v any) []byte {
	t.Helper()
	b, err := msgpack.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// makeFile writes sessions into a new session file through the library
// and returns its path.
func makeFile(t testing.TB, sessions ...session) string {
	t.Helper()
	return makeSealedFile(t, nil, sessions...)
}

// makeSealedFile is makeFile with value keys (nil: values in clear).
func makeSealedFile(t testing.TB, valueKeys [][]byte, sessions ...session) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "sessions.db")
	s, err := boltsession.Open(path, &boltsession.BoltOptions{SweepInterval: -1, NoSync: true, ValueKeys: valueKeys})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, x := range sessions {
		set := map[string][]byte{}
		for k, v := range x.values {
			set[k] = mustMsgpack(t, v)
		}
		owner, maxAge := x.owner, x.maxAge
		err := s.Save(context.Background(), boltsession.Update{
			ID: x.id, Create: true, Created: now.Add(-time.Hour), Expires: x.expires,
			Set: set, Owner: &owner, MaxAge: &maxAge,
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// corruptRecord overwrites the stored record of id with bytes that do not
// decode, as a damaged disk or a foreign writer might leave it.
func corruptRecord(t testing.TB, path, id string) {
	t.Helper()
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Update(func(tx *bbolt.Tx) error {
		return tx.Bucket([]byte("sessions")).Put(handleKey(t, id), []byte{0x85, 0xa1, 'c', 0xff})
	})
	if err != nil {
		t.Fatal(err)
	}
}

// handleKey is the key the file stores the session id under: its handle,
// as bytes.
func handleKey(t testing.TB, id string) []byte {
	t.Helper()
	k, err := hex.DecodeString(boltsession.Handle(id))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// short is the handle prefix of id that ls shows.
func short(id string) string { return boltsession.Handle(id)[:12] }

// records reads every live session of the file through the library, by
// handle (the store keeps no IDs), opening it with the value keys given.
func records(t testing.TB, path string, valueKeys ...[]byte) map[string]boltsession.Record {
	t.Helper()
	s, err := boltsession.Open(path, &boltsession.BoltOptions{SweepInterval: -1, ValueKeys: valueKeys})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	out := map[string]boltsession.Record{}
	err = s.Iterate(context.Background(), func(r *boltsession.Record) error {
		if r.ID != "" {
			t.Errorf("the store returned a session ID")
		}
		out[r.Handle] = *r
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// The sessions of standardFile.
const (
	alpha1 = "alpha-0001-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	alpha2 = "alpha-0002-bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
	beta3  = "beta-0003-cccccccccccccccccccccccccccccccccccc"
	gamma4 = "gamma-0004-dddddddddddddddddddddddddddddddddd"
)

// standardFile is a small file with owners, values of many types, an
// expired session (gamma4) and a per-session max age.
func standardFile(t testing.TB) string {
	return makeFile(t,
		session{id: alpha1, owner: "user-1", expires: now.Add(24 * time.Hour),
			values: map[string]any{"views": 17, "name": "Zoë <&>", "cart": []any{map[string]any{"sku": "A-113", "qty": 2}}}},
		session{id: alpha2, owner: "user-1", expires: now.Add(48 * time.Hour),
			maxAge: 720 * time.Hour, values: map[string]any{"csrf": []byte{0xab, 0xcd, 0xef, 0x12}}},
		session{id: beta3, owner: "user-2", expires: now.Add(2 * time.Hour),
			values: map[string]any{"pi": 3.5, "big": uint64(18446744073709551615), "neg": int64(-9223372036854775808), "nothing": nil, "ok": true}},
		session{id: gamma4, expires: now.Add(-time.Minute),
			values: map[string]any{"stale": "yes"}},
	)
}
