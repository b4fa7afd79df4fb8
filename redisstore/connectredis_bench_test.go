package redisstore

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/boltsession/boltsession"
	"github.com/boltsession/boltsession/redisstore/redistest"
	"github.com/redis/go-redis/v9"
)

// The merge of ConnectRedisStore is a read and a compare-and-set script
// (two round trips, a retry when another save came in between). The
// benchmarks below measure it against the other way to the same guarantee,
// WATCH/MULTI/EXEC (three round trips on a connection of its own), on one
// session (every writer contends) and on a session per writer:
//
//	go test -run '^$' -bench 'ConnectRedisMerge' -benchmem ./redisstore
func BenchmarkConnectRedisMerge(b *testing.B) {
	srv := redistest.Start(b)
	client := redis.NewClient(&redis.Options{Addr: srv.Addr, PoolSize: 64})
	b.Cleanup(func() { client.Close() })
	store := NewConnectRedis(client, &ConnectRedisOptions{Cookie: ExpressCookie{MaxAge: time.Hour}})
	ctx := context.Background()
	value := map[string][]byte{
		"user": mp(b, map[string]any{"id": 42, "name": "alice", "roles": []string{"admin", "dev"}}),
		"cart": mp(b, []map[string]any{{"sku": "A-1", "qty": 2}, {"sku": "B-7", "qty": 1}}),
	}
	var ids atomic.Int64
	newSession := func() string {
		id := fmt.Sprintf("bench%d", ids.Add(1))
		if err := store.Save(ctx, boltsession.Update{ID: id, Create: true, Expires: time.Now().Add(time.Hour), Set: value}); err != nil {
			b.Fatal(err)
		}
		return id
	}
	merges := map[string]func(id string, i int) error{
		"cas": func(id string, i int) error {
			return store.Save(ctx, boltsession.Update{ID: id, Expires: time.Now().Add(time.Hour),
				Set: map[string][]byte{fmt.Sprintf("k%d", i%8): mp(b, i)}})
		},
		"watch": func(id string, i int) error {
			return mergeWatch(ctx, store, boltsession.Update{ID: id, Expires: time.Now().Add(time.Hour),
				Set: map[string][]byte{fmt.Sprintf("k%d", i%8): mp(b, i)}})
		},
	}
	for _, how := range []string{"cas", "watch"} {
		merge := merges[how]
		b.Run(how+"/one-writer", func(b *testing.B) {
			id := newSession()
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				if err := merge(id, i); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(how+"/parallel-one-session", func(b *testing.B) {
			id := newSession()
			b.ReportAllocs()
			b.SetParallelism(4)
			b.RunParallel(func(pb *testing.PB) {
				for i := 0; pb.Next(); i++ {
					if err := merge(id, i); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
		b.Run(how+"/parallel-own-sessions", func(b *testing.B) {
			b.ReportAllocs()
			b.SetParallelism(4)
			b.RunParallel(func(pb *testing.PB) {
				id := newSession()
				for i := 0; pb.Next(); i++ {
					if err := merge(id, i); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// mergeWatch is the WATCH/MULTI/EXEC merge the benchmark compares with:
// the same read, apply and write, the transaction failing (and the merge
// reading again) when the key changed after the WATCH.
func mergeWatch(ctx context.Context, s *ConnectRedisStore, u boltsession.Update) error {
	key := s.sessionKey(u.ID)
	for range maxMergeAttempts {
		err := s.client.Watch(ctx, func(tx *redis.Tx) error {
			v, err := tx.Get(ctx, key).Result()
			if err != nil {
				return err
			}
			e, err := tx.Do(ctx, "pexpiretime", key).Int64()
			if err != nil {
				return err
			}
			sess, err := parseSession([]byte(v))
			if err != nil {
				return err
			}
			now := time.Now()
			sess.apply(u, &s.opts.Cookie, time.UnixMilli(e), sess.created(now))
			_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
				p.Set(ctx, key, sess.obj.render(), time.Until(u.Expires))
				return nil
			})
			return err
		}, key)
		if !errors.Is(err, redis.TxFailedErr) {
			return err
		}
	}
	return errors.New("too many attempts")
}
