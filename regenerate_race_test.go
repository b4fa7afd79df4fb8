package boltsession

import (
	"context"
	"net/http"
	"testing"
)

// TestRegenerateCannotUndoDestroyOwnerThatRacedIt holds a request that
// regenerates an owned session after its load, signs the owner out
// everywhere meanwhile, then lets the request finish: the regenerated record
// must not survive (otherwise a stolen session could outlive "log out
// everywhere" by regenerating in a loop).
func TestRegenerateCannotUndoDestroyOwnerThatRacedIt(t *testing.T) {
	for _, end := range []string{"DestroyOwner", "Destroy"} {
		t.Run(end, func(t *testing.T) {
			e := newEnv(t, Options{})
			g := newGate()
			e.mux.HandleFunc("/own", func(w http.ResponseWriter, r *http.Request) {
				FromContext(r.Context()).SetOwner("victim")
			})
			e.mux.HandleFunc("/slow-regenerate", func(w http.ResponseWriter, r *http.Request) {
				s := FromContext(r.Context())
				close(g.loaded)
				<-g.release
				s.Regenerate()
			})
			e.mustGet(nil, "/incr")
			e.mustGet(nil, "/own")
			id := e.mustGet(nil, "/id")

			done := make(chan response)
			go func() { done <- e.get(nil, "/slow-regenerate") }()
			<-g.loaded
			if end == "DestroyOwner" {
				if n, err := e.m.DestroyOwner(context.Background(), "victim"); err != nil || n != 1 {
					t.Fatalf("DestroyOwner = %d, %v", n, err)
				}
			} else {
				e.mustGet(nil, "/destroy")
			}
			close(g.release)
			r := <-done
			if r.status != http.StatusConflict {
				t.Fatalf("racing regenerate: %d %q; want 409: the regeneration did not land", r.status, r.body)
			}
			if c := r.cookie("sid"); c != nil && c.MaxAge >= 0 {
				t.Errorf("racing regenerate handed out a new session cookie")
			}
			if e.record(id) != nil {
				t.Error("the old record came back")
			}
			if owned, err := e.m.Owned(context.Background(), "victim"); err != nil || len(owned) != 0 {
				t.Fatalf("the owner has %d sessions after %s raced a regenerate (%v)", len(owned), end, err)
			}
			if n := e.count(); n != 0 {
				t.Errorf("%d records left", n)
			}
		})
	}
}
