package admin_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/boltsession/boltsession"
	"github.com/boltsession/boltsession/admin"
)

// adminServer serves admin.Handler under /admin as an app would mount it
// (behind its own auth, left out here).
func adminServer(t *testing.T, s *boltsession.BoltStore) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle("/admin/", http.StripPrefix("/admin", admin.Handler(s)))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func adminDo(t *testing.T, method, url string, into any) (int, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if into != nil {
		if err := json.Unmarshal(body, into); err != nil {
			t.Fatalf("%s %s: %v in %q", method, url, err, body)
		}
	}
	return resp.StatusCode, resp.Header
}

type adminList struct {
	Sessions []struct {
		Handle  string `json:"handle"`
		Owner   string `json:"owner"`
		Size    int    `json:"size"`
		Expired bool   `json:"expired"`
	} `json:"sessions"`
}

// ids are the fixture IDs of the listed handles, sorted (the list goes in
// handle order and never shows an ID).
func (l adminList) ids() []string {
	var ids []string
	for _, s := range l.Sessions {
		ids = append(ids, fixtureID(s.Handle))
	}
	slices.Sort(ids)
	return ids
}

// fixtureID is the ID of the fixture's session with the given handle.
func fixtureID(handle string) string {
	for _, id := range []string{"a-1", "a-2", "c-3", "d-4"} {
		if boltsession.Handle(id) == handle {
			return id
		}
	}
	return "unknown handle " + handle
}

func TestHandlerServesStatsAndTheList(t *testing.T) {
	s, _, _ := inspectFixture(t)
	srv := adminServer(t, s)

	in, err := s.Inspect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var st map[string]any
	code, h := adminDo(t, "GET", srv.URL+"/admin/stats", &st)
	if code != 200 || h.Get("Content-Type") != "application/json" || st["sessions"] != 3.0 || st["expired"] != 1.0 ||
		st["owners"] != 2.0 || st["format_version"] != float64(in.FormatVersion) {
		t.Fatalf("GET /stats: %d %v", code, st)
	}

	for query, want := range map[string][]string{
		"":              {"a-1", "a-2", "c-3"},
		"?expired=true": {"a-1", "a-2", "c-3", "d-4"},
		"?prefix=" + boltsession.Handle("c-3")[:7]: {"c-3"},
		"?owner=nobody": nil,
	} {
		var l adminList
		if code, _ := adminDo(t, "GET", srv.URL+"/admin/sessions"+query, &l); code != 200 || !slices.Equal(l.ids(), want) {
			t.Errorf("GET /sessions%s: %d %q, want %q", query, code, l.ids(), want)
		}
	}
	var l adminList
	if code, _ := adminDo(t, "GET", srv.URL+"/admin/sessions?owner=u1&limit=1", &l); code != 200 || len(l.Sessions) != 1 {
		t.Errorf("GET /sessions?owner=u1&limit=1: %d %q, want one", code, l.ids())
	}
	for _, query := range []string{"?limit=0", "?limit=x", "?limit=100000", "?expired=maybe", "?prefix=zz"} {
		var e map[string]string
		if code, _ := adminDo(t, "GET", srv.URL+"/admin/sessions"+query, &e); code != 400 || e["error"] == "" {
			t.Errorf("GET /sessions%s: %d %v, want 400 with an error", query, code, e)
		}
	}
	if code, _ := adminDo(t, "POST", srv.URL+"/admin/stats", nil); code != http.StatusMethodNotAllowed {
		t.Errorf("POST /stats: %d, want 405", code)
	}
}

func TestHandlerAnswersUnknownRoutesAndMethodsAsJSONErrors(t *testing.T) {
	s, _, _ := inspectFixture(t)
	srv := adminServer(t, s)
	for _, c := range []struct {
		method, path string
		status       int
		allow        string
		says         string
	}{
		{"GET", "/nope", http.StatusNotFound, "", "no admin route /nope"},
		{"GET", "/", http.StatusNotFound, "", "no admin route /"},
		{"GET", "/sessions/" + boltsession.Handle("c-3") + "/values", http.StatusNotFound, "", "no admin route"},
		{"POST", "/stats", http.StatusMethodNotAllowed, "GET, HEAD", "method POST not allowed on /stats"},
		{"PUT", "/sessions", http.StatusMethodNotAllowed, "DELETE, GET, HEAD", "allowed: DELETE, GET, HEAD"},
		{"GET", "/sessions/" + boltsession.Handle("c-3"), http.StatusMethodNotAllowed, "DELETE", "method GET not allowed"},
		{"DELETE", "/backup", http.StatusMethodNotAllowed, "GET, HEAD", "not allowed"},
	} {
		t.Run(c.method+" "+c.path, func(t *testing.T) {
			var e map[string]string
			code, h := adminDo(t, c.method, srv.URL+"/admin"+c.path, &e)
			if code != c.status || h.Get("Content-Type") != "application/json" || len(e) != 1 || !strings.Contains(e["error"], c.says) {
				t.Fatalf("%d %q %v; want %d, application/json, {\"error\": ...%s...}", code, h.Get("Content-Type"), e, c.status, c.says)
			}
			if got := h.Get("Allow"); got != c.allow {
				t.Fatalf("Allow = %q, want %q", got, c.allow)
			}
		})
	}
	if n, err := s.Count(context.Background()); err != nil || n != 3 {
		t.Fatalf("Count after the refused requests = %d, %v; want 3 (nothing deleted)", n, err)
	}
}

