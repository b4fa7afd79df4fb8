package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/redis/go-redis/v9"
)

// resealSrc writes the new stored forms of values, each only if its field
// still holds the form that was read: a save that wrote the field since
// wins, and a session that ended (or was replaced) gets nothing back,
// since its fields are gone. The key's expiry is left as it is.
//
// KEYS[1] session key. ARGV: field, form read, new form, ... Returns {1,
// fields written}.
const resealSrc = luaCommon + `
local key, n = KEYS[1], 0
if kind(key) ~= 'hash' then return {1, 0} end
for i = 1, #ARGV, 3 do
  if redis.call('HGET', key, ARGV[i]) == ARGV[i + 1] then
    redis.call('HSET', key, ARGV[i], ARGV[i + 2])
    n = n + 1
  end
end
return {1, n}
`

// Reseal seals under the first of Options.ValueKeys every value of the
// per-session layout that is in clear or sealed with another key, and
// returns how many values it sealed. Run it after turning ValueKeys on
// (values written before stay in clear until they are next written) and
// after putting a new key first: once it returns nil, no value needs the
// old keys, which may then be dropped. Sessions still in the legacy
// layout are not its business: MoveLegacy moves them and seals their
// values.
//
// It walks the keyspace like Count, reads each page of sessions in one
// pipeline, and writes each session that needs it with one script that
// sets a value only if its field still holds what was read, so it may run
// while the application serves: a save in between wins, and no ended
// session comes back. It is idempotent; an interrupted run is finished by
// the next. A store without ValueKeys gives an error and writes nothing.
// A value sealed with a key the store was not given (an error wrapping
// boltsession.ErrKey), or damaged, is left as it is, the walk goes on,
// and the error names the sessions by handle.
func (s *Store) Reseal(ctx context.Context) (int, error) {
	if s.misconfigured != nil {
		return 0, s.misconfigured
	}
	if s.sealer == nil {
		return 0, errors.New("boltsession: redisstore: reseal: the store has no Options.ValueKeys to seal with")
	}
	sealed := 0
	var errs []error
	err := s.scanPrefix(ctx, s.opts.Prefix, func(c redis.Cmdable, keys []string) error {
		var hs []handle
		for _, k := range keys {
			if h, ok := s.handleOfSessionKey(k); ok {
				hs = append(hs, h)
			}
		}
		if len(hs) == 0 {
			return nil
		}
		pipe := c.Pipeline()
		cmds := make([]*redis.MapStringStringCmd, len(hs))
		for i, h := range hs {
			cmds[i] = pipe.HGetAll(ctx, s.sessionKey(h))
		}
		if err := execTolerant(ctx, pipe); err != nil {
			return err
		}
		var calls []*call
		for i, h := range hs {
			fields, err := cmds[i].Result()
			if err != nil {
				continue // no longer a hash
			}
			args, err := s.resealArgs(h, fields)
			if err != nil {
				errs = append(errs, fmt.Errorf("session %s: %w", h, err))
			}
			if len(args) > 0 {
				calls = append(calls, newCall(s.scripts.reseal, []string{s.sessionKey(h)}, args...))
			}
		}
		if len(calls) == 0 {
			return nil
		}
		if err := s.run(ctx, calls...); err != nil {
			return err
		}
		for _, c := range calls {
			if err := scriptErr("reseal", c); err != nil {
				return err
			}
			sealed += int(c.int(1))
		}
		return nil
	})
	if err != nil {
		return sealed, wrap("reseal", err)
	}
	if len(errs) > 0 {
		return sealed, fmt.Errorf("boltsession: redisstore: reseal: %d values left as they are: %w", len(errs), errors.Join(errs...))
	}
	return sealed, nil
}

// resealArgs returns the reseal script's arguments for the value fields of
// the session h that are not sealed with the first key, and an error for
// those that cannot be opened (those are left out).
func (s *Store) resealArgs(h handle, fields map[string]string) ([]any, error) {
	var (
		args []any
		errs []error
	)
	for f, stored := range fields {
		if !strings.HasPrefix(f, valuePrefix) {
			continue
		}
		if stored != "" && stored[0] == valueSealed && s.sealer.Current([]byte(stored)) {
			continue
		}
		v, err := s.decodeValue(h, f, stored)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		form, err := s.encodeValue(h, f, v)
		if err != nil {
			return nil, err
		}
		args = append(args, f, stored, form)
	}
	if len(errs) > 0 {
		return args, errors.Join(errs...)
	}
	return args, nil
}
