package stacks

import (
	"errors"
	"net/http"
	"path/filepath"

	"github.com/boltsession/boltsession"
)

func init() {
	register("boltsession", newBoltsession)
	register("boltsession-serialize", newBoltsessionSerialize)
}

// newBoltsession is boltsession with its defaults: one bbolt file, every
// save fsynced (concurrent saves share one fsync), lazy touch (TouchAfter =
// MaxAge/10), values msgpack-encoded one by one.
func newBoltsession(cfg Config) (*Stack, error) { return openBoltsession(cfg, false) }

// newBoltsessionSerialize is boltsession with Options.Serialize: requests
// on one session run one at a time, so concurrent increments are all kept.
func newBoltsessionSerialize(cfg Config) (*Stack, error) { return openBoltsession(cfg, true) }

func openBoltsession(cfg Config, serialize bool) (*Stack, error) {
	store, err := boltsession.Open(filepath.Join(cfg.Dir, "sessions.db"), nil)
	if err != nil {
		return nil, err
	}
	h, err := boltsessionApp(store, cfg, serialize)
	if err != nil {
		store.Close()
		return nil, err
	}
	return &Stack{Handler: h, Close: store.Close}, nil
}

// boltsessionApp is the benchmark app on boltsession's middleware over any
// Store, with every option at its default but Serialize.
func boltsessionApp(store boltsession.Store, cfg Config, serialize bool) (http.Handler, error) {
	m, err := boltsession.New(store, boltsession.Options{Name: CookieName, Keys: [][]byte{cfg.HashKey}, Serialize: serialize})
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /seed", func(w http.ResponseWriter, r *http.Request) {
		s := boltsession.FromContext(r.Context())
		for i := range ValueCount {
			if err := s.Set(ValueKey(i), Value(i)); err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
		}
		if err := s.Set("count", 0); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		writeCount(w, 0)
	})
	mux.HandleFunc("GET /read", func(w http.ResponseWriter, r *http.Request) {
		s := boltsession.FromContext(r.Context())
		n, ok := count(w, s)
		if ok {
			writeCount(w, n)
		}
	})
	mux.HandleFunc("GET /count", func(w http.ResponseWriter, r *http.Request) {
		s := boltsession.FromContext(r.Context())
		n, ok := count(w, s)
		if !ok {
			return
		}
		n++
		if err := s.Set("count", n); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		writeCount(w, n)
	})
	return m.Middleware(mux), nil
}

// count reads the counter of an existing session, answering 404 for a new
// one and 500 for anything else.
func count(w http.ResponseWriter, s *boltsession.Session) (int, bool) {
	if s.IsNew() {
		noSession(w)
		return 0, false
	}
	n, err := boltsession.Get[int](s, "count")
	if err != nil && !errors.Is(err, boltsession.ErrNoValue) {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return 0, false
	}
	return n, true
}
