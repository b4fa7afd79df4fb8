package redisstore

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/boltsession/boltsession"
	"github.com/redis/go-redis/v9"
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

func TestUnresponsiveRedisFailsAtTheContextDeadline(t *testing.T) {
	f := newFixture(t, nil)
	f.create(t, "s", time.Hour, "", nil)
	// A client whose own read timeout is far away, so only the context can
	// end the call early.
	slow := redis.NewClient(&redis.Options{Addr: f.srv.Addr, ReadTimeout: time.Minute, ContextTimeoutEnabled: true})
	defer slow.Close()
	store := New(slow, &Options{Now: f.clock.Now})
	if _, err := store.Load(context.Background(), "s"); err != nil {
		t.Fatal(err)
	}
	// CLIENT PAUSE stalls every command, standing in for a hung server; the
	// server is killed at the end of the test, pause or not.
	if err := f.client.Do(context.Background(), "CLIENT", "PAUSE", "60000", "ALL").Err(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := store.Load(ctx, "s")
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("Load against a paused server succeeded")
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Load against a paused server still blocked 30s after its 100ms deadline")
	}
}
