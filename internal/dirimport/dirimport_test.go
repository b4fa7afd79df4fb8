package dirimport

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
)

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}

// sessionDir holds a file "s_<id>" per session, and every kind of entry the
// reader must not read.
func sessionDir(t *testing.T) (dir, outside string) {
	t.Helper()
	dir, outside = t.TempDir(), t.TempDir()
	writeFile(t, filepath.Join(outside, "secret"), "stolen")
	writeFile(t, filepath.Join(dir, "s_b"), "bee")
	writeFile(t, filepath.Join(dir, "s_a"), "ay")
	writeFile(t, filepath.Join(dir, "other"), "not a session")
	writeFile(t, filepath.Join(dir, "s_"), "no id")
	writeFile(t, filepath.Join(dir, "s_big"), strings.Repeat("x", 11))
	if err := os.Mkdir(filepath.Join(dir, "s_sub"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(outside, "secret"), filepath.Join(dir, "s_link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(dir, "s_dirlink")); err != nil {
		t.Fatal(err)
	}
	return dir, outside
}

func testDir(path string) Dir {
	return Dir{
		Path:        path,
		MaxFileSize: 10,
		ErrPrefix:   "test",
		SessionID:   func(name string) (string, bool) { return strings.CutPrefix(name, "s_") },
	}
}

func TestReadReadsRegularSessionFilesInNameOrderAndSkipsTheRest(t *testing.T) {
	dir, _ := sessionDir(t)
	var read []File
	ignored, skipped, err := testDir(dir).Read(context.Background(), func(f File) (*Skip, error) {
		read = append(read, f)
		return nil, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range read {
		got = append(got, f.Name+"="+f.ID+":"+string(f.Data))
		if f.ModTime.IsZero() {
			t.Errorf("%s: no modification time", f.Name)
		}
	}
	if want := []string{"s_a=a:ay", "s_b=b:bee"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("read %v, want %v", got, want)
	}
	// "other", "s_" (no ID) and the subdirectory are ignored unopened.
	if ignored != 3 {
		t.Errorf("ignored %d, want 3", ignored)
	}
	reasons := map[string]string{}
	for _, s := range skipped {
		reasons[s.File] = s.Reason
		if s.Err == nil || !strings.HasPrefix(s.Err.Error(), "test: ") && s.Reason != ReasonUnreadable {
			t.Errorf("%s: error %v", s.File, s.Err)
		}
	}
	want := map[string]string{"s_big": ReasonTooLarge, "s_dirlink": ReasonNotRegular, "s_link": ReasonNotRegular}
	if !reflect.DeepEqual(reasons, want) {
		t.Fatalf("skipped %v, want %v", reasons, want)
	}
}

func TestReadRecordsTheSkipImportFileReturns(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "s_a"), "garbage")
	bad := errors.New("does not parse")
	_, skipped, err := testDir(dir).Read(context.Background(), func(f File) (*Skip, error) {
		return &Skip{Reason: "corrupt", Err: bad}, nil
	})
	if err != nil || len(skipped) != 1 || skipped[0] != (Skip{File: "s_a", Reason: "corrupt", Err: bad}) {
		t.Fatalf("skipped %v, %v", skipped, err)
	}
}

func TestReadStopsAtAnImportFileErrorAndAtCancellation(t *testing.T) {
	dir, _ := sessionDir(t)
	stop := errors.New("store failed")
	calls := 0
	_, _, err := testDir(dir).Read(context.Background(), func(File) (*Skip, error) {
		calls++
		return nil, stop
	})
	if !errors.Is(err, stop) || calls != 1 {
		t.Fatalf("after an import error: %v, %d calls", err, calls)
	}

	ctx, cancel := context.WithCancel(context.Background())
	calls = 0
	_, _, err = testDir(dir).Read(ctx, func(File) (*Skip, error) {
		calls++
		cancel()
		return nil, nil
	})
	if !errors.Is(err, context.Canceled) || calls != 1 || !strings.HasPrefix(err.Error(), "test: import interrupted") {
		t.Fatalf("after cancellation: %v, %d calls", err, calls)
	}
}

func TestReadFailsOnAMissingDirectory(t *testing.T) {
	_, _, err := testDir(filepath.Join(t.TempDir(), "missing")).Read(context.Background(), func(File) (*Skip, error) {
		t.Fatal("called without a directory")
		return nil, nil
	})
	if !errors.Is(err, os.ErrNotExist) || !strings.HasPrefix(err.Error(), "test: opening session directory") {
		t.Fatalf("missing directory: %v", err)
	}
}

func TestReadDefaultsTheSizeLimitToOneMiB(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "s_fits"), strings.Repeat("x", DefaultMaxFileSize))
	writeFile(t, filepath.Join(dir, "s_over"), strings.Repeat("x", DefaultMaxFileSize+1))
	d := testDir(dir)
	d.MaxFileSize = 0
	var read []string
	_, skipped, err := d.Read(context.Background(), func(f File) (*Skip, error) {
		read = append(read, f.ID)
		return nil, nil
	})
	if err != nil || !reflect.DeepEqual(read, []string{"fits"}) || len(skipped) != 1 || skipped[0].Reason != ReasonTooLarge {
		t.Fatalf("read %v, skipped %v, %v", read, skipped, err)
	}
}

