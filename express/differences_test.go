package express

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/boltsession/boltsession"
)

// The differential test: express-session 1.19 (the Node app of
// testdata/node) and a Go Manager with the express codec, side by side,
// driven by the same seeded random request sequences in every resave ×
// rolling × saveUninitialized × cookie.maxAge combination, on
// express-session's MemoryStore (its default) and on session-file-store
// (what the migration comes from), plus express-session's 1.x defaults.
// Each Go side runs twice: with the Node app's options translated
// (sameOptions) and with what restores express's behaviour where an option
// can (expressLike). Everything a client can see is compared step by step;
// every difference must be one of the kinds of differences_classify_test.go,
// which docs/MIGRATING-FROM-EXPRESS.md lists.
//
// The client sends the cookie it holds until a Set-Cookie replaces or
// deletes it, as a browser does while the cookie has not expired: what
// survives is then the server's decision, and the cookie's own expiry is
// compared as an attribute. (A cookie jar would drop express's cookies at
// Expires, which express truncates to the second: at this test's
// one-second lifetime that is noise, at a real lifetime it is not.)

const (
	// diffLifetime is cookie.maxAge, session-file-store's ttl and the Go
	// MaxAge: short, so that sessions expire within the test; the request
	// timing (milliseconds) stays far below it.
	diffLifetime = time.Second
	diffSteps    = 24
	diffSecret   = "keyboard cat"
	diffSeed     = 15 // BOLTSESSION_EXPRESSDIFF_SEED overrides it

	// A step is not sent from diffGuard before a session's expiry until
	// diffPast after it, so that no expiry falls while a step runs (which
	// would make either outcome right). A step that a busy machine stalls
	// into an expiry all the same is not compared; the table counts such
	// steps under "timing".
	diffGuard = 150 * time.Millisecond
	diffPast  = 30 * time.Millisecond
)

// diffCombo is one configuration of the Node app.
type diffCombo struct {
	store                                      string // "memory" or "file"
	resave, rolling, saveUninitialized, maxAge bool
	// defaults leaves resave and saveUninitialized out on Node (true in
	// express-session 1.x) and zero on Go.
	defaults bool
}

func diffCombos() []diffCombo {
	var cs []diffCombo
	for _, store := range []string{"memory", "file"} {
		for i := range 16 {
			cs = append(cs, diffCombo{store: store, resave: i&8 != 0, rolling: i&4 != 0, saveUninitialized: i&2 != 0, maxAge: i&1 != 0})
		}
	}
	return append(cs, diffCombo{store: "memory", maxAge: true, defaults: true})
}

func (c diffCombo) String() string {
	maxAge := "unset"
	if c.maxAge {
		maxAge = "1s"
	}
	if c.defaults {
		return fmt.Sprintf("%s/express-1.x-defaults/maxAge=%s", c.store, maxAge)
	}
	return fmt.Sprintf("%s/resave=%v/rolling=%v/saveUninitialized=%v/maxAge=%s", c.store, c.resave, c.rolling, c.saveUninitialized, maxAge)
}

// nodeEnv is the environment app.js reads for c (see its header).
func (c diffCombo) nodeEnv(dir string) map[string]string {
	env := map[string]string{
		"STORE": c.store, "SESSION_DIR": dir, "SESSION_SECRET": diffSecret,
		"STORE_TTL":          strconv.FormatFloat(diffLifetime.Seconds(), 'f', -1, 64),
		"STORE_RETRIES":      "0", // a stale cookie is not retried for 250 ms
		"ROLLING":            strconv.FormatBool(c.rolling),
		"RESAVE":             strconv.FormatBool(c.resave),
		"SAVE_UNINITIALIZED": strconv.FormatBool(c.saveUninitialized),
	}
	if c.defaults {
		env["RESAVE"], env["SAVE_UNINITIALIZED"] = "default", "default"
	}
	if c.maxAge {
		env["COOKIE_MAX_AGE"] = strconv.FormatInt(diffLifetime.Milliseconds(), 10)
	}
	return env
}

