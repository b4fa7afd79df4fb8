package stacks

import (
	"github.com/boltsession/boltsession/redisstore"
	"github.com/redis/go-redis/v9"
)

func init() {
	register("boltsession-redisstore", func(cfg Config) (*Stack, error) { return newBoltsessionRedis(cfg, nil) })
	register("boltsession-redisstore-cache", func(cfg Config) (*Stack, error) {
		return newBoltsessionRedis(cfg, &redisstore.CacheOptions{})
	})
}

// newBoltsessionRedis is the same boltsession app with its Redis store (the
// multi-machine mode): one hash per session, per-key merges, no fsync;
// with cache, redisstore's client-side cache (Options.Cache).
func newBoltsessionRedis(cfg Config, cache *redisstore.CacheOptions) (*Stack, error) {
	client := redis.NewClient(&redis.Options{Addr: cfg.RedisAddr, PoolSize: 64})
	st := redisstore.New(client, &redisstore.Options{Cache: cache})
	closeAll := func() error {
		st.Close()
		return client.Close()
	}
	h, err := boltsessionApp(st, cfg, false)
	if err != nil {
		closeAll()
		return nil, err
	}
	return &Stack{Handler: h, Close: closeAll}, nil
}
