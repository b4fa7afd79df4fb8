package redisstore

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/boltsession/boltsession"
	"github.com/boltsession/boltsession/express"
	"github.com/boltsession/boltsession/redisstore/redistest"
	"github.com/redis/go-redis/v9"
)

// nodeInstallCommand installs the Node packages of the connect-redis tests;
// run it at the repository root. Tests never run npm: it needs the network.
const nodeInstallCommand = "npm ci --prefix redisstore/testdata/node"

// requireNode returns testdata/node with its packages installed. Without
// node or without testdata/node/node_modules the test is skipped with a
// message saying how to enable it, unless BOLTSESSION_REQUIRE_NODE=1 (as in
// CI, which runs `npm ci` for every committed lockfile first), which makes
// either absence a failure.
func requireNode(t *testing.T) string {
	t.Helper()
	missing := func(why, how string) {
		t.Helper()
		if os.Getenv("BOLTSESSION_REQUIRE_NODE") == "1" {
			t.Fatalf("%s, and BOLTSESSION_REQUIRE_NODE=1 requires it: %s", why, how)
		}
		t.Skipf("skipping: %s: %s (BOLTSESSION_REQUIRE_NODE=1 makes this a failure)", why, how)
	}
	if _, err := exec.LookPath("node"); err != nil {
		missing("node not found", "to run the connect-redis tests, install Node.js 20+ and npm, then run `"+nodeInstallCommand+"` at the repository root")
	}
	dir, err := filepath.Abs(filepath.Join("testdata", "node"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", ".package-lock.json")); err != nil {
		missing("the Node packages are not installed in redisstore/testdata/node/node_modules", "run `"+nodeInstallCommand+"` at the repository root")
	}
	return dir
}

// startNode runs testdata/node/app.js with env and returns its base URL;
// it is stopped when the test ends.
func startNode(t *testing.T, dir string, env ...string) string {
	t.Helper()
	cmd := exec.Command("node", "app.js")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), append([]string{"PORT=0"}, env...)...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	port := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if p, ok := strings.CutPrefix(sc.Text(), "listening on "); ok {
				port <- p
			}
		}
		io.Copy(io.Discard, out)
		cmd.Wait()
		close(done)
	}()
	select {
	case p := <-port:
		return "http://127.0.0.1:" + p
	case <-done:
		t.Fatal("node app exited before listening")
	case <-time.After(30 * time.Second):
		t.Fatal("node app did not start listening within 30s")
	}
	return ""
}

const (
	sharedSecret = "keyboard cat"
	sharedMaxAge = 24 * time.Hour
)

