package gorillastore_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"os"

	"github.com/boltsession/boltsession/gorillastore"
	"github.com/gorilla/sessions"
)

// The one-line switch from sessions.NewFilesystemStore; handlers stay as
// they were.
func Example() {
	dir, err := os.MkdirTemp("", "gorillastore-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	hashKey := []byte("a 32-byte hash key, kept secret!")

	// Before: store := sessions.NewFilesystemStore(dir, hashKey)
	store, err := gorillastore.New(dir, hashKey)
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()

	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		session, _ := store.Get(r, "session-name")
		session.Values["foo"] = "bar"
		session.AddFlash("saved")
		if err := sessions.Save(r, w); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	})
	rec := httptest.NewRecorder()
	handler.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	fmt.Println(rec.Code, len(rec.Result().Cookies()))
	// Output: 200 1
}

// Carrying the sessions of a FilesystemStore directory over, so nobody is
// signed out by the switch.
func ExampleImportFilesystemStore() {
	dir, err := os.MkdirTemp("", "gorillastore-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	hashKey := []byte("a 32-byte hash key, kept secret!")

	store, err := gorillastore.New(dir, hashKey) // the database goes next to the session_* files
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()
	sum, err := gorillastore.ImportFilesystemStore(context.Background(), dir, store.Backend(), gorillastore.ImportOptions{
		KeyPairs: [][]byte{hashKey},        // the FilesystemStore's key pairs
		Names:    []string{"session-name"}, // the names passed to store.Get
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(sum)
	// Output: imported 0, expired 0, skipped 0, ignored 1
}
