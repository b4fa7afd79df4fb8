package admin_test

import (
	"context"
	"crypto/subtle"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"time"

	"github.com/boltsession/boltsession"
	"github.com/boltsession/boltsession/admin"
)

// requireAdmin stands for the app's own admin authentication: the
// admin.Handler must never be reachable without it.
func requireAdmin(token string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), []byte("Bearer "+token)) != 1 {
			http.Error(w, "forbidden", http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func ExampleHandler() {
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	store, err := boltsession.Open(filepath.Join(dir, "sessions.db"), nil)
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()
	_ = store.Save(context.Background(), boltsession.Update{
		ID: "example-session-id", Create: true, Expires: time.Now().Add(time.Hour), Owner: new("user-42"),
	})

	mux := http.NewServeMux()
	admin := http.StripPrefix("/admin/sessions", admin.Handler(store))
	mux.Handle("/admin/sessions/", requireAdmin("s3cret", admin))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	for _, token := range []string{"", "s3cret"} {
		req, _ := http.NewRequest("DELETE", srv.URL+"/admin/sessions/sessions?owner=user-42", nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			log.Fatal(err)
		}
		resp.Body.Close()
		fmt.Println(resp.Status)
	}
	n, _ := store.Count(context.Background())
	fmt.Println("sessions left:", n)
	// Output:
	// 403 Forbidden
	// 200 OK
	// sessions left: 0
}
