package express

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/boltsession/boltsession"
	"github.com/boltsession/boltsession/internal/jsonvalue"
	"github.com/boltsession/boltsession/migrate"
)

// importTestStore is a minimal in-memory boltsession.Store for the importer tests: it
// records what the importer writes.
type importTestStore struct {
	mu      sync.Mutex
	records map[string]boltsession.Record
	saves   int
	fail    error
}

func (s *importTestStore) Load(_ context.Context, id string) (*boltsession.Record, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.records[id]
	if !ok {
		return nil, boltsession.ErrNotFound
	}
	return &r, nil
}

func (s *importTestStore) Save(_ context.Context, u boltsession.Update) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return s.fail
	}
	if !u.Create {
		return errors.New("importTestStore: only Create is expected from an importer")
	}
	if s.records == nil {
		s.records = map[string]boltsession.Record{}
	}
	s.saves++
	r := boltsession.Record{ID: u.ID, Created: u.Created, Expires: u.Expires, Values: maps.Clone(u.Set)}
	if u.Owner != nil {
		r.Owner = *u.Owner
	}
	s.records[u.ID] = r
	return nil
}

func (s *importTestStore) Touch(context.Context, string, time.Time) error {
	return boltsession.ErrUnsupported
}
func (s *importTestStore) Delete(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.records, id)
	return nil
}

// fixtureManifest describes testdata/filestore, written by
// testdata/node/make-filestore-fixtures.js with the real session-file-store.
type fixtureManifest struct {
	Files   map[string]string `json:"files"`
	Cookies map[string]string `json:"cookies"`
}

func loadFileStoreFixtures(t *testing.T) (string, fixtureManifest) {
	t.Helper()
	dir := t.TempDir()
	src := filepath.Join("testdata", "filestore")
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, e.Name()), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	var m fixtureManifest
	b, err := os.ReadFile(filepath.Join(src, "MANIFEST"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return dir, m
}

func idOf(file string) string { return file[:len(file)-len(".json")] }

// lastAccessOf reads __lastAccess out of a fixture file.
func lastAccessOf(t *testing.T, dir, file string) time.Time {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, file))
	if err != nil {
		t.Fatal(err)
	}
	var s struct {
		LastAccess int64 `json:"__lastAccess"`
	}
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	return time.UnixMilli(s.LastAccess)
}

type fixtureUser struct {
	ID    int      `msgpack:"id"`
	Name  string   `msgpack:"name"`
	Email string   `msgpack:"email"`
	Roles []string `msgpack:"roles"`
}

type fixtureCartItem struct {
	SKU string `msgpack:"sku"`
	Qty int    `msgpack:"qty"`
}

func decodeValue[T any](t *testing.T, r boltsession.Record, key string) T {
	t.Helper()
	var v T
	b, ok := r.Values[key]
	if !ok {
		t.Fatalf("record has no value %q (has %v)", key, slices.Sorted(maps.Keys(r.Values)))
	}
	if err := msgpack.Unmarshal(b, &v); err != nil {
		t.Fatalf("value %q into %T: %v", key, v, err)
	}
	return v
}