func TestHandlerDeletesByHandleAndByOwner(t *testing.T) {
	s, _, _ := inspectFixture(t)
	srv := adminServer(t, s)

	var out map[string]any
	c3 := boltsession.Handle("c-3")
	if code, _ := adminDo(t, "DELETE", srv.URL+"/admin/sessions/c-3", &out); code != 400 {
		t.Fatalf("DELETE /sessions/c-3 (an ID, not a handle): %d %v, want 400", code, out)
	}
	if code, _ := adminDo(t, "DELETE", srv.URL+"/admin/sessions/"+c3, &out); code != 200 || out["deleted"] != 1.0 {
		t.Fatalf("DELETE /sessions/{c-3's handle}: %d %v", code, out)
	}
	if code, _ := adminDo(t, "DELETE", srv.URL+"/admin/sessions/"+c3, &out); code != 404 {
		t.Fatalf("second DELETE: %d %v, want 404", code, out)
	}
	if code, _ := adminDo(t, "DELETE", srv.URL+"/admin/sessions?owner=u1", &out); code != 200 || out["deleted"] != 2.0 {
		t.Fatalf("DELETE /sessions?owner=u1: %d %v", code, out)
	}
	if code, _ := adminDo(t, "DELETE", srv.URL+"/admin/sessions", &out); code != 400 {
		t.Fatalf("DELETE /sessions without owner: %d, want 400", code)
	}
	if n, err := s.Count(context.Background()); err != nil || n != 0 {
		t.Fatalf("Count after the deletes = %d, %v", n, err)
	}
}

func TestHandlerBackupIsAnOpenableSessionFile(t *testing.T) {
	s, clock, _ := inspectFixture(t)
	srv := adminServer(t, s)
	resp, err := http.Get(srv.URL + "/admin/backup")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/octet-stream" ||
		!strings.HasPrefix(resp.Header.Get("Content-Disposition"), "attachment;") {
		t.Fatalf("GET /backup: %d %v", resp.StatusCode, resp.Header)
	}
	path := filepath.Join(t.TempDir(), "backup.db")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		t.Fatal(err)
	}
	f.Close()
	copyStore := openAt(t, path, &boltsession.BoltOptions{Now: clock.Now})
	if got := scanIDs(t, copyStore, boltsession.ScanOptions{Expired: true}); !slices.Equal(got, []string{"a-1", "a-2", "c-3", "d-4"}) {
		t.Fatalf("backup holds %q", got)
	}

	s.Close()
	var e map[string]string
	if code, _ := adminDo(t, "GET", srv.URL+"/admin/backup", &e); code != 500 || !strings.Contains(e["error"], "closed") {
		t.Fatalf("GET /backup of a closed store: %d %v", code, e)
	}
}

// inspectFixture is a store holding four sessions on a fake clock:
// a and b of owner u1, c of u2, and d (no owner) already expired.
func inspectFixture(t *testing.T) (*boltsession.BoltStore, *fixedClock, string) {
	t.Helper()
	clock := &fixedClock{t: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}
	path := filepath.Join(t.TempDir(), "sessions.db")
	s, err := boltsession.Open(path, &boltsession.BoltOptions{Now: clock.Now, SweepInterval: -1, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	now := clock.Now()
	owner := func(o string) *string { return &o }
	maxAge := 30 * time.Hour
	for _, u := range []boltsession.Update{
		{ID: "a-1", Expires: now.Add(time.Hour), Owner: owner("u1"), Set: map[string][]byte{"k": {0x01}}},
		{ID: "a-2", Expires: now.Add(2 * time.Hour), Owner: owner("u1"), MaxAge: &maxAge},
		{ID: "c-3", Expires: now.Add(30 * time.Minute), Owner: owner("u2")},
		{ID: "d-4", Expires: now.Add(10 * time.Minute)},
	} {
		u.Create = true
		if err := s.Save(context.Background(), u); err != nil {
			t.Fatal(err)
		}
	}
	clock.t = clock.t.Add(20 * time.Minute) // before any request: no concurrent reader
	return s, clock, path
}

// fixedClock is the fixture's clock, set before the store is used.
type fixedClock struct{ t time.Time }

func (c *fixedClock) Now() time.Time { return c.t }

func openAt(t *testing.T, path string, o *boltsession.BoltOptions) *boltsession.BoltStore {
	t.Helper()
	o.SweepInterval = -1
	s, err := boltsession.Open(path, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func scanIDs(t *testing.T, s *boltsession.BoltStore, opts boltsession.ScanOptions) []string {
	t.Helper()
	var ids []string
	if err := s.Scan(context.Background(), opts, func(in boltsession.SessionInfo) error {
		ids = append(ids, fixtureID(in.Handle))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	slices.Sort(ids)
	return ids
}
