package gorillastore

import (
	"net/http/httptest"
	"testing"

	"github.com/gorilla/sessions"
)

// benchmarkGetSave measures one request that loads a session, changes a
// value and saves it, with the cookie of an existing session.
func benchmarkGetSave(b *testing.B, store sessions.Store) {
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("GET", "/", nil)
	s, err := store.New(req, "app")
	if err != nil {
		b.Fatal(err)
	}
	s.Values["user"] = "alice"
	if err := s.Save(req, rec); err != nil {
		b.Fatal(err)
	}
	cookie := rec.Result().Cookies()[0]
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		n := 0
		for pb.Next() {
			req := httptest.NewRequest("GET", "/", nil)
			req.AddCookie(cookie)
			s, err := store.New(req, "app")
			if err != nil {
				b.Error(err)
				return
			}
			n++
			s.Values["n"] = n
			if err := s.Save(req, httptest.NewRecorder()); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkGetSaveGorillastore(b *testing.B) {
	s, err := New(b.TempDir(), hashKey)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	benchmarkGetSave(b, s)
}

func BenchmarkGetSaveFilesystemStore(b *testing.B) {
	benchmarkGetSave(b, sessions.NewFilesystemStore(b.TempDir(), hashKey))
}