// goOptions returns the Go side's Options for c and v, and its effective
// lazy-touch threshold.
func (c diffCombo) goOptions(v goVariant) (boltsession.Options, time.Duration) {
	o := boltsession.Options{Name: "connect.sid", Codec: codec(diffSecret), MaxAge: diffLifetime}
	touchAfter := diffLifetime / 10 // the default
	if !c.defaults {
		o.Resave, o.Rolling, o.SaveUninitialized = c.resave, c.rolling, c.saveUninitialized
		// TouchAfter has no express counterpart. Half the lifetime shows
		// the lazy touch at this test's scale; the default tenth would
		// make the difference 100 ms, too close to the timing guards.
		o.TouchAfter = diffLifetime / 2
		touchAfter = o.TouchAfter
	}
	if !c.maxAge {
		// No cookie.maxAge: a browser-session cookie. MaxAge, the idle
		// timeout, keeps its value (in the default configuration 24h;
		// here the test's lifetime).
		o.Cookie.Persist = boltsession.Off
	}
	if v == expressLike {
		o.TouchAfter, touchAfter = -1, 0
		o.Cookie.SameSite = http.SameSiteDefaultMode
		if !c.maxAge && c.store == "memory" {
			o.MaxAge = boltsession.MaxLifetime // MemoryStore keeps it for ever
		}
		if c.defaults {
			o.Resave, o.SaveUninitialized = true, true
		}
	}
	return o, touchAfter
}

// stepKind is what one request of a sequence does.
type stepKind int8

const (
	stepRead       stepKind = iota // reads the session
	stepModify                     // appends the step number to the values
	stepVisitor                    // a new visitor: no cookie, reads
	stepLogout                     // destroys the session
	stepRegenerate                 // regenerates the session
)

func (k stepKind) String() string {
	return [...]string{"read", "modify", "visitor", "logout", "regenerate"}[k]
}

func (k stepKind) op() string {
	if k == stepVisitor {
		return "read"
	}
	return k.String()
}

func (k stepKind) unmodified() bool { return k == stepRead || k == stepVisitor }

type diffStep struct {
	kind stepKind
	wait time.Duration // after the previous step
}

// diffSequence draws n steps from seed: mostly reads and changes, with
// waits that stay under the lazy-touch threshold, pass it, come near the
// lifetime, or pass it.
func diffSequence(seed uint64, n int) []diffStep {
	rng := rand.New(rand.NewPCG(seed, 0x6578707265737364))
	ms := func(lo, hi int) time.Duration { return time.Duration(lo+rng.IntN(hi-lo)) * time.Millisecond }
	steps := make([]diffStep, n)
	for i := range steps {
		var s diffStep
		switch p := rng.IntN(100); {
		case p < 40:
			s.kind = stepRead
		case p < 65:
			s.kind = stepModify
		case p < 75:
			s.kind = stepVisitor
		case p < 87:
			s.kind = stepLogout
		default:
			s.kind = stepRegenerate
		}
		switch p := rng.IntN(100); {
		case p < 35:
			s.wait = ms(0, 80)
		case p < 70:
			s.wait = ms(150, 450)
		case p < 90:
			s.wait = ms(550, 900)
		default:
			s.wait = ms(1100, 1400)
		}
		steps[i] = s
	}
	return steps
}

// diffSide is one server and the client that talks to it.
type diffSide struct {
	name   string
	base   string
	client *http.Client
	peek   func(ctx context.Context, id string) (sessionFacts, error)
	decode func(string) string // cookie value → session ID ("" if it does not verify)

	cookie string       // the value of connect.sid the client holds ("" none)
	known  sessionFacts // of the session the cookie names
}

func (s *diffSide) forget() { s.cookie, s.known = "", sessionFacts{} }

// step sends step n's request and looks up what the store holds after it.
// The sides run their steps at the same time, so that their requests are
// as close together as they can be.
func (s *diffSide) step(ctx context.Context, n int, k stepKind) (*sideObs, error) {
	o, err := s.request(ctx, n, k)
	if err != nil {
		return nil, err
	}
	return o, s.observe(ctx, n, o)
}

