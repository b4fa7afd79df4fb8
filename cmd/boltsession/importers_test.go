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
	src := filepath.Join("..", "..", "express", "testdata", "filestore")
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

	r := cli(t, "", "import-filestore", dir, target, "--dry-run")
	r.expect(t, 0, "would import 2 sessions from "+dir+" into "+target+" (expired 1, skipped 4, ignored 1); nothing written")
	if n := strings.Count(r.stdout, "\n  "+dir+string(filepath.Separator)); n != 4 {
		t.Fatalf("the dry run lists %d skipped files by their path in %s, want 4:\n%s", n, dir, r.stdout)
	}
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
		if sum.Imported != 2 || sum.Expired != 1 || len(sum.Skipped) != 4 || sum.Ignored != 1 || sum.DryRun || sum.Dir != dir || sum.File != target {
			t.Fatalf("summary %+v", sum)
		}
	}
	cli(t, "", "stats", target).expect(t, 0, "2 live, 0 expired")
	cli(t, "", "show", target, short("jiTzWfOxPrBoT_E21E_29-yTrNhjpzet")).
		expect(t, 0, "owner     42", `theme     "dark"`, `"name":"alice"`, "views     3")
	cli(t, "", "import-filestore", filepath.Join(dir, "nope"), target).expect(t, 1, "not a directory")
}

// The key pairs of the FilesystemStore that gorillaDir fills.
var (
	hashKey  = []byte(strings.Repeat("h", 32))
	blockKey = []byte(strings.Repeat("b", 32))
)

