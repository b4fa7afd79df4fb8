// Command compare runs the HTTP-level side-by-side benchmark: it builds and
// starts one small server per session stack (the Go ones from
// cmd/benchserver, the Node ones from node/server.js), starts and stops its
// own redis-server, drives each with wrk, and prints one table of requests
// per second with each figure's ratio to boltsession from the same run.
//
// Run it from the benchmarks directory:
//
//	go run ./cmd/compare                       # defaults: 5 s + 1 s warm-up
//	go run ./cmd/compare -duration 10s -warmup 2s
//	go run ./cmd/compare -rounds 3 -stacks boltsession,boltsession-redisstore,scs-memstore,scs-redisstore,no-session
//	                                           # only the stacks the goals compare
//
// Two cookie modes: "pool" rotates every request over a pool of pre-created
// sessions (one per connection by default), "shared" sends every request
// with one session. Two endpoints: /read (an existing session, nothing
// changed) and /count (read a counter, add one, save). For /count the
// table also shows how many of the acknowledged increments the stack kept:
// concurrent read-modify-write requests on one session lose updates on
// stacks that do not serialize them.
//
// After the table it prints the ratios that the performance goals are
// stated in (see goals), each computed within every round from that round's
// own figures, with the median and the spread over the rounds: a ratio of
// two stacks measured minutes apart on a shared machine says little.
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/boltsession/boltsession/benchmarks/internal/redisserver"
)

// allStacks is every stack in table order; boltsession first, the ceiling last.
var allStacks = []stackDef{
	{name: "boltsession", goStack: "boltsession", note: "bbolt, fsync per save"},
	{name: "boltsession-serialize", goStack: "boltsession-serialize", note: "bbolt, fsync per save; Options.Serialize (no lost updates)"},
	{name: "boltsession-redisstore", goStack: "boltsession-redisstore", redis: true, note: "boltsession on Redis, no fsync"},
	{name: "boltsession-redisstore-cache", goStack: "boltsession-redisstore-cache", redis: true, note: "boltsession on Redis, no fsync; redisstore's client-side cache (Options.Cache)"},
	{name: "scs-memstore", goStack: "scs-memstore", note: "in-process map, no I/O"},
	{name: "scs-redisstore", goStack: "scs-redisstore", redis: true, note: "Redis, no fsync"},
	{name: "gorilla-filesystem", goStack: "gorilla-filesystem", note: "file per session, no fsync"},
	{name: "node-file-store", nodeStore: "file", note: "file per session, fsync"},
	{name: "node-connect-redis", nodeStore: "redis", redis: true, note: "Redis, no fsync"},
	{name: "examples-counter", example: "counter", note: "bbolt, fsync per save; the shipped example, one value",
		paths: map[string]string{"seed": "/", "count": "/"}},
	{name: "no-session", goStack: "no-session", note: "net/http, no session"},
}

type stackDef struct {
	name      string
	goStack   string // cmd/benchserver -stack; empty for Node
	nodeStore string // node/server.js STORE; empty for Go
	example   string // directory under ../examples with a main package; empty otherwise
	redis     bool
	note      string
	// paths overrides the app's paths by role (seed, read, count); a role
	// missing from a non-nil map is not measured.
	paths map[string]string
}

// path returns the URL path of a role, "" when the stack lacks it.
func (s stackDef) path(role string) string {
	if s.paths == nil {
		return "/" + role
	}
	return s.paths[role]
}

type config struct {
	duration, warmup time.Duration
	connections      int
	threads          int
	pool             int
	rounds           int
	modes            []string
	endpoints        []string
	stacks           []string
	nodeDir          string
}

