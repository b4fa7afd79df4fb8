package express

import (
	"bufio"
	"context"
	"encoding/json"
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
)

// expressApp is the Go side of a migration from express-session: a boltsession.Manager
// with the express codec, the Node app's secret and cookie name, serving
// /whoami (every value of the session, as JSON) and /view (a counter).
func expressApp(t *testing.T, store boltsession.Store, now func() time.Time) *httptest.Server {
	t.Helper()
	m, err := boltsession.New(store, boltsession.Options{
		Name:   "connect.sid",
		Codec:  codec("keyboard cat"),
		MaxAge: 24 * time.Hour,
		Now:    now,
	})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /whoami", func(w http.ResponseWriter, r *http.Request) {
		s := boltsession.FromContext(r.Context())
		data := map[string]any{}
		for _, k := range s.Keys() {
			v, err := boltsession.Get[any](s, k)
			if err != nil {
				http.Error(w, err.Error(), 500)
				return
			}
			data[k] = v
		}
		user, err := boltsession.Get[fixtureUser](s, "user")
		if err != nil {
			http.Error(w, "no user: "+err.Error(), http.StatusUnauthorized)
			return
		}
		views, err := boltsession.Get[int](s, "views")
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		json.NewEncoder(w).Encode(map[string]any{
			"id": s.ID(), "new": s.IsNew(), "data": data, "user": user, "views": views,
		})
	})
	mux.HandleFunc("GET /view", func(w http.ResponseWriter, r *http.Request) {
		s := boltsession.FromContext(r.Context())
		n, _ := boltsession.Get[int](s, "views")
		if err := s.Set("views", n+1); err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		json.NewEncoder(w).Encode(map[string]int{"views": n + 1})
	})
	srv := httptest.NewServer(m.Middleware(mux))
	t.Cleanup(srv.Close)
	return srv
}

type goWhoami struct {
	ID    string         `json:"id"`
	New   bool           `json:"new"`
	Data  map[string]any `json:"data"`
	User  fixtureUser    `json:"user"`
	Views int            `json:"views"`
}

func getJSON(t *testing.T, c *http.Client, method, u string, cookie string, into any) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cookie != "" {
		req.Header.Set("Cookie", cookie)
	}
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("%s %s: %s: %s", method, u, res.Status, b)
	}
	if into != nil {
		if err := json.Unmarshal(b, into); err != nil {
			t.Fatalf("%s %s: %q: %v", method, u, b, err)
		}
	}
	return res
}

