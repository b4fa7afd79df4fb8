package gorillastore

import (
	"context"
	"errors"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/boltsession/boltsession"
	"github.com/boltsession/boltsession/migrate"
	"github.com/gorilla/securecookie"
	"github.com/gorilla/sessions"
)

// filesystemSessions makes a FilesystemStore directory the way an app
// fills it: n users each sign in through a real HTTP round trip. It returns
// the directory and each user's cookie jar.
func filesystemSessions(t *testing.T, n int, keyPairs ...[]byte) (string, []http.CookieJar) {
	t.Helper()
	dir := t.TempDir()
	fsStore := sessions.NewFilesystemStore(dir, keyPairs...)
	srv := httptest.NewServer(appHandler(fsStore))
	defer srv.Close()
	var jars []http.CookieJar
	for range n {
		jar, _ := cookiejar.New(nil)
		c := &client{t: t, srv: srv, jar: jar}
		c.do("/set")
		c.do("/flash")
		jars = append(jars, jar)
	}
	return dir, jars
}

func TestMigrationFromFilesystemStoreKeepsUsersSignedIn(t *testing.T) {
	dir, jars := filesystemSessions(t, 3, hashKey, blockKey)
	bs := openBolt(t, nil)
	sum, err := ImportFilesystemStore(context.Background(), dir, bs, ImportOptions{
		KeyPairs: [][]byte{hashKey, blockKey}, Names: []string{"other", "app"},
	})
	if err != nil || sum.Imported != 3 || sum.Expired != 0 || len(sum.Skipped) != 0 {
		t.Fatalf("import: %v, %v", sum, err)
	}

	// The same cookies, now served by gorillastore on the imported store.
	s := NewStore(bs, hashKey, blockKey)
	srv := httptest.NewServer(appHandler(s))
	defer srv.Close()
	for i, jar := range jars {
		c := &client{t: t, srv: srv, jar: moveJar(t, jar, srv.URL)}
		obs := c.do("/flashes")
		if obs.IsNew || obs.GetErr || len(obs.Values) != 3 || !strings.Contains(obs.Flashes, `"saved!"`) || !strings.Contains(obs.Flashes, `Profile{Name:"flash"`) {
			t.Fatalf("user %d after the import: %+v", i, obs)
		}
		if obs := c.do("/read"); obs.IsNew || len(obs.Values) != 3 {
			t.Fatalf("user %d, next request: %+v", i, obs)
		}
	}
}

// moveJar copies the "app" cookie of jar (set by an earlier test server) to
// a jar for base, as a browser keeps its cookie when the app behind the same
// host is replaced.
func moveJar(t *testing.T, jar http.CookieJar, base string) http.CookieJar {
	t.Helper()
	nj, _ := cookiejar.New(nil)
	var cookies []*http.Cookie
	// Test servers differ in port only; cookies ignore ports, so the old
	// jar's cookies are visible at the new URL.
	u, _ := url.Parse(base)
	for _, c := range jar.Cookies(u) {
		cookies = append(cookies, &http.Cookie{Name: c.Name, Value: c.Value})
	}
	if len(cookies) == 0 {
		t.Fatal("no cookie to carry over")
	}
	nj.SetCookies(u, cookies)
	return nj
}

