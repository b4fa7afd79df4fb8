package boltsession_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/boltsession/boltsession"
	"github.com/boltsession/boltsession/storetest"
)

// openTest opens a store in a temp dir, with the background sweeper off
// unless opts asks for it, and closes it at the end of the test.
func openTest(t testing.TB, opts *boltsession.BoltOptions) *boltsession.BoltStore {
	t.Helper()
	return openAt(t, filepath.Join(t.TempDir(), "sessions.db"), opts)
}

func openAt(t testing.TB, path string, opts *boltsession.BoltOptions) *boltsession.BoltStore {
	t.Helper()
	var o boltsession.BoltOptions
	if opts != nil {
		o = *opts
	}
	if o.SweepInterval == 0 {
		o.SweepInterval = -1
	}
	s, err := boltsession.Open(path, &o)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// saveConcurrently creates writers×each sessions from writers goroutines
// released at once, so that their saves queue up behind each other.
func saveConcurrently(t *testing.T, s boltsession.Store, writers, each int) {
	t.Helper()
	start := make(chan struct{})
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			<-start
			for i := range each {
				mustSave(t, s, boltsession.Update{ID: fmt.Sprintf("w%d-%d", w, i), Create: true,
					Expires: time.Now().Add(time.Hour), Set: map[string][]byte{"v": []byte("x")}})
			}
		})
	}
	close(start)
	wg.Wait()
}

func mustSave(t testing.TB, s boltsession.Store, u boltsession.Update) {
	t.Helper()
	if err := s.Save(context.Background(), u); err != nil {
		t.Fatalf("Save(%s): %v", u.ID, err)
	}
}

func mustLoad(t testing.TB, s boltsession.Store, id string) *boltsession.Record {
	t.Helper()
	rec, err := s.Load(context.Background(), id)
	if err != nil {
		t.Fatalf("Load(%s): %v", id, err)
	}
	return rec
}

func ptr[T any](v T) *T { return &v }

// rawUpdate changes a closed session file with bbolt directly.
func rawUpdate(t *testing.T, path string, fn func(tx *bbolt.Tx) error) {
	t.Helper()
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(fn); err != nil {
		t.Fatal(err)
	}
}

// bucketLen counts the keys of a bucket of a closed session file.
func bucketLen(t *testing.T, path, bucket string) int {
	t.Helper()
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: time.Second, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	n := 0
	err = db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket([]byte(bucket)).ForEach(func(_, _ []byte) error { n++; return nil })
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestBoltStoreConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) boltsession.Store {
		return openTest(t, nil)
	})
}

func TestBoltStoreConformanceNoSync(t *testing.T) {
	storetest.Run(t, func(t *testing.T) boltsession.Store {
		return openTest(t, &boltsession.BoltOptions{NoSync: true, MaxBatch: 3})
	})
}

func TestExpiryFollowsTheInjectedClock(t *testing.T) {
	clock := boltsession.NewTestClock()
	s := openTest(t, &boltsession.BoltOptions{Now: clock.Now})
	ctx := context.Background()
	mustSave(t, s, boltsession.Update{ID: "a", Create: true, Expires: clock.Now().Add(time.Minute)})
	if rec := mustLoad(t, s, "a"); !rec.Created.Equal(clock.Now()) {
		t.Fatalf("a zero Created became %v, want the store clock %v", rec.Created, clock.Now())
	}
	clock.Advance(time.Minute)
	if _, err := s.Load(ctx, "a"); !errors.Is(err, boltsession.ErrNotFound) {
		t.Fatalf("Load at the expiry instant: %v, want ErrNotFound", err)
	}
	if err := s.Touch(ctx, "a", clock.Now().Add(time.Hour)); !errors.Is(err, boltsession.ErrNotFound) {
		t.Fatalf("Touch: %v", err)
	}
	if err := s.Save(ctx, boltsession.Update{ID: "a", Set: map[string][]byte{"k": nil}}); !errors.Is(err, boltsession.ErrNotFound) {
		t.Fatalf("update Save: %v", err)
	}
	// A create brings the ID back as a new record.
	mustSave(t, s, boltsession.Update{ID: "a", Create: true, Expires: clock.Now().Add(time.Minute)})
	mustLoad(t, s, "a")
}

