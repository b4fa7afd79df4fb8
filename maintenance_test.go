package boltsession

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// fdOpenOn reports whether this process has a file descriptor open on the
// file that path named when it was looked up (Linux only: /proc/self/fd).
func fdOpenOn(t *testing.T, fi os.FileInfo) bool {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("skipping: cannot list /proc/self/fd (%v); this test needs Linux", err)
	}
	n := 0
	for _, e := range entries {
		if st, err := os.Stat(filepath.Join("/proc/self/fd", e.Name())); err == nil && os.SameFile(st, fi) {
			n++
		}
	}
	return n > 1 // Compact's own read-only descriptor is one
}

// TestAppStartingDuringEveryPhaseOfACompactionLosesNoSave starts an app
// (Open) while Compact rewrites its file in place, at each phase of the
// compaction, and has it save and acknowledge a session once Open returns.
// Compact renames the new file over the path while it still holds the lock
// on the old one: an Open that opened the old file and waited for its lock
// must notice and open the new one, or its acknowledged saves go to a file
// nobody sees again. The same for a delete (the command line tool's rm).
func TestAppStartingDuringEveryPhaseOfACompactionLosesNoSave(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("skipping: needs /proc/self/fd to know when the app's Open holds the old file; it runs on Linux (as in CI)")
	}
	t.Cleanup(func() { compactHook = func(string) {} })
	for _, phase := range []string{"locked", "copied", "renamed"} {
		for _, op := range []string{"save", "delete"} {
			t.Run(phase+"/"+op, func(t *testing.T) {
				path := filepath.Join(t.TempDir(), "sessions.db")
				s, err := Open(path, &BoltOptions{SweepInterval: -1})
				if err != nil {
					t.Fatal(err)
				}
				ctx := context.Background()
				exp := time.Now().Add(time.Hour)
				for i := range 20 {
					if err := s.Save(ctx, Update{ID: fmt.Sprint("s", i), Create: true, Expires: exp}); err != nil {
						t.Fatal(err)
					}
				}
				s.Close()

				done := make(chan error, 1)
				compactHook = func(p string) {
					if p != phase {
						return
					}
					old, err := os.Stat(path)
					if err != nil {
						done <- err
						return
					}
					go func() {
						app, err := Open(path, &BoltOptions{SweepInterval: -1, Timeout: 30 * time.Second})
						if err == nil {
							if op == "save" {
								err = app.Save(ctx, Update{ID: "acknowledged", Create: true, Expires: exp})
							} else {
								err = app.Delete(ctx, "s7")
							}
							err = errors.Join(err, app.Close())
						}
						done <- err
					}()
					// Go on only once the app has the file open (and waits
					// for its lock), or has finished.
					for !fdOpenOn(t, old) && len(done) == 0 {
						time.Sleep(time.Millisecond)
					}
				}
				if _, err := Compact(path, "", &CompactOptions{Timeout: 30 * time.Second}); err != nil {
					t.Fatalf("Compact: %v", err)
				}
				if err := <-done; err != nil {
					t.Fatalf("app: %v", err)
				}
				compactHook = func(string) {}

				s, err = Open(path, &BoltOptions{SweepInterval: -1})
				if err != nil {
					t.Fatal(err)
				}
				defer s.Close()
				if op == "save" {
					if _, err := s.Load(ctx, "acknowledged"); err != nil {
						t.Fatalf("the save acknowledged during the compaction is lost: %v", err)
					}
				} else if _, err := s.Load(ctx, "s7"); !errors.Is(err, ErrNotFound) {
					t.Fatalf("the delete acknowledged during the compaction did not last: %v", err)
				}
				if n, _ := s.Count(ctx); (op == "save" && n != 21) || (op == "delete" && n != 19) {
					t.Fatalf("%d sessions after the compaction", n)
				}
			})
		}
	}
}