// goApp is the Go side of the rollout: a Manager on a ConnectRedisStore
// with express.Cookie and the Node app's secret, cookie name and cookie
// options, serving the same routes as testdata/node/app.js.
func goApp(t *testing.T, store *ConnectRedisStore) *httptest.Server {
	t.Helper()
	codec, err := express.Cookie(sharedSecret)
	if err != nil {
		t.Fatal(err)
	}
	m, err := boltsession.New(store, boltsession.Options{
		Name:   "connect.sid",
		Codec:  codec,
		MaxAge: sharedMaxAge,
		Cookie: boltsession.CookieOptions{SameSite: http.SameSiteLaxMode},
	})
	if err != nil {
		t.Fatal(err)
	}
	type address struct {
		City string `msgpack:"city"`
		Zip  string `msgpack:"zip"`
	}
	type user struct {
		ID      int      `msgpack:"id"`
		Name    string   `msgpack:"name"`
		Roles   []string `msgpack:"roles"`
		Address address  `msgpack:"address"`
	}
	data := func(s *boltsession.Session) (map[string]any, error) {
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
	reply := func(w http.ResponseWriter, s *boltsession.Session, extra map[string]any) {
		d, err := data(s)
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		body := map[string]any{"id": s.ID(), "data": d}
		for k, v := range extra {
			body[k] = v
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(body)
	}
	fail := func(w http.ResponseWriter, err error) { http.Error(w, err.Error(), 500) }
	mux := http.NewServeMux()
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		s := boltsession.FromContext(r.Context())
		if err := s.Regenerate(); err != nil {
			fail(w, err)
			return
		}
		name := r.URL.Query().Get("user")
		for k, v := range map[string]any{
			"user": user{ID: 7, Name: name, Roles: []string{"go"}, Address: address{City: "Nantes", Zip: "44000"}},
			"n":    0, "str": "go-login", "flag": true, "nothing": nil, "ratio": 0.5, "list": []string{"g0"},
		} {
			if err := s.Set(k, v); err != nil {
				fail(w, err)
				return
			}
		}
		reply(w, s, nil)
	})
	mux.HandleFunc("GET /whoami", func(w http.ResponseWriter, r *http.Request) {
		reply(w, boltsession.FromContext(r.Context()), nil)
	})
	mux.HandleFunc("POST /change", func(w http.ResponseWriter, r *http.Request) {
		s := boltsession.FromContext(r.Context())
		if !s.Has("user") {
			w.WriteHeader(http.StatusUnauthorized)
			json.NewEncoder(w).Encode(map[string]any{"error": "signed out", "id": s.ID()})
			return
		}
		step := r.URL.Query().Get("step")
		before, err := data(s)
		if err != nil {
			fail(w, err)
			return
		}
		n, err1 := boltsession.Get[int](s, "n")
		flag, err2 := boltsession.Get[bool](s, "flag")
		nothing, err3 := boltsession.Get[any](s, "nothing")
		ratio, err4 := boltsession.Get[float64](s, "ratio")
		list, err5 := boltsession.Get[[]string](s, "list")
		u, err6 := boltsession.Get[map[string]any](s, "user")
		if err := errors.Join(err1, err2, err3, err4, err5, err6); err != nil {
			fail(w, err)
			return
		}
		var next any = "was-null"
		if nothing != nil {
			next = nil
		}
		addr, _ := u["address"].(map[string]any)
		addr["zip"] = fmt.Sprint(44000, "-", step)
		u["lastBy"] = "go"
		for k, v := range map[string]any{"n": n + 1, "str": "go-" + step, "flag": !flag, "nothing": next,
			"ratio": ratio + 0.25, "list": append(list, "g"+step), "user": u} {
			if err := s.Set(k, v); err != nil {
				fail(w, err)
				return
			}
		}
		reply(w, s, map[string]any{"before": before})
	})
	mux.HandleFunc("POST /logout", func(w http.ResponseWriter, r *http.Request) {
		if err := boltsession.FromContext(r.Context()).Destroy(); err != nil {
			fail(w, err)
			return
		}
		json.NewEncoder(w).Encode(map[string]bool{"ok": true})
	})
	srv := httptest.NewServer(m.Middleware(mux))
	t.Cleanup(srv.Close)
	return srv
}

// sideReply is what both apps answer.
type sideReply struct {
	ID     string         `json:"id"`
	Data   map[string]any `json:"data"`
	Before map[string]any `json:"before"`
	Error  string         `json:"error"`
}

func request(t *testing.T, c *http.Client, method, u string, want int) sideReply {
	t.Helper()
	req, err := http.NewRequest(method, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != want {
		t.Fatalf("%s %s: %s, want %d: %s", method, u, res.Status, want, b)
	}
	var r sideReply
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("%s %s: %q: %v", method, u, b, err)
	}
	return r
}