// TestCookieServesImportedFileStoreSessions imports the committed
// session-file-store fixtures and checks that the Go app accepts the cookie
// express-session issued for them (no node needed).
func TestCookieServesImportedFileStoreSessions(t *testing.T) {
	dir, m := loadFileStoreFixtures(t)
	now := lastAccessOf(t, dir, m.Files["alice"]).Add(time.Minute)
	clock := func() time.Time { return now }
	store, err := boltsession.Open(filepath.Join(t.TempDir(), "sessions.db"), &boltsession.BoltOptions{Now: clock, SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	sum, err := ImportFileStore(context.Background(), dir, store, ImportOptions{Now: clock, OwnerField: "user.name"})
	if err != nil || sum.Imported != 2 {
		t.Fatalf("import: %v, %v", sum, err)
	}
	owned, err := store.Owned(context.Background(), "alice")
	if err != nil || len(owned) != 1 || owned[0].Handle != boltsession.Handle(idOf(m.Files["alice"])) {
		t.Fatalf("alice owns %v, %v", owned, err)
	}
	srv := expressApp(t, store, clock)

	var got goWhoami
	getJSON(t, srv.Client(), "GET", srv.URL+"/whoami", m.Cookies["alice"], &got)
	if got.ID != idOf(m.Files["alice"]) || got.New {
		t.Fatalf("Go served session %q (new %v), want alice's %q", got.ID, got.New, idOf(m.Files["alice"]))
	}
	if got.User.Name != "alice" || got.User.ID != 42 || got.Views != 3 {
		t.Fatalf("Go sees %+v", got)
	}
	// The expired session's cookie still verifies, but its session is gone:
	// the Go app starts a fresh one, as express-session would.
	res, err := srv.Client().Do(cookieRequest(t, srv.URL+"/whoami", m.Cookies["carol"]))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("carol's expired session: %s", res.Status)
	}
}

func cookieRequest(t *testing.T, u, cookie string) *http.Request {
	t.Helper()
	req, err := http.NewRequest("GET", u, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Cookie", cookie)
	return req
}

// startNodeApp runs testdata/node/app.js with env and returns its base URL.
// It is stopped (SIGTERM) when the test ends, or earlier by calling stop.
func startNodeApp(t *testing.T, nodeDir string, env ...string) (base string, stop func()) {
	t.Helper()
	bases, stop := startNode(t, nodeDir, os.Stderr, "app.js", 1, env...)
	return bases[0], stop
}

// startNode runs `node script` in nodeDir with env, its standard error
// going to stderr, and returns the base URLs of the servers it reports, in
// order, as lines "listening on <port>"; it waits for n of them. It is
// stopped (SIGTERM) when the test ends, or earlier by calling stop.
func startNode(t *testing.T, nodeDir string, stderr io.Writer, script string, n int, env ...string) (bases []string, stop func()) {
	t.Helper()
	cmd := exec.Command("node", script)
	cmd.Dir = nodeDir
	cmd.Env = append(os.Environ(), append([]string{"PORT=0"}, env...)...)
	cmd.Stderr = stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	}
	t.Cleanup(stop)
	port := make(chan string, n)
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
	timeout := time.After(30 * time.Second)
	for len(bases) < n {
		select {
		case p := <-port:
			bases = append(bases, "http://127.0.0.1:"+p)
		case <-done:
			t.Fatalf("node %s exited before listening", script)
		case <-timeout:
			t.Fatalf("node %s did not start listening within 30s", script)
		}
	}
	return bases, stop
}

// TestMigrationFromExpressSessionFileStore is the whole migration, with
// session-file-store's files in clear and encrypted (its secret option): the
// real express + express-session + session-file-store app signs a user in
// and stores values; its session directory is imported; the Go app with the
// express codec, the same secret and cookie name accepts the cookie the
// Node app issued and sees the same session, user and values.
func TestMigrationFromExpressSessionFileStore(t *testing.T) {
	nodeDir := requireNode(t)
	for _, storeSecret := range []string{"", "the file store's own secret"} {
		t.Run(fmt.Sprintf("encrypted=%v", storeSecret != ""), func(t *testing.T) {
			migrateFromNode(t, nodeDir, storeSecret)
		})
	}
}

func migrateFromNode(t *testing.T, nodeDir, storeSecret string) {
	sessions := t.TempDir()
	base, stop := startNodeApp(t, nodeDir, "SESSION_DIR="+sessions, "COOKIE_MAX_AGE=86400000", "SESSION_SECRET=keyboard cat",
		"STORE_SECRET="+storeSecret)

	jar, _ := cookiejar.New(nil)
	node := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	var login struct {
		ID string `json:"id"`
	}
	getJSON(t, node, "POST", base+"/login?user=erin", "", &login)
	getJSON(t, node, "GET", base+"/view", "", nil)
	var nodeView struct {
		ID   string         `json:"id"`
		Data map[string]any `json:"data"`
	}
	getJSON(t, node, "GET", base+"/whoami", "", &nodeView)
	u, _ := url.Parse(base)
	var cookie string
	for _, c := range jar.Cookies(u) {
		if c.Name == "connect.sid" {
			cookie = c.Name + "=" + c.Value
		}
	}
	if cookie == "" || nodeView.ID != login.ID {
		t.Fatalf("node app: cookie %q, session %q then %q", cookie, login.ID, nodeView.ID)
	}
	stop()
	if storeSecret != "" {
		files, _ := filepath.Glob(filepath.Join(sessions, "*.json"))
		if len(files) != 1 || strings.Contains(string(must(os.ReadFile(files[0]))), "erin") {
			t.Fatalf("session-file-store's files are not encrypted: %v", files)
		}
	}

	// The migration: import the directory, serve the same cookie from Go.
	store, err := boltsession.Open(filepath.Join(t.TempDir(), "sessions.db"), &boltsession.BoltOptions{SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	sum, err := ImportFileStore(context.Background(), sessions, store, ImportOptions{Secret: storeSecret})
	if err != nil || sum.Imported != 1 || len(sum.Skipped) != 0 {
		t.Fatalf("import: %v, %v", sum, err)
	}
	t.Logf("import: %v", sum)
	srv := expressApp(t, store, nil)

	var got goWhoami
	getJSON(t, srv.Client(), "GET", srv.URL+"/whoami", cookie, &got)
	if got.ID != login.ID || got.New {
		t.Fatalf("Go served session %q (new %v), want the Node session %q", got.ID, got.New, login.ID)
	}
	want := nodeView.Data
	delete(want, "__lastAccess") // session-file-store's bookkeeping, not a value
	// Compare as JSON sees them (numbers become float64 on both sides).
	gotData := map[string]any{}
	if err := json.Unmarshal(must(json.Marshal(got.Data)), &gotData); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(gotData, want) {
		t.Fatalf("Go sees values %v\nNode had %v", gotData, want)
	}
	if got.User.Name != "erin" || got.User.Email != "erin@example.com" || got.Views != 2 {
		t.Fatalf("typed values: %+v", got)
	}
	// The session lives on in Go.
	var v map[string]int
	getJSON(t, srv.Client(), "GET", srv.URL+"/view", cookie, &v)
	getJSON(t, srv.Client(), "GET", srv.URL+"/whoami", cookie, &got)
	if v["views"] != 3 || got.Views != 3 {
		t.Fatalf("after a Go request: %v, %+v", v, got)
	}
}
