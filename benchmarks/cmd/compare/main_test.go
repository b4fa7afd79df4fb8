package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// wrkOutput is what Debian's wrk 4.1.0 prints with --latency, a Lua script,
// non-2xx answers and socket errors.
const wrkOutput = `Running 5s test @ http://127.0.0.1:40461
  1 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     4.43ms    4.38ms  57.91ms   91.06%
    Req/Sec     8.29k   612.33     9.10k    72.00%
  Latency Distribution
     50%    3.21ms
     75%    4.90ms
     90%    7.80ms
     99%   22.50ms
  41234 requests in 5.00s, 6.01MB read
  Socket errors: connect 0, read 2, write 0, timeout 3
  Non-2xx or 3xx responses: 17
Requests/sec:   8247.31
Transfer/sec:      1.20MB
`

func TestParseWrkReadsRateLatencyAndFailures(t *testing.T) {
	m, err := parseWrk(wrkOutput)
	if err != nil {
		t.Fatal(err)
	}
	if m.rps != 8247.31 {
		t.Errorf("rps = %v", m.rps)
	}
	if m.p50 != 3210*time.Microsecond || m.p99 != 22500*time.Microsecond {
		t.Errorf("p50 %v p99 %v", m.p50, m.p99)
	}
	if m.requests != 41234 {
		t.Errorf("requests = %d", m.requests)
	}
	if m.non2xx != 17 {
		t.Errorf("non2xx = %d", m.non2xx)
	}
	if m.errors != 5 {
		t.Errorf("socket errors = %d", m.errors)
	}
}

func TestParseWrkRefusesOutputWithoutRate(t *testing.T) {
	if _, err := parseWrk("unable to connect to 127.0.0.1:1 Connection refused\n"); err == nil {
		t.Fatal("no error for output without Requests/sec")
	}
}

func TestParseLatencyUnits(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"456.00us": 456 * time.Microsecond,
		"1.50ms":   1500 * time.Microsecond,
		"1.01s":    1010 * time.Millisecond,
		"2.00m":    2 * time.Minute,
		"junk":     0,
	} {
		if got := parseLatency(in); got != want {
			t.Errorf("parseLatency(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestWriteScriptRotatesEveryCookie(t *testing.T) {
	file := filepath.Join(t.TempDir(), "s.lua")
	if err := writeScript(file, "/read", []string{"sid=a", `sid=b"c`}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for _, want := range []string{`"sid=a"`, `"sid=b\"c"`, `i = i % #cookies + 1`, `wrk.format("GET", "/read", { ["Cookie"] = cookies[i] })`} {
		if !strings.Contains(s, want) {
			t.Errorf("script lacks %s:\n%s", want, s)
		}
	}
}

func TestThousands(t *testing.T) {
	for in, want := range map[float64]string{0: "0", 999: "999", 1000: "1,000", 1234567.4: "1,234,567"} {
		if got := thousands(in); got != want {
			t.Errorf("thousands(%v) = %q, want %q", in, got, want)
		}
	}
}

func TestLoggedAddrFindsTheExampleAddress(t *testing.T) {
	line := `time=2026-11-26T13:20:00Z level=INFO msg=serving addr=http://127.0.0.1:43210 db=/tmp/x/sessions.db` + "\n"
	if got := loggedAddr(line); got != "127.0.0.1:43210" {
		t.Errorf("loggedAddr = %q", got)
	}
	if got := loggedAddr("level=INFO msg=starting\n"); got != "" {
		t.Errorf("loggedAddr without an address = %q", got)
	}
}

func TestMedianOfRoundsTakesEachCellsMiddleValue(t *testing.T) {
	rounds := []map[string]*measure{
		{"pool read": {rps: 100, p99: 3 * time.Millisecond, kept: 0.5}},
		{"pool read": {rps: 300, p99: 1 * time.Millisecond, kept: 0.7}},
		{"pool read": {rps: 200, p99: 2 * time.Millisecond, kept: 0.6}},
	}
	m := medianOf(rounds)["pool read"]
	if m.rps != 200 || m.p99 != 2*time.Millisecond || m.kept != 0.6 {
		t.Errorf("median = %+v", *m)
	}
}

// TestNodeAppServesTheSameApp starts the express-session app on
// session-file-store the way a run does and drives it: the same answers as
// the Go apps (see internal/stacks), 404 without a session.
func TestNodeAppServesTheSameApp(t *testing.T) {
	nodeDir := filepath.Join("..", "..", "node")
	if why := nodeMissing(nodeDir); why != "" {
		// Tests never run npm (it needs the network); CI installs first.
		const how = "run `npm ci --prefix benchmarks/node` at the repository root"
		if os.Getenv("BOLTSESSION_REQUIRE_NODE") == "1" {
			t.Fatalf("%s, and BOLTSESSION_REQUIRE_NODE=1 requires it: %s", why, how)
		}
		t.Skipf("skipped: %s: %s (BOLTSESSION_REQUIRE_NODE=1 makes this a failure)", why, how)
	}
	def := allStacks[slices.IndexFunc(allStacks, func(s stackDef) bool { return s.name == "node-file-store" })]
	srv, err := startServer(def, "", nodeDir, "", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer srv.stop()
	base := "http://" + srv.addr
	if _, err := readCount(base+"/read", "sid=s%3Anot-a-session.sig"); err == nil {
		t.Error("/read with a made-up cookie: no error")
	}
	cookies, err := seed(base+"/seed", 2)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if n, err := readCount(base+"/count", cookies[0]); err != nil || n != int64(i+1) {
			t.Fatalf("/count #%d: %d, %v", i+1, n, err)
		}
	}
	if sum, err := sumCounts(base, append(cookies, cookies[0])); err != nil || sum != 3 {
		t.Errorf("sum of counters = %d, %v; want 3 (each session once)", sum, err)
	}
	if n, err := readCount(base+"/handled", ""); err != nil || n != 3 {
		t.Errorf("/handled = %d, %v; want 3 (the /count answered 200)", n, err)
	}
}

func nodeMissing(dir string) string {
	if _, err := exec.LookPath("node"); err != nil {
		return "node not on PATH"
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "express-session")); err != nil {
		return "node_modules missing in " + dir
	}
	return ""
}
