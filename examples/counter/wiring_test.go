package main

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/boltsession/boltsession/examples/internal/servertest"
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
	go func() { served <- serve(ctx, ln, h, slog.New(slog.DiscardHandler)) }()

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
		t.Fatalf("serve returned (%v) while a request was in flight", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	r := <-got
	if r.err != nil || r.body != "done" {
		t.Fatalf("in-flight request got %q, %v; want done", r.body, r.err)
	}
	if err := <-served; err != nil {
		t.Fatalf("serve after a clean shutdown = %v, want nil", err)
	}
	if _, err := net.Dial("tcp", ln.Addr().String()); err == nil {
		t.Fatal("listener still accepts connections after shutdown")
	}
}

func TestRedisOptionsBoundCallsByTheRequestAndDialOnce(t *testing.T) {
	opt, err := redisOptions("redis://app:pw@10.0.0.7:6390/2?dial_timeout=2s")
	if err != nil {
		t.Fatal(err)
	}
	if !opt.ContextTimeoutEnabled || opt.DialerRetries != 1 {
		t.Errorf("ContextTimeoutEnabled = %v, DialerRetries = %d; want true, 1", opt.ContextTimeoutEnabled, opt.DialerRetries)
	}
	if opt.Addr != "10.0.0.7:6390" || opt.DB != 2 || opt.Username != "app" || opt.Password != "pw" || opt.DialTimeout != 2*time.Second {
		t.Errorf("the URL's settings were not kept: %+v", opt)
	}
}

func TestRedisOptionsErrorsDoNotRepeatThePassword(t *testing.T) {
	for _, u := range []string{
		"redis://:pw-s3cret@127.0.0.1:12x/0", // url.Parse fails
		"http://:pw-s3cret@127.0.0.1/0",      // wrong scheme
		"redis://:pw-s3cret@127.0.0.1/zero",  // bad database number
	} {
		_, err := redisOptions(u)
		if err == nil || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("redisOptions(%q) error = %v; want an error without the password", u, err)
		}
	}
}

func TestCounterHelpListsRoutesAndFlagsAndBadUsageExits2(t *testing.T) {
	code, stderr := servertest.Run(t, bin, "-help")
	if code != 0 {
		t.Fatalf("-help: exit %d, want 0; stderr:\n%s", code, stderr)
	}
	for _, want := range []string{"Usage: counter", "GET  /", "POST /reset",
		"-addr", "-db", "-key-file", "-max-age", "-sweep-interval", "-redis", `(default "sessions.db")`} {
		if !strings.Contains(stderr, want) {
			t.Errorf("-help does not show %q:\n%s", want, stderr)
		}
	}
	for _, args := range [][]string{{"-no-such-flag"}, {"stray"}, {"-max-age", "soon"}} {
		code, stderr := servertest.Run(t, bin, args...)
		if code != 2 || !strings.Contains(stderr, "Usage: counter") || strings.Contains(stderr, "msg=serving") {
			t.Errorf("counter %q: exit %d, want 2 with the usage and before serving; stderr:\n%s", args, code, stderr)
		}
	}
}