func TestSaveRefusesBadInput(t *testing.T) {
	s := openTest(t, nil)
	ctx := context.Background()
	for name, u := range map[string]boltsession.Update{
		"empty ID":           {ID: "", Create: true, Expires: time.Now().Add(time.Hour)},
		"long ID":            {ID: strings.Repeat("x", 2000), Create: true, Expires: time.Now().Add(time.Hour)},
		"create w/o expiry":  {ID: "a", Create: true},
		"long owner":         {ID: "a", Create: true, Expires: time.Now().Add(time.Hour), Owner: ptr(strings.Repeat("o", 2000))},
		"update of empty ID": {ID: ""},
		"owner with NUL":     {ID: "a", Create: true, Expires: time.Now().Add(time.Hour), Owner: ptr("a\x00b")},
	} {
		if err := s.Save(ctx, u); err == nil || !strings.HasPrefix(err.Error(), "boltsession: ") {
			t.Errorf("%s: Save = %v, want a boltsession error", name, err)
		}
	}
	if err := s.Touch(ctx, "a", time.Time{}); err == nil {
		t.Error("Touch with a zero expiry succeeded")
	}
	if _, err := s.Load(ctx, ""); !errors.Is(err, boltsession.ErrNotFound) {
		t.Errorf("Load of an empty ID: %v", err)
	}
}

// A failing save in a shared commit must not take the others down.
func TestGroupCommitIsolatesNotFound(t *testing.T) {
	s := openTest(t, nil)
	ctx := context.Background()
	for i := range 20 {
		mustSave(t, s, boltsession.Update{ID: fmt.Sprintf("live%d", i), Create: true, Expires: time.Now().Add(time.Hour)})
	}
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			err := s.Save(ctx, boltsession.Update{ID: fmt.Sprintf("live%d", i), Set: map[string][]byte{"k": []byte("v")}})
			if err != nil {
				t.Errorf("update live%d: %v", i, err)
			}
		})
		wg.Go(func() {
			err := s.Save(ctx, boltsession.Update{ID: fmt.Sprintf("gone%d", i), Set: map[string][]byte{"k": []byte("v")}})
			if !errors.Is(err, boltsession.ErrNotFound) {
				t.Errorf("update gone%d: %v, want ErrNotFound", i, err)
			}
		})
	}
	wg.Wait()
	for i := range 20 {
		if rec := mustLoad(t, s, fmt.Sprintf("live%d", i)); string(rec.Values["k"]) != "v" {
			t.Fatalf("live%d lost its update", i)
		}
		if _, err := s.Load(ctx, fmt.Sprintf("gone%d", i)); !errors.Is(err, boltsession.ErrNotFound) {
			t.Fatalf("gone%d was created by an update: %v", i, err)
		}
	}
}

func TestConcurrentSavesShareCommits(t *testing.T) {
	s := openTest(t, nil) // fsync on: commits are slow enough to gather company
	const writers, each = 64, 5
	saveConcurrently(t, s, writers, each)
	st := s.Stats()
	if st.Writes != writers*each {
		t.Fatalf("Stats.Writes = %d, want %d", st.Writes, writers*each)
	}
	if st.Commits >= st.Writes {
		t.Fatalf("%d saves took %d commits: no group commit", st.Writes, st.Commits)
	}
	if st.Sessions != writers*each {
		t.Fatalf("Stats.Sessions = %d, want %d", st.Sessions, writers*each)
	}
	t.Logf("%d saves in %d commits", st.Writes, st.Commits)
}

func TestLoadedRecordOutlivesTheFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	s, err := boltsession.Open(path, &boltsession.BoltOptions{SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	mustSave(t, s, boltsession.Update{ID: "a", Create: true, Expires: time.Now().Add(time.Hour),
		Owner: ptr("owner"), Set: map[string][]byte{"k": []byte("value-1"), "j": []byte("value-2")}})
	rec := mustLoad(t, s, "a")
	owned, err := s.Owned(context.Background(), "owner")
	if err != nil || len(owned) != 1 {
		t.Fatalf("Owned = %v, %v", owned, err)
	}
	var iterated *boltsession.Record
	if err := s.Iterate(context.Background(), func(r *boltsession.Record) error { iterated = r; return nil }); err != nil {
		t.Fatal(err)
	}
	// Overwrite the pages the record was read from, then unmap the file:
	// a byte slice still pointing into bbolt memory would change or fault.
	for i := range 50 {
		mustSave(t, s, boltsession.Update{ID: "a", Set: map[string][]byte{"k": []byte(fmt.Sprintf("VALUE-%d", i%10))}})
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for _, r := range []*boltsession.Record{rec, iterated} {
		if string(r.Values["k"]) != "value-1" || string(r.Values["j"]) != "value-2" || r.Owner != "owner" {
			t.Fatalf("record changed after the file did: %q %q %q", r.Values["k"], r.Values["j"], r.Owner)
		}
	}
	if owned[0].Handle != boltsession.Handle("a") || owned[0].Owner != "owner" {
		t.Fatalf("owned record changed: %+v", owned[0])
	}
}

func TestSessionsSurviveARestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	for _, noSync := range []bool{false, true} {
		s, err := boltsession.Open(path, &boltsession.BoltOptions{NoSync: noSync})
		if err != nil {
			t.Fatal(err)
		}
		id := fmt.Sprintf("nosync-%v", noSync)
		mustSave(t, s, boltsession.Update{ID: id, Create: true, Expires: time.Now().Add(time.Hour),
			Owner: ptr("u"), Set: map[string][]byte{"k": []byte(id)}})
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		s = openAt(t, path, nil)
		if rec := mustLoad(t, s, id); string(rec.Values["k"]) != id {
			t.Fatalf("after restart: %q", rec.Values["k"])
		}
		if owned, err := s.Owned(context.Background(), "u"); err != nil || len(owned) == 0 {
			t.Fatalf("owner index after restart: %v, %v", owned, err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestSecondOpenOfAHeldFileFailsWithErrLocked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	openAt(t, path, nil)
	// bbolt's flock is per open file description, so a second Open in this
	// process contends for the lock just as another process would.
	s, err := boltsession.Open(path, &boltsession.BoltOptions{Timeout: 100 * time.Millisecond})
	if err == nil {
		s.Close()
		t.Fatal("second Open of a held file succeeded")
	}
	if !errors.Is(err, boltsession.ErrLocked) {
		t.Fatalf("second Open: %v, want ErrLocked", err)
	}
	if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "another process") {
		t.Fatalf("error %q does not name the file and the cause", err)
	}
}

func TestOpenRefusesANewerFormatVersion(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	s := openAt(t, path, nil)
	s.Close()
	rawUpdate(t, path, func(tx *bbolt.Tx) error {
		return tx.Bucket([]byte("meta")).Put([]byte("version"), binary.BigEndian.AppendUint64(nil, boltsession.FormatVersion+1))
	})
	_, err := boltsession.Open(path, nil)
	if want := fmt.Sprint("version ", boltsession.FormatVersion+1); !errors.Is(err, boltsession.ErrVersion) || !strings.Contains(err.Error(), want) {
		t.Fatalf("Open of a newer file: %v, want ErrVersion naming its %s", err, want)
	}
}

func TestOpenRefusesABoltFileThatIsNotASessionFile(t *testing.T) {
	for name, fill := range map[string]func(tx *bbolt.Tx) error{
		"other buckets": func(tx *bbolt.Tx) error {
			_, err := tx.CreateBucket([]byte("users"))
			return err
		},
		"meta without version": func(tx *bbolt.Tx) error {
			_, err := tx.CreateBucket([]byte("meta"))
			return err
		},
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "other.db")
			rawUpdate(t, path, fill)
			s, err := boltsession.Open(path, nil)
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			if !errors.Is(err, boltsession.ErrVersion) || !strings.Contains(err.Error(), path) {
				t.Fatalf("Open: %v, want ErrVersion naming the path", err)
			}
		})
	}
}

func TestOpenRefusesAFileThatIsNotBbolt(t *testing.T) {
	path := filepath.Join(t.TempDir(), "notes.txt")
	if err := os.WriteFile(path, bytes.Repeat([]byte("not a database\n"), 1000), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := boltsession.Open(path, nil)
	if err == nil {
		s.Close()
		t.Fatal("Open of a text file succeeded")
	}
	if !errors.Is(err, boltsession.ErrVersion) || !strings.Contains(err.Error(), path) {
		t.Fatalf("Open of a text file: %v, want ErrVersion naming the path", err)
	}
}

func TestOpenOfAnUnusablePathNamesIt(t *testing.T) {
	dir := t.TempDir()
	notDir := filepath.Join(dir, "file")
	if err := os.WriteFile(notDir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(notDir, "s.db")
	if _, err := boltsession.Open(path, nil); err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("Open under a regular file: %v", err)
	}

	if os.Geteuid() == 0 {
		t.Log("running as root: file permissions are not enforced, read-only case not checked")
		return
	}
	ro := filepath.Join(dir, "ro")
	if err := os.Mkdir(ro, 0o500); err != nil {
		t.Fatal(err)
	}
	path = filepath.Join(ro, "s.db")
	_, err := boltsession.Open(path, nil)
	if !errors.Is(err, os.ErrPermission) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "not writable") {
		t.Fatalf("Open in a read-only directory: %v", err)
	}
}

