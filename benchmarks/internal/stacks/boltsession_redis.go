package stacks

import (
	"github.com/boltsession/boltsession/redisstore"
	"github.com/redis/go-redis/v9"
)

func init() { register("boltsession-redisstore", newBoltsessionRedis) }

// newBoltsessionRedis is the same boltsession app with its Redis store (the
// multi-machine mode): one hash per session, per-key merges, no fsync.
func newBoltsessionRedis(cfg Config) (*Stack, error) {
	client := redis.NewClient(&redis.Options{Addr: cfg.RedisAddr, PoolSize: 64})
	st := redisstore.New(client, nil)
	h, err := boltsessionApp(st, cfg, false)
	if err != nil {
		client.Close()
		return nil, err
	}
	return &Stack{Handler: h, Close: client.Close}, nil
}
