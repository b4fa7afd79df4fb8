//go:build linux

package reliability_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/boltsession/boltsession"
	"github.com/vmihailenco/msgpack/v5"
	bolt "go.etcd.io/bbolt"
)

// mountTmpfs mounts a tmpfs of the given size on a fresh directory and
// unmounts it when the test ends. Mounting needs root (CI runs as root);
// elsewhere the test is skipped with the reason.
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a small tmpfs (CI runs as root)")
	}
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+size+",mode=0700"); err != nil {
		t.Skipf("cannot mount a tmpfs here (%v); CI runs as root with CAP_SYS_ADMIN", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

// fillDisk writes a file in dir until the filesystem refuses more and
// returns its path.
func fillDisk(t *testing.T, dir string) string {
	t.Helper()
	p := filepath.Join(dir, "filler")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 4096)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("filling the disk: %v", err)
			}
			return p
		}
	}
}

// TestDiskFullFailsSavesButKeepsReadsAndAcknowledgedData is issue item 3 on
// a 4 MiB tmpfs: once the disk is full, saves fail through ErrorHandler
// with 500, reads go on, nothing acknowledged is lost, and saves work again
// once space is freed.
func TestDiskFullFailsSavesButKeepsReadsAndAcknowledgedData(t *testing.T) {
	dir := mountTmpfs(t, "4m")
	var handled struct {
		sync.Mutex
		errs []error
	}
	r := newRig(t, rigConfig{path: filepath.Join(dir, "sessions.db"), options: func(o *boltsession.Options) {
		o.ErrorHandler = func(w http.ResponseWriter, _ *http.Request, err error) {
			handled.Lock()
			handled.errs = append(handled.errs, err)
			handled.Unlock()
			http.Error(w, "session store unavailable", http.StatusInternalServerError)
		}
	}})

	cookie, id := r.login("quinn")
	r.must(http.MethodPost, "/incr", cookie)
	acked := map[string][]byte{}
	put := func(key string, size int) (int, error) {
		body := make([]byte, size)
		rand.Read(body)
		rep, err := r.do(nil, http.MethodPost, "/put?key="+key, cookie, bytes.NewReader(body))
		if err != nil {
			return 0, err
		}
		if rep.status == http.StatusOK {
			acked[key] = body
		}
		return rep.status, nil
	}
	for i := range 4 {
		if status, err := put(fmt.Sprintf("before%d", i), 8<<10); err != nil || status != http.StatusOK {
			t.Fatalf("save before the disk filled: %d %v", status, err)
		}
	}

	filler := fillDisk(t, dir)

	// Keep saving fresh 64 KiB values: bbolt writes a changed record to new
	// pages, so the file must grow, and a full disk must refuse it.
	failed, accepted := 0, 0
	for i := 0; i < 64 && failed == 0; i++ {
		status, err := put(fmt.Sprintf("full%d", i), 64<<10)
		if err != nil {
			t.Fatal(err)
		}
		switch status {
		case http.StatusOK:
			accepted++
		case http.StatusInternalServerError:
			failed++
		default:
			t.Fatalf("save on a full disk answered %d", status)
		}
	}
	if failed == 0 {
		t.Fatal("64 saves of 64 KiB on a full 4 MiB disk all succeeded: the disk never filled")
	}
	handled.Lock()
	if len(handled.errs) == 0 {
		t.Fatal("the failed save did not reach ErrorHandler")
	}
	if !errors.Is(handled.errs[0], syscall.ENOSPC) {
		t.Errorf("ErrorHandler got %v; want it to wrap ENOSPC", handled.errs[0])
	}
	handled.Unlock()
	t.Logf("disk filled: %d more 64 KiB saves were acknowledged, then one failed with 500", accepted)

	// Reads keep working while the disk is full.
	for range 5 {
		rep := r.must(http.MethodGet, "/get", cookie)
		if rep.isNew || rep.n != 1 {
			t.Fatalf("read on a full disk lost the session: %q", rep.body)
		}
	}
	if _, err := r.store.Load(context.Background(), id); err != nil {
		t.Fatalf("Load on a full disk: %v", err)
	}
	// A read that is due a lazy touch (the expiry would move by more than
	// TouchAfter) still answers: the touch is a write the full disk refuses.
	r.clock.Advance(3 * time.Hour)
	if rep, err := r.do(nil, http.MethodGet, "/get", cookie, nil); err != nil || rep.status != http.StatusOK || rep.n != 1 {
		t.Errorf("read due a touch on a full disk: %v %d %q", err, rep.status, rep.body)
	}
	if logs := r.logs.String(); !strings.Contains(logs, "could not extend") {
		t.Errorf("the failed touch was not logged:\n%s", logs)
	}

	// Space freed: saves go through again.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if status, err := put(fmt.Sprintf("after%d", i), 64<<10); err != nil || status != http.StatusOK {
			t.Fatalf("save after space was freed: %d %v", status, err)
		}
	}

	// Everything acknowledged is in the file, which is consistent.
	r.store.Close()
	db, err := bolt.Open(r.path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	err = db.View(func(tx *bolt.Tx) error {
		var errs []error
		for err := range tx.Check() {
			errs = append(errs, err)
		}
		return errors.Join(errs...)
	})
	db.Close()
	if err != nil {
		t.Fatalf("consistency check after the disk was full: %v", err)
	}
	store, err := boltsession.Open(r.path, &boltsession.BoltOptions{SweepInterval: -1, Now: r.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	rec, err := store.Load(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range acked {
		var got []byte
		if err := msgpack.Unmarshal(rec.Values[k], &got); err != nil || !bytes.Equal(got, want) {
			t.Errorf("acknowledged value %s lost or changed (%v)", k, err)
		}
	}
}

// TestOpenOnReadOnlyFilesystemIsAClearError remounts a tmpfs read-only: root
// ignores file permission bits, so a read-only mount is how the test makes
// a file and a directory that root cannot write.
func TestOpenOnReadOnlyFilesystemIsAClearError(t *testing.T) {
	dir := mountTmpfs(t, "1m")
	existing := filepath.Join(dir, "sessions.db")
	s, err := boltsession.Open(existing, &boltsession.BoltOptions{SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", syscall.MS_REMOUNT|syscall.MS_RDONLY, "size=1m"); err != nil {
		t.Fatalf("remount read-only: %v", err)
	}
	for _, p := range []string{existing, filepath.Join(dir, "new.db")} {
		s, err := boltsession.Open(p, &boltsession.BoltOptions{SweepInterval: -1})
		if err == nil {
			s.Close()
			t.Fatalf("Open(%s) on a read-only filesystem succeeded", p)
		}
		msg := err.Error()
		if !strings.HasPrefix(msg, "boltsession:") || !strings.Contains(msg, p) ||
			!strings.Contains(msg, "read-only") || !errors.Is(err, syscall.EROFS) {
			t.Errorf("Open(%s): unclear error %q", p, msg)
		}
	}
}

// TestOpenOnImmutableFileIsAClearError makes the file immutable with chattr
// +i, which stops root from writing it (mode bits do not).
func TestOpenOnImmutableFileIsAClearError(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("chattr +i needs root (CI runs as root)")
	}
	chattr, err := exec.LookPath("chattr")
	if err != nil {
		t.Skip("chattr (e2fsprogs) is not installed")
	}
	p := filepath.Join(t.TempDir(), "sessions.db")
	s, err := boltsession.Open(p, &boltsession.BoltOptions{SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if out, err := exec.Command(chattr, "+i", p).CombinedOutput(); err != nil {
		t.Skipf("this filesystem has no immutable flag: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command(chattr, "-i", p).Run() })
	s, err = boltsession.Open(p, &boltsession.BoltOptions{SweepInterval: -1})
	if err == nil {
		s.Close()
		t.Fatal("Open of an immutable file succeeded")
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, "boltsession:") || !strings.Contains(msg, p) || !errors.Is(err, os.ErrPermission) {
		t.Errorf("unclear error %q", msg)
	}
}
