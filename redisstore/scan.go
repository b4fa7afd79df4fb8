package redisstore

import (
	"context"
	"errors"
	"strings"
	"sync"

	"github.com/boltsession/boltsession"
	"github.com/redis/go-redis/v9"
)

// Count returns the number of live sessions, in both layouts. It walks the
// keyspace with SCAN (MATCH Prefix*, TYPE hash, COUNT ScanCount), never
// KEYS, so Redis serves other clients between steps; the cost is O(keys in
// the database) round trips of ScanCount keys each. Keys SCAN returns twice
// are counted once. On Cluster every master is scanned. A session being
// regenerated or moved at that moment may be missed.
func (s *Store) Count(ctx context.Context) (int, error) {
	if s.misconfigured != nil {
		return 0, s.misconfigured
	}
	n := 0
	now := nanos(s.opts.Now())
	err := s.scan(ctx, func(c redis.Cmdable, found []found) error {
		pipe := c.Pipeline()
		cmds := make([]*redis.SliceCmd, len(found))
		for i, f := range found {
			cmds[i] = pipe.HMGet(ctx, f.key, fieldExpires, fieldNext, fieldPending, fieldMoved)
		}
		if err := execTolerant(ctx, pipe); err != nil {
			return err
		}
		for _, cmd := range cmds {
			v := strs(cmd)
			if v[1] != "" || v[2] != "" || v[3] != "" || !isDecimal(v[0]) {
				continue // a marker, pending or moved record, or not one of ours
			}
			if laterDecimal(v[0], now) {
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
// order, until fn returns an error (which Iterate returns). Each record
// names its session by Handle and has an empty ID: the store does not keep
// IDs (a session still in the legacy layout is listed the same way). It
// walks the keyspace like Count and loads each batch of ScanCount keys in
// one pipeline. Corrupt records are skipped; a value sealed with a key the
// store was not given (Options.ValueKeys) stops the walk with an error
// wrapping boltsession.ErrKey, since every such session would be missing.
// A session created, regenerated or moved during the walk may or may not
// be visited.
func (s *Store) Iterate(ctx context.Context, fn func(*boltsession.Record) error) error {
	if s.misconfigured != nil {
		return s.misconfigured
	}
	var fnErr error
	err := s.scan(ctx, func(c redis.Cmdable, found []found) error {
		pipe := c.Pipeline()
		cmds := make([]*redis.MapStringStringCmd, len(found))
		for i, f := range found {
			cmds[i] = pipe.HGetAll(ctx, f.key)
		}
		if err := execTolerant(ctx, pipe); err != nil {
			return err
		}
		for i, cmd := range cmds {
			h, err := cmd.Result()
			if err != nil {
				continue
			}
			r, err := s.decodeLive(found[i].handle, h, found[i].legacy)
			if errors.Is(err, boltsession.ErrKey) {
				fnErr = err
				return errStop
			}
			if err != nil {
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

// found is a session key a scan found, with the session's handle and the
// layout it is in.
type found struct {
	key    string
	handle handle
	legacy bool
}

// scan calls batch with each SCAN page of session keys of both layouts, on
// every node that holds keys, one node and one page at a time. A session
// is passed once even if SCAN returns its key again (it may, while Redis
// resizes its table) or both layouts hold it (the per-session one wins).
func (s *Store) scan(ctx context.Context, batch func(c redis.Cmdable, found []found) error) error {
	seen := make(map[string]struct{})
	prefixes := []string{s.opts.Prefix}
	if s.legacyOn() && s.opts.LegacyPrefix != s.opts.Prefix {
		prefixes = append(prefixes, s.opts.LegacyPrefix)
	}
	for _, prefix := range prefixes {
		err := s.scanPrefix(ctx, prefix, func(c redis.Cmdable, keys []string) error {
			var fresh []found
			for _, k := range keys {
				if _, dup := seen[k]; dup {
					continue
				}
				h, ok := s.handleOfSessionKey(k)
				legacy := !ok
				if ok {
					seen["\x00"+string(h)] = struct{}{}
				} else {
					id, ok := s.idOfLegacyKey(k)
					if !ok {
						continue
					}
					h = handleOf(id)
					if _, dup := seen["\x00"+string(h)]; dup {
						continue
					}
				}
				seen[k] = struct{}{}
				fresh = append(fresh, found{key: k, handle: h, legacy: legacy})
			}
			if len(fresh) == 0 {
				return nil
			}
			return batch(c, fresh)
		})
		if err != nil {
			if errors.Is(err, errStop) {
				return nil
			}
			return err
		}
	}
	return nil
}

// scanPrefix calls batch with each SCAN page of hash keys under prefix, on
// every node, one node and one page at a time.
func (s *Store) scanPrefix(ctx context.Context, prefix string, batch func(c redis.Cmdable, keys []string) error) error {
	nodes, err := nodesOf(ctx, s.client)
	if err != nil {
		return err
	}
	match := escapeGlob(prefix) + "*"
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
			if len(keys) > 0 {
				if err := batch(c, keys); err != nil {
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

// nodesOf returns the servers of client to scan: every master of a
// Cluster, every shard of a Ring, or the client itself.
func nodesOf(ctx context.Context, client redis.UniversalClient) ([]redis.Cmdable, error) {
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
	switch c := client.(type) {
	case *redis.ClusterClient:
		if err := c.ForEachMaster(ctx, add); err != nil {
			return nil, err
		}
	case *redis.Ring:
		if err := c.ForEachShard(ctx, add); err != nil {
			return nil, err
		}
	default:
		nodes = append(nodes, client)
	}
	return nodes, nil
}

// execTolerant runs a pipeline and returns its first error other than a
// WRONGTYPE reply: a key that changed type since SCAN is left on its
// command for the caller to skip.
func execTolerant(ctx context.Context, pipe redis.Pipeliner) error {
	cmds, err := pipe.Exec(ctx)
	if err == nil {
		return nil
	}
	for _, cmd := range cmds {
		if e := cmd.Err(); e != nil && e != redis.Nil && !isWrongType(e) {
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
