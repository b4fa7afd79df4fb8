package redisstore

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/boltsession/boltsession"
	"github.com/boltsession/boltsession/redisstore/redistest"
	"github.com/boltsession/boltsession/storetest"
	"github.com/redis/go-redis/v9"
)

// TestClusterWithReplicas runs, on one cluster of 3 masters with a replica
// each, the checks that need replicas: WaitReplicas first, then a failover
// (which changes the cluster's shape, so it comes last).
func TestClusterWithReplicas(t *testing.T) {
	// A node timeout long enough that a redis-server starved by a busy
	// machine is not voted failed, short enough that the real election
	// of the failover test takes a few seconds.
	c, cc := startCluster(t, redistest.ClusterOptions{Masters: 3, ReplicasPerMaster: 1, NodeTimeout: 2 * time.Second})
	oc := &onCluster{c: c, cc: cc}
	t.Run("ConformanceWithWaitReplicas", func(t *testing.T) {
		n := 0
		storetest.Run(t, func(t *testing.T) boltsession.Store {
			n++
			p := "cw" + strconv.Itoa(n)
			return oc.store(Options{Prefix: p + ":", LegacyPrefix: "{" + p + "}:", WaitReplicas: 1, WaitTimeout: time.Second})
		})
	})
	t.Run("WaitReplicasWaitsOnTheWritesOwnConnection", func(t *testing.T) { testWaitReplicas(t, oc) })
	t.Run("FailoverGivesErrorsNeverAWrongSessionAndKeepsReplicatedSaves", func(t *testing.T) { testFailover(t, oc) })
}

// masterNode returns the harness node that is the master of key's slot.
func (oc *onCluster) masterNode(t *testing.T, key string) *redistest.Node {
	t.Helper()
	slot, err := oc.cc.ClusterKeySlot(context.Background(), key).Result()
	if err != nil {
		t.Fatal(err)
	}
	return oc.c.MasterForSlot(int(slot))
}

