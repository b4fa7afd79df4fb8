package redisstore

import (
	"context"
	"strings"

	"github.com/boltsession/boltsession"
	"github.com/redis/go-redis/v9"
)

// Count returns the number of live sessions: keys under Prefix that hold a
// non-empty string, unexpired by the store's clock, with no marker. It
// walks the keyspace as connect-redis's length does (SCAN MATCH Prefix*,
// here also TYPE string, COUNT ScanCount), on every master, with one
// pipeline per page; the cost is O(keys in the database). Values are not
// parsed: a key under Prefix that is not a session (express-session could
// not load it either) is counted, as connect-redis counts it.
func (s *ConnectRedisStore) Count(ctx context.Context) (int, error) {
	if s.misconfigured != nil {
		return 0, s.misconfigured
	}
	n := 0
	now := ms(s.opts.Now())
	err := s.scan(ctx, func(c redis.Cmdable, ids []string) error {
		pipe := c.Pipeline()
		lens := make([]*redis.IntCmd, len(ids))
		exps := make([]*redis.Cmd, len(ids))
		marks := make([]*redis.IntCmd, len(ids))
		for i, id := range ids {
			lens[i] = pipe.StrLen(ctx, s.sessionKey(id))
			exps[i] = pipe.Do(ctx, "pexpiretime", s.sessionKey(id))
			marks[i] = pipe.Exists(ctx, s.markerKey(id))
		}
		if err := execTolerant(ctx, pipe); err != nil {
			return err
		}
		for i := range ids {
			e, _ := exps[i].Int64()
			if lens[i].Val() > 0 && marks[i].Val() == 0 && (e == -1 || e > now) {
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
// keyspace like Count and reads each page in one pipeline. Values
// express-session could not load are skipped.
func (s *ConnectRedisStore) Iterate(ctx context.Context, fn func(*boltsession.Record) error) error {
	if s.misconfigured != nil {
		return s.misconfigured
	}
	var fnErr error
	err := s.scan(ctx, func(c redis.Cmdable, ids []string) error {
		pipe := c.Pipeline()
		vals := make([]*redis.StringCmd, len(ids))
		exps := make([]*redis.Cmd, len(ids))
		marks := make([]*redis.IntCmd, len(ids))
		for i, id := range ids {
			vals[i] = pipe.Get(ctx, s.sessionKey(id))
			exps[i] = pipe.Do(ctx, "pexpiretime", s.sessionKey(id))
			marks[i] = pipe.Exists(ctx, s.markerKey(id))
		}
		if err := execTolerant(ctx, pipe); err != nil {
			return err
		}
		now := s.opts.Now()
		for i, id := range ids {
			v, err := vals[i].Result()
			if err != nil || v == "" || marks[i].Val() != 0 {
				continue
			}
			e, err := exps[i].Int64()
			if err != nil {
				continue
			}
			exp, live := s.expiry(e, v, now)
			if !live {
				continue
			}
			rec, err := s.decode(id, read{value: v, expires: exp})
			if err != nil {
				continue
			}
			if err := fn(rec); err != nil {
				fnErr = err
				return errStop
			}
		}
		return nil
	})
	if fnErr != nil {
		return fnErr
	}
	if err != nil && err != errStop {
		return wrap("iterate", err)
	}
	return nil
}

// scan calls batch with the IDs of each SCAN page of string keys under
// Prefix, on every master, once per ID.
func (s *ConnectRedisStore) scan(ctx context.Context, batch func(c redis.Cmdable, ids []string) error) error {
	nodes, err := nodesOf(ctx, s.client)
	if err != nil {
		return err
	}
	seen := make(map[string]struct{})
	match := escapeGlob(s.opts.Prefix) + "*"
	for _, c := range nodes {
		var cursor uint64
		for {
			if err := ctx.Err(); err != nil {
				return err
			}
			keys, next, err := c.ScanType(ctx, cursor, match, int64(s.opts.ScanCount), "string").Result()
			if err != nil {
				return err
			}
			var ids []string
			for _, k := range keys {
				id, ok := strings.CutPrefix(k, s.opts.Prefix)
				if _, dup := seen[id]; !ok || dup || !crValidID(id) {
					continue
				}
				seen[id] = struct{}{}
				ids = append(ids, id)
			}
			if len(ids) > 0 {
				if err := batch(c, ids); err != nil {
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