func main() {
	var cfg config
	var modes, endpoints, stackList string
	flag.DurationVar(&cfg.duration, "duration", 5*time.Second, "measured wrk run per stack, endpoint and mode")
	flag.DurationVar(&cfg.warmup, "warmup", time.Second, "wrk warm-up run before each measured run (not counted)")
	flag.IntVar(&cfg.connections, "connections", 32, "wrk connections")
	flag.IntVar(&cfg.threads, "threads", 1, "wrk threads")
	flag.IntVar(&cfg.pool, "pool", 32, "sessions in the pool cookie mode")
	flag.IntVar(&cfg.rounds, "rounds", 1, "run every stack this many times, in turn, and report each cell's median")
	flag.StringVar(&modes, "modes", "pool,shared", "cookie modes: pool, shared")
	flag.StringVar(&endpoints, "endpoints", "read,count", "endpoints: read, count")
	flag.StringVar(&stackList, "stacks", "", "comma-separated stacks to run (default all: "+stackNames()+")")
	flag.StringVar(&cfg.nodeDir, "node", "node", "directory of the Node app (npm ci is run there when node_modules is missing)")
	flag.Parse()
	cfg.modes = splitList(modes)
	cfg.endpoints = splitList(endpoints)
	cfg.stacks = splitList(stackList)
	if len(cfg.stacks) == 0 {
		for _, s := range allStacks {
			cfg.stacks = append(cfg.stacks, s.name)
		}
	}
	if err := run(cfg); err != nil {
		log.Fatal(err)
	}
}

func stackNames() string {
	var n []string
	for _, s := range allStacks {
		n = append(n, s.name)
	}
	return strings.Join(n, ",")
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func run(cfg config) error {
	if cfg.rounds < 1 {
		return errors.New("compare: -rounds must be at least 1")
	}
	if _, err := exec.LookPath("wrk"); err != nil {
		return errors.New("compare: wrk not found on PATH (Debian: apt-get install wrk)")
	}
	for _, m := range cfg.modes {
		if m != "pool" && m != "shared" {
			return fmt.Errorf("compare: unknown mode %q", m)
		}
	}
	for _, e := range cfg.endpoints {
		if e != "read" && e != "count" {
			return fmt.Errorf("compare: unknown endpoint %q", e)
		}
	}
	var defs []stackDef
	for _, name := range cfg.stacks {
		i := slices.IndexFunc(allStacks, func(s stackDef) bool { return s.name == name })
		if i < 0 {
			return fmt.Errorf("compare: unknown stack %q (known: %s)", name, stackNames())
		}
		defs = append(defs, allStacks[i])
	}

	work, err := os.MkdirTemp("", "compare-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)

	bin := filepath.Join(work, "benchserver")
	log.Printf("building cmd/benchserver")
	build := exec.Command("go", "build", "-o", bin, "./cmd/benchserver")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("compare: build benchserver (run from the benchmarks directory): %w", err)
	}

	skipped := map[string]string{}
	var redisAddr string
	if slices.ContainsFunc(defs, func(s stackDef) bool { return s.redis }) {
		srv, err := redisserver.Start()
		if err != nil {
			for _, s := range defs {
				if s.redis {
					skipped[s.name] = err.Error()
				}
			}
		} else {
			defer srv.Stop()
			redisAddr = srv.Addr
			log.Printf("redis-server on %s", redisAddr)
		}
	}
	exampleBins := map[string]string{}
	for _, s := range defs {
		if s.example == "" {
			continue
		}
		bin, why := buildExample(s.example, work)
		if why != "" {
			skipped[s.name] = why
			continue
		}
		exampleBins[s.name] = bin
	}
	if slices.ContainsFunc(defs, func(s stackDef) bool { return s.nodeStore != "" }) {
		if why := prepareNode(cfg.nodeDir); why != "" {
			for _, s := range defs {
				if s.nodeStore != "" {
					skipped[s.name] = why
				}
			}
		}
	}

	// Rounds run every stack in turn, so slow drift in the machine's load
	// spreads over all stacks instead of landing on one.
	rounds := map[string][]map[string]*measure{}
	for round := 1; round <= cfg.rounds; round++ {
		if cfg.rounds > 1 {
			log.Printf("round %d of %d", round, cfg.rounds)
		}
		for _, s := range defs {
			if why, ok := skipped[s.name]; ok {
				if round == 1 {
					log.Printf("%s skipped: %s", s.name, why)
				}
				continue
			}
			serverBin := bin
			if s.example != "" {
				serverBin = exampleBins[s.name]
			}
			res, err := runStack(cfg, s, serverBin, redisAddr, work)
			if err != nil {
				log.Printf("%s failed: %v", s.name, err)
				skipped[s.name] = err.Error()
				delete(rounds, s.name)
				continue
			}
			rounds[s.name] = append(rounds[s.name], res)
		}
	}
	results := map[string]map[string]*measure{}
	for name, rs := range rounds {
		results[name] = medianOf(rs)
	}
	printTable(os.Stdout, cfg, defs, results, skipped)
	printGoals(os.Stdout, cfg, goalRatios(cfg, rounds))
	return nil
}

// medianOf combines rounds cell by cell: each figure is the median of the
// rounds' figures (for an even count, the upper one of the middle pair).
func medianOf(rounds []map[string]*measure) map[string]*measure {
	out := map[string]*measure{}
	for key := range rounds[0] {
		var ms []*measure
		for _, r := range rounds {
			if m := r[key]; m != nil {
				ms = append(ms, m)
			}
		}
		pick := func(f func(*measure) float64) float64 {
			v := make([]float64, len(ms))
			for i, m := range ms {
				v[i] = f(m)
			}
			slices.Sort(v)
			return v[len(v)/2]
		}
		out[key] = &measure{
			rps:  pick(func(m *measure) float64 { return m.rps }),
			p50:  time.Duration(pick(func(m *measure) float64 { return float64(m.p50) })),
			p99:  time.Duration(pick(func(m *measure) float64 { return float64(m.p99) })),
			kept: pick(func(m *measure) float64 { return m.kept }),
		}
	}
	return out
}

// prepareNode returns why the Node stacks cannot run, or "".
func prepareNode(dir string) string {
	if _, err := exec.LookPath("node"); err != nil {
		return "node not found on PATH"
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules")); err == nil {
		return ""
	}
	log.Printf("npm ci in %s", dir)
	cmd := exec.Command("npm", "ci", "--no-audit", "--no-fund")
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Sprintf("npm ci in %s: %v", dir, err)
	}
	return ""
}

