package redisstore

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/boltsession/boltsession"
)

func TestRedisDownGivesErrorsAndServiceResumesAfterRestart(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	f.create(t, "before", time.Hour, "alice", nil)

	f.srv.Stop()
	calls := map[string]func() error{
		"Load": func() error { _, err := f.store.Load(ctx, "before"); return err },
		"Save": func() error {
			return f.store.Save(ctx, boltsession.Update{ID: "before", Set: map[string][]byte{"a": nil}})
		},
		"Touch":        func() error { return f.store.Touch(ctx, "before", f.clock.Now().Add(time.Hour)) },
		"Delete":       func() error { return f.store.Delete(ctx, "before") },
		"Owned":        func() error { _, err := f.store.Owned(ctx, "alice"); return err },
		"DestroyOwner": func() error { _, err := f.store.DestroyOwner(ctx, "alice"); return err },
		"Count":        func() error { _, err := f.store.Count(ctx); return err },
		"Iterate":      func() error { return f.store.Iterate(ctx, func(*boltsession.Record) error { return nil }) },
	}
	for name, call := range calls {
		err := call()
		if err == nil || errors.Is(err, boltsession.ErrNotFound) {
			t.Errorf("%s with Redis down: err = %v, want a connection error", name, err)
			continue
		}
		if got := err.Error(); len(got) < len("boltsession: redisstore:") || got[:len("boltsession: redisstore:")] != "boltsession: redisstore:" {
			t.Errorf("%s error lacks the package prefix: %v", name, err)
		}
	}

	// Same port, empty server (no persistence): the script cache is gone
	// too, so this also covers the EVALSHA → EVAL fallback.
	f.srv.Restart()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := f.store.Save(ctx, boltsession.Update{ID: "after", Create: true, Created: f.clock.Now(), Expires: f.clock.Now().Add(time.Hour), Owner: ptr("alice")})
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Save still failing 10s after Redis came back: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := f.store.Load(ctx, "after"); err != nil {
		t.Fatalf("Load after restart: %v", err)
	}
	if owned, err := f.store.Owned(ctx, "alice"); err != nil || len(owned) != 1 {
		t.Fatalf("Owned after restart = %v, %v", owned, err)
	}
}

func TestUnresponsiveRedisFailsWithinTheContextDeadline(t *testing.T) {
	f := newFixture(t, nil)
	f.create(t, "s", time.Hour, "", nil)
	// CLIENT PAUSE stalls every command from other connections, standing in
	// for a hung server.
	if err := f.client.Do(context.Background(), "CLIENT", "PAUSE", "2000", "ALL").Err(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := f.store.Load(ctx, "s")
	if err == nil {
		t.Fatal("Load against a paused server succeeded")
	}
	// The client's ReadTimeout is 1s; the deadline must cut in first.
	if took := time.Since(start); took > 900*time.Millisecond {
		t.Fatalf("Load took %v despite a 100ms deadline", took)
	}
	f.client.Do(context.Background(), "CLIENT", "UNPAUSE")
}
