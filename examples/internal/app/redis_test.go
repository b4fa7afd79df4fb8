package app

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/boltsession/boltsession"
	"github.com/boltsession/boltsession/redisstore"
	"github.com/boltsession/boltsession/redisstore/redistest"
)

func TestRedisOptionsBoundCallsByTheRequestAndDialOnce(t *testing.T) {
	f := &Flags{Redis: "redis://app:pw@10.0.0.7:6390/2?dial_timeout=2s"}
	opt, err := f.RedisOptions()
	if err != nil {
		t.Fatal(err)
	}
	if !opt.ContextTimeoutEnabled || opt.DialerRetries != 1 {
		t.Errorf("ContextTimeoutEnabled = %v, DialerRetries = %d; want true, 1", opt.ContextTimeoutEnabled, opt.DialerRetries)
	}
	if opt.Addr != "10.0.0.7:6390" || opt.DB != 2 || opt.Username != "app" || opt.Password != "pw" || opt.DialTimeout != 2*time.Second {
		t.Errorf("the URL's settings were not kept: %+v", opt)
	}
}

func TestRedisOptionsErrorsDoNotRepeatThePassword(t *testing.T) {
	for _, u := range []string{
		"redis://:pw-s3cret@127.0.0.1:12x/0", // url.Parse fails
		"http://:pw-s3cret@127.0.0.1/0",      // wrong scheme
		"redis://:pw-s3cret@127.0.0.1/zero",  // bad database number
	} {
		_, err := (&Flags{Redis: u}).RedisOptions()
		if err == nil || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("RedisOptions(%q) error = %v; want an error without the password", u, err)
		}
	}
}

func TestRedisClusterOptionsKeepTheSeedsBoundCallsAndHideThePassword(t *testing.T) {
	f := &Flags{RedisCluster: "redis://app:pw@10.0.0.7:6390?addr=10.0.0.8:6390&addr=10.0.0.9:6390&dial_timeout=2s"}
	opt, err := f.RedisClusterOptions()
	if err != nil {
		t.Fatal(err)
	}
	if !opt.ContextTimeoutEnabled || opt.DialerRetries != 1 {
		t.Errorf("ContextTimeoutEnabled = %v, DialerRetries = %d; want true, 1", opt.ContextTimeoutEnabled, opt.DialerRetries)
	}
	if strings.Join(opt.Addrs, ",") != "10.0.0.7:6390,10.0.0.8:6390,10.0.0.9:6390" || opt.Password != "pw" || opt.DialTimeout != 2*time.Second {
		t.Errorf("the URL's settings were not kept: %+v", opt)
	}
	for _, u := range []string{"redis://:pw-s3cret@127.0.0.1:12x", "http://:pw-s3cret@127.0.0.1", "redis://:pw-s3cret@127.0.0.1?bogus=1"} {
		_, err := (&Flags{RedisCluster: u}).RedisClusterOptions()
		if err == nil || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("RedisClusterOptions(%q) error = %v; want an error without the password", u, err)
		}
	}
}

func TestMainRefusesRedisAndRedisClusterTogether(t *testing.T) {
	var stderr strings.Builder
	code := Main("x", []string{"-redis", "redis://127.0.0.1:1/0", "-redis-cluster", "redis://127.0.0.1:2"}, &stderr, "x.db", nil)
	if code != 2 || !strings.Contains(stderr.String(), "exclude each other") {
		t.Fatalf("exit %d, stderr %q; want 2 naming the conflict", code, stderr.String())
	}
}

func TestOpenStoreUsesRedisWhenSet(t *testing.T) {
	ctx := context.Background()
	db := filepath.Join(t.TempDir(), "s.db")
	srv := redistest.Start(t)
	f := &Flags{DB: db, Redis: srv.URL()}
	store, closer, err := f.OpenStore(ctx, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := store.(*redisstore.Store); !ok {
		t.Fatalf("store is %T, want *redisstore.Store", store)
	}
	now := time.Now()
	if err := store.Save(ctx, boltsession.Update{ID: "s1", Create: true, Created: now, Expires: now.Add(time.Hour)}); err != nil {
		t.Fatalf("save through the Redis store: %v", err)
	}
	if err := closer.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Load(ctx, "s1"); err == nil {
		t.Fatal("Load after closing succeeded: the closer did not close the Redis client")
	}
	if _, err := os.Stat(db); !os.IsNotExist(err) {
		t.Fatalf("with Redis set the DB file was created (stat: %v)", err)
	}
}

func TestOpenStoreUsesTheFileWithoutRedis(t *testing.T) {
	db := filepath.Join(t.TempDir(), "s.db")
	f := &Flags{DB: db, SweepInterval: -1}
	store, closer, err := f.OpenStore(context.Background(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if bs, ok := store.(*boltsession.BoltStore); !ok || bs.Path() != db {
		t.Fatalf("store is %T, want the BoltStore on %s", store, db)
	}
	if err := closer.Close(); err != nil {
		t.Fatal(err)
	}
	// bbolt locks the file while open: a second Open proves it was closed.
	again, err := boltsession.Open(db, &boltsession.BoltOptions{Timeout: 100 * time.Millisecond, SweepInterval: -1})
	if err != nil {
		t.Fatalf("reopen after Close: %v", err)
	}
	again.Close()
}
