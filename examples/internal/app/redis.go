package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"time"

	"github.com/boltsession/boltsession/redisstore"
	"github.com/redis/go-redis/v9"
)

// RedisPingTimeout bounds the check at start that the Redis server answers.
const RedisPingTimeout = 5 * time.Second

// RedisOptions parses Redis, a URL such as redis://[user:pass@]host:6379/0
// (rediss:// for TLS), into go-redis client options set up for a web
// server: a request's context deadline bounds its Redis calls
// (ContextTimeoutEnabled; go-redis ignores deadlines without it), and a
// server that is down fails a request after one dial instead of five with
// backoff (DialerRetries). Query parameters that go-redis knows, such as
// dial_timeout=2s, are honoured.
func (f *Flags) RedisOptions() (*redis.Options, error) {
	opt, err := redis.ParseURL(f.Redis)
	if err != nil {
		// A *url.Error repeats the whole URL, password included.
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return nil, fmt.Errorf("-redis %s: %w", redactURL(f.Redis), err)
	}
	opt.ContextTimeoutEnabled = true
	opt.DialerRetries = 1
	return opt, nil
}

// RedisClusterOptions parses RedisCluster, a URL such as
// redis://[user:pass@]host1:6379?addr=host2:6379&addr=host3:6379 (go-redis's
// ParseClusterURL: the seed nodes of a Redis Cluster), into cluster client
// options set up like RedisOptions' for a web server.
func (f *Flags) RedisClusterOptions() (*redis.ClusterOptions, error) {
	opt, err := redis.ParseClusterURL(f.RedisCluster)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return nil, fmt.Errorf("-redis-cluster %s: %w", redactURL(f.RedisCluster), err)
	}
	opt.ContextTimeoutEnabled = true
	opt.DialerRetries = 1
	return opt, nil
}

// OpenRedis connects to the server named by Redis, or to the cluster named
// by RedisCluster, checks within RedisPingTimeout that it answers, and
// returns a redisstore.Store on it with the client, which the caller closes
// when done with the store. A server that does not answer at start is
// reported rather than left for the first request to find: a mistyped URL
// should stop the program, not turn every request into a 500.
func (f *Flags) OpenRedis(ctx context.Context) (*redisstore.Store, redis.UniversalClient, error) {
	var (
		client redis.UniversalClient
		where  string
	)
	if f.RedisCluster != "" {
		opt, err := f.RedisClusterOptions()
		if err != nil {
			return nil, nil, err
		}
		client, where = redis.NewClusterClient(opt), "redis cluster "+redactURL(f.RedisCluster)
	} else {
		opt, err := f.RedisOptions()
		if err != nil {
			return nil, nil, err
		}
		client, where = redis.NewClient(opt), "redis "+redactURL(f.Redis)
	}
	ctx, cancel := context.WithTimeout(ctx, RedisPingTimeout)
	defer cancel()
	if err := client.Ping(ctx).Err(); err != nil {
		client.Close()
		return nil, nil, fmt.Errorf("%s: %w", where, err)
	}
	return redisstore.New(client, nil), client, nil
}

// redactURL hides the password of a Redis URL for logs and messages. A
// string that is not a URL is returned as "(unparsable URL)", since it may
// hold a password in a form url.Parse cannot find.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

// redisLog passes go-redis's own messages (failed dials, pool trouble) to
// the program's logger at level WARN, so they share its format instead of
// going to stderr through the log package. Install it with redis.SetLogger,
// which is process-wide.
type redisLog struct{ logger *slog.Logger }

func (l redisLog) Printf(ctx context.Context, format string, v ...any) {
	l.logger.WarnContext(ctx, fmt.Sprintf(format, v...), "from", "go-redis")
}
