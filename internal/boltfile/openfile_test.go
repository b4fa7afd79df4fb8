package boltfile

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

func TestOpenFileRefusesADamagedFileBeforeBboltMapsIt(t *testing.T) {
	dir := t.TempDir()
	path := buildFile(t, dir, fileSpec{name: "open", sessions: 300, seed: 101})
	open := func(readOnly bool) (*bbolt.DB, error) {
		return bbolt.Open(path, 0o600, &bbolt.Options{Timeout: 200 * time.Millisecond, ReadOnly: readOnly, OpenFile: OpenFile(200*time.Millisecond, Check)})
	}

	db, err := open(false)
	if err != nil {
		t.Fatalf("valid file: %v", err)
	}
	if runtime.GOOS == "linux" || runtime.GOOS == "darwin" {
		if _, err := open(false); !errors.Is(err, bolterrors.ErrTimeout) {
			t.Errorf("second open while the first holds the lock: %v, want ErrTimeout", err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	r1, err := open(true)
	if err != nil {
		t.Fatalf("read-only: %v", err)
	}
	r2, err := open(true)
	if err != nil {
		t.Fatalf("second read-only open beside the first: %v", err)
	}
	r1.Close()
	r2.Close()

	// Cut the file short of its high-water mark: bbolt alone would fault
	// (SIGBUS) reading the freelist or a tree page past the end.
	data := readFile(t, path)
	sum, err := Check(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, data[:int(sum.HighWater-1)*sum.PageSize])
	if _, err := open(false); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("truncated file: %v, want ErrCorrupt", err)
	}
	// The refused open left no lock behind.
	writeFile(t, path, data)
	db, err = open(false)
	if err != nil {
		t.Fatalf("reopening the repaired file: %v", err)
	}
	db.Close()

	fresh := filepath.Join(dir, "fresh.db")
	db, err = bbolt.Open(fresh, 0o600, &bbolt.Options{Timeout: time.Second, OpenFile: OpenFile(time.Second, Check)})
	if err != nil {
		t.Fatalf("new file: %v", err)
	}
	db.Close()
	if fi, err := os.Stat(fresh); err != nil || fi.Size() == 0 {
		t.Fatalf("new file not initialised: %v", err)
	}
}