// buildExample builds ../examples/<name> into work, or says why it cannot.
func buildExample(name, work string) (bin, why string) {
	if _, err := os.Stat(filepath.Join("..", "examples", name, "main.go")); err != nil {
		return "", fmt.Sprintf("examples/%s is not in this checkout", name)
	}
	bin = filepath.Join(work, "example-"+name)
	log.Printf("building examples/%s", name)
	cmd := exec.Command("go", "build", "-o", bin, "./"+name)
	cmd.Dir = filepath.Join("..", "examples")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Sprintf("build examples/%s: %v", name, err)
	}
	return bin, ""
}

// server is one started stack process.
type server struct {
	cmd    *exec.Cmd
	addr   string
	stderr *os.File
}

// startServer starts stack s (bin for Go stacks and examples, node in
// nodeDir for Node) with a fresh data directory under work, and waits until
// it listens.
func startServer(s stackDef, bin, nodeDir, redisAddr, work string) (*server, error) {
	dir, err := os.MkdirTemp(work, s.name+"-")
	if err != nil {
		return nil, err
	}
	var cmd *exec.Cmd
	switch {
	case s.goStack != "":
		cmd = exec.Command(bin, "-stack", s.goStack, "-dir", dir, "-redis", redisAddr)
	case s.example != "":
		cmd = exec.Command(bin, "-addr", "127.0.0.1:0", "-db", filepath.Join(dir, "sessions.db"))
	default:
		cmd = exec.Command("node", "server.js")
		cmd.Dir = nodeDir
		cmd.Env = append(os.Environ(), "STORE="+s.nodeStore, "DIR="+dir, "REDIS_URL=redis://"+redisAddr, "NODE_ENV=production")
	}
	errFile, err := os.Create(filepath.Join(work, s.name+".stderr"))
	if err != nil {
		return nil, err
	}
	cmd.Stderr = errFile
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	srv := &server{cmd: cmd, stderr: errFile}
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			default:
			}
		}
		close(lines) // the process exited or closed stdout
	}()
	// The bench servers print "listening on ADDR" on stdout; the examples
	// log "addr=http://ADDR" on stderr.
	deadline := time.After(20 * time.Second)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				// stdout closed: the process has exited (or is exiting).
				time.Sleep(100 * time.Millisecond)
				if addr := loggedAddr(srv.stderrText()); addr != "" {
					srv.addr = addr
					return srv, nil
				}
				srv.stop()
				return nil, fmt.Errorf("server exited before listening; stderr: %s", srv.stderrText())
			}
			if addr, ok := strings.CutPrefix(line, "listening on "); ok {
				srv.addr = addr
				return srv, nil
			}
		case <-tick.C:
			if addr := loggedAddr(srv.stderrText()); addr != "" {
				srv.addr = addr
				return srv, nil
			}
		case <-deadline:
			srv.stop()
			return nil, fmt.Errorf("no listening address within 20 s; stderr: %s", srv.stderrText())
		}
	}
}