func TestClosedStoreReturnsErrClosed(t *testing.T) {
	s := openTest(t, nil)
	mustSave(t, s, boltsession.Update{ID: "a", Create: true, Expires: time.Now().Add(time.Hour)})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	_, err := s.Load(ctx, "a")
	errs := map[string]error{
		"Load":   err,
		"Save":   s.Save(ctx, boltsession.Update{ID: "a", Create: true, Expires: time.Now().Add(time.Hour)}),
		"Touch":  s.Touch(ctx, "a", time.Now().Add(time.Hour)),
		"Delete": s.Delete(ctx, "a"),
	}
	_, errs["Count"] = s.Count(ctx)
	_, errs["Sweep"] = s.Sweep(ctx)
	_, errs["WriteTo"] = s.WriteTo(&bytes.Buffer{})
	for op, err := range errs {
		if !errors.Is(err, boltsession.ErrClosed) {
			t.Errorf("%s after Close: %v, want ErrClosed", op, err)
		}
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestWriteToMakesAnOpenableCopy(t *testing.T) {
	s := openTest(t, nil)
	for i := range 10 {
		mustSave(t, s, boltsession.Update{ID: fmt.Sprintf("s%d", i), Create: true, Expires: time.Now().Add(time.Hour),
			Owner: ptr("u"), Set: map[string][]byte{"i": []byte{byte(i)}}})
	}
	var buf bytes.Buffer
	n, err := s.WriteTo(&buf)
	if err != nil || n != int64(buf.Len()) || n == 0 {
		t.Fatalf("WriteTo = %d, %v (buffer %d)", n, err, buf.Len())
	}
	// The store keeps serving afterwards.
	mustSave(t, s, boltsession.Update{ID: "after", Create: true, Expires: time.Now().Add(time.Hour)})

	path := filepath.Join(t.TempDir(), "copy.db")
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	c := openAt(t, path, nil)
	for i := range 10 {
		if rec := mustLoad(t, c, fmt.Sprintf("s%d", i)); !bytes.Equal(rec.Values["i"], []byte{byte(i)}) {
			t.Fatalf("copy of s%d: %v", i, rec.Values)
		}
	}
	if owned, _ := c.Owned(context.Background(), "u"); len(owned) != 10 {
		t.Fatalf("copy owner index: %d sessions", len(owned))
	}
	if _, err := c.Load(context.Background(), "after"); !errors.Is(err, boltsession.ErrNotFound) {
		t.Fatalf("copy holds a session saved after it: %v", err)
	}
	if c.Path() != path {
		t.Fatalf("Path() = %q", c.Path())
	}
}

func TestSavesGoOnWhileABackupReaderStalls(t *testing.T) {
	// A backup streamed to a slow reader (an HTTP download, a pipe) must
	// not hold bbolt's read transaction open: a commit that grows the file
	// waits for every open read transaction, so every save would stall.
	s := openTest(t, &boltsession.BoltOptions{NoSync: true})
	pr, pw := io.Pipe()
	backup := make(chan error, 1)
	go func() {
		_, err := s.WriteTo(pw)
		pw.CloseWithError(err)
		backup <- err
	}()
	// The backup has begun once its first bytes wait in the pipe.
	first := make([]byte, 1)
	if _, err := io.ReadFull(pr, first); err != nil {
		t.Fatal(err)
	}

	saves := make(chan error, 1)
	go func() {
		big := bytes.Repeat([]byte("x"), 64<<10)
		for i := range 300 { // about 20 MB: the file must grow
			err := s.Save(context.Background(), boltsession.Update{ID: fmt.Sprint("grow", i), Create: true,
				Expires: time.Now().Add(time.Hour), Set: map[string][]byte{"v": big}})
			if err != nil {
				saves <- err
				return
			}
		}
		saves <- nil
	}()
	blocked := false
	select {
	case err := <-saves:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(time.Minute): // a deadlock guard, not a timing assertion
		blocked = true
		t.Error("saves that grow the file are blocked behind a stalled backup reader")
	}
	if _, err := io.Copy(io.Discard, pr); err != nil {
		t.Fatal(err)
	}
	if err := <-backup; err != nil {
		t.Fatal(err)
	}
	if blocked {
		<-saves // released by the end of the backup
	}
}

func TestStatsReportContentsAndActivity(t *testing.T) {
	clock := boltsession.NewTestClock()
	s := openTest(t, &boltsession.BoltOptions{Now: clock.Now})
	for i := range 6 {
		life := time.Hour
		if i%3 == 0 {
			life = time.Minute
		}
		mustSave(t, s, boltsession.Update{ID: fmt.Sprintf("s%d", i), Create: true, Expires: clock.Now().Add(life)})
	}
	st := s.Stats()
	if st.Sessions != 6 || st.Expired != 0 || st.FileSize <= 0 || st.Writes != 6 || st.Commits < 1 || st.Sweeps != 0 || !st.LastSweep.IsZero() {
		t.Fatalf("fresh stats %+v", st)
	}
	clock.Advance(2 * time.Minute)
	if st = s.Stats(); st.Sessions != 4 || st.Expired != 2 {
		t.Fatalf("after expiry: Sessions %d Expired %d, want 4 and 2", st.Sessions, st.Expired)
	}
	if n, err := s.Count(context.Background()); err != nil || n != 4 {
		t.Fatalf("Count = %d, %v; want 4", n, err)
	}
	res, err := s.Sweep(context.Background())
	if err != nil || res.Swept != 2 {
		t.Fatalf("Sweep = %+v, %v", res, err)
	}
	st = s.Stats()
	if st.Sessions != 4 || st.Expired != 0 || st.Sweeps != 1 || st.Swept != 2 || st.LastSweep.IsZero() ||
		st.LastSweepDuration <= 0 || st.LastSweepError != nil || st.Corrupt != 0 {
		t.Fatalf("after sweep: %+v", st)
	}
	s.Close()
	if st = s.Stats(); st.Sweeps != 1 || st.Sessions != 0 {
		t.Fatalf("stats of a closed store: %+v", st)
	}
}

func TestCorruptRecordIsReportedAndSkipped(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	clock := boltsession.NewTestClock()
	s := openAt(t, path, &boltsession.BoltOptions{Now: clock.Now})
	for _, id := range []string{"good", "bad", "bad-indexed"} {
		mustSave(t, s, boltsession.Update{ID: id, Create: true, Expires: clock.Now().Add(time.Hour), Owner: ptr("u")})
	}
	s.Close()
	rawUpdate(t, path, func(tx *bbolt.Tx) error {
		b := tx.Bucket([]byte("sessions"))
		if err := b.Put(boltsession.KeyOf("bad"), []byte{0xc1, 0xff, 0x00}); err != nil {
			return err
		}
		if err := b.Put(boltsession.KeyOf("garbage"), []byte("not msgpack at all")); err != nil { // no index entries
			return err
		}
		return b.Put(boltsession.KeyOf("bad-indexed"), []byte{0x81, 0xa1, 'v', 0x83}) // truncated
	})
	s = openAt(t, path, &boltsession.BoltOptions{Now: clock.Now})
	ctx := context.Background()

	for _, id := range []string{"bad", "garbage", "bad-indexed"} {
		if _, err := s.Load(ctx, id); !errors.Is(err, boltsession.ErrCorrupt) {
			t.Fatalf("Load(%s): %v, want ErrCorrupt", id, err)
		}
	}
	if err := s.Save(ctx, boltsession.Update{ID: "bad", Set: map[string][]byte{"k": nil}}); !errors.Is(err, boltsession.ErrCorrupt) {
		t.Fatalf("update of a corrupt record: %v, want ErrCorrupt", err)
	}
	var seen []string
	if err := s.Iterate(ctx, func(r *boltsession.Record) error { seen = append(seen, r.Handle); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(seen) != 1 || seen[0] != boltsession.Handle("good") {
		t.Fatalf("Iterate visited %v, want only good", seen)
	}
	if owned, err := s.Owned(ctx, "u"); err != nil || len(owned) != 1 || owned[0].Handle != boltsession.Handle("good") {
		t.Fatalf("Owned = %v, %v", owned, err)
	}
	if c := s.Stats().Corrupt; c < 7 {
		t.Fatalf("Stats.Corrupt = %d, want every sighting counted (at least 7)", c)
	}

	// A create never overwrites what it cannot read; once a delete
	// removed the corrupt record, the ID is free again.
	err := s.Save(ctx, boltsession.Update{ID: "bad", Create: true, Expires: clock.Now().Add(3 * time.Hour)})
	if !errors.Is(err, boltsession.ErrExists) || !errors.Is(err, boltsession.ErrCorrupt) {
		t.Fatalf("create over a corrupt record: %v, want ErrExists and ErrCorrupt", err)
	}
	if err := s.Delete(ctx, "bad"); err != nil {
		t.Fatal(err)
	}
	mustSave(t, s, boltsession.Update{ID: "bad", Create: true, Expires: clock.Now().Add(3 * time.Hour)})
	mustLoad(t, s, "bad")
	if err := s.Delete(ctx, "garbage"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Load(ctx, "garbage"); !errors.Is(err, boltsession.ErrNotFound) {
		t.Fatalf("Load of a deleted corrupt record: %v", err)
	}

	// Past the first hour the sweeper deletes bad-indexed by its expiry
	// entry and drops the stale entry of the replaced bad, which lives on.
	clock.Advance(2 * time.Hour)
	res, err := s.Sweep(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.Swept != 2 || res.Corrupt != 1 || res.Stale != 1 {
		t.Fatalf("Sweep = %+v, want good and bad-indexed swept (1 corrupt), bad's old entry stale", res)
	}
	mustLoad(t, s, "bad")
	if _, err := s.Load(ctx, "bad-indexed"); !errors.Is(err, boltsession.ErrNotFound) {
		t.Fatalf("bad-indexed after sweep: %v", err)
	}
}

// Iterate runs fn outside any transaction, so fn may write, even writes
// that grow the file (which would deadlock under an open read transaction).
func TestIterateCallbackMayWriteToTheStore(t *testing.T) {
	s := openTest(t, &boltsession.BoltOptions{NoSync: true})
	ctx := context.Background()
	for i := range 600 {
		mustSave(t, s, boltsession.Update{ID: fmt.Sprintf("s%03d", i), Create: true, Expires: time.Now().Add(time.Hour)})
	}
	big := bytes.Repeat([]byte("x"), 256<<10)
	done := make(chan error, 1)
	visited := 0
	go func() {
		done <- s.Iterate(ctx, func(r *boltsession.Record) error {
			visited++
			if visited%100 == 0 { // grow the file well past its mapping
				return s.Save(ctx, boltsession.Update{ID: "grow" + r.Handle, Create: true,
					Expires: time.Now().Add(time.Hour), Set: map[string][]byte{"big": big}})
			}
			return s.DeleteHandle(ctx, r.Handle)
		})
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Iterate: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Iterate with a writing callback deadlocked")
	}
	if visited < 600 {
		t.Fatalf("visited %d records, want at least 600", visited)
	}
	if _, err := s.Load(ctx, "s001"); !errors.Is(err, boltsession.ErrNotFound) {
		t.Fatalf("delete inside Iterate did not land: %v", err)
	}
}

func TestCloseDuringConcurrentSaves(t *testing.T) {
	s := openTest(t, &boltsession.BoltOptions{NoSync: true})
	ctx := context.Background()
	var wg sync.WaitGroup
	var mu sync.Mutex
	saved := map[string]bool{}
	for w := range 8 {
		wg.Go(func() {
			for i := 0; ; i++ {
				id := fmt.Sprintf("w%d-%d", w, i)
				err := s.Save(ctx, boltsession.Update{ID: id, Create: true, Expires: time.Now().Add(time.Hour)})
				if errors.Is(err, boltsession.ErrClosed) {
					return
				}
				if err != nil {
					t.Errorf("Save: %v", err)
					return
				}
				mu.Lock()
				saved[id] = true
				mu.Unlock()
			}
		})
	}
	waitFor(t, "200 saves", func() bool { return s.Stats().Writes >= 200 })
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	// Every acknowledged save is in the file.
	r := openAt(t, s.Path(), nil)
	for id := range saved {
		if _, err := r.Load(ctx, id); err != nil {
			t.Fatalf("acknowledged save %s lost: %v", id, err)
		}
	}
}
