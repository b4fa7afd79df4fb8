package reliability_test

import (
	"context"
	"fmt"
	mrand "math/rand/v2"
	"net/http"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/boltsession/boltsession"
	"go.uber.org/goleak"
)

// soakDuration is how long a soak runs: BOLTSESSION_SOAK (a Go duration)
// when set, def by default, 3s with -short.
func soakDuration(t *testing.T, def time.Duration) time.Duration {
	if v := os.Getenv("BOLTSESSION_SOAK"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("BOLTSESSION_SOAK: %v", err)
		}
		return d
	}
	if testing.Short() {
		return 3 * time.Second
	}
	return def
}

const (
	soakClients  = 64
	soakPerOwner = 8
	soakMaxAge   = 2 * time.Second
)

// soakOwner is one user with several clients (browsers). It remembers when
// each sign-out everywhere ran, so a client whose session vanished can tell
// whether one of them explains it.
type soakOwner struct {
	name  string
	mu    sync.Mutex
	spans []logoutSpan
}

// logoutSpan is one sign-out everywhere, from before its request was sent
// to after its answer arrived (end zero while in flight).
type logoutSpan struct{ start, end time.Time }

func (o *soakOwner) begin() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.spans = append(o.spans, logoutSpan{start: time.Now()})
	return len(o.spans) - 1
}

func (o *soakOwner) end(i int) {
	o.mu.Lock()
	o.spans[i].end = time.Now()
	o.mu.Unlock()
}

// ranBetween reports whether a sign-out everywhere, other than skip, may
// have been processed by the server between from and to.
func (o *soakOwner) ranBetween(from, to time.Time, skip int) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	for i, sp := range o.spans {
		if i != skip && sp.start.Before(to) && (sp.end.IsZero() || sp.end.After(from)) {
			return true
		}
	}
	return false
}

// soakTally is what all clients did.
type soakTally struct {
	requests, writes, reads, regens, destroys, logoutAll, abandons atomic.Int64 // abandons: anonymous sessions left to expire
	goneBySignOut, goneByIdle                                      atomic.Int64 // sessions gone for a reason the client could see
}

// TestSoakMixedLoadLosesNothingAndLeaksNothing is issue item 6: 64 clients
// mix reads, writes, regenerations, logouts and sign-outs everywhere against
// one BoltStore while the sweeper runs every 100 ms with a 2 s MaxAge. No
// 5xx, no acknowledged write lost, no goroutine left behind; heap figures
// are logged.
func TestSoakMixedLoadLosesNothingAndLeaksNothing(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	r := newRig(t, rigConfig{
		realClock: true,
		store:     &boltsession.BoltOptions{SweepInterval: 100 * time.Millisecond, NoSync: os.Getenv("BOLTSESSION_SOAK_NOSYNC") == "1"},
		options:   func(o *boltsession.Options) { o.MaxAge = soakMaxAge },
	})
	runSoak(t, r, soakDuration(t, 30*time.Second), func() { r.store.Close() }, func() {
		st := r.store.Stats()
		t.Logf("store: %d commits carrying %d writes (%.1f per fsync), %d sweeps removed %d sessions, %d live, file %d KiB",
			st.Commits, st.Writes, float64(st.Writes)/float64(max(st.Commits, 1)), st.Sweeps, st.Swept, st.Sessions, st.FileSize>>10)
		if st.Sweeps == 0 || st.Swept == 0 {
			t.Errorf("the sweeper did no work (%d sweeps, %d swept): the soak did not exercise expiry", st.Sweeps, st.Swept)
		}
	})
}

