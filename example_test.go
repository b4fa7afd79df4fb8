package boltsession_test

import (
	"bytes"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"os"
	"path/filepath"

	"github.com/boltsession/boltsession"
)

// A page that counts its visitor's visits. The session lives in one bbolt
// file; the cookie carries only the signed session ID.
func Example() {
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

	// In production, load a 32-byte (or longer) random key from a secret
	// store; a fresh key on every start would log everyone out.
	hashKey := bytes.Repeat([]byte{0x42}, 32)
	m, err := boltsession.New(store, boltsession.Options{Keys: [][]byte{hashKey}})
	if err != nil {
		log.Fatal(err)
	}

	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s := boltsession.FromContext(r.Context())
		views, _ := boltsession.Get[int](s, "views") // 0 and ErrNoValue on the first visit
		if err := s.Set("views", views+1); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		fmt.Fprintf(w, "visit %d", views+1)
	})
	srv := httptest.NewServer(m.Middleware(mux))
	defer srv.Close()

	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar}
	for range 3 {
		resp, err := client.Get(srv.URL)
		if err != nil {
			log.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Println(string(body))
	}
	// Output:
	// visit 1
	// visit 2
	// visit 3
}