// gorillaDir returns a FilesystemStore directory (keys hashKey, blockKey;
// session name "app") holding one session for each user, with the cookies
// FilesystemStore issued for them.
func gorillaDir(t *testing.T, users ...string) (string, []*http.Cookie) {
	t.Helper()
	dir := t.TempDir()
	fsStore := sessions.NewFilesystemStore(dir, hashKey, blockKey)
	var cookies []*http.Cookie
	for _, user := range users {
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
	return dir, cookies
}

func TestImportGorillaCopiesFilesystemStoreSessions(t *testing.T) {
	dir, cookies := gorillaDir(t, "alice", "bob")

	target := t.TempDir() // a directory: the file is sessions.db inside it
	args := []string{"import-gorilla", dir, target, "--key", hex.EncodeToString(hashKey), "--key", hex.EncodeToString(blockKey), "--name", "app"}
	file := filepath.Join(target, gorillastore.DefaultFileName)
	cli(t, "", append(args, "--dry-run")...).expect(t, 0, "would import 2 sessions from "+dir+" into "+file+" (expired 0, skipped 0")
	cli(t, "", args...).expect(t, 0, "imported 2 sessions from "+dir+" into "+file+" (expired 0, skipped 0")
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

func TestAnImportThatSkipsEveryFileFailsOnceWithTheLikelyCause(t *testing.T) {
	gorilla, _ := gorillaDir(t, "alice", "bob", "carol")
	notNode := t.TempDir()
	for _, name := range []string{"a.json", "b.json", "c.json"} {
		if err := os.WriteFile(filepath.Join(notNode, name), []byte("not JSON at all"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	mixed := t.TempDir()
	if err := os.WriteFile(filepath.Join(mixed, "a.json"), []byte("not JSON"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(mixed, "b.json"), []byte(strings.Repeat(" ", 2<<20)), 0o600); err != nil {
		t.Fatal(err)
	}
	otherKey := hex.EncodeToString([]byte(strings.Repeat("x", 32)))
	goodKeys := []string{"--key", hex.EncodeToString(hashKey), "--key", hex.EncodeToString(blockKey)}

	for _, c := range []struct {
		name string
		args []string
		want []string
	}{
		{"gorilla, wrong key", []string{"import-gorilla", gorilla, "", "--key", otherKey, "--name", "app"},
			[]string{"none of the 3 session files in " + gorilla + " verified with the --key pairs and --name given", "wrong key", "first: " + gorilla + string(filepath.Separator) + "session_", "nothing imported"}},
		{"gorilla, keys in the wrong order", []string{"import-gorilla", gorilla, "", "--key", hex.EncodeToString(blockKey), "--key", hex.EncodeToString(hashKey), "--name", "app"},
			[]string{"none of the 3 session files", "keys in the wrong order"}},
		{"gorilla, wrong name", append([]string{"import-gorilla", gorilla, "", "--name", "other"}, goodKeys...),
			[]string{"none of the 3 session files", "session name the app did not pass to store.Get"}},
		{"gorilla, dry run", []string{"import-gorilla", gorilla, "", "--key", otherKey, "--name", "app", "--dry-run"},
			[]string{"wrong key", "nothing would be imported"}},
		{"filestore, not its directory", []string{"import-filestore", notNode, ""},
			[]string{"none of the 3 session files in " + notNode + " is a session-file-store session", "not a session-file-store directory", "nothing imported"}},
		{"filestore, different reasons", []string{"import-filestore", mixed, ""},
			[]string{"none of the 2 session files in " + mixed + " could be imported (first: " + filepath.Join(mixed, "a.json") + ": corrupt"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			target := filepath.Join(t.TempDir(), "sessions.db")
			c.args[2] = target
			r := cli(t, "", c.args...)
			r.expect(t, 1, c.want...)
			r.oneLineError(t)
			// The directory is named where the files were looked for and
			// beside the first file, and no file more.
			if !strings.HasPrefix(r.stderr, "boltsession: "+target+": ") || strings.Count(r.stderr, c.args[1]) != 2 {
				t.Fatalf("stderr %q: want one line naming %s, not a line per file", r.stderr, target)
			}
			if _, err := os.Stat(target); !os.IsNotExist(err) {
				t.Fatalf("the failed import left %s behind (%v)", target, err)
			}

			r = cli(t, "", append(c.args, "--json")...)
			r.expect(t, 1, c.want[0])
			var sum importSummaryJSON
			if err := json.Unmarshal([]byte(r.stdout), &sum); err != nil || sum.Imported != 0 || len(sum.Skipped) == 0 {
				t.Fatalf("--json summary %q: %v", r.stdout, err)
			}
		})
	}

	// An existing FILE is kept, and whatever it held is untouched.
	target := standardFile(t)
	before := records(t, target)
	cli(t, "", "import-gorilla", gorilla, target, "--key", otherKey, "--name", "app").expect(t, 1, "wrong key")
	assertSameRecords(t, records(t, target), before)
}

func TestAnImportOfExpiredSessionsOnlyIsNotAFailure(t *testing.T) {
	dir, _ := gorillaDir(t, "alice")
	old := time.Now().Add(-48 * time.Hour)
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if err := os.Chtimes(filepath.Join(dir, e.Name()), old, old); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "session_broken"), []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(t.TempDir(), "sessions.db")
	cli(t, "", "import-gorilla", dir, target, "--key", hex.EncodeToString(hashKey), "--key", hex.EncodeToString(blockKey),
		"--name", "app", "--max-age", "3600").expect(t, 0, "imported 0 sessions from "+dir+" into "+target+" (expired 1, skipped 1, ignored 0)")
}

// TestImportFileStoreDecryptsWithASecretFromTheEnvironmentOrAFile imports
// the files the real session-file-store wrote with its secret option. The
// secret comes from an environment variable or a file, never from the
// command line; a wrong one stops at the first file with nothing imported.
func TestImportFileStoreDecryptsWithASecretFromTheEnvironmentOrAFile(t *testing.T) {
	dir := filepath.Join("..", "..", "express", "testdata", "filestore-encrypted", "defaults")
	const secret = "boltsession test secret (not for production)" // the fixtures' (express/testdata/filestore-encrypted/MANIFEST)
	secretFile := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secretFile, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SFS_SECRET", secret)
	// bob's cookie has no maxAge: a long --ttl keeps him live whenever the
	// test runs; the others expire with their cookies.
	for _, how := range [][]string{{"--secret-env", "SFS_SECRET"}, {"--secret-file", secretFile}} {
		target := filepath.Join(t.TempDir(), "sessions.db")
		r := cli(t, "", append([]string{"import-filestore", dir, target, "--ttl", "3153600000", "--json"}, how...)...)
		r.expect(t, 0)
		var sum importSummaryJSON
		if err := json.Unmarshal([]byte(r.stdout), &sum); err != nil {
			t.Fatal(err)
		}
		if sum.Imported+sum.Expired != 4 || len(sum.Skipped) != 0 || sum.Imported == 0 {
			t.Fatalf("%v: summary %+v", how, sum)
		}
		cli(t, "", "show", target, short("bobBBBBBBBBBBBBBBBBBBBBBBBBBBBBB")).expect(t, 0, `"user":"bob"`)
	}

	t.Setenv("SFS_SECRET", "not the app's secret")
	target := filepath.Join(t.TempDir(), "sessions.db")
	cli(t, "", "import-filestore", dir, target, "--secret-env", "SFS_SECRET").
		expect(t, 1, "do not verify with this secret")
	if _, err := os.Stat(target); !os.IsNotExist(err) {
		t.Errorf("the failed import left %s behind: %v", target, err)
	}
	cli(t, "", "import-filestore", dir, target).expect(t, 1, "give that secret with --secret-env or --secret-file")
	cli(t, "", "import-filestore", dir, target, "--secret-env", "NO_SUCH_VARIABLE_SET").expect(t, 2, "not set")
}
