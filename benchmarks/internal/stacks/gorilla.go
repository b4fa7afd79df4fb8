package stacks

import (
	"net/http"

	"github.com/gorilla/sessions"
)

func init() { register("gorilla-filesystem", newGorilla) }

// newGorilla is gorilla/sessions' FilesystemStore: one gob-encoded,
// securecookie-signed file per session, written without fsync.
func newGorilla(cfg Config) (*Stack, error) {
	store := sessions.NewFilesystemStore(cfg.Dir, cfg.HashKey)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /seed", func(w http.ResponseWriter, r *http.Request) {
		s, err := store.New(r, CookieName)
		if s == nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		for i := range ValueCount {
			s.Values[ValueKey(i)] = Value(i)
		}
		s.Values["count"] = 0
		if err := s.Save(r, w); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		writeCount(w, 0)
	})
	mux.HandleFunc("GET /read", func(w http.ResponseWriter, r *http.Request) {
		s, err := store.Get(r, CookieName)
		if err != nil || s.IsNew {
			noSession(w)
			return
		}
		n, _ := s.Values["count"].(int)
		writeCount(w, n)
	})
	mux.HandleFunc("GET /count", func(w http.ResponseWriter, r *http.Request) {
		s, err := store.Get(r, CookieName)
		if err != nil || s.IsNew {
			noSession(w)
			return
		}
		n, _ := s.Values["count"].(int)
		n++
		s.Values["count"] = n
		if err := s.Save(r, w); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		writeCount(w, n)
	})
	return &Stack{Handler: mux, Close: func() error { return nil }}, nil
}