// loggedAddr finds host:port in a log line carrying addr=http://host:port.
func loggedAddr(log string) string {
	_, rest, ok := strings.Cut(log, "addr=http://")
	if !ok {
		return ""
	}
	if i := strings.IndexAny(rest, " \t\n\""); i >= 0 {
		rest = rest[:i]
	}
	return rest
}

func (s *server) stderrText() string {
	b, _ := os.ReadFile(s.stderr.Name())
	return strings.TrimSpace(string(b))
}

func (s *server) stop() {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = s.cmd.Process.Kill()
		<-done
	}
	s.stderr.Close()
}

// measure is one measured wrk run.
type measure struct {
	rps      float64
	p50, p99 time.Duration
	requests int64 // measured requests wrk saw answered
	non2xx   int64
	errors   int64
	kept     float64 // /count only: stored increments / increments handled; -1 unknown
}

func runStack(cfg config, s stackDef, bin, redisAddr, work string) (map[string]*measure, error) {
	srv, err := startServer(s, bin, cfg.nodeDir, redisAddr, work)
	if err != nil {
		return nil, err
	}
	defer srv.stop()
	base := "http://" + srv.addr
	res := map[string]*measure{}
	for _, mode := range cfg.modes {
		n := cfg.pool
		if mode == "shared" {
			n = 1
		}
		cookies, err := seed(base+s.path("seed"), n)
		if err != nil {
			return nil, fmt.Errorf("seed: %w; server stderr: %s", err, srv.stderrText())
		}
		// kept needs a read path and the /handled counter of the bench apps.
		canCount := s.path("read") != "" && s.name != "no-session"
		for _, ep := range cfg.endpoints {
			path := s.path(ep)
			if path == "" {
				continue
			}
			var before, handledBefore int64
			if ep == "count" && canCount {
				if before, err = sumCounts(base, cookies); err != nil {
					return nil, err
				}
				if handledBefore, err = readCount(base+"/handled", ""); err != nil {
					return nil, err
				}
			}
			script := filepath.Join(work, "script.lua")
			if err := writeScript(script, path, cookies); err != nil {
				return nil, err
			}
			if cfg.warmup > 0 {
				if _, err := runWrk(cfg, cfg.warmup, script, base); err != nil {
					return nil, err
				}
			}
			m, err := runWrk(cfg, cfg.duration, script, base)
			if err != nil {
				return nil, err
			}
			m.kept = -1
			if ep == "count" && canCount {
				// Requests wrk abandoned at the end of a run may still be
				// finishing on the server; let them land before counting.
				time.Sleep(500 * time.Millisecond)
				after, err := sumCounts(base, cookies)
				if err != nil {
					return nil, err
				}
				handled, err := readCount(base+"/handled", "")
				if err != nil {
					return nil, err
				}
				if handled > handledBefore {
					m.kept = float64(after-before) / float64(handled-handledBefore)
				}
			}
			log.Printf("%-20s %-6s %-6s %10.0f req/s  p50 %-9v p99 %-9v non-2xx %d errors %d",
				s.name, mode, path, m.rps, m.p50, m.p99, m.non2xx, m.errors)
			if m.non2xx > 0 {
				return nil, fmt.Errorf("%s %s: %d non-2xx responses; server stderr: %s", mode, path, m.non2xx, srv.stderrText())
			}
			res[mode+" "+ep] = m
		}
	}
	return res, nil
}