func (s *diffSide) request(ctx context.Context, n int, k stepKind) (*sideObs, error) {
	o := &sideObs{side: s.name, prev: s.known}
	if s.cookie != "" {
		o.sentID = s.decode(s.cookie)
	}
	req, err := http.NewRequestWithContext(ctx, "POST", s.base+"/diff/"+k.op()+"?n="+strconv.Itoa(n), nil)
	if err != nil {
		return nil, err
	}
	if s.cookie != "" {
		req.Header.Set("Cookie", "connect.sid="+s.cookie)
	}
	o.send = time.Now()
	res, err := s.client.Do(req)
	if err != nil {
		return nil, err
	}
	// express-session holds back the last byte of the body until the
	// store has acknowledged the save: the request ends with the body.
	body, err := io.ReadAll(res.Body)
	res.Body.Close()
	o.recv = time.Now()
	if err != nil {
		return nil, err
	}
	o.status = res.StatusCode
	if res.StatusCode == http.StatusOK {
		var out struct {
			Loaded, ID    string
			Before, After map[string]any
		}
		if err := json.Unmarshal(body, &out); err != nil {
			return nil, fmt.Errorf("%s: %q: %w", s.name, body, err)
		}
		o.loaded, o.id, o.before, o.after = out.Loaded, out.ID, out.Before, out.After
	}
	for _, line := range res.Header.Values("Set-Cookie") {
		c, err := http.ParseSetCookie(line)
		if err != nil {
			return nil, fmt.Errorf("%s: Set-Cookie %q: %w", s.name, line, err)
		}
		if c.Name == "connect.sid" {
			o.cookies = append(o.cookies, c)
			o.raw = append(o.raw, line)
			if deletes(c) {
				s.cookie = ""
			} else {
				s.cookie = c.Value
			}
		}
	}
	return o, nil
}

func (s *diffSide) observe(ctx context.Context, n int, o *sideObs) error {
	if o.id != "" {
		f, err := s.peek(ctx, o.id)
		o.peeked = time.Now()
		if err != nil {
			return err
		}
		o.now = f
		continuing := o.prev.stored && o.prev.id == o.id
		o.wrote = f.stored && (!continuing || f.never || !f.expires.Equal(o.prev.expires))
		o.now.lastWrite = n
		if !o.wrote {
			o.now.lastWrite = o.prev.lastWrite
		}
	}
	switch id := s.decode(s.cookie); {
	case s.cookie == "":
		s.known = sessionFacts{}
	case id == o.id:
		s.known = o.now
	default: // a stale cookie: express keeps sending the destroyed session's
		f, err := s.peek(ctx, id)
		if err != nil {
			return err
		}
		s.known = f
	}
	return nil
}

// boundary is the expiry of the session the client's cookie names, if it
// has one, and the step that set it.
func (s *diffSide) boundary() (time.Time, int, bool) {
	if s.cookie == "" || !s.known.stored || s.known.never {
		return time.Time{}, 0, false
	}
	return s.known.expires, s.known.lastWrite, true
}

func goPeek(store boltsession.Store) func(context.Context, string) (sessionFacts, error) {
	return func(ctx context.Context, id string) (sessionFacts, error) {
		rec, err := store.Load(ctx, id)
		switch {
		case errors.Is(err, boltsession.ErrNotFound):
			return sessionFacts{id: id}, nil
		case err != nil:
			return sessionFacts{}, err
		}
		never := rec.Expires.After(time.Now().AddDate(50, 0, 0))
		return sessionFacts{id: id, stored: true, never: never, expires: rec.Expires}, nil
	}
}

func nodePeek(client *http.Client, base string) func(context.Context, string) (sessionFacts, error) {
	return func(ctx context.Context, id string) (sessionFacts, error) {
		req, err := http.NewRequestWithContext(ctx, "GET", base+"/debug/expiry?id="+url.QueryEscape(id), nil)
		if err != nil {
			return sessionFacts{}, err
		}
		res, err := client.Do(req)
		if err != nil {
			return sessionFacts{}, err
		}
		defer res.Body.Close()
		var out struct {
			Found   bool
			Expires *int64
		}
		if err := json.NewDecoder(res.Body).Decode(&out); err != nil || res.StatusCode != http.StatusOK {
			return sessionFacts{}, fmt.Errorf("node /debug/expiry: %s, %v", res.Status, err)
		}
		f := sessionFacts{id: id, stored: out.Found, never: out.Found && out.Expires == nil}
		if out.Expires != nil {
			f.expires = time.UnixMilli(*out.Expires)
		}
		return f, nil
	}
}

// diffGoApp is the Go side's handler: the same requests as the Node app's
// /diff/ routes, answered the same way.
func diffGoApp(v goVariant) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /diff/{op}", func(w http.ResponseWriter, r *http.Request) {
		s := boltsession.FromContext(r.Context())
		loaded := s.ID()
		before, err := sessionValues(s)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		switch r.PathValue("op") {
		case "read":
		case "modify":
			steps, err := boltsession.Get[[]int](s, "steps")
			if err != nil && !errors.Is(err, boltsession.ErrNoValue) {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			n, _ := strconv.Atoi(r.URL.Query().Get("n"))
			err = s.Set("steps", append(steps, n))
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
		case "logout":
			err = s.Destroy()
		case "regenerate":
			if v == expressLike {
				// express's regenerate: the old session ends, a new,
				// empty one starts.
				err = s.Destroy()
			}
			if err == nil {
				err = s.Regenerate()
			}
		default:
			http.NotFound(w, r)
			return
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		after, err := sessionValues(s)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"loaded": loaded, "id": s.ID(), "before": before, "after": after})
	})
	return mux
}