func TestImportFileStoreImportsLiveSessionsWithTheirValuesAndExpiry(t *testing.T) {
	dir, m := loadFileStoreFixtures(t)
	alice, bob := m.Files["alice"], m.Files["bob"]
	aliceLast, bobLast := lastAccessOf(t, dir, alice), lastAccessOf(t, dir, bob)
	now := aliceLast.Add(time.Minute)

	dst := &importTestStore{}
	sum, err := ImportFileStore(context.Background(), dir, dst, ImportOptions{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Imported != 2 || sum.Expired != 1 || sum.Ignored != 1 || len(sum.Skipped) != 4 {
		t.Fatalf("summary: %v", sum)
	}
	reasons := map[string]string{}
	for _, k := range sum.Skipped {
		reasons[k.File] = k.Reason
		if k.Err == nil {
			t.Errorf("%s skipped without a cause", k.File)
		}
	}
	wantReasons := map[string]string{
		m.Files["dave"]:                         migrate.ReasonEncrypted,
		"corruptBadLastAccessAAAAAAAAAAAA.json": migrate.ReasonCorrupt,
		"corruptNotAnObjectAAAAAAAAAAAAAA.json": migrate.ReasonCorrupt,
		"corruptTruncatedAAAAAAAAAAAAAAAA.json": migrate.ReasonCorrupt,
	}
	if !maps.Equal(reasons, wantReasons) {
		t.Fatalf("skipped %v, want %v", reasons, wantReasons)
	}
	if len(dst.records) != 2 {
		t.Fatalf("store holds %d records, want alice and bob", len(dst.records))
	}

	a := dst.records[idOf(alice)]
	if !a.Expires.Equal(aliceLast.Add(24*time.Hour)) || !a.Created.Equal(aliceLast) {
		t.Errorf("alice: created %v expires %v, want %v + 24h (cookie.originalMaxAge)", a.Created, a.Expires, aliceLast)
	}
	b := dst.records[idOf(bob)]
	if !b.Expires.Equal(bobLast.Add(time.Hour)) {
		t.Errorf("bob: expires %v, want %v + 1h (default ttl, no originalMaxAge)", b.Expires, bobLast)
	}
	if _, ok := a.Values["cookie"]; ok {
		t.Error("express-session's cookie field was imported as a value")
	}
	if _, ok := a.Values["__lastAccess"]; ok {
		t.Error("__lastAccess was imported as a value")
	}

	if got := decodeValue[int](t, a, "views"); got != 3 {
		t.Errorf("views = %d, want 3", got)
	}
	if got := decodeValue[int64](t, a, "views"); got != 3 {
		t.Errorf("views as int64 = %d, want 3", got)
	}
	if got := decodeValue[float64](t, a, "balance"); got != 12.5 {
		t.Errorf("balance = %v", got)
	}
	if got := decodeValue[string](t, a, "theme"); got != "dark" {
		t.Errorf("theme = %q", got)
	}
	if got := decodeValue[bool](t, a, "remember"); !got {
		t.Error("remember = false")
	}
	if got := decodeValue[*string](t, a, "lastPage"); got != nil {
		t.Errorf("lastPage = %v, want nil", got)
	}
	wantUser := fixtureUser{ID: 42, Name: "alice", Email: "alice@example.com", Roles: []string{"admin", "dev"}}
	if got := decodeValue[fixtureUser](t, a, "user"); !reflect.DeepEqual(got, wantUser) {
		t.Errorf("user = %+v, want %+v", got, wantUser)
	}
	if got := decodeValue[map[string]any](t, a, "user"); got["name"] != "alice" || got["id"] != int64(42) {
		t.Errorf("user as map = %#v", got)
	}
	wantCart := []fixtureCartItem{{"A-1", 2}, {"B-7", 1}}
	if got := decodeValue[[]fixtureCartItem](t, a, "cart"); !reflect.DeepEqual(got, wantCart) {
		t.Errorf("cart = %+v, want %+v", got, wantCart)
	}
	if got := decodeValue[fixtureUser](t, b, "user"); got.Name != "bob" {
		t.Errorf("bob's user = %+v", got)
	}
}

func TestImportFileStoreMapsJSONToTypedValues(t *testing.T) {
	type exact struct {
		Name  string
		Count int
	}
	tests := []struct {
		json  string
		check func(b []byte) error
	}{
		{`{"Name":"x","Count":3}`, func(b []byte) error {
			var v exact
			if err := msgpack.Unmarshal(b, &v); err != nil || v != (exact{"x", 3}) {
				return errors.New("struct by exact field names: " + string(must(json.Marshal(v))))
			}
			return nil
		}},
		{`{"name":"x"}`, func(b []byte) error {
			// msgpack matches field names case-sensitively: document, not fix.
			var v exact
			if err := msgpack.Unmarshal(b, &v); err != nil || v.Name != "" {
				return errors.New("an untagged field received a key of different case")
			}
			return nil
		}},
		{`3.0`, decodesTo(int(3))},
		{`1e3`, decodesTo(int(1000))},
		{`-7`, decodesTo(int64(-7))},
		{`9007199254740991`, decodesTo(int64(9007199254740991))},
		{`9007199254740993`, decodesTo(float64(9007199254740992))}, // a double beyond the safe range, as in Node
		{`0.1`, decodesTo(0.1)},
		{`1e300`, decodesTo(1e300)},
		{`"ü"`, decodesTo("ü")},
		{`[1,"a",null,true]`, decodesTo([]any{int64(1), "a", nil, true})},
		{`{"b":{"c":[2.5]}}`, decodesTo(map[string]any{"b": map[string]any{"c": []any{2.5}}})},
	}
	for _, tt := range tests {
		b, err := jsonvalue.ToMsgpack([]byte(tt.json))
		if err != nil {
			t.Errorf("%s: %v", tt.json, err)
			continue
		}
		if err := tt.check(b); err != nil {
			t.Errorf("%s: %v", tt.json, err)
		}
	}
	if _, err := jsonvalue.ToMsgpack([]byte(`1e400`)); err == nil {
		t.Error("1e400 (not something JSON.stringify writes) was accepted")
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func decodesTo[T any](want T) func([]byte) error {
	return func(b []byte) error {
		var got T
		if err := msgpack.Unmarshal(b, &got); err != nil {
			return err
		}
		if !reflect.DeepEqual(got, want) {
			return errors.New("decoded " + string(must(json.Marshal(got))) + ", want " + string(must(json.Marshal(want))))
		}
		return nil
	}
}

func TestImportFileStoreIsIdempotent(t *testing.T) {
	dir, m := loadFileStoreFixtures(t)
	now := lastAccessOf(t, dir, m.Files["alice"])
	opts := ImportOptions{Now: func() time.Time { return now }}
	dst := &importTestStore{}
	first, err := ImportFileStore(context.Background(), dir, dst, opts)
	if err != nil {
		t.Fatal(err)
	}
	snapshot := maps.Clone(dst.records)
	second, err := ImportFileStore(context.Background(), dir, dst, opts)
	if err != nil {
		t.Fatal(err)
	}
	if first.String() != second.String() {
		t.Errorf("second run: %v\nfirst run: %v", second, first)
	}
	if !reflect.DeepEqual(snapshot, dst.records) {
		t.Error("second run changed the store")
	}
}

func TestImportFileStoreDryRunWritesNothing(t *testing.T) {
	dir, m := loadFileStoreFixtures(t)
	now := lastAccessOf(t, dir, m.Files["alice"]).Add(time.Minute)
	dst := &importTestStore{}
	sum, err := ImportFileStore(context.Background(), dir, dst, ImportOptions{DryRun: true, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	if !sum.DryRun || sum.Imported != 2 || dst.saves != 0 {
		t.Fatalf("dry run: %v, %d saves", sum, dst.saves)
	}
	if _, err := ImportFileStore(context.Background(), dir, nil, ImportOptions{DryRun: true}); err != nil {
		t.Fatalf("dry run without a store: %v", err)
	}
}

func TestImportFileStoreUsesTTLWithoutOriginalMaxAge(t *testing.T) {
	dir, m := loadFileStoreFixtures(t)
	bob := m.Files["bob"]
	last := lastAccessOf(t, dir, bob)
	now := last.Add(30 * time.Minute)
	for _, tc := range []struct {
		ttl     time.Duration
		expired bool
	}{{0, false}, {20 * time.Minute, true}, {2 * time.Hour, false}} {
		dst := &importTestStore{}
		if _, err := ImportFileStore(context.Background(), dir, dst, ImportOptions{TTL: tc.ttl, Now: func() time.Time { return now }}); err != nil {
			t.Fatal(err)
		}
		r, ok := dst.records[idOf(bob)]
		if ok == tc.expired {
			t.Errorf("ttl %v: imported = %v, want %v", tc.ttl, ok, !tc.expired)
		}
		if ok && tc.ttl != 0 && !r.Expires.Equal(last.Add(tc.ttl)) {
			t.Errorf("ttl %v: expires %v", tc.ttl, r.Expires)
		}
	}
}

func TestImportFileStoreNeverLeavesTheDirectory(t *testing.T) {
	outside := t.TempDir()
	secret := filepath.Join(outside, "victim.json")
	live := `{"cookie":{"originalMaxAge":null},"stolen":true,"__lastAccess":` + jsonMillis(time.Now()) + `}`
	if err := os.WriteFile(secret, []byte(live), 0o600); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.Symlink(secret, filepath.Join(dir, "link.json")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(dir, "dirlink.json")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "sub.json"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "sub.json", "inner.json"), []byte(live), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "ok.json"), []byte(live), 0o600); err != nil {
		t.Fatal(err)
	}
	// write-file-atomic's temporary files and anything else are ignored.
	if err := os.WriteFile(filepath.Join(dir, "ok.json.1234567"), []byte(live), 0o600); err != nil {
		t.Fatal(err)
	}

	dst := &importTestStore{}
	sum, err := ImportFileStore(context.Background(), dir, dst, ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Imported != 1 || sum.Ignored != 2 || len(sum.Skipped) != 2 {
		t.Fatalf("summary: %v", sum)
	}
	for _, k := range sum.Skipped {
		if k.Reason != migrate.ReasonNotRegular {
			t.Errorf("%s: %s", k.File, k.Reason)
		}
	}
	if _, ok := dst.records["ok"]; !ok || len(dst.records) != 1 {
		t.Fatalf("records: %v", slices.Collect(maps.Keys(dst.records)))
	}
}

func jsonMillis(t time.Time) string { return string(must(json.Marshal(t.UnixMilli()))) }

func TestImportFileStoreFallsBackToModTimeWithoutLastAccess(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "nolast.json")
	if err := os.WriteFile(p, []byte(`{"cookie":{"originalMaxAge":60000},"n":1}`), 0o600); err != nil {
		t.Fatal(err)
	}
	mtime := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	if err := os.Chtimes(p, mtime, mtime); err != nil {
		t.Fatal(err)
	}
	dst := &importTestStore{}
	_, err := ImportFileStore(context.Background(), dir, dst, ImportOptions{Now: func() time.Time { return mtime }})
	if err != nil {
		t.Fatal(err)
	}
	if r := dst.records["nolast"]; !r.Expires.Equal(mtime.Add(time.Minute)) {
		t.Fatalf("expires %v, want mtime + 1m", r.Expires)
	}
}

func TestImportFileStoreSkipsOversizedFiles(t *testing.T) {
	dir := t.TempDir()
	big := `{"pad":"` + string(make([]byte, 100)) + `","__lastAccess":1}`
	if err := os.WriteFile(filepath.Join(dir, "big.json"), []byte(big), 0o600); err != nil {
		t.Fatal(err)
	}
	sum, err := ImportFileStore(context.Background(), dir, &importTestStore{}, ImportOptions{MaxFileSize: 64})
	if err != nil {
		t.Fatal(err)
	}
	if len(sum.Skipped) != 1 || sum.Skipped[0].Reason != migrate.ReasonTooLarge {
		t.Fatalf("summary: %v", sum)
	}
}

func TestImportFileStoreReportsStoreErrorsAndCancellation(t *testing.T) {
	dir, m := loadFileStoreFixtures(t)
	now := lastAccessOf(t, dir, m.Files["alice"])
	boom := errors.New("disk full")
	_, err := ImportFileStore(context.Background(), dir, &importTestStore{fail: boom}, ImportOptions{Now: func() time.Time { return now }})
	if !errors.Is(err, boom) {
		t.Fatalf("store failure: err = %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := ImportFileStore(ctx, dir, &importTestStore{}, ImportOptions{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: err = %v", err)
	}
	if _, err := ImportFileStore(context.Background(), filepath.Join(dir, "missing"), &importTestStore{}, ImportOptions{}); err == nil {
		t.Fatal("missing directory: no error")
	}
}

func FuzzParseFileStoreSession(f *testing.F) {
	entries, err := os.ReadDir(filepath.Join("testdata", "filestore"))
	if err != nil {
		f.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join("testdata", "filestore", e.Name()))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"cookie":{"originalMaxAge":-5},"__lastAccess":1e3,"x":[{}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := parseFileStoreSession(data, time.Hour, time.Unix(0, 0))
		if err != nil {
			if !errors.Is(err, boltsession.ErrCorrupt) && !errors.Is(err, errEncryptedFileStore) {
				t.Fatalf("error wraps neither boltsession.ErrCorrupt nor the encrypted marker: %v", err)
			}
			return
		}
		for k, b := range s.values {
			var v any
			if err := msgpack.Unmarshal(b, &v); err != nil {
				t.Fatalf("value %q does not decode: %v", k, err)
			}
		}
	})
}

func TestImportFileStoreSetsTheOwnerFromAField(t *testing.T) {
	dir, m := loadFileStoreFixtures(t)
	now := lastAccessOf(t, dir, m.Files["alice"]).Add(time.Minute)
	for field, want := range map[string]string{"user.id": "42", "user.name": "alice", "theme": "dark", "user.roles": "", "nothing.here": "", "": ""} {
		dst := &importTestStore{}
		if _, err := ImportFileStore(context.Background(), dir, dst, ImportOptions{OwnerField: field, Now: func() time.Time { return now }}); err != nil {
			t.Fatal(err)
		}
		if got := dst.records[idOf(m.Files["alice"])].Owner; got != want {
			t.Errorf("OwnerField %q: owner %q, want %q", field, got, want)
		}
	}
}

func TestParseFileStoreSessionAcceptsAFractionalMaxAge(t *testing.T) {
	s, err := parseFileStoreSession([]byte(`{"cookie":{"originalMaxAge":1500.5},"__lastAccess":1000}`), time.Hour, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if want := time.UnixMilli(1000).Add(1500500 * time.Microsecond); !s.expires.Equal(want) {
		t.Fatalf("expires %v, want %v", s.expires, want)
	}
	for _, bad := range []string{`"60000"`, `1e300`, `true`, `{}`} {
		if _, err := parseFileStoreSession([]byte(`{"cookie":{"originalMaxAge":`+bad+`},"__lastAccess":1000}`), time.Hour, time.Time{}); !errors.Is(err, boltsession.ErrCorrupt) {
			t.Errorf("originalMaxAge %s: err %v", bad, err)
		}
	}
}

func TestParseFileStoreSessionRefusesALastAccessString(t *testing.T) {
	if _, err := parseFileStoreSession([]byte(`{"__lastAccess":"1795698215419"}`), time.Hour, time.Time{}); !errors.Is(err, boltsession.ErrCorrupt) {
		t.Fatalf("err %v", err)
	}
}

func TestImportFileStoreSkipsAFileWhoseOwnerCannotBeStored(t *testing.T) {
	// One file with an owner the store refuses (a NUL byte, or too long)
	// is corrupt input: it is skipped and reported, and the other files
	// are still imported.
	dir := t.TempDir()
	last := jsonMillis(time.Now())
	files := map[string]string{
		"good.json": `{"cookie":{"originalMaxAge":3600000},"__lastAccess":` + last + `,"user":"alice"}`,
		"nul.json":  `{"cookie":{"originalMaxAge":3600000},"__lastAccess":` + last + `,"user":"a\u0000b"}`,
		"long.json": `{"cookie":{"originalMaxAge":3600000},"__lastAccess":` + last + `,"user":"` + strings.Repeat("x", 2000) + `"}`,
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	dry, err := ImportFileStore(context.Background(), dir, nil, ImportOptions{OwnerField: "user", DryRun: true})
	if err != nil || dry.Imported != 1 || len(dry.Skipped) != 2 {
		t.Errorf("dry run: %v, %v; want the same counts as the import", dry, err)
	}
	dst := openBolt(t)
	sum, err := ImportFileStore(context.Background(), dir, dst, ImportOptions{OwnerField: "user"})
	if err != nil {
		t.Fatalf("the import failed as a whole: %v", err)
	}
	if sum.Imported != 1 || len(sum.Skipped) != 2 {
		t.Fatalf("summary %v: want good.json imported, the other two skipped", sum)
	}
	for _, k := range sum.Skipped {
		if k.Reason != migrate.ReasonCorrupt {
			t.Errorf("%s skipped as %q, want %q", k.File, k.Reason, migrate.ReasonCorrupt)
		}
	}
	if rec, err := dst.Load(context.Background(), "good"); err != nil || rec.Owner != "alice" {
		t.Errorf("good: %+v, %v", rec, err)
	}
}

// openBolt opens a store in a temp dir, sweeper off, closed at the end.
func openBolt(t testing.TB) *boltsession.BoltStore {
	t.Helper()
	s, err := boltsession.Open(filepath.Join(t.TempDir(), "sessions.db"), &boltsession.BoltOptions{SweepInterval: -1, NoSync: true})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// encryptedManifest is express/testdata/filestore-encrypted/MANIFEST: what
// the real session-file-store wrote with its secret option, per set of
// crypto options, and the session JSON each file holds.
type encryptedManifest struct {
	Secret   string `json:"secret"`
	Variants []struct {
		Name   string            `json:"name"`
		Crypto json.RawMessage   `json:"crypto"`
		Files  map[string]string `json:"files"`
	} `json:"variants"`
}

func loadEncryptedManifest(t *testing.T) encryptedManifest {
	t.Helper()
	var m encryptedManifest
	if err := json.Unmarshal(must(os.ReadFile(filepath.Join("testdata", "filestore-encrypted", "MANIFEST"))), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestImportFileStoreDecryptsWhatSessionFileStoreEncrypted imports every
// directory the real session-file-store wrote with its secret option, one
// per set of crypto options, and finds every session with the values the
// Node app had.
func TestImportFileStoreDecryptsWhatSessionFileStoreEncrypted(t *testing.T) {
	m := loadEncryptedManifest(t)
	for _, v := range m.Variants {
		t.Run(v.Name, func(t *testing.T) {
			dir := filepath.Join("testdata", "filestore-encrypted", v.Name)
			var lastAccess time.Time
			for _, js := range v.Files {
				var s struct {
					LastAccess int64 `json:"__lastAccess"`
				}
				json.Unmarshal([]byte(js), &s)
				if t := time.UnixMilli(s.LastAccess); t.After(lastAccess) {
					lastAccess = t
				}
			}
			now := func() time.Time { return lastAccess } // the files' time: their sessions live
			dst, err := boltsession.Open(filepath.Join(t.TempDir(), "s.db"), &boltsession.BoltOptions{SweepInterval: -1, NoSync: true, Now: now})
			if err != nil {
				t.Fatal(err)
			}
			defer dst.Close()
			sum, err := ImportFileStore(context.Background(), dir, dst, ImportOptions{Secret: m.Secret, Crypto: v.Crypto, Now: now})
			if err != nil || sum.Imported != len(v.Files) || len(sum.Skipped) != 0 {
				t.Fatalf("import: %v, %v; want all %d sessions", sum, err, len(v.Files))
			}
			for file, js := range v.Files {
				var want map[string]any
				if err := json.Unmarshal([]byte(js), &want); err != nil {
					t.Fatal(err)
				}
				delete(want, "cookie")
				delete(want, "__lastAccess")
				got := storedAsJSON(t, dst, strings.TrimSuffix(file, ".json"))
				if !reflect.DeepEqual(got, want) {
					t.Errorf("%s holds %v\nNode had %v", file, got, want)
				}
			}
		})
	}
}

// storedAsJSON loads a session and returns its values as JSON reads them.
func storedAsJSON(t *testing.T, s boltsession.Store, id string) map[string]any {
	t.Helper()
	rec, err := s.Load(context.Background(), id)
	if err != nil {
		t.Fatalf("Load(%s): %v", id, err)
	}
	out := map[string]any{}
	for k, b := range rec.Values {
		var v any
		if err := msgpack.Unmarshal(b, &v); err != nil {
			t.Fatal(err)
		}
		// JSON's view: every number a float64, every map keyed by string.
		if err := json.Unmarshal(must(json.Marshal(v)), &v); err != nil {
			t.Fatal(err)
		}
		out[k] = v
	}
	return out
}

func TestImportFileStoreWithAWrongSecretFailsOnceAndWritesNothing(t *testing.T) {
	dir := filepath.Join("testdata", "filestore-encrypted", "defaults")
	for name, opts := range map[string]ImportOptions{
		"wrong secret":      {Secret: "not the app's secret"},
		"wrong crypto":      {Secret: loadEncryptedManifest(t).Secret, Crypto: json.RawMessage(`{"hashing":"sha256"}`)},
		"wrong secret, dry": {Secret: "nope", DryRun: true},
	} {
		dst := openBolt(t)
		sum, err := ImportFileStore(context.Background(), dir, dst, opts)
		if !errors.Is(err, ErrWrongSecret) {
			t.Fatalf("%s: %v, want ErrWrongSecret", name, err)
		}
		if sum.Imported != 0 || len(sum.Skipped) != 0 {
			t.Fatalf("%s: summary %v: want nothing imported and no file called corrupt", name, sum)
		}
		if n, _ := dst.Count(context.Background()); n != 0 {
			t.Fatalf("%s: %d sessions written", name, n)
		}
	}
}

func TestImportFileStoreWithoutASecretSkipsEncryptedFiles(t *testing.T) {
	sum, err := ImportFileStore(context.Background(), filepath.Join("testdata", "filestore-encrypted", "defaults"),
		openBolt(t), ImportOptions{})
	if err != nil || sum.Imported != 0 || len(sum.Skipped) != 4 {
		t.Fatalf("import: %v, %v; want 4 skipped", sum, err)
	}
	for _, k := range sum.Skipped {
		if k.Reason != migrate.ReasonEncrypted {
			t.Errorf("%s: %q, want %q", k.File, k.Reason, migrate.ReasonEncrypted)
		}
	}
}