// seed creates n sessions by GETting url without a cookie and returns their
// Cookie header values.
func seed(url string, n int) ([]string, error) {
	var cookies []string
	for range n {
		resp, err := http.Get(url)
		if err != nil {
			return nil, err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("%s answered %s", url, resp.Status)
		}
		var c string
		for _, ck := range resp.Cookies() {
			if ck.Name == "sid" {
				c = "sid=" + ck.Value
			}
		}
		if c == "" {
			return nil, fmt.Errorf("%s set no sid cookie", url)
		}
		cookies = append(cookies, c)
	}
	return cookies, nil
}

// sumCounts reads /read once per distinct cookie and sums the counters.
func sumCounts(base string, cookies []string) (int64, error) {
	var sum int64
	seen := map[string]bool{}
	for _, c := range cookies {
		if seen[c] {
			continue
		}
		seen[c] = true
		n, err := readCount(base+"/read", c)
		if err != nil {
			return 0, err
		}
		sum += n
	}
	return sum, nil
}

// readCount GETs url (with cookie, if not empty) and returns N of the
// {"count":N} answer.
func readCount(url, cookie string) (int64, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	if cookie != "" {
		req.Header.Set("Cookie", cookie)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var n int64
	if _, err := fmt.Sscanf(string(body), `{"count":%d}`, &n); err != nil || resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("%s answered %s %q", url, resp.Status, body)
	}
	return n, nil
}

// writeScript writes a wrk Lua script that sends path with the cookies in
// turn (one Lua state per wrk thread, so with one thread the rotation is
// exact).
func writeScript(file, path string, cookies []string) error {
	var b strings.Builder
	b.WriteString("local cookies = {\n")
	for _, c := range cookies {
		fmt.Fprintf(&b, "  %q,\n", c)
	}
	b.WriteString("}\nlocal i = 0\n")
	fmt.Fprintf(&b, "request = function()\n  i = i %% #cookies + 1\n  return wrk.format(\"GET\", %q, { [\"Cookie\"] = cookies[i] })\nend\n", path)
	return os.WriteFile(file, []byte(b.String()), 0o644)
}

func runWrk(cfg config, d time.Duration, script, base string) (*measure, error) {
	secs := max(1, int(d.Round(time.Second)/time.Second))
	cmd := exec.Command("wrk",
		"-t", fmt.Sprint(cfg.threads), "-c", fmt.Sprint(cfg.connections),
		"-d", fmt.Sprintf("%ds", secs), "--latency", "-s", script, base)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("wrk: %w: %s", err, out)
	}
	return parseWrk(string(out))
}

func parseWrk(out string) (*measure, error) {
	m := &measure{}
	var sawRPS bool
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) == 2 && f[0] == "Requests/sec:":
			if _, err := fmt.Sscan(f[1], &m.rps); err != nil {
				return nil, fmt.Errorf("wrk output %q: %w", line, err)
			}
			sawRPS = true
		case len(f) == 2 && f[0] == "50%":
			m.p50 = parseLatency(f[1])
		case len(f) == 2 && f[0] == "99%":
			m.p99 = parseLatency(f[1])
		case len(f) >= 3 && f[1] == "requests" && f[2] == "in":
			fmt.Sscan(f[0], &m.requests)
		case strings.HasPrefix(strings.TrimSpace(line), "Non-2xx or 3xx responses:"):
			fmt.Sscan(f[len(f)-1], &m.non2xx)
		case strings.HasPrefix(strings.TrimSpace(line), "Socket errors:"):
			// "Socket errors: connect 0, read 0, write 0, timeout 0"
			for i := 2; i+1 < len(f); i += 2 {
				var n int64
				fmt.Sscan(strings.TrimSuffix(f[i+1], ","), &n)
				m.errors += n
			}
		}
	}
	if !sawRPS {
		return nil, fmt.Errorf("no Requests/sec in wrk output: %s", out)
	}
	return m, nil
}

