package express_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"os"
	"path/filepath"

	"github.com/boltsession/boltsession"
	"github.com/boltsession/boltsession/express"
)

// An app moving from express-session keeps its secret and cookie name, so
// the cookies the Node app issued go on working.
func ExampleCookie() {
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
	codec, err := express.Cookie("keyboard cat") // its secret (several rotate: new first)
	if err != nil {
		log.Fatal(err)
	}
	m, err := boltsession.New(store, boltsession.Options{
		Name:  "connect.sid", // express-session's default name
		Codec: codec,
	})
	if err != nil {
		log.Fatal(err)
	}
	_ = http.Handler(m.Middleware(http.NotFoundHandler()))

	// The value express-session writes for this ID and secret:
	v, _ := codec.Encode("connect.sid", "jD2mU7rC3w9YbT4k5nQx0aZsV1pLfGhE")
	fmt.Println(v)
	// Output: s%3AjD2mU7rC3w9YbT4k5nQx0aZsV1pLfGhE.b5DmT28huQWPJFBlqpvDxXHIT2yY%2FhteJQtS8BMn1t8
}

// Importing the session directory of a session-file-store app, once, before
// the Go app takes over.
func ExampleImportFileStore() {
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
	sum, err := express.ImportFileStore(context.Background(), "testdata/filestore", store,
		express.ImportOptions{DryRun: true}) // drop DryRun to write
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(sum.DryRun, len(sum.Skipped) > 0)
	// Output: true true
}