func sessionValues(s *boltsession.Session) (map[string]any, error) {
	out := map[string]any{}
	for _, k := range s.Keys() {
		v, err := boltsession.Get[any](s, k)
		if err != nil {
			return nil, err
		}
		out[k] = v
	}
	return out, nil
}

// comboRun is one combination's sequence and what it showed.
type comboRun struct {
	combo diffCombo
	seed  uint64
	sides [3]*diffSide     // Go with the same options, Go express-like, Node
	touch [2]time.Duration // per variant: the effective TouchAfter
	dir   string

	err      error
	log      []string            // one line a step
	counts   [2]map[diffKind]int // per variant: steps showing each kind
	ended    [2]map[diffKind]int // per variant: sessions that ended on Go only, by the kind that explains it
	problems [2][]string         // per variant: what no kind explains
	equal    [2]int              // per variant: steps without any difference
	timing   int                 // steps not compared: an expiry fell inside them
}

// TestGoDiffersFromExpressSessionOnlyInDocumentedWays is the differential
// test described at the top of this file. It fails on any difference
// between the Go Manager and express-session that is not one of the
// documented kinds, on a documented kind that remains with the settings
// that restore express's behaviour, and on a documented kind that no
// sequence showed (so the documentation cannot go stale). It logs the
// table of what each combination showed.
func TestGoDiffersFromExpressSessionOnlyInDocumentedWays(t *testing.T) {
	nodeDir := requireNode(t)
	if testing.Short() {
		t.Skip("skipping under -short: the differential test against express-session runs for about 15 s; run without -short to include it")
	}
	seed := uint64(diffSeed)
	if s := os.Getenv("BOLTSESSION_EXPRESSDIFF_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("BOLTSESSION_EXPRESSDIFF_SEED: %v", err)
		}
		seed = v
	}
	start := time.Now()
	var runs []*comboRun
	// BOLTSESSION_EXPRESSDIFF_ONLY keeps the combinations whose name
	// contains it, each with the seed it has in the full run (to replay a
	// failure); the checks that need every combination are then skipped.
	only := os.Getenv("BOLTSESSION_EXPRESSDIFF_ONLY")
	for i, c := range diffCombos() {
		if only == "" || strings.Contains(c.String(), only) {
			runs = append(runs, &comboRun{combo: c, seed: seed + uint64(i)})
		}
	}
	configs := make([]map[string]string, len(runs))
	for i, r := range runs {
		r.dir = t.TempDir()
		configs[i] = r.combo.nodeEnv(filepath.Join(r.dir, "sessions"))
	}
	var nodeErr lockedBuffer // express-session's deprecation warnings for its 1.x defaults
	bases, _ := startNode(t, nodeDir, &nodeErr, "diff-servers.js", len(runs), "DIFF_CONFIGS="+string(must(json.Marshal(configs))))
	t.Logf("Node: %d servers started in %v", len(runs), time.Since(start).Round(time.Millisecond))
	for i, r := range runs {
		if err := r.setUp(t, bases[i]); err != nil {
			t.Fatalf("%s: %v", r.combo, err)
		}
	}
	var wg sync.WaitGroup
	for _, r := range runs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.err = r.run()
		}()
	}
	wg.Wait()
	t.Logf("%d combinations × %d steps, first seed %d, in %v", len(runs), diffSteps, seed, time.Since(start).Round(time.Millisecond))

	var total [2]map[diffKind]int
	var totalEnded [2]map[diffKind]int
	for v := range total {
		total[v], totalEnded[v] = map[diffKind]int{}, map[diffKind]int{}
	}
	for _, r := range runs {
		t.Run(r.combo.String(), func(t *testing.T) {
			if r.err != nil {
				t.Fatalf("seed %d: %v\nNode's stderr:\n%s\nsteps:\n%s", r.seed, r.err, nodeErr.String(), strings.Join(r.log, "\n"))
			}
			for v := range r.problems {
				if len(r.problems[v]) > 0 {
					t.Errorf("seed %d, Go with %s: differences that are not documented:\n  %s\nsteps:\n%s",
						r.seed, goVariant(v), strings.Join(r.problems[v], "\n  "), strings.Join(r.log, "\n"))
				}
			}
		})
		for v := range total {
			for k, n := range r.counts[v] {
				total[v][k] += n
			}
			for k, n := range r.ended[v] {
				totalEnded[v][k] += n
			}
		}
	}
	t.Log("\n" + diffTable(runs))
	if only != "" {
		return
	}

	// Every documented difference must have shown with the options
	// translated (else the documentation lists one that no longer exists,
	// or the sequences stopped exercising it), and D4 and D5 must have
	// ended a session, not only moved an expiry. The express-like settings
	// must still show what no option changes.
	for _, k := range diffKinds {
		if total[sameOptions][k] == 0 {
			t.Errorf("%s (%s) never showed with the same options: the documentation or the sequences are stale", k, diffLegend[k])
		}
	}
	for _, k := range []diffKind{diffLazyTouch, diffBrowserSession} {
		if totalEnded[sameOptions][k] == 0 {
			t.Errorf("%s (%s) never ended a session that Node kept", k, diffLegend[k])
		}
	}
	for _, k := range diffKinds {
		if expressLike.allowed(k) && total[expressLike][k] == 0 {
			t.Errorf("%s (%s) never showed with the express-like settings, which cannot change it", k, diffLegend[k])
		}
	}
}