// runSoak drives r's server with soakClients clients for d, then calls
// report (the store is still open), closes the server and calls closeStore.
// The rig would close them at cleanup, after the caller's goleak check has
// looked; so they are closed here.
func runSoak(t *testing.T, r *rig, d time.Duration, closeStore, report func()) {
	r.issued = nil // the heap figures are the server's, not this bookkeeping's
	stopped := false
	shutdown := func() {
		if !stopped {
			stopped = true
			r.srv.Close()
			closeStore()
		}
	}
	defer shutdown()

	owners := make([]*soakOwner, soakClients/soakPerOwner)
	for i := range owners {
		owners[i] = &soakOwner{name: fmt.Sprintf("user%d", i)}
	}
	var tally soakTally
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()

	var wg sync.WaitGroup
	warm := make(chan struct{})
	var before runtime.MemStats
	var goroutinesBefore int
	wg.Go(func() {
		// Heap after warm-up, so that pools and buffers are counted on
		// both sides.
		select {
		case <-time.After(min(2*time.Second, d/4)):
		case <-ctx.Done():
		}
		runtime.GC()
		runtime.ReadMemStats(&before)
		goroutinesBefore = runtime.NumGoroutine()
		close(warm)
	})
	start := time.Now()
	for i := range soakClients {
		wg.Go(func() {
			c := &soakClient{r: r, owner: owners[i/soakPerOwner], tally: &tally,
				rng: mrand.New(mrand.NewPCG(uint64(i), uint64(time.Now().UnixNano())))}
			c.run(ctx, t)
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	<-warm
	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	goroutinesAfter := runtime.NumGoroutine()
	report()
	shutdown()

	n := tally.requests.Load()
	t.Logf("soak %v: %d requests (%.0f/s): %d writes, %d reads, %d regenerates, %d logouts, %d sign-outs everywhere, %d abandoned sessions",
		elapsed.Round(time.Millisecond), n, float64(n)/elapsed.Seconds(), tally.writes.Load(), tally.reads.Load(),
		tally.regens.Load(), tally.destroys.Load(), tally.logoutAll.Load(), tally.abandons.Load())
	t.Logf("sessions found gone: %d after a sign-out everywhere, %d after an idle gap near MaxAge (a slow answer)",
		tally.goneBySignOut.Load(), tally.goneByIdle.Load())
	t.Logf("heap in use after warm-up %.1f MiB, at the end %.1f MiB; objects %d → %d; goroutines %d under load, %d once the clients stopped",
		float64(before.HeapInuse)/(1<<20), float64(after.HeapInuse)/(1<<20), before.HeapObjects, after.HeapObjects,
		goroutinesBefore, goroutinesAfter)
	if tally.writes.Load() == 0 || tally.regens.Load() == 0 || tally.destroys.Load() == 0 || tally.logoutAll.Load() == 0 {
		t.Errorf("some operation never ran: %+v", &tally)
	}
}

// soakClient is one browser: a cookie, and what it knows the server holds.
type soakClient struct {
	r     *rig
	owner *soakOwner
	tally *soakTally
	rng   *mrand.Rand

	cookie string // Cookie header; empty for none
	n      int    // the counter the server acknowledged last
	// lastSent is when the last request that found the session was sent:
	// if the session is gone at the next request, a sign-out everywhere ran
	// since, or the gap is long enough for the session to expire idle.
	lastSent time.Time
	loggedIn bool
}

func (c *soakClient) run(ctx context.Context, t *testing.T) {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
	defer client.CloseIdleConnections()
	for ctx.Err() == nil {
		if !c.loggedIn {
			c.step(t, client, "/login?owner="+c.owner.name, opLogin)
			continue
		}
		switch p := c.rng.IntN(100); {
		case p < 40:
			c.step(t, client, "/get", opRead)
		case p < 75:
			c.step(t, client, "/incr", opWrite)
		case p < 85:
			c.step(t, client, "/regen", opRegen)
		case p < 92:
			c.step(t, client, "/logout", opDestroy)
		case p < 94:
			c.step(t, client, "/logout-all", opLogoutAll)
		default:
			// Browse anonymously once and walk away: that session has
			// no owner, so no sign-out ends it; it is left to expire
			// and be swept.
			c.tally.abandons.Add(1)
			c.cookie, c.n, c.loggedIn = "", 0, false
			rep, err := c.r.do(client, http.MethodPost, "/incr", "", nil)
			c.tally.requests.Add(1)
			if err != nil || rep.status != http.StatusOK || !rep.isNew || rep.n != 1 || rep.cookie == nil {
				t.Errorf("anonymous write: %v %d %q", err, rep.status, rep.body)
			}
		}
		if t.Failed() {
			return
		}
	}
}

type soakOp int

const (
	opLogin soakOp = iota
	opRead
	opWrite
	opRegen
	opDestroy
	opLogoutAll
)

func (c *soakClient) step(t *testing.T, client *http.Client, path string, op soakOp) {
	method := http.MethodPost
	if op == opRead {
		method = http.MethodGet
	}
	own := -1
	if op == opLogoutAll {
		own = c.owner.begin()
	}
	sent := time.Now()
	rep, err := c.r.do(client, method, path, c.cookie, nil)
	if own >= 0 {
		c.owner.end(own)
	}
	c.tally.requests.Add(1)
	if err != nil {
		t.Errorf("%s %s: %v", method, path, err)
		return
	}
	if rep.status >= 500 {
		t.Errorf("%s %s: %d %s", method, path, rep.status, rep.body)
		return
	}
	switch op {
	case opDestroy:
		c.tally.destroys.Add(1)
		c.cookie, c.n, c.loggedIn = "", 0, false
		return
	case opLogoutAll:
		c.tally.logoutAll.Add(1)
		if rep.status == http.StatusForbidden {
			// The session was already gone (another client signed the
			// owner out): the answer itself is the evidence.
			c.checkGone(t, path, own)
		} else if rep.status != http.StatusOK {
			t.Errorf("%s: %d %s", path, rep.status, rep.body)
		}
		c.cookie, c.n, c.loggedIn = "", 0, false
		return
	}
	if rep.status == http.StatusConflict {
		// The change did not land because the session ended under the
		// request (ErrEnded): only a sign-out everywhere by another
		// client, or an idle expiry, explains that.
		c.checkGone(t, path, -1)
		c.cookie, c.n, c.loggedIn = "", 0, false
		return
	}
	if rep.status != http.StatusOK {
		t.Errorf("%s %s: %d %s", method, path, rep.status, rep.body)
		return
	}

	// What the server read before this request changed anything.
	seen := rep.n
	if op == opWrite {
		seen--
	}
	if c.cookie != "" && rep.isNew {
		c.checkGone(t, path, -1)
		c.cookie, c.n = "", 0
		if op != opLogin {
			c.loggedIn = false
		}
	}
	if seen != c.n {
		t.Errorf("%s: LOST WRITE: the server holds %d, the client was acknowledged %d", path, seen, c.n)
	}
	c.n = rep.n
	switch op {
	case opWrite:
		c.tally.writes.Add(1)
	case opRead:
		c.tally.reads.Add(1)
	case opRegen:
		c.tally.regens.Add(1)
	case opLogin:
		c.loggedIn = true
	}
	if rep.cookie != nil {
		if rep.cookie.MaxAge < 0 {
			c.cookie = ""
		} else {
			c.cookie = rep.cookie.Name + "=" + rep.cookie.Value
		}
	}
	if c.cookie != "" && (!rep.isNew || rep.cookie != nil) {
		c.lastSent = sent
	}
}

// checkGone fails the test unless something the client can see explains why
// its session is gone: a sign-out everywhere of its owner (other than the
// client's own, skip) that ran since the last request that found the
// session was sent, or a gap since then long enough for the session to
// expire idle (MaxAge less the lazy-touch slack of MaxAge/10).
func (c *soakClient) checkGone(t *testing.T, path string, skip int) {
	t.Helper()
	if c.owner.ranBetween(c.lastSent, time.Now(), skip) {
		c.tally.goneBySignOut.Add(1)
		return
	}
	if gap := time.Since(c.lastSent); gap >= soakMaxAge-soakMaxAge/10 {
		c.tally.goneByIdle.Add(1)
		return
	}
	t.Errorf("%s: LOST SESSION: gone %v after its last answer, with no sign-out everywhere", path, time.Since(c.lastSent))
}
