package app

import (
	"context"
	"flag"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestServeFinishesInFlightRequestsBeforeReturning(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	entered := make(chan struct{})
	release := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-release
		io.WriteString(w, "done")
	})
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- Serve(ctx, ln, h, slog.New(slog.DiscardHandler)) }()

	type result struct {
		body string
		err  error
	}
	got := make(chan result, 1)
	go func() {
		resp, err := http.Get("http://" + ln.Addr().String() + "/")
		if err != nil {
			got <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		got <- result{string(b), err}
	}()

	<-entered
	cancel() // what SIGTERM does
	select {
	case err := <-served:
		t.Fatalf("Serve returned (%v) while a request was in flight", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	r := <-got
	if r.err != nil || r.body != "done" {
		t.Fatalf("in-flight request got %q, %v; want done", r.body, r.err)
	}
	if err := <-served; err != nil {
		t.Fatalf("Serve after a clean shutdown = %v, want nil", err)
	}
	if _, err := net.Dial("tcp", ln.Addr().String()); err == nil {
		t.Fatal("listener still accepts connections after shutdown")
	}
}

func TestFlagsDefaultKeyFileSitsBesideTheDatabase(t *testing.T) {
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	f := NewFlags(fs, "sessions.db")
	if err := fs.Parse([]string{"-db", "/var/lib/app/s.db"}); err != nil {
		t.Fatal(err)
	}
	if got := f.KeyPath(); got != "/var/lib/app/s.db.key" {
		t.Fatalf("KeyPath = %q, want /var/lib/app/s.db.key", got)
	}
	if err := fs.Parse([]string{"-key-file", "/etc/app.key"}); err != nil {
		t.Fatal(err)
	}
	if got := f.KeyPath(); got != "/etc/app.key" {
		t.Fatalf("KeyPath with -key-file = %q", got)
	}
	if f.Addr != "127.0.0.1:8080" || f.MaxAge != 24*time.Hour || f.SweepInterval != time.Minute {
		t.Fatalf("defaults = %+v", *f)
	}
}

func TestMainRejectsUnknownFlagsWithExitCode2(t *testing.T) {
	var stderr strings.Builder
	if code := Main("counter", []string{"-no-such-flag"}, &stderr, "x.db", nil); code != 2 {
		t.Fatalf("exit code = %d, want 2", code)
	}
	if code := Main("counter", []string{"extra"}, &stderr, "x.db", nil); code != 2 {
		t.Fatalf("exit code for a stray argument = %d, want 2", code)
	}
}
