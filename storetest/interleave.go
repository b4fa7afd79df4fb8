package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/boltsession/boltsession"
)

// A lifecycle step that the interleaving check runs against one session.
// g (0 or 1) tells the two goroutines of a pair apart: their keys and
// new IDs differ.
type lifecycleStep struct {
	name string
	run  func(ctx context.Context, s boltsession.Store, id string, g int) error
	// ends marks a step that always succeeds and ends the session
	// (Delete, DestroyOwner).
	ends bool
}

var lifecycleSteps = []lifecycleStep{
	{name: "merge", run: func(ctx context.Context, s boltsession.Store, id string, g int) error {
		return s.Save(ctx, boltsession.Update{ID: id, Set: map[string][]byte{mergeKey(g): []byte("v")}})
	}},
	{name: "touch", run: func(ctx context.Context, s boltsession.Store, id string, g int) error {
		return s.Touch(ctx, id, time.Now().Add(2*time.Hour))
	}},
	{name: "replace", run: func(ctx context.Context, s boltsession.Store, id string, g int) error {
		return s.Save(ctx, boltsession.Update{ID: replacement(id, g), Create: true, Replaces: id,
			Expires: time.Now().Add(time.Hour), Set: map[string][]byte{replaceKey(g): []byte("v")}})
	}},
	{name: "destroy", ends: true, run: func(ctx context.Context, s boltsession.Store, id string, g int) error {
		return s.Delete(ctx, id)
	}},
	{name: "destroy-owner", ends: true, run: func(ctx context.Context, s boltsession.Store, id string, g int) error {
		n, err := s.(boltsession.OwnerIndex).DestroyOwner(ctx, ownerOf(id))
		if err == nil && n > 1 {
			err = fmt.Errorf("DestroyOwner ended %d sessions of a one-session owner", n)
		}
		return err
	}},
}

func mergeKey(g int) string               { return fmt.Sprintf("k%d", g) }
func replaceKey(g int) string             { return fmt.Sprintf("r%d", g) }
func replacement(id string, g int) string { return fmt.Sprintf("%s-n%d", id, g) }
func ownerOf(id string) string            { return "owner-" + id }

// testInterleavings runs every pair of lifecycle steps (merge, touch,
// replace, destroy and, where the store has an owner index, DestroyOwner)
// on one session at once, many sessions at a time, and checks that
// whatever order the store put them in:
//   - each step either succeeded or failed with the error its rival
//     explains: ErrReplaced only if a replace succeeded, ErrNotFound only
//     if the session was ended;
//   - a session that a destroy ended is gone together with anything that
//     replaced it (a logout is never undone by a racing regenerate);
//   - otherwise exactly one live record carries the session (the
//     replacement, if a replace won), with every value whose merge was
//     acknowledged and no value whose step failed.
func testInterleavings(t *testing.T, s boltsession.Store) {
	steps := lifecycleSteps
	if _, ok := s.(boltsession.OwnerIndex); !ok {
		steps = steps[:len(steps)-1]
	}
	const sessions, rounds = 16, 3
	ctx := context.Background()
	for i, a := range steps {
		for _, b := range steps[i:] {
			pair := a.name + "+" + b.name
			for round := range rounds {
				var wg sync.WaitGroup
				errs := make([][2]error, sessions)
				for n := range sessions {
					id := fmt.Sprintf("%s-%d-%d", pair, round, n)
					for g := range 2 {
						remember(replacement(id, g))
					}
					save(t, s, boltsession.Update{ID: id, Create: true, Created: time.Now(),
						Expires: time.Now().Add(time.Hour), Set: map[string][]byte{"base": []byte("1")},
						Owner: ptr(ownerOf(id))})
					for g, st := range [2]lifecycleStep{a, b} {
						wg.Go(func() { errs[n][g] = st.run(ctx, s, id, g) })
					}
				}
				wg.Wait()
				for n := range sessions {
					id := fmt.Sprintf("%s-%d-%d", pair, round, n)
					if err := checkInterleaving(t, s, id, [2]lifecycleStep{a, b}, errs[n]); err != nil {
						t.Fatalf("%s on %s: %v", pair, id, err)
					}
				}
			}
		}
	}
}

// checkInterleaving checks the outcome of the steps st on session id
// against the rules of testInterleavings.
func checkInterleaving(t *testing.T, s boltsession.Store, id string, st [2]lifecycleStep, errs [2]error) error {
	t.Helper()
	ctx := context.Background()
	ended := st[0].ends || st[1].ends
	winner := -1 // the goroutine whose replace succeeded
	for g := range 2 {
		if st[g].name == "replace" && errs[g] == nil {
			if winner >= 0 {
				return errors.New("both replaces succeeded")
			}
			winner = g
		}
	}
	for g := range 2 {
		err := errs[g]
		switch {
		case err == nil:
		case st[g].ends:
			return fmt.Errorf("%s: %v", st[g].name, err)
		case errors.Is(err, boltsession.ErrReplaced):
			if winner < 0 || winner == g {
				return fmt.Errorf("%s: ErrReplaced, but no rival replace succeeded", st[g].name)
			}
		case errors.Is(err, boltsession.ErrNotFound):
			if !ended {
				return fmt.Errorf("%s: ErrNotFound, but nothing ended the session", st[g].name)
			}
		default:
			return fmt.Errorf("%s: %v", st[g].name, err)
		}
	}

	var live []*boltsession.Record
	for _, cand := range []string{id, replacement(id, 0), replacement(id, 1)} {
		rec, err := s.Load(ctx, cand)
		switch {
		case errors.Is(err, boltsession.ErrNotFound):
		case err != nil:
			return fmt.Errorf("Load(%s): %v", cand, err)
		default:
			live = append(live, rec)
		}
	}
	if ended {
		if len(live) > 0 {
			return fmt.Errorf("the session was ended, but %s is live", live[0].ID)
		}
		if idx, ok := s.(boltsession.OwnerIndex); ok {
			if recs, err := idx.Owned(ctx, ownerOf(id)); err != nil || len(recs) > 0 {
				return fmt.Errorf("the session was ended, but Owned lists %v (%v)", recs, err)
			}
		}
		return nil
	}
	want := id
	if winner >= 0 {
		want = replacement(id, winner)
	}
	if len(live) != 1 || live[0].ID != want {
		var ids []string
		for _, r := range live {
			ids = append(ids, r.ID)
		}
		return fmt.Errorf("live records %v, want exactly [%s]", ids, want)
	}
	wantVals := map[string]string{"base": "1"}
	for g := range 2 {
		if errs[g] != nil {
			continue
		}
		switch st[g].name {
		case "merge":
			wantVals[mergeKey(g)] = "v"
		case "replace":
			wantVals[replaceKey(g)] = "v"
		}
	}
	if got := values(live[0]); !sameValues(t, got, wantVals) {
		return fmt.Errorf("%s holds %v, want %v: an acknowledged change was lost or a failed one landed",
			want, got, wantVals)
	}
	if live[0].Owner != ownerOf(id) {
		return fmt.Errorf("%s has owner %q, want %q", want, live[0].Owner, ownerOf(id))
	}
	if idx, ok := s.(boltsession.OwnerIndex); ok {
		if got := ownedIDs(t, idx, ownerOf(id)); !slices.Equal(got, []string{want}) {
			return fmt.Errorf("the owner index lists %v, want [%s]", got, want)
		}
	}
	return nil
}