// asJSON normalises a value as JSON sees it, so Go's and Node's replies
// compare (every number a float64).
func asJSON(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestConnectRedisSharedWithNode is the gradual rollout: the real Node
// stack (express 5, express-session 1.19, connect-redis 10, node-redis) and
// a Go app on a ConnectRedisStore share one redis-server, one secret and
// one cookie name, and one cookie jar sends a user's requests to each in
// turn. A session signed in on either side is served by the other; 50
// alternating requests each read what the other side changed last (every
// kind of value) and change it, with zero logouts; a logout on either
// side ends the session on both; Node's enumeration and its reading of an
// old or pending ID still work beside what the Go side leaves in Redis.
func TestConnectRedisSharedWithNode(t *testing.T) {
	nodeDir := requireNode(t)
	srv := redistest.Start(t)
	client := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { client.Close() })
	ctx := context.Background()
	store := NewConnectRedis(client, &ConnectRedisOptions{Cookie: ExpressCookie{MaxAge: sharedMaxAge, SameSite: "lax"}})
	goSrv := goApp(t, store)
	nodeURL := startNode(t, nodeDir, "REDIS_URL="+srv.URL(), "SESSION_SECRET="+sharedSecret,
		fmt.Sprintf("COOKIE_MAX_AGE=%d", sharedMaxAge.Milliseconds()))
	sides := [2]struct{ name, url string }{{"node", nodeURL}, {"go", goSrv.URL}}

	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	cookieID := func() string {
		u, _ := url.Parse(nodeURL)
		for _, ck := range jar.Cookies(u) {
			if ck.Name == "connect.sid" {
				v, _ := url.QueryUnescape(ck.Value)
				id, _, _ := strings.Cut(strings.TrimPrefix(v, "s:"), ".")
				return id
			}
		}
		return ""
	}

	const steps = 50
	for round, first := range []int{0, 1} { // signed in on Node, then on Go
		signIn, other := sides[first], sides[1-first]
		login := request(t, c, "POST", signIn.url+"/login?user=u"+fmt.Sprint(round), 200)
		if login.ID == "" || cookieID() != login.ID {
			t.Fatalf("round %d: %s signed in session %q, the jar holds %q", round, signIn.name, login.ID, cookieID())
		}
		seen := request(t, c, "GET", other.url+"/whoami", 200)
		if seen.ID != login.ID || !reflect.DeepEqual(asJSON(t, seen.Data), asJSON(t, login.Data)) {
			t.Fatalf("round %d: %s sees session %q %v\nafter %s signed in %q %v", round, other.name, seen.ID, seen.Data,
				signIn.name, login.ID, login.Data)
		}

		prev := login.Data
		for i := range steps {
			side := sides[(first+1+i)%2] // the other side starts
			r := request(t, c, "POST", fmt.Sprintf("%s/change?step=%d", side.url, i), 200)
			if r.ID != login.ID {
				t.Fatalf("round %d step %d on %s: session %q, want %q: the user was logged out", round, i, side.name, r.ID, login.ID)
			}
			if !reflect.DeepEqual(asJSON(t, r.Before), asJSON(t, prev)) {
				t.Fatalf("round %d step %d: %s read\n%v\nbut the other side had left\n%v", round, i, side.name, r.Before, prev)
			}
			prev = r.Data
		}
		t.Logf("round %d: signed in on %s, %d requests alternating with no logout and every change seen by the other side",
			round, signIn.name, steps)
		final := request(t, c, "GET", signIn.url+"/whoami", 200)
		if !reflect.DeepEqual(asJSON(t, final.Data), asJSON(t, prev)) {
			t.Fatalf("round %d: final state %v, want %v", round, final.Data, prev)
		}
		if n := final.Data["n"]; n != float64(steps) {
			t.Fatalf("round %d: counter %v after %d increments from both sides", round, n, steps)
		}

		if round == 1 {
			testNodeBesideGoKeys(t, c, store, nodeURL, goSrv.URL, cookieID)
		}

		// A logout on the side that did not sign in ends it on both.
		id := cookieID()
		request(t, c, "POST", other.url+"/logout", 200)
		if n, _ := client.Exists(ctx, "sess:"+id).Result(); n != 0 {
			t.Fatalf("round %d: logout on %s left sess:%s", round, other.name, id)
		}
		for _, side := range sides {
			r := request(t, c, "POST", side.url+"/change?step=99", 401)
			if r.ID == id {
				t.Fatalf("round %d: after the logout on %s, %s still serves session %s", round, other.name, side.name, id)
			}
		}
	}
}

