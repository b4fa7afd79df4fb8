package stacks

import (
	"github.com/boltsession/boltsession/redisstore"
	"github.com/redis/go-redis/v9"
)

func init() { register("boltsession-redisstore", newBoltsessionRedis) }

// newBoltsessionRedis is the same boltsession app with its Redis store (the
// multi-machine mode): one hash per session, per-key merges, no fsync;
// with Config.RedisCache, redisstore's client-side cache (Options.Cache).
func newBoltsessionRedis(cfg Config) (*Stack, error) {
	client := redis.NewClient(&redis.Options{Addr: cfg.RedisAddr, PoolSize: 64})
	var opts redisstore.Options
	if cfg.RedisCache {
		opts.Cache = &redisstore.CacheOptions{}
	}
	st := redisstore.New(client, &opts)
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