// setUp starts both Go sides of r.combo, beside the Node server at base;
// they stop when the test ends.
func (r *comboRun) setUp(t *testing.T, base string) error {
	c := r.combo
	// Generous: express-session holds the end of its response until
	// session-file-store has written (and fsynced) the file, which takes
	// seconds on a disk other processes keep busy.
	client := &http.Client{Timeout: 30 * time.Second}
	for v := range 2 {
		opts, touchAfter := c.goOptions(goVariant(v))
		store, err := boltsession.Open(filepath.Join(r.dir, fmt.Sprintf("go%d.db", v)), &boltsession.BoltOptions{NoSync: true, SweepInterval: -1})
		if err != nil {
			return err
		}
		t.Cleanup(func() { store.Close() })
		m, err := boltsession.New(store, opts)
		if err != nil {
			return err
		}
		srv := httptest.NewServer(m.Middleware(diffGoApp(goVariant(v))))
		t.Cleanup(srv.Close)
		r.sides[v] = &diffSide{name: "Go (" + goVariant(v).String() + ")", base: srv.URL, client: client, peek: goPeek(store), decode: decodeDiffCookie}
		r.touch[v] = touchAfter
		r.counts[v], r.ended[v] = map[diffKind]int{}, map[diffKind]int{}
	}
	r.sides[2] = &diffSide{name: "Node", base: base, client: client, peek: nodePeek(client, base), decode: decodeDiffCookie}
	return nil
}

// lockedBuffer is a bytes.Buffer that a process may write to while the
// test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// decodeDiffCookie returns the session ID a connect.sid value names, or ""
// when it does not verify.
func decodeDiffCookie(v string) string {
	id, err := codec(diffSecret).Decode("connect.sid", v)
	if err != nil {
		return ""
	}
	return id
}

// run drives the three sides through r's sequence. It runs on a goroutine
// of its own: it returns its error rather than failing the test.
func (r *comboRun) run() error {
	c := r.combo
	ctx := context.Background()
	start := time.Now()
	last := start
	resync := false
	for i, st := range diffSequence(r.seed, diffSteps) {
		n := i + 1
		if resync || st.kind == stepVisitor {
			for _, s := range r.sides {
				s.forget()
			}
		}
		at := r.avoidExpiries(last.Add(st.wait))
		time.Sleep(time.Until(at))
		var obs [3]*sideObs
		var errs [3]error
		var wg sync.WaitGroup
		for j, s := range r.sides {
			wg.Add(1)
			go func() {
				defer wg.Done()
				obs[j], errs[j] = s.step(ctx, n, st.kind)
			}()
		}
		wg.Wait()
		if err := errors.Join(errs[:]...); err != nil {
			return fmt.Errorf("step %d: %w", n, err)
		}
		last = time.Now()
		resync = false
		var verdicts [2]stepVerdict
		for v := range verdicts {
			vd := classify(c, goVariant(v), r.touch[v], st.kind, obs[v], obs[2], decodeDiffCookie)
			verdicts[v] = vd
			if !vd.timing && len(vd.kinds) == 0 && len(vd.problems) == 0 {
				r.equal[v]++
			}
			for _, k := range vd.kinds {
				r.counts[v][k]++
			}
			if vd.ended != "" {
				r.ended[v][vd.ended]++
			}
			for _, p := range vd.problems {
				r.problems[v] = append(r.problems[v], fmt.Sprintf("step %d (%s): %s", n, st.kind, p))
			}
			resync = resync || vd.diverged
		}
		if verdicts[0].timing || verdicts[1].timing {
			r.timing++
		}
		r.log = append(r.log, stepLine(n, st, start, obs, verdicts))
	}
	return nil
}

