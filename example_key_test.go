package boltsession_test

import (
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/boltsession/boltsession"
)

// The signing key kept in a file beside the database: created with 64
// random bytes on the first start, read back on every start after, so
// cookies stay valid across restarts.
func ExampleLoadOrCreateKey() {
	dir, err := os.MkdirTemp("", "boltsession-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	store, err := boltsession.Open(filepath.Join(dir, "sessions.db"), nil)
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()

	key, err := boltsession.LoadOrCreateKey(filepath.Join(dir, "sessions.db.key"))
	if err != nil {
		log.Fatal(err) // e.g. a key file that others may read: chmod 600 it
	}
	m, err := boltsession.New(store, boltsession.Options{Keys: [][]byte{key}})
	if err != nil {
		log.Fatal(err)
	}
	_ = m // m.Middleware(mux) serves the app

	again, _ := boltsession.LoadOrCreateKey(filepath.Join(dir, "sessions.db.key"))
	fi, _ := os.Stat(filepath.Join(dir, "sessions.db.key"))
	fmt.Println(len(key), string(again) == string(key), fi.Mode().Perm())
	// Output: 64 true -rw-------
}

// A key from the environment (base64, as `openssl rand -base64 64` prints
// it) where the platform hands secrets over that way, and the key file
// otherwise.
func ExampleKeyFromEnv() {
	dir, err := os.MkdirTemp("", "boltsession-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	os.Unsetenv("SESSION_KEY")

	key, err := boltsession.KeyFromEnv("SESSION_KEY")
	if errors.Is(err, boltsession.ErrNoKey) {
		key, err = boltsession.LoadOrCreateKey(filepath.Join(dir, "sessions.db.key"))
	}
	if err != nil {
		log.Fatal(err) // set but malformed or too short: never a silent fallback
	}
	fmt.Println(len(key), "bytes")

	os.Setenv("SESSION_KEY", "c2hvcnQ=") // "short"
	defer os.Unsetenv("SESSION_KEY")
	_, err = boltsession.KeyFromEnv("SESSION_KEY")
	fmt.Println(err)
	// Output:
	// 64 bytes
	// boltsession: environment variable SESSION_KEY: holds 5 bytes; a key needs at least 32
}
