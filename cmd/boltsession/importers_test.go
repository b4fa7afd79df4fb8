package main

import (
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/boltsession/boltsession/gorillastore"
	"github.com/gorilla/sessions"
)

// fileStoreDir copies the session-file-store fixtures (written by the real
// Node module) into a temporary directory, moving each readable session's
// last access to now so that expiry does not depend on the day the test
// runs (carol's cookie lived 1 ms: she stays expired).
func fileStoreDir(t *testing.T) string {
	t.Helper()
	src := filepath.Join("..", "..", "testdata", "filestore")
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		var session map[string]any
		if json.Unmarshal(data, &session) == nil {
			if _, ok := session["__lastAccess"].(float64); ok {
				session["__lastAccess"] = time.Now().UnixMilli()
				data, _ = json.Marshal(session)
			}
		}
		if err := os.WriteFile(filepath.Join(dir, e.Name()), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestImportFileStoreCopiesNodeSessions(t *testing.T) {
	dir := fileStoreDir(t)
	target := filepath.Join(t.TempDir(), "sessions.db")

	cli(t, "", "import-filestore", dir, target, "--dry-run").expect(t, 0, "would import 2, expired 1, skipped 4, ignored 1")
	if _, err := os.Stat(target); !os.IsNotExist(err) {
		t.Fatalf("--dry-run created %s", target)
	}
	for range 2 { // idempotent
		r := cli(t, "", "import-filestore", dir, target, "--owner-field", "user.id", "--json")
		r.expect(t, 0)
		var sum importSummaryJSON
		if err := json.Unmarshal([]byte(r.stdout), &sum); err != nil {
			t.Fatal(err)
		}
		if sum.Imported != 2 || sum.Expired != 1 || len(sum.Skipped) != 4 || sum.Ignored != 1 || sum.DryRun {
			t.Fatalf("summary %+v", sum)
		}
	}
	cli(t, "", "stats", target).expect(t, 0, "2 live, 0 expired")
	cli(t, "", "show", target, "jiTzWfOxPrBoT_E21E_29-yTrNhjpzet").
		expect(t, 0, "owner     42", `theme     "dark"`, `"name":"alice"`, "views     3")
	cli(t, "", "import-filestore", filepath.Join(dir, "nope"), target).expect(t, 1, "not a directory")
}

func TestImportGorillaCopiesFilesystemStoreSessions(t *testing.T) {
	hashKey := []byte(strings.Repeat("h", 32))
	blockKey := []byte(strings.Repeat("b", 32))
	dir := t.TempDir()
	fsStore := sessions.NewFilesystemStore(dir, hashKey, blockKey)
	var cookies []*http.Cookie
	for _, user := range []string{"alice", "bob"} {
		req := httptest.NewRequest("GET", "/", nil)
		s, err := fsStore.New(req, "app")
		if err != nil && s == nil {
			t.Fatal(err)
		}
		s.Values["user"] = user
		rec := httptest.NewRecorder()
		if err := fsStore.Save(req, rec, s); err != nil {
			t.Fatal(err)
		}
		cookies = append(cookies, rec.Result().Cookies()...)
	}

	target := t.TempDir() // a directory: the file is sessions.db inside it
	args := []string{"import-gorilla", dir, target, "--key", hex.EncodeToString(hashKey), "--key", hex.EncodeToString(blockKey), "--name", "app"}
	cli(t, "", append(args, "--dry-run")...).expect(t, 0, "would import 2, expired 0, skipped 0")
	cli(t, "", args...).expect(t, 0, "imported 2, expired 0, skipped 0")
	cli(t, "", "stats", filepath.Join(target, gorillastore.DefaultFileName)).expect(t, 0, "2 live")

	// The cookies FilesystemStore issued read the same values from the file.
	store, err := gorillastore.New(target, hashKey, blockKey)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	for i, user := range []string{"alice", "bob"} {
		req := httptest.NewRequest("GET", "/", nil)
		req.AddCookie(cookies[i])
		s, err := store.Get(req, "app")
		if err != nil || s.IsNew || s.Values["user"] != user {
			t.Fatalf("%s: %v new=%v values=%v", user, err, s.IsNew, s.Values)
		}
	}

	r := cli(t, "", "import-gorilla", dir, target, "--key", "zz", "--name", "app")
	r.expect(t, 2, "--key 1 is not hex")
	cli(t, "", "import-gorilla", dir, target, "--name", "app").expect(t, 2, "--key and --name are required")
}