// avoidExpiries moves t out of the window from diffGuard before to
// diffPast after the expiry of any session a client's cookie names. The
// sides' expiries set by the same step are one expiry that the requests'
// timing spread out: t stays out of the whole spread.
func (r *comboRun) avoidExpiries(t time.Time) time.Time {
	type window struct{ from, to time.Time }
	byStep := map[int]*window{}
	for _, s := range r.sides {
		e, step, ok := s.boundary()
		if !ok {
			continue
		}
		w := byStep[step]
		if w == nil {
			byStep[step] = &window{e, e}
			continue
		}
		if e.Before(w.from) {
			w.from = e
		}
		if e.After(w.to) {
			w.to = e
		}
	}
	for range 10 {
		moved := false
		for _, w := range byStep {
			if t.After(w.from.Add(-diffGuard)) && t.Before(w.to.Add(diffPast)) {
				t, moved = w.to.Add(diffPast), true
			}
		}
		if !moved {
			break
		}
	}
	return t
}

// stepLine renders one step for the failure report.
func stepLine(n int, st diffStep, start time.Time, obs [3]*sideObs, v [2]stepVerdict) string {
	var b strings.Builder
	fmt.Fprintf(&b, "  #%-2d %-10s +%4dms at %5dms", n, st.kind, st.wait.Milliseconds(), obs[0].send.Sub(start).Milliseconds())
	for j, o := range obs {
		name := [...]string{"go", "like", "node"}[j]
		fmt.Fprintf(&b, " | %s: %d", name, o.status)
		switch {
		case o.sentID == "":
			b.WriteString(" new")
		case o.resumed():
			b.WriteString(" resumed")
		default:
			b.WriteString(" lost")
		}
		if o.now.stored {
			if o.now.never {
				b.WriteString(" stored(never)")
			} else {
				fmt.Fprintf(&b, " stored(+%dms)", o.now.expires.Sub(o.recv).Milliseconds())
			}
		}
		if len(o.raw) > 0 {
			_, attrs, _ := strings.Cut(o.raw[0], ";")
			fmt.Fprintf(&b, " cookie[%s]", strings.TrimSpace(attrs))
		}
	}
	for j, vd := range v {
		fmt.Fprintf(&b, " | %s:", [...]string{"same", "like"}[j])
		if vd.timing {
			b.WriteString(" (expiry during the step)")
		}
		for _, k := range vd.kinds {
			b.WriteString(" " + string(k))
		}
		if len(vd.problems) > 0 {
			b.WriteString(" PROBLEM")
		}
	}
	return b.String()
}

// diffTable renders what every combination showed.
func diffTable(runs []*comboRun) string {
	var b strings.Builder
	cell := func(r *comboRun, v int) string {
		var parts []string
		for _, k := range diffKinds {
			if n := r.counts[v][k]; n > 0 {
				s := fmt.Sprintf("%s×%d", k, n)
				if e := r.ended[v][k]; e > 0 {
					s += fmt.Sprintf("(%d ended)", e)
				}
				parts = append(parts, s)
			}
		}
		if len(r.problems[v]) > 0 {
			parts = append(parts, fmt.Sprintf("UNDOCUMENTED×%d", len(r.problems[v])))
		}
		return fmt.Sprintf("%2d equal; %s", r.equal[v], strings.Join(parts, " "))
	}
	fmt.Fprintf(&b, "%-72s %5s %6s  %-60s  %s\n", "Node app (store/options)", "steps", "timing", "Go, same options", "Go, express-like settings")
	for _, r := range runs {
		fmt.Fprintf(&b, "%-72s %5d %6d  %-60s  %s\n", r.combo, diffSteps, r.timing, cell(r, 0), cell(r, 1))
	}
	b.WriteString("(steps: equal = no difference; K×n = n steps showed difference K, (m ended) = m of them a session that ended on Go and not on Node;\n timing = steps not compared because a session's expiry fell inside them)\n")
	for _, k := range diffKinds {
		fmt.Fprintf(&b, "%s: %s\n", k, diffLegend[k])
	}
	return b.String()
}
