// Package servertest builds an example program and runs it as a real
// process, so tests drive it the way a user does: over HTTP, with signals,
// and with restarts on the same files.
package servertest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// StartTimeout bounds the wait for a started program's "serving" log line.
const StartTimeout = 30 * time.Second

// StopTimeout bounds the wait for a signalled program to exit.
const StopTimeout = 30 * time.Second

// Build compiles the main package in dir into outDir and returns the path
// of the binary. It is built with -race when the calling tests are.
func Build(dir, outDir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	bin := filepath.Join(outDir, filepath.Base(abs))
	args := []string{"build", "-o", bin}
	if raceEnabled {
		args = append(args, "-race")
	}
	// `go test` puts its own go command first on PATH.
	cmd := exec.Command("go", append(args, ".")...)
	cmd.Dir = abs
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build %s: %w\n%s", dir, err, out)
	}
	return bin, nil
}

// RunWithBinary is a TestMain body: it builds the main package in dir into
// a temporary directory, stores the binary's path in *bin, runs the tests
// and removes the directory. It returns the exit code for os.Exit.
func RunWithBinary(m *testing.M, dir string, bin *string) int {
	tmp, err := os.MkdirTemp("", "servertest-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(tmp)
	*bin, err = Build(dir, tmp)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

// Process is a running example program.
type Process struct {
	// URL is the base URL it serves, e.g. http://127.0.0.1:41235.
	URL string

	cmd  *exec.Cmd
	log  *logBuffer
	done chan struct{} // closed once the process has exited
}

// Start runs bin with args followed by -addr 127.0.0.1:0, in a temporary
// working directory, and waits for its "serving" log line to learn the
// port. The process is killed at the end of the test if it still runs.
func Start(t testing.TB, bin string, args ...string) *Process {
	t.Helper()
	p, err := start(t.TempDir(), bin, append(args, "-addr", "127.0.0.1:0")...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			p.cmd.Process.Kill()
			<-p.done
		}
		if strings.Contains(p.Log(), "WARNING: DATA RACE") {
			t.Errorf("the program reported a data race:\n%s", p.Log())
		}
	})
	return p
}

// Run runs bin with args to completion (bounded by StopTimeout) and returns
// its exit code and its stderr. Use it for runs that are expected to fail
// at start.
func Run(t testing.TB, bin string, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = t.TempDir()
	cmd.Env = environ()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.WaitDelay = time.Second
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	timer := time.AfterFunc(StopTimeout, func() { cmd.Process.Kill() })
	defer timer.Stop()
	err := cmd.Wait()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatal(err)
	}
	return cmd.ProcessState.ExitCode(), stderr.String()
}

func start(dir, bin string, args ...string) (*Process, error) {
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = environ()
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &Process{cmd: cmd, log: &logBuffer{}, done: make(chan struct{})}
	serving := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			p.log.writeLine(line)
			if addr, ok := servingAddr(line); ok {
				select {
				case serving <- addr:
				default:
				}
			}
		}
		// Drain whatever is left (a line too long for the scanner) so
		// the process never blocks on a full pipe.
		io.Copy(io.Discard, stderr)
		cmd.Wait()
		close(p.done)
	}()

	select {
	case addr := <-serving:
		p.URL = addr
		return p, nil
	case <-p.done:
		return nil, fmt.Errorf("%s exited before serving (%s); log:\n%s", filepath.Base(bin), cmd.ProcessState, p.Log())
	case <-time.After(StartTimeout):
		cmd.Process.Kill()
		<-p.done
		return nil, fmt.Errorf("%s did not log a serving line within %v; log:\n%s", filepath.Base(bin), StartTimeout, p.Log())
	}
}

// environ is the programs' environment: the test's, with the race
// detector's one-second sleep at exit turned off (a race still fails the
// exit code).
func environ() []string {
	env := os.Environ()
	if raceEnabled {
		env = append(env, "GORACE="+strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	}
	return env
}

// servingAddr finds the address in the start line that the examples log,
// e.g. `time=... level=INFO msg=serving addr=http://127.0.0.1:8080 db=x.db`.
func servingAddr(line string) (string, bool) {
	if !strings.Contains(line, " msg=serving ") {
		return "", false
	}
	for _, field := range strings.Fields(line) {
		if addr, ok := strings.CutPrefix(field, "addr="); ok {
			return addr, true
		}
	}
	return "", false
}

// Signal sends sig and waits for the process to exit; it returns the exit
// code (-1 if the process died of a signal).
func (p *Process) Signal(t testing.TB, sig syscall.Signal) int {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signal %v: %v", sig, err)
	}
	select {
	case <-p.done:
	case <-time.After(StopTimeout):
		p.cmd.Process.Kill()
		<-p.done
		t.Fatalf("process did not exit within %v of %v; log:\n%s", StopTimeout, sig, p.Log())
	}
	return p.cmd.ProcessState.ExitCode()
}

// Log returns what the process has written to stderr so far.
func (p *Process) Log() string { return p.log.String() }

// logBuffer collects stderr lines for concurrent reading.
type logBuffer struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (b *logBuffer) writeLine(line string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.WriteString(line)
	b.buf.WriteByte('\n')
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
