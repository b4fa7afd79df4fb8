package boltsession_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/boltsession/boltsession"
)

// inspectFixture is a store holding four sessions on a fake clock:
// a and b of owner u1, c of u2, and d (no owner) already expired.
func inspectFixture(t *testing.T) (*boltsession.BoltStore, *boltsession.TestClock, string) {
	t.Helper()
	clock := boltsession.NewTestClock()
	path := filepath.Join(t.TempDir(), "sessions.db")
	s := openAt(t, path, &boltsession.BoltOptions{Now: clock.Now})
	now := clock.Now()
	mustSave(t, s, boltsession.Update{ID: "a-1", Create: true, Expires: now.Add(time.Hour), Owner: ptr("u1"),
		Set: map[string][]byte{"k": {0x01}}})
	mustSave(t, s, boltsession.Update{ID: "a-2", Create: true, Expires: now.Add(2 * time.Hour), Owner: ptr("u1"),
		MaxAge: ptr(30 * time.Hour)})
	mustSave(t, s, boltsession.Update{ID: "c-3", Create: true, Expires: now.Add(30 * time.Minute), Owner: ptr("u2")})
	mustSave(t, s, boltsession.Update{ID: "d-4", Create: true, Expires: now.Add(10 * time.Minute)})
	clock.Advance(20 * time.Minute)
	return s, clock, path
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

// scanIDs returns the IDs of the fixture's sessions Scan visits, sorted
// (Scan goes in handle order, and names sessions by handle).
func scanIDs(t *testing.T, s *boltsession.BoltStore, opts boltsession.ScanOptions) []string {
	t.Helper()
	var ids []string
	defer func() { slices.Sort(ids) }()
	err := s.Scan(context.Background(), opts, func(in boltsession.SessionInfo) error {
		if in.Size <= 0 {
			t.Errorf("%s: size %d", in.ID, in.Size)
		}
		if (in.Values != nil) != opts.Values && in.Err == nil {
			t.Errorf("%s: values %v with ScanOptions.Values %v", in.ID, in.Values, opts.Values)
		}
		if in.ID != "" {
			t.Errorf("Scan returned the ID %q: the store keeps none", in.ID)
		}
		ids = append(ids, fixtureID(in.Handle))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

func TestScanSelectsByOwnerPrefixExpiryAndLimit(t *testing.T) {
	s, _, _ := inspectFixture(t)
	for _, c := range []struct {
		name string
		opts boltsession.ScanOptions
		want []string
	}{
		{"live by default", boltsession.ScanOptions{}, []string{"a-1", "a-2", "c-3"}},
		{"expired on request", boltsession.ScanOptions{Expired: true, Values: true}, []string{"a-1", "a-2", "c-3", "d-4"}},
		{"owner", boltsession.ScanOptions{Owner: "u1"}, []string{"a-1", "a-2"}},
		{"owner and prefix", boltsession.ScanOptions{Owner: "u1", HandlePrefix: boltsession.Handle("a-2")[:5]}, []string{"a-2"}},
		{"prefix", boltsession.ScanOptions{HandlePrefix: boltsession.Handle("c-3")[:6]}, []string{"c-3"}},
		{"whole handle", boltsession.ScanOptions{HandlePrefix: boltsession.Handle("a-1")}, []string{"a-1"}},
		{"unknown owner", boltsession.ScanOptions{Owner: "nobody"}, nil},
	} {
		if got := scanIDs(t, s, c.opts); !slices.Equal(got, c.want) {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
	if got := scanIDs(t, s, boltsession.ScanOptions{Limit: 2}); len(got) != 2 {
		t.Errorf("limit 2: %q", got)
	}
	if err := s.Scan(context.Background(), boltsession.ScanOptions{HandlePrefix: "xyz"}, func(boltsession.SessionInfo) error { return nil }); err == nil {
		t.Error("a prefix that is not hex was accepted")
	}
}

func TestScanStopsWithTheCallbacksError(t *testing.T) {
	s, _, _ := inspectFixture(t)
	stop := errors.New("stop")
	n := 0
	err := s.Scan(context.Background(), boltsession.ScanOptions{}, func(boltsession.SessionInfo) error { n++; return stop })
	if !errors.Is(err, stop) || n != 1 {
		t.Fatalf("Scan = %v after %d calls, want the callback's error after 1", err, n)
	}
}

func TestInspectAndScanReportACorruptRecordWithoutFailing(t *testing.T) {
	s, clock, path := inspectFixture(t)
	s.Close()
	rawUpdate(t, path, func(tx *bbolt.Tx) error {
		return tx.Bucket([]byte("sessions")).Put(boltsession.KeyOf("a-2"), []byte{0x85, 0xff})
	})
	s = openAt(t, path, &boltsession.BoltOptions{Now: clock.Now})

	in, err := s.Inspect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	now := clock.Now()
	if in.FormatVersion != boltsession.FormatVersion || in.Sessions != 3 || in.Expired != 1 || in.Owners != 2 || in.FileSize == 0 || in.PageSize == 0 {
		t.Fatalf("Inspect = %+v", in)
	}
	if !in.ExpiresFirst.Equal(now.Add(10*time.Minute)) || !in.ExpiresLast.Equal(now.Add(100*time.Minute)) {
		t.Fatalf("expiry range %v .. %v", in.ExpiresFirst, in.ExpiresLast)
	}
	// Inspect never decoded the corrupt record: it counts it as the live
	// session its index says it is, and the store met no corrupt record.
	if c := s.Stats().Corrupt; c != 0 {
		t.Fatalf("Inspect decoded records: Stats.Corrupt = %d", c)
	}

	var corrupt []string
	err = s.Scan(context.Background(), boltsession.ScanOptions{}, func(info boltsession.SessionInfo) error {
		if info.Err != nil {
			if !errors.Is(info.Err, boltsession.ErrCorrupt) {
				t.Errorf("Err = %v, want ErrCorrupt", info.Err)
			}
			corrupt = append(corrupt, fixtureID(info.Handle))
		}
		return nil
	})
	if err != nil || !slices.Equal(corrupt, []string{"a-2"}) {
		t.Fatalf("Scan: corrupt %q, err %v", corrupt, err)
	}
	if c := s.Stats().Corrupt; c != 1 {
		t.Fatalf("after Scan, Stats.Corrupt = %d, want 1", c)
	}
}

func TestInspectOfAnEmptyFile(t *testing.T) {
	s := openTest(t, nil)
	in, err := s.Inspect(context.Background())
	if err != nil || in.Sessions != 0 || in.Owners != 0 || !in.ExpiresFirst.IsZero() || in.FormatVersion != boltsession.FormatVersion {
		t.Fatalf("Inspect = %+v, %v", in, err)
	}
}

// records yields the given records, then err if not nil.
func records(err error, recs ...boltsession.Record) func(func(*boltsession.Record, error) bool) {
	return func(yield func(*boltsession.Record, error) bool) {
		for i := range recs {
			if !yield(&recs[i], nil) {
				return
			}
		}
		if err != nil {
			yield(nil, err)
		}
	}
}

func TestRestoreIsAllOrNothing(t *testing.T) {
	s, clock, _ := inspectFixture(t)
	now := clock.Now()
	good := boltsession.Record{ID: "new-1", Created: now, Expires: now.Add(time.Hour), Owner: "u9", Values: map[string][]byte{"x": {0x02}}}
	replace := boltsession.Record{ID: "a-1", Created: now, Expires: now.Add(5 * time.Hour), Owner: "u9"}
	bad := errors.New("line 3: malformed")
	for name, seq := range map[string]func(func(*boltsession.Record, error) bool){
		"sequence error": records(bad, good, replace),
		"invalid owner":  records(nil, good, replace, boltsession.Record{ID: "x", Expires: now.Add(time.Hour), Owner: "a\x00b"}),
		"empty ID":       records(nil, good, boltsession.Record{Expires: now.Add(time.Hour)}),
		"no expiry":      records(nil, good, boltsession.Record{ID: "y"}),
	} {
		if _, err := s.Restore(context.Background(), seq); err == nil {
			t.Fatalf("%s: Restore succeeded", name)
		}
		if got := scanIDs(t, s, boltsession.ScanOptions{Expired: true}); !slices.Equal(got, []string{"a-1", "a-2", "c-3", "d-4"}) {
			t.Fatalf("%s: after a failed Restore the file holds %q", name, got)
		}
		if got := scanIDs(t, s, boltsession.ScanOptions{Owner: "u1"}); !slices.Equal(got, []string{"a-1", "a-2"}) {
			t.Fatalf("%s: owner index changed: %q", name, got)
		}
	}
}

func TestRestoreReplacesRecordsWithTheirIndexesAndIsIdempotent(t *testing.T) {
	s, clock, path := inspectFixture(t)
	now := clock.Now()
	recs := []boltsession.Record{
		{ID: "a-1", Created: now.Add(-time.Hour), Expires: now.Add(5 * time.Hour), Owner: "u9", MaxAge: time.Minute,
			Values: map[string][]byte{"v": {0xa1, 'x'}}},
		{ID: "new-1", Created: now, Expires: now.Add(time.Hour)},
		{ID: "old-1", Created: now.Add(-2 * time.Hour), Expires: now.Add(-time.Minute)},
	}
	for range 2 {
		res, err := s.Restore(context.Background(), records(nil, recs...))
		if err != nil || res.Restored != 2 || res.Expired != 1 {
			t.Fatalf("Restore = %+v, %v", res, err)
		}
	}
	got, err := s.Load(context.Background(), "a-1")
	if err != nil {
		t.Fatal(err)
	}
	if got.Owner != "u9" || !got.Expires.Equal(recs[0].Expires) || !got.Created.Equal(recs[0].Created) ||
		got.MaxAge != time.Minute || string(got.Values["v"]) != "\xa1x" {
		t.Fatalf("restored a-1 = %+v", got)
	}
	if ids := scanIDs(t, s, boltsession.ScanOptions{Owner: "u1"}); !slices.Equal(ids, []string{"a-2"}) {
		t.Fatalf("u1 still owns %q", ids)
	}
	if ids := scanIDs(t, s, boltsession.ScanOptions{Owner: "u9"}); !slices.Equal(ids, []string{"a-1"}) {
		t.Fatalf("u9 owns %q", ids)
	}
	s.Close()
	// One expiry entry per record: the replaced expiry is gone.
	if n, m := bucketLen(t, path, "expiry"), bucketLen(t, path, "sessions"); n != m {
		t.Fatalf("%d expiry entries for %d records", n, m)
	}
}

func TestOpeningAnExistingFileDoesNotWriteToIt(t *testing.T) {
	s, _, path := inspectFixture(t)
	s.Close()
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s = openAt(t, path, nil)
	if _, err := s.Inspect(context.Background()); err != nil {
		t.Fatal(err)
	}
	s.Close()
	after, err := os.ReadFile(path)
	if err != nil || !bytes.Equal(before, after) {
		t.Fatalf("Open, Inspect and Close changed the file (%v)", err)
	}
}
