package boltsession_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/boltsession/boltsession"
)

// Open a session file, save and load a session, and read the store's
// statistics.
func ExampleOpen() {
	dir, err := os.MkdirTemp("", "example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	store, err := boltsession.Open(filepath.Join(dir, "sessions.db"), &boltsession.BoltOptions{
		SweepInterval: 10 * time.Minute, // default 1m; negative disables
	})
	if err != nil {
		log.Fatal(err) // errors.Is(err, boltsession.ErrLocked): another process holds the file
	}
	defer store.Close()

	ctx := context.Background()
	err = store.Save(ctx, boltsession.Update{
		ID:      "example-id",
		Create:  true,
		Expires: time.Now().Add(time.Hour),
		Set:     map[string][]byte{"views": {0x01}}, // msgpack for 1
	})
	if err != nil {
		log.Fatal(err)
	}
	rec, err := store.Load(ctx, "example-id")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(rec.Values["views"], store.Stats().Sessions)
	// Output: [1] 1
}

// Take a consistent backup while the store keeps serving; the copy opens
// like any session file.
func ExampleBoltStore_WriteTo() {
	dir, err := os.MkdirTemp("", "example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	store, err := boltsession.Open(filepath.Join(dir, "sessions.db"), nil)
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()

	backup, err := os.Create(filepath.Join(dir, "backup.db"))
	if err != nil {
		log.Fatal(err)
	}
	if _, err := store.WriteTo(backup); err != nil {
		log.Fatal(err)
	}
	if err := backup.Close(); err != nil {
		log.Fatal(err)
	}
	copied, err := boltsession.Open(backup.Name(), nil)
	if err != nil {
		log.Fatal(err)
	}
	defer copied.Close()
	fmt.Println("backup opens")
	// Output: backup opens
}
