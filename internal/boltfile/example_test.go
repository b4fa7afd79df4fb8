package boltfile_test

import (
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/boltsession/boltsession/internal/boltfile"
	bbolt "go.etcd.io/bbolt"
)

// Check a session file before bbolt maps it, and salvage what a damaged one
// still holds.
func Example() {
	dir, err := os.MkdirTemp("", "boltfile")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "sessions.db")

	db, err := bbolt.Open(path, 0o600, &bbolt.Options{PageSize: 4096})
	if err != nil {
		log.Fatal(err)
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		b, err := tx.CreateBucket([]byte("sessions"))
		for i := 0; err == nil && i < 100; i++ {
			err = b.Put(fmt.Appendf(nil, "session-%03d", i), make([]byte, 200))
		}
		return err
	})
	if err != nil {
		log.Fatal(err)
	}
	db.Close()

	data, err := os.ReadFile(path)
	if err != nil {
		log.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	sum, err := boltfile.Check(f, int64(len(data)))
	fmt.Printf("whole: %v, %d pages, %d keys\n", err, sum.HighWater, sum.Keys)

	// Lose the last page, as a copy cut short would. bbolt would fault
	// (SIGBUS) reading it; Check refuses the file, and Salvage finds every
	// session still there.
	cut := data[:int(sum.HighWater-1)*sum.PageSize]
	if err := os.WriteFile(path, cut, 0o600); err != nil {
		log.Fatal(err)
	}
	_, err = boltfile.Check(f, int64(len(cut)))
	fmt.Println("cut short:", errors.Is(err, boltfile.ErrCorrupt))

	rep, err := boltfile.Salvage(f, int64(len(cut)), []byte("sessions"), func(key, value []byte) error {
		return nil // decode and keep a copy of what is worth keeping
	})
	fmt.Printf("salvaged %d sessions, %d damaged pages, err %v\n", rep.Keys, len(rep.Damage), err)
	// Output:
	// whole: <nil>, 19 pages, 100 keys
	// cut short: true
	// salvaged 100 sessions, 0 damaged pages, err <nil>
}