// parseLatency reads wrk's "1.23ms", "456.00us", "1.01s".
func parseLatency(s string) time.Duration {
	for _, u := range []struct {
		suffix string
		unit   time.Duration
	}{{"us", time.Microsecond}, {"ms", time.Millisecond}, {"m", time.Minute}, {"s", time.Second}} {
		if v, ok := strings.CutSuffix(s, u.suffix); ok {
			var f float64
			if _, err := fmt.Sscan(v, &f); err == nil {
				return time.Duration(f * float64(u.unit))
			}
			return 0
		}
	}
	return 0
}

func printTable(w io.Writer, cfg config, defs []stackDef, results map[string]map[string]*measure, skipped map[string]string) {
	fmt.Fprintf(w, "\n## HTTP side by side: wrk -t%d -c%d, %v measured after %v warm-up, pool of %d sessions, median of %d round(s)\n\n",
		cfg.threads, cfg.connections, cfg.duration, cfg.warmup, cfg.pool, cfg.rounds)
	fmt.Fprintf(w, "%s, %d CPUs (%s), %s, load average before the run: %s\n\n",
		runtime.GOOS+"/"+runtime.GOARCH, runtime.NumCPU(), cpuModel(), runtime.Version(), loadAvg())
	fmt.Fprintln(w, "Each cell: requests/s (ratio to boltsession in the same column; below 1.00 means boltsession is faster).")
	fmt.Fprintln(w, "kept: increments stored ÷ /count requests answered 200 (lost updates under concurrency); requests cut off at the end of a run make it uncertain by about ±connections÷requests.")
	fmt.Fprintln(w)

	type col struct{ mode, ep string }
	var cols []col
	for _, mode := range cfg.modes {
		for _, ep := range cfg.endpoints {
			cols = append(cols, col{mode, ep})
		}
	}
	hdr := "| stack |"
	sep := "|---|"
	for _, c := range cols {
		hdr += fmt.Sprintf(" %s /%s |", c.mode, c.ep)
		sep += "---:|"
		if c.ep == "count" {
			hdr += fmt.Sprintf(" kept (%s) |", c.mode)
			sep += "---:|"
		}
	}
	hdr += " p99 pool /read | p99 pool /count | store |"
	sep += "---:|---:|---|"
	fmt.Fprintln(w, hdr)
	fmt.Fprintln(w, sep)
	ref := results["boltsession"]
	for _, s := range defs {
		res, ok := results[s.name]
		if !ok {
			fmt.Fprintf(w, "| %s | skipped: %s |\n", s.name, oneLine(skipped[s.name]))
			continue
		}
		row := "| " + s.name + " |"
		for _, c := range cols {
			m := res[c.mode+" "+c.ep]
			cell := "—"
			if m != nil {
				cell = thousands(m.rps)
				if r := ref[c.mode+" "+c.ep]; r != nil && r.rps > 0 {
					cell += fmt.Sprintf(" (%.2f×)", m.rps/r.rps)
				}
			}
			row += " " + cell + " |"
			if c.ep == "count" {
				k := "—"
				if m != nil && m.kept >= 0 {
					k = fmt.Sprintf("%.0f%%", 100*m.kept)
				}
				row += " " + k + " |"
			}
		}
		for _, key := range []string{"pool read", "pool count"} {
			p := "—"
			if m := res[key]; m != nil {
				p = m.p99.Round(10 * time.Microsecond).String()
			}
			row += " " + p + " |"
		}
		row += " " + s.note + " |"
		fmt.Fprintln(w, row)
	}
}

func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

func thousands(f float64) string {
	s := fmt.Sprintf("%.0f", f)
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	return b.String()
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}