// testNodeBesideGoKeys checks what Node does with the keys only the Go side
// makes: after a Go regenerate, the old ID's cookie gets Node a fresh
// session (never the new one, never an error); the pending record of a
// replace stopped half way reads as no session; connect-redis's all() and
// length() still work. Then the session is signed in again on Node
// (express's regenerate: destroy and a new ID) and Go follows it.
func testNodeBesideGoKeys(t *testing.T, c *http.Client, store *ConnectRedisStore, nodeURL, goURL string, cookieID func() string) {
	t.Helper()
	codec, _ := express.Cookie(sharedSecret)
	withCookie := func(base, id string) sideReply {
		t.Helper()
		v, err := codec.Encode("connect.sid", id)
		if err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequest("GET", base+"/whoami", nil)
		req.Header.Set("Cookie", "connect.sid="+v)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		if res.StatusCode != 200 {
			t.Fatalf("GET %s/whoami as %s: %s %s", base, id, res.Status, b)
		}
		var r sideReply
		json.Unmarshal(b, &r)
		return r
	}

	// Go regenerates a live session: the old ID keeps a marker.
	old := cookieID()
	relogin := request(t, c, "POST", goURL+"/login?user=again", 200)
	if relogin.ID == old {
		t.Fatal("Go's sign-in did not regenerate the session ID")
	}
	for _, base := range []string{nodeURL, goURL} {
		if r := withCookie(base, old); r.ID == old || r.ID == relogin.ID || len(r.Data) != 0 {
			t.Fatalf("%s with the regenerated session's old ID: served %q with %v", base, r.ID, r.Data)
		}
	}

	// A replace stopped after its first step leaves a pending record.
	store.afterStep = func(step string) error {
		if step == "pending" {
			return errors.New("stopped")
		}
		return nil
	}
	err := store.Save(context.Background(), boltsession.Update{ID: "pendingnode", Create: true, Replaces: relogin.ID,
		Expires: time.Now().Add(time.Hour)})
	store.afterStep = nil
	if err == nil || !strings.Contains(err.Error(), "stopped") {
		t.Fatalf("stopped replace: %v", err)
	}
	if r := withCookie(nodeURL, "pendingnode"); r.ID == "pendingnode" || len(r.Data) != 0 {
		t.Fatalf("Node with the pending ID: served %q with %v", r.ID, r.Data)
	}
	var all struct {
		IDs    []string `json:"ids"`
		Length int      `json:"length"`
	}
	res, err := http.Get(nodeURL + "/all")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || json.Unmarshal(b, &all) != nil {
		t.Fatalf("connect-redis all() beside the Go side's keys: %s %s", res.Status, b)
	}
	if !reflect.DeepEqual(all.IDs, []string{relogin.ID}) {
		t.Fatalf("connect-redis all() lists %v, want only %s (length %d)", all.IDs, relogin.ID, all.Length)
	}
	t.Logf("connect-redis all() = %v, length() = %d (it counts the pending record too)", all.IDs, all.Length)

	// express's own sign-in (regenerate: destroy, new ID) on Node, then Go
	// serves the new session and not the old one.
	node := request(t, c, "POST", nodeURL+"/login?user=back", 200)
	if node.ID == relogin.ID {
		t.Fatal("Node's sign-in did not regenerate the session ID")
	}
	if r := request(t, c, "GET", goURL+"/whoami", 200); r.ID != node.ID || !reflect.DeepEqual(asJSON(t, r.Data), asJSON(t, node.Data)) {
		t.Fatalf("Go after Node's sign-in: %q %v, want %q %v", r.ID, r.Data, node.ID, node.Data)
	}
	if r := withCookie(goURL, relogin.ID); r.ID == relogin.ID {
		t.Fatal("Go still serves the session Node regenerated away")
	}
}
