package redisstore

import (
	"context"
	"errors"
	"strings"
	"sync"

	"github.com/boltsession/boltsession"
	"github.com/redis/go-redis/v9"
)

// Count returns the number of live sessions. It walks the keyspace with
// SCAN (MATCH Prefix*, TYPE hash, COUNT ScanCount), never KEYS, so Redis
// serves other clients between steps; the cost is O(keys in the database)
// round trips of ScanCount keys each. Keys SCAN returns twice are counted
// once. On Cluster every master is scanned.
func (s *Store) Count(ctx context.Context) (int, error) {
	if s.misconfigured != nil {
		return 0, s.misconfigured
	}
	n := 0
	now := nanos(s.opts.Now())
	err := s.scan(ctx, func(c redis.Cmdable, keys []string) error {
		pipe := c.Pipeline()
		cmds := make([]*redis.StringCmd, len(keys))
		for i, k := range keys {
			cmds[i] = pipe.HGet(ctx, k, fieldExpires)
		}
		if err := execTolerant(ctx, pipe); err != nil {
			return err
		}
		for _, cmd := range cmds {
			e, err := cmd.Result()
			if err != nil || !isDecimal(e) {
				continue // gone since SCAN, or not one of our records
			}
			if laterDecimal(e, now) {
				n++
			}
		}
		return nil
	})
	if err != nil {
		return 0, wrap("count", err)
	}
	return n, nil
}

// Iterate calls fn for each live session, values included, in no promised
// order, until fn returns an error (which Iterate returns). It walks the
// keyspace like Count and loads each batch of ScanCount keys in one
// pipeline. Corrupt records are skipped; a session created during the walk
// may or may not be visited.
func (s *Store) Iterate(ctx context.Context, fn func(*boltsession.Record) error) error {
	if s.misconfigured != nil {
		return s.misconfigured
	}
	var fnErr error
	err := s.scan(ctx, func(c redis.Cmdable, keys []string) error {
		pipe := c.Pipeline()
		cmds := make([]*redis.MapStringStringCmd, len(keys))
		for i, k := range keys {
			cmds[i] = pipe.HGetAll(ctx, k)
		}
		if err := execTolerant(ctx, pipe); err != nil {
			return err
		}
		now := s.opts.Now()
		for i, cmd := range cmds {
			h, err := cmd.Result()
			if err != nil || len(h) == 0 {
				continue
			}
			r, err := decodeRecord(strings.TrimPrefix(keys[i], s.opts.Prefix), h)
			if err != nil || !now.Before(r.Expires) {
				continue
			}
			if err := fn(r); err != nil {
				fnErr = err
				return errStop
			}
		}
		return nil
	})
	if fnErr != nil {
		return fnErr
	}
	if err != nil {
		return wrap("iterate", err)
	}
	return nil
}

// errStop ends a scan early without being an error of its own.
var errStop = errors.New("boltsession: redisstore: iteration stopped")

// scan calls batch with each SCAN page of session keys, on every node that
// holds keys, one node and one page at a time. A key is passed once even if
// SCAN returns it again (it may, while Redis resizes its table).
func (s *Store) scan(ctx context.Context, batch func(c redis.Cmdable, keys []string) error) error {
	nodes, err := s.nodes(ctx)
	if err != nil {
		return err
	}
	match := escapeGlob(s.opts.Prefix) + "*"
	owners := s.ownerPrefix()
	seen := make(map[string]struct{})
	for _, c := range nodes {
		var cursor uint64
		for {
			if err := ctx.Err(); err != nil {
				return err
			}
			keys, next, err := c.ScanType(ctx, cursor, match, int64(s.opts.ScanCount), "hash").Result()
			if err != nil {
				return err
			}
			fresh := keys[:0]
			for _, k := range keys {
				if strings.HasPrefix(k, owners) {
					continue
				}
				if _, dup := seen[k]; dup {
					continue
				}
				seen[k] = struct{}{}
				fresh = append(fresh, k)
			}
			if len(fresh) > 0 {
				if err := batch(c, fresh); err != nil {
					if errors.Is(err, errStop) {
						return nil
					}
					return err
				}
			}
			if next == 0 {
				break
			}
			cursor = next
		}
	}
	return nil
}

// nodes returns the servers to scan: every master of a Cluster, every shard
// of a Ring, or the client itself.
func (s *Store) nodes(ctx context.Context) ([]redis.Cmdable, error) {
	var (
		mu    sync.Mutex
		nodes []redis.Cmdable
	)
	add := func(_ context.Context, c *redis.Client) error {
		mu.Lock()
		nodes = append(nodes, c)
		mu.Unlock()
		return nil
	}
	switch c := s.client.(type) {
	case *redis.ClusterClient:
		if err := c.ForEachMaster(ctx, add); err != nil {
			return nil, err
		}
	case *redis.Ring:
		if err := c.ForEachShard(ctx, add); err != nil {
			return nil, err
		}
	default:
		nodes = append(nodes, s.client)
	}
	return nodes, nil
}

// execTolerant runs a pipeline and returns only errors on the way to Redis
// (connection, timeout, ctx): a per-key reply error, such as a key that
// changed type since SCAN, is left on its command for the caller to skip.
func execTolerant(ctx context.Context, pipe redis.Pipeliner) error {
	cmds, err := pipe.Exec(ctx)
	if err == nil {
		return nil
	}
	for _, cmd := range cmds {
		if e := cmd.Err(); e != nil && e != redis.Nil && !isReply(e) {
			return e
		}
	}
	return nil
}

// escapeGlob quotes the characters SCAN MATCH treats as special.
func escapeGlob(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '*', '?', '[', ']', '\\':
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// isDecimal reports a non-empty string of ASCII digits.
func isDecimal(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// laterDecimal reports a > b for non-negative decimal strings without
// leading zeros, the way the Lua scripts compare stored times.
func laterDecimal(a, b string) bool {
	if len(a) != len(b) {
		return len(a) > len(b)
	}
	return a > b
}