// TestKilledCompactionsLeaveNoCopyBehind: a compaction killed before it
// removed its temporary copy (which holds every session ID) leaves a file
// that the next Open or Compact removes; one that a running compaction
// holds is left alone.
func TestKilledCompactionsLeaveNoCopyBehind(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("skipping: stale copies are found by their free file lock, which needs flock; it runs on Linux and macOS (as in CI)")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "sessions.db")
	s, err := Open(path, &BoltOptions{SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	stale := filepath.Join(dir, ".sessions.db.compact-12345")
	oldBackup := filepath.Join(dir, "sessions.db.backup-999")
	for _, p := range []string{stale, oldBackup} {
		if err := os.WriteFile(p, []byte("every session ID"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// A copy a live compaction is writing: locked by bbolt.
	live := filepath.Join(dir, ".sessions.db.compact-live")
	held, err := Open(live, &BoltOptions{SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()

	s, err = Open(path, &BoltOptions{SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	for _, p := range []string{stale, oldBackup} {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s is still there after Open: %v", filepath.Base(p), err)
		}
	}
	if _, err := os.Stat(live); err != nil {
		t.Fatalf("the copy a running compaction holds was removed: %v", err)
	}

	if err := os.WriteFile(stale, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Compact(path, "", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Compact left the stale copy: %v", err)
	}
}

// nameWatcher is a writer that, on every write, looks for files in dir
// whose name contains part.
type nameWatcher struct {
	dir, part string
	seen      []string
}

func (w *nameWatcher) Write(p []byte) (int, error) {
	entries, _ := os.ReadDir(w.dir)
	for _, e := range entries {
		if strings.Contains(e.Name(), w.part) {
			w.seen = append(w.seen, e.Name())
		}
	}
	return len(p), nil
}

// TestBackupCopyHasNoNameWhileItStreams: WriteTo spools its snapshot to a
// temporary file; a process killed while it streams must not leave that
// copy of every session behind, so the copy has no name at all.
func TestBackupCopyHasNoNameWhileItStreams(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("skipping: an open file cannot be unlinked on Windows; it runs on Linux and macOS (as in CI)")
	}
	s := openBolt(t)
	for i := range 50 {
		if err := s.Save(context.Background(), Update{ID: fmt.Sprint("s", i), Create: true,
			Expires: time.Now().Add(time.Hour), Set: map[string][]byte{"v": bytes.Repeat([]byte("x"), 1000)}}); err != nil {
			t.Fatal(err)
		}
	}
	w := &nameWatcher{dir: filepath.Dir(s.Path()), part: ".backup-"}
	n, err := s.WriteTo(w)
	if err != nil || n == 0 {
		t.Fatalf("WriteTo = %d, %v", n, err)
	}
	if len(w.seen) > 0 {
		t.Fatalf("the backup's copy was visible while it streamed: %v", w.seen)
	}
}

func TestEmptyFileIsRefusedNotOpenedAsAnEmptyStore(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sessions.db")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := Open(path, nil)
	if err == nil {
		s.Close()
		t.Fatal("a 0-byte file opened as an empty store")
	}
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), path) {
		t.Fatalf("Open: %v, want ErrCorrupt naming the file", err)
	}
	if fi, _ := os.Stat(path); fi.Size() != 0 {
		t.Fatal("Open wrote to the refused file")
	}
}

func TestOversizedRecordIsRefusedAndNothingWritten(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "s.db"), &BoltOptions{SweepInterval: -1, NoSync: true, MaxRecordSize: 4096})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	exp := time.Now().Add(time.Hour)
	big := map[string][]byte{"blob": bytes.Repeat([]byte("x"), 5000)}
	if err := s.Save(ctx, Update{ID: "a", Create: true, Expires: exp, Set: big}); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("create over the limit: %v, want ErrTooLarge", err)
	}
	if _, err := s.Load(ctx, "a"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("the refused create left a record: %v", err)
	}
	if err := s.Save(ctx, Update{ID: "b", Create: true, Expires: exp, Set: map[string][]byte{"k": []byte("v")}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Save(ctx, Update{ID: "b", Set: big}); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("merge over the limit: %v, want ErrTooLarge", err)
	}
	if rec, err := s.Load(ctx, "b"); err != nil || len(rec.Values) != 1 {
		t.Fatalf("the refused merge changed the record: %+v, %v", rec, err)
	}
	res, err := s.Restore(ctx, func(yield func(*Record, error) bool) {
		yield(&Record{ID: "c", Expires: exp, Values: big}, nil)
	})
	if !errors.Is(err, ErrTooLarge) || res.Restored != 0 {
		t.Fatalf("Restore over the limit: %+v, %v", res, err)
	}
}

func TestOversizedSessionFailsTheRequestClearly(t *testing.T) {
	e := newEnv(t, Options{})
	e.mux.HandleFunc("/huge", func(w http.ResponseWriter, r *http.Request) {
		FromContext(r.Context()).Set("blob", bytes.Repeat([]byte("x"), 2<<20))
	})
	if r := e.get(nil, "/huge"); r.status != http.StatusInternalServerError {
		t.Fatalf("status %d, want 500", r.status)
	}
	if !strings.Contains(e.logs.String(), "MaxRecordSize") {
		t.Errorf("the log does not say which limit: %s", e.logs.String())
	}
}

func TestStatsFileSizeIsTheFilesSize(t *testing.T) {
	s := openBolt(t)
	for i := range 200 {
		if err := s.Save(context.Background(), Update{ID: fmt.Sprint("s", i), Create: true,
			Expires: time.Now().Add(time.Hour), Set: map[string][]byte{"v": bytes.Repeat([]byte("x"), 500)}}); err != nil {
			t.Fatal(err)
		}
	}
	fi, err := os.Stat(s.Path())
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Stats().FileSize; got != fi.Size() {
		t.Fatalf("Stats.FileSize = %d, the file is %d bytes", got, fi.Size())
	}
}

// TestInspectWhileTheFileGrows runs Inspect alongside saves that grow (and
// so remap) the file; the race detector checks that Inspect reads nothing
// of bbolt's outside a transaction.
func TestInspectWhileTheFileGrows(t *testing.T) {
	s := openBolt(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := s.Inspect(ctx); err != nil {
				t.Error(err)
				return
			}
			_ = s.Stats()
		}
	})
	for i := range 300 {
		if err := s.Save(ctx, Update{ID: fmt.Sprint("s", i), Create: true, Expires: time.Now().Add(time.Hour),
			Set: map[string][]byte{"v": bytes.Repeat([]byte("x"), 2000)}}); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
}

func TestLifetimesTheFileCannotHoldAreRefused(t *testing.T) {
	for _, o := range []Options{{MaxAge: 200 * 365 * 24 * time.Hour}, {AbsoluteMaxAge: 1 << 62}} {
		o.Keys = [][]byte{testHashKey}
		if _, err := New(openBolt(t), o); err == nil || !strings.Contains(err.Error(), "2262") {
			t.Errorf("New(%+v): %v, want an error naming what the file holds", o, err)
		}
	}
	e := newEnv(t, Options{})
	errc := make(chan error, 1)
	e.mux.HandleFunc("/forever", func(w http.ResponseWriter, r *http.Request) {
		errc <- FromContext(r.Context()).SetMaxAge(1 << 62)
	})
	e.mustGet(nil, "/forever")
	if err := <-errc; err == nil {
		t.Fatal("SetMaxAge of 146 years accepted")
	}
}

func TestReplaceDamagedFileMovesADamagedFileAsideAndStartsEmpty(t *testing.T) {
	path, _ := sessionFile(t, 50, nil)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	// Cut short: the meta pages (and bbolt's magic) stay, the pages they
	// claim do not.
	if err := os.Truncate(path, fi.Size()/2); err != nil {
		t.Fatal(err)
	}
	damaged, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if s, err := Open(path, &BoltOptions{SweepInterval: -1}); !errors.Is(err, ErrCorrupt) {
		if err == nil {
			s.Close()
		}
		t.Fatalf("Open without ReplaceDamagedFile: %v, want ErrCorrupt", err)
	}

	var logs lockedBuffer
	s, err := Open(path, &BoltOptions{SweepInterval: -1, ReplaceDamagedFile: true,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatalf("Open with ReplaceDamagedFile: %v", err)
	}
	defer s.Close()
	if n, err := s.Count(context.Background()); err != nil || n != 0 {
		t.Fatalf("the new store holds %d sessions (%v), want 0", n, err)
	}
	aside, err := filepath.Glob(path + ".damaged-*")
	if err != nil || len(aside) != 1 {
		t.Fatalf("files moved aside: %v (%v), want one", aside, err)
	}
	if moved, err := os.ReadFile(aside[0]); err != nil || !bytes.Equal(moved, damaged) {
		t.Fatalf("the file moved aside is not the damaged one (%v)", err)
	}
	if !strings.Contains(logs.String(), "EVERY SESSION IS LOST") || !strings.Contains(logs.String(), aside[0]) {
		t.Errorf("the log does not say that sessions were lost and where the file went: %s", logs.String())
	}
}

func TestReplaceDamagedFileLeavesAFileThatIsNotBboltAlone(t *testing.T) {
	path := filepath.Join(t.TempDir(), "notes.txt")
	text := bytes.Repeat([]byte("not a database\n"), 1000)
	if err := os.WriteFile(path, text, 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := Open(path, &BoltOptions{SweepInterval: -1, ReplaceDamagedFile: true})
	if err == nil {
		s.Close()
		t.Fatal("Open replaced a file that is not bbolt")
	}
	if !errors.Is(err, ErrVersion) {
		t.Fatalf("Open: %v, want ErrVersion", err)
	}
	if got, err := os.ReadFile(path); err != nil || !bytes.Equal(got, text) {
		t.Fatalf("the file was changed or moved (%v)", err)
	}
	if aside, _ := filepath.Glob(path + ".damaged-*"); len(aside) != 0 {
		t.Fatalf("moved aside: %v", aside)
	}
}