func testWaitReplicas(t *testing.T, oc *onCluster) {
	ctx := context.Background()
	const timeout = 200 * time.Millisecond
	s := oc.store(Options{Prefix: "wait:", WaitReplicas: 1, WaitTimeout: timeout})
	now := time.Now()
	if err := s.Save(ctx, boltsession.Update{ID: "w1", Create: true, Created: now, Expires: now.Add(time.Hour),
		Owner: ptr("erin"), Set: map[string][]byte{"a": []byte("1")}}); err != nil {
		t.Fatalf("save with a healthy replica: %v", err)
	}
	master := oc.masterNode(t, s.sessionKey(handleOf("w1")))
	replica := oc.c.Replicas(master)[0]
	// Acknowledged means on the replica already: read it there.
	rc := redis.NewClient(&redis.Options{Addr: replica.Addr})
	defer rc.Close()
	conn := rc.Conn()
	defer conn.Close()
	if err := conn.ReadOnly(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if v, err := conn.HGet(ctx, s.sessionKey(handleOf("w1")), "v:a").Result(); err != nil || v != "\x001" {
		t.Fatalf("the replica holds %q, %v right after the save returned", v, err)
	}

	// A replica that acknowledges nothing: the write lands on the master,
	// and Save says it is not replicated.
	oc.c.Pause(replica)
	t.Cleanup(func() { oc.c.Resume(replica) })
	start := time.Now()
	err := s.Save(ctx, boltsession.Update{ID: "w1", Set: map[string][]byte{"a": []byte("2")}})
	took := time.Since(start)
	if !errors.Is(err, ErrNotReplicated) {
		t.Fatalf("save with a paused replica: %v, want ErrNotReplicated", err)
	}
	if took < timeout {
		t.Fatalf("ErrNotReplicated after %v, before WaitTimeout %v", took, timeout)
	}
	if rec, err := s.Load(ctx, "w1"); err != nil || string(rec.Values["a"]) != "2" {
		t.Fatalf("the master does not hold the unreplicated write: %+v, %v", rec, err)
	}
	t.Logf("paused replica: %v after %v", err, took.Round(time.Millisecond))
	oc.c.Resume(replica)

	// WAIT counts acknowledgements of the writes of its own connection:
	// MONITOR on the master shows the script and WAIT coming from one
	// client address, WAIT right after the script.
	seenLines := monitor(t, master.Addr)
	if err := s.Save(ctx, boltsession.Update{ID: "w1", Set: map[string][]byte{"a": []byte("3")}}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	var seen []string // "client command"
	for _, l := range seenLines() {
		open, end := strings.Index(l, "["), strings.Index(l, "]")
		if open < 0 || end < open {
			continue
		}
		f := strings.Fields(l[open+1 : end])
		cmd := strings.Fields(l[end+1:])
		if len(f) == 2 && f[1] != "lua" && len(cmd) > 0 { // "lua": a command a script ran
			seen = append(seen, f[1]+" "+strings.Trim(cmd[0], `"`))
		}
	}
	var script string
	for i, l := range seen {
		if strings.HasSuffix(l, " evalsha") || strings.HasSuffix(l, " EVALSHA") {
			script = strings.Fields(l)[0]
			if i+1 >= len(seen) || !strings.EqualFold(seen[i+1], script+" wait") {
				t.Fatalf("after the save's script on %s the master saw %v; want WAIT from the same client next", script, seen[i+1:])
			}
		}
	}
	if script == "" {
		t.Fatalf("MONITOR saw no script: %v", seen)
	}
	// Every kind of write waits: a delete, a replace (each of its steps).
	oc.c.Pause(replica)
	if err := s.Delete(ctx, "w1"); !errors.Is(err, ErrNotReplicated) {
		t.Fatalf("delete with a paused replica: %v, want ErrNotReplicated", err)
	}
	oc.c.Resume(replica)
	if _, err := s.Load(ctx, "w1"); !errors.Is(err, boltsession.ErrNotFound) {
		t.Fatalf("Load after an unreplicated delete: %v; the delete should have landed on the master", err)
	}
	for _, id := range []string{"w2", "w3"} {
		if err := s.Save(ctx, boltsession.Update{ID: id, Create: true, Created: now, Expires: now.Add(time.Hour), Owner: ptr("erin")}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Save(ctx, boltsession.Update{ID: "w4", Create: true, Replaces: "w2", Expires: now.Add(time.Hour)}); err != nil {
		t.Fatalf("replace with healthy replicas: %v", err)
	}
	if n, err := s.DestroyOwner(ctx, "erin"); err != nil || n != 2 {
		t.Fatalf("DestroyOwner = %d, %v; want 2", n, err)
	}
}

// testFailover drives a Manager on the cluster with HTTP clients that each
// count their own visits, kills the master that holds most of their
// sessions, lets the cluster elect its replica, and checks: requests
// during the failover get errors (500) or their own session, never another
// client's session and never a fresh one; after it, every session whose
// count was acknowledged (and, with WaitReplicas, replicated) loads with
// that count or a later one.
func testFailover(t *testing.T, oc *onCluster) {
	store := oc.store(Options{Prefix: "fo:", WaitReplicas: 1, WaitTimeout: 500 * time.Millisecond})
	// The default ErrorHandler answers 500; its log lines (hundreds during
	// the failover) are counted below instead.
	m, err := boltsession.New(store, boltsession.Options{Keys: [][]byte{bytes.Repeat([]byte{3}, 32)},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := boltsession.FromContext(r.Context())
		who, err := boltsession.Get[string](s, "who")
		if errors.Is(err, boltsession.ErrNoValue) {
			who = r.URL.Query().Get("who")
			if err := s.Set("who", who); err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
		}
		n, _ := boltsession.Get[int](s, "n")
		if err := s.Set("n", n+1); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		fmt.Fprintf(w, "%s %d", who, n+1)
	})))
	defer srv.Close()

	type client struct {
		http  *http.Client
		who   string
		acked int // the last count answered 200
	}
	get := func(c *client) (code int, who string, n int, err error) {
		resp, err := c.http.Get(srv.URL + "/?who=" + c.who)
		if err != nil {
			return 0, "", 0, err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			return resp.StatusCode, "", 0, nil
		}
		f := strings.Fields(string(body))
		if len(f) != 2 {
			return resp.StatusCode, "", 0, fmt.Errorf("body %q", body)
		}
		n, err = strconv.Atoi(f[1])
		return resp.StatusCode, f[0], n, err
	}
	var clients []*client
	for i := range 24 {
		jar, _ := cookiejar.New(nil)
		c := &client{http: &http.Client{Jar: jar, Timeout: 20 * time.Second}, who: "c" + strconv.Itoa(i)}
		if code, who, n, err := get(c); err != nil || code != 200 || who != c.who || n != 1 {
			t.Fatalf("first visit of %s: %d %s %d %v", c.who, code, who, n, err)
		}
		c.acked = 1
		clients = append(clients, c)
	}

	// The master that holds the most of these sessions fails.
	perMaster := map[*redistest.Node]int{}
	ctx := context.Background()
	for _, m := range oc.c.Masters() {
		mc := redis.NewClient(&redis.Options{Addr: m.Addr})
		keys, _ := mc.Keys(ctx, "fo:{*}").Result()
		mc.Close()
		perMaster[m] = len(keys)
	}
	var victim *redistest.Node
	for m, n := range perMaster {
		if victim == nil || n > perMaster[victim] {
			victim = m
		}
	}

	var (
		mu                        sync.Mutex
		ok, failed, wrong, rolled int
	)
	check := func(c *client, code int, who string, n int, err error) {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case err != nil:
			t.Errorf("%s: %v", c.who, err)
		case code != 200:
			failed++
		case who != c.who:
			wrong++
			t.Errorf("%s got %s's session", c.who, who)
		case n <= c.acked:
			rolled++
			t.Errorf("%s: count %d after %d was acknowledged: a fresh or rolled back session", c.who, n, c.acked)
		default:
			ok++
			c.acked = n
		}
	}
	// Each client sends one request at a time, all through the failover,
	// until it has been served after the new master was elected.
	var (
		killed    time.Time
		elected   = make(chan struct{})
		recovered = make([]time.Duration, len(clients))
		wg        sync.WaitGroup
	)
	for i, c := range clients {
		wg.Go(func() {
			deadline := time.Now().Add(60 * time.Second)
			after := false
			for time.Now().Before(deadline) {
				select {
				case <-elected:
					after = true
				default:
				}
				code, who, n, err := get(c)
				check(c, code, who, n, err)
				if after && code == 200 {
					recovered[i] = time.Since(killed)
					return
				}
				time.Sleep(5 * time.Millisecond)
			}
			t.Errorf("%s still failing 60s after the master was killed", c.who)
		})
	}
	time.Sleep(200 * time.Millisecond)
	killed = time.Now()
	oc.c.Kill(victim)
	heir := oc.c.AwaitFailover(victim)
	electedAfter := time.Since(killed)
	// The new master has no replica yet, so with WaitReplicas its writes
	// fail (500) until the old master is back as its replica.
	oc.c.Rejoin(victim)
	rejoinedAfter := time.Since(killed)
	close(elected)
	wg.Wait()
	slowest := slices.Max(recovered)
	t.Logf("master %s (%d of the 24 sessions) killed; replica %s elected after %v; old master back as its replica after %v; every client served again after %v; %d answers 200, %d errors (500), %d wrong sessions, %d fresh or rolled back",
		victim.Addr, perMaster[victim], heir.Addr, electedAfter.Round(time.Millisecond), rejoinedAfter.Round(time.Millisecond), slowest.Round(time.Millisecond), ok, failed, wrong, rolled)
	if failed == 0 {
		t.Error("no request failed during the failover: the test did not hit the failed master")
	}
}

// monitor sends MONITOR to the server at addr on a connection of its own
// and returns a function that returns the lines seen so far.
func monitor(t *testing.T, addr string) func() []string {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if _, err := conn.Write([]byte("MONITOR\r\n")); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(conn)
	if l, err := r.ReadString('\n'); err != nil || !strings.HasPrefix(l, "+OK") {
		t.Fatalf("MONITOR: %q, %v", l, err)
	}
	var (
		mu    sync.Mutex
		lines []string
	)
	go func() {
		for {
			l, err := r.ReadString('\n')
			if err != nil {
				return
			}
			mu.Lock()
			lines = append(lines, strings.TrimSpace(l))
			mu.Unlock()
		}
	}()
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(lines)
	}
}