func TestImportFilesystemStoreExpiresByModificationTime(t *testing.T) {
	dir, _ := filesystemSessions(t, 2, hashKey)
	files, _ := filepath.Glob(filepath.Join(dir, "session_*"))
	old := time.Now().Add(-2 * time.Hour)
	if err := os.Chtimes(files[0], old, old); err != nil {
		t.Fatal(err)
	}
	bs := openBolt(t, nil)
	sum, err := ImportFilesystemStore(context.Background(), dir, bs, ImportOptions{
		KeyPairs: [][]byte{hashKey}, Names: []string{"app"}, MaxAge: 3600,
	})
	if err != nil || sum.Imported != 1 || sum.Expired != 1 {
		t.Fatalf("import: %v, %v", sum, err)
	}
	id := strings.TrimPrefix(filepath.Base(files[1]), "session_")
	rec, err := bs.Load(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(files[1])
	if !rec.Expires.Equal(fi.ModTime().Add(time.Hour)) {
		t.Fatalf("expires %v, want mtime %v + 1h", rec.Expires, fi.ModTime())
	}
}

func TestImportFilesystemStoreIsIdempotentAndHasADryRun(t *testing.T) {
	dir, _ := filesystemSessions(t, 2, hashKey)
	bs := openBolt(t, nil)
	opts := ImportOptions{KeyPairs: [][]byte{hashKey}, Names: []string{"app"}, DryRun: true}
	sum, err := ImportFilesystemStore(context.Background(), dir, bs, opts)
	if n, _ := bs.Count(context.Background()); err != nil || !sum.DryRun || sum.Imported != 2 || n != 0 {
		t.Fatalf("dry run: %v, %v, %d records", sum, err, n)
	}
	opts.DryRun = false
	var snapshots [2]map[string]boltsession.Record
	var summaries [2]string
	for i := range 2 {
		sum, err := ImportFilesystemStore(context.Background(), dir, bs, opts)
		if err != nil {
			t.Fatal(err)
		}
		summaries[i] = sum.String()
		snapshots[i] = map[string]boltsession.Record{}
		bs.Iterate(context.Background(), func(r *boltsession.Record) error {
			snapshots[i][r.Handle] = *r
			return nil
		})
	}
	if summaries[0] != summaries[1] || len(snapshots[0]) != 2 {
		t.Fatalf("runs: %q vs %q", summaries[0], summaries[1])
	}
	for id, r := range snapshots[0] {
		r2 := snapshots[1][id]
		if !r.Expires.Equal(r2.Expires) || !r.Created.Equal(r2.Created) || !reflect.DeepEqual(r.Values, r2.Values) {
			t.Fatalf("second run changed %v into %v", r, r2)
		}
	}
}

func TestImportFilesystemStoreSkipsWhatItCannotTrust(t *testing.T) {
	dir, _ := filesystemSessions(t, 1, hashKey)
	outside := t.TempDir()
	// A valid session file outside the directory, linked in: never read.
	src, _ := filepath.Glob(filepath.Join(dir, "session_*"))
	b, _ := os.ReadFile(src[0])
	if err := os.WriteFile(filepath.Join(outside, "session_OUTSIDE"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.Symlink(filepath.Join(outside, "session_OUTSIDE"), filepath.Join(dir, "session_LINK")))
	must(os.Symlink(outside, filepath.Join(dir, "session_DIRLINK")))
	must(os.Mkdir(filepath.Join(dir, "session_SUBDIR"), 0o700))
	must(os.WriteFile(filepath.Join(dir, "session_TAMPERED"), append([]byte("x"), b...), 0o600))
	must(os.WriteFile(filepath.Join(dir, "session_GARBAGE"), []byte("not a cookie"), 0o600))
	must(os.WriteFile(filepath.Join(dir, "sessions.db"), []byte("ignored"), 0o600))
	must(os.WriteFile(filepath.Join(dir, "session_"), b, 0o600))

	bs := openBolt(t, nil)
	sum, err := ImportFilesystemStore(context.Background(), dir, bs, ImportOptions{KeyPairs: [][]byte{hashKey}, Names: []string{"app"}})
	if err != nil {
		t.Fatal(err)
	}
	reasons := map[string]string{}
	for _, k := range sum.Skipped {
		reasons[k.File] = k.Reason
	}
	want := map[string]string{
		"session_LINK":     migrate.ReasonNotRegular,
		"session_DIRLINK":  migrate.ReasonNotRegular,
		"session_TAMPERED": migrate.ReasonCorrupt,
		"session_GARBAGE":  migrate.ReasonCorrupt,
	}
	if sum.Imported != 1 || sum.Ignored != 3 || !reflect.DeepEqual(reasons, want) {
		t.Fatalf("summary %v, reasons %v", sum, reasons)
	}
	if _, err := bs.Load(context.Background(), "OUTSIDE"); !errors.Is(err, boltsession.ErrNotFound) {
		t.Fatalf("the linked file was imported: %v", err)
	}
	// Another key: every file is refused, nothing written.
	bs2 := openBolt(t, nil)
	sum, err = ImportFilesystemStore(context.Background(), dir, bs2, ImportOptions{KeyPairs: [][]byte{[]byte("wrong key")}, Names: []string{"app"}})
	if n, _ := bs2.Count(context.Background()); err != nil || sum.Imported != 0 || n != 0 {
		t.Fatalf("wrong key: %v, %v, %d records", sum, err, n)
	}
}

func TestImportFilesystemStoreRefusesMissingOptions(t *testing.T) {
	bs := openBolt(t, nil)
	dir := t.TempDir()
	for name, opts := range map[string]ImportOptions{
		"no keys":  {Names: []string{"app"}},
		"no names": {KeyPairs: [][]byte{hashKey}},
	} {
		if _, err := ImportFilesystemStore(context.Background(), dir, bs, opts); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := ImportFilesystemStore(context.Background(), filepath.Join(dir, "missing"), bs, ImportOptions{KeyPairs: [][]byte{hashKey}, Names: []string{"app"}}); err == nil {
		t.Error("missing directory accepted")
	}
}

func FuzzParseFilesystemSession(f *testing.F) {
	codecs := fileCodecs([][]byte{hashKey, blockKey})
	values := map[any]any{"user": "alice", 42: 3.5}
	good, err := securecookie.EncodeMulti("app", values, securecookie.CodecsFromPairs(hashKey, blockKey)...)
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte(good))
	f.Add([]byte(good[:len(good)/2]))
	f.Add([]byte("MTcwMDAwMDAwMHx8"))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, data []byte) {
		g, err := parseFilesystemSession(data, []string{"app", "other"}, codecs)
		if err != nil {
			return
		}
		// Whatever verifies must carry gob values gorillastore can read.
		v, err := wrapGob(g)
		if err != nil {
			t.Fatal(err)
		}
		var m map[any]any
		_ = decodeValues(v, &m) // must not panic
	})
}

// failingStore refuses every save.
type failingStore struct{ boltsession.Store }

var errDiskFull = errors.New("disk full")

func (failingStore) Save(context.Context, boltsession.Update) error { return errDiskFull }

func TestImportFilesystemStoreStopsAtAStoreErrorOrCancellation(t *testing.T) {
	dir, _ := filesystemSessions(t, 3, hashKey)
	opts := ImportOptions{KeyPairs: [][]byte{hashKey}, Names: []string{"app"}}
	sum, err := ImportFilesystemStore(context.Background(), dir, failingStore{openBolt(t, nil)}, opts)
	if !errors.Is(err, errDiskFull) || sum.Imported != 0 {
		t.Fatalf("failing store: %v, %v", sum, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := ImportFilesystemStore(ctx, dir, openBolt(t, nil), opts); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
}