// saveFunc adapts a function to Saver.
type saveFunc[T any] func(context.Context, T) error

func (f saveFunc[T]) Save(ctx context.Context, r T) error { return f(ctx, r) }

func TestWriterKeepsWritersSavesInFlight(t *testing.T) {
	// Each save waits until all Writers saves have started: the test only
	// finishes if they are all in flight at once.
	var started sync.WaitGroup
	started.Add(Writers)
	var mu sync.Mutex
	saved := map[int]bool{}
	w := NewWriter(context.Background(), "test", saveFunc[int](func(ctx context.Context, r int) error {
		started.Done()
		started.Wait()
		mu.Lock()
		defer mu.Unlock()
		saved[r] = true
		return nil
	}))
	for r := range Writers {
		if err := w.Save(r); err != nil {
			t.Fatal(err)
		}
	}
	n, err := w.Wait()
	if err != nil || n != Writers || len(saved) != Writers {
		t.Fatalf("wrote %d (%d saved), %v", n, len(saved), err)
	}
}

func TestWriterStopsAtTheFirstFailedSave(t *testing.T) {
	broken := errors.New("disk full")
	w := NewWriter(context.Background(), "test", saveFunc[int](func(ctx context.Context, r int) error {
		if r == 3 {
			return broken
		}
		return nil
	}))
	var err error
	for r := 0; err == nil; r++ {
		err = w.Save(r)
	}
	if !errors.Is(err, broken) || !strings.HasPrefix(err.Error(), "test: importing session file") {
		t.Fatalf("Save after the failure: %v", err)
	}
	if _, err := w.Wait(); !errors.Is(err, broken) {
		t.Fatalf("Wait: %v", err)
	}
}

func TestWriterStopsWhenItsContextIsCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	block := make(chan struct{})
	w := NewWriter(ctx, "test", saveFunc[int](func(ctx context.Context, r int) error {
		<-block
		return nil
	}))
	cancel()
	var err error
	// Saves are accepted until every writer holds one; then the cancelled
	// context answers.
	for r := 0; err == nil; r++ {
		err = w.Save(r)
	}
	close(block)
	if !errors.Is(err, context.Canceled) || !strings.HasPrefix(err.Error(), "test: import interrupted") {
		t.Fatalf("Save after cancellation: %v", err)
	}
	if _, err := w.Wait(); err != nil {
		t.Fatalf("Wait after cancellation reports no failed save, got %v", err)
	}
}

func TestWriterDoesNotCallANilSaverInADryRun(t *testing.T) {
	w := NewWriter[int](context.Background(), "test", nil)
	if n, err := w.Wait(); n != 0 || err != nil {
		t.Fatalf("Wait: %d, %v", n, err)
	}
}

func TestImportSavesWhatImportFileQueuesAndReportsTheFirstFailure(t *testing.T) {
	dir, _ := sessionDir(t)
	var mu sync.Mutex
	var saved []string
	store := saveFunc[string](func(_ context.Context, id string) error {
		mu.Lock()
		defer mu.Unlock()
		saved = append(saved, id)
		return nil
	})
	res, err := Import(context.Background(), testDir(dir), store, func(f File, save func(string) error) (*Skip, error) {
		return nil, save(f.ID)
	})
	if err != nil || res.Written != 2 || res.Ignored != 3 || len(res.Skipped) != 3 || len(saved) != 2 {
		t.Fatalf("import: %+v, saved %v, %v", res, saved, err)
	}

	broken := errors.New("disk full")
	failing := saveFunc[string](func(context.Context, string) error { return broken })
	res, err = Import(context.Background(), testDir(dir), failing, func(f File, save func(string) error) (*Skip, error) {
		return nil, save(f.ID)
	})
	if !errors.Is(err, broken) || res.Written != 0 {
		t.Fatalf("import into a failing store: %+v, %v", res, err)
	}
}
