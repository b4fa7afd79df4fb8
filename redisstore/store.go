package redisstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/boltsession/boltsession"
	"github.com/redis/go-redis/v9"
)

// Store keeps sessions in Redis. It implements boltsession.Store and the
// optional capabilities boltsession.OwnerIndex, boltsession.Counter and
// boltsession.Iterator. It is safe for concurrent use.
//
// The Store does not own the client: closing the client is the caller's
// job, after which every method returns an error wrapping
// boltsession.ErrClosed.
type Store struct {
	client redis.UniversalClient
	opts   Options
	// misconfigured is returned by every method when the options cannot
	// work with the client (an untagged Prefix on Cluster).
	misconfigured error
}

var (
	_ boltsession.Store      = (*Store)(nil)
	_ boltsession.OwnerIndex = (*Store)(nil)
	_ boltsession.Counter    = (*Store)(nil)
	_ boltsession.Iterator   = (*Store)(nil)
)

// New returns a Store that keeps sessions through client: a *redis.Client
// (one server or Sentinel failover), a *redis.ClusterClient or a
// *redis.Ring. A nil opts means the defaults documented on Options. New
// does not contact Redis; an unreachable server shows as errors from the
// methods, and service resumes when the client reconnects.
func New(client redis.UniversalClient, opts *Options) *Store {
	s := &Store{client: client, opts: resolve(client, opts)}
	if sharded(client) && !hasHashTag(s.opts.Prefix) {
		s.misconfigured = fmt.Errorf("boltsession: redisstore: Prefix %q has no hash tag; on Redis Cluster or Ring every key of the store must share one, e.g. Prefix \"{sess}:\"", s.opts.Prefix)
	}
	return s
}

// Prefix returns the key prefix in use, after defaults.
func (s *Store) Prefix() string { return s.opts.Prefix }

func (s *Store) sessionKey(id string) string { return s.opts.Prefix + id }
func (s *Store) ownerPrefix() string         { return s.opts.Prefix + ownerInfix }
func (s *Store) ownerKey(owner string) string {
	return s.opts.Prefix + ownerInfix + owner
}

// validID reports whether id can name a session: IDs that start like an
// owner key or a lock key are refused so the kinds of key never meet.
func validID(id string) bool {
	return !strings.HasPrefix(id, ownerInfix) && !strings.HasPrefix(id, lockInfix)
}

// wrap adds the package prefix and the operation to a Redis error, and
// marks a closed client with boltsession.ErrClosed.
func wrap(op string, err error) error {
	if errors.Is(err, redis.ErrClosed) {
		return fmt.Errorf("boltsession: redisstore: %s: %w: %w", op, boltsession.ErrClosed, err)
	}
	return fmt.Errorf("boltsession: redisstore: %s: %w", op, err)
}

// isReply reports an error that Redis answered (such as WRONGTYPE), as
// opposed to one on the way there (connection refused, timeout, ctx).
func isReply(err error) bool {
	var re redis.Error
	return errors.As(err, &re) && !errors.Is(err, redis.ErrClosed)
}

// Load returns the live session with the given ID. A missing record, or one
// past its Expires by the store's clock, gives boltsession.ErrNotFound; a
// key that is not a session hash of this package gives an error wrapping
// boltsession.ErrCorrupt.
func (s *Store) Load(ctx context.Context, id string) (*boltsession.Record, error) {
	if s.misconfigured != nil {
		return nil, s.misconfigured
	}
	if !validID(id) {
		return nil, boltsession.ErrNotFound
	}
	h, err := s.client.HGetAll(ctx, s.sessionKey(id)).Result()
	if err != nil {
		if isReply(err) { // WRONGTYPE: some other value under our key
			return nil, fmt.Errorf("boltsession: redisstore: load: %w: %w", boltsession.ErrCorrupt, err)
		}
		return nil, wrap("load", err)
	}
	if _, replaced := h[fieldNext]; len(h) == 0 || replaced {
		return nil, boltsession.ErrNotFound
	}
	r, err := decodeRecord(id, h)
	if err != nil {
		return nil, fmt.Errorf("boltsession: redisstore: load: %w", err)
	}
	if !s.opts.Now().Before(r.Expires) {
		return nil, boltsession.ErrNotFound
	}
	return r, nil
}

// Save applies u in one Lua script, so every part lands or none does: the
// must-not-exist check of a create, the must-exist check of a merge, the
// per-key merge (HSET/HDEL of value fields), the metadata, PEXPIREAT and
// the owner index. A replace renames the replaced session's hash to the new
// ID and leaves at the old key a marker hash {m:next: new ID} that expires
// with the old session or after boltsession.ReplacedGrace, whichever is
// first.
//
// Save returning nil means Redis applied the change in memory; whether it
// survives a Redis crash is up to the server's persistence settings
// (appendonly, appendfsync) and replication, not to this package.
func (s *Store) Save(ctx context.Context, u boltsession.Update) error {
	if s.misconfigured != nil {
		return s.misconfigured
	}
	if !validID(u.ID) {
		return fmt.Errorf("boltsession: redisstore: save: session ID may not start with %q or %q", ownerInfix, lockInfix)
	}
	if u.Create && u.Expires.IsZero() {
		return errors.New("boltsession: redisstore: save: a new record needs Expires")
	}
	keys := []string{s.sessionKey(u.ID)}
	if u.Replaces != "" {
		switch {
		case !u.Create:
			return errors.New("boltsession: redisstore: save: Replaces needs Create")
		case u.Replaces == u.ID:
			return errors.New("boltsession: redisstore: save: a session cannot replace itself")
		case !validID(u.Replaces):
			return boltsession.ErrNotFound
		}
		keys = append(keys, s.sessionKey(u.Replaces))
	}
	args := make([]any, 0, 15+2*len(u.Set)+len(u.Delete))
	args = append(args, u.ID, s.ownerPrefix(), nanos(s.opts.Now()),
		flag(u.Create), nanos(u.Created), flag(u.Clear))
	if u.Expires.IsZero() {
		args = append(args, "", "")
	} else {
		args = append(args, nanos(u.Expires), millis(u.Expires))
	}
	if u.Owner != nil {
		args = append(args, "1", *u.Owner)
	} else {
		args = append(args, "0", "")
	}
	if u.MaxAge != nil {
		args = append(args, "1", strconv.FormatInt(int64(*u.MaxAge), 10))
	} else {
		args = append(args, "0", "0")
	}
	args = append(args, u.Replaces, millis(s.opts.Now().Add(boltsession.ReplacedGrace)), len(u.Set))
	for k, v := range u.Set {
		args = append(args, valuePrefix+k, v)
	}
	for _, k := range u.Delete {
		args = append(args, valuePrefix+k)
	}
	n, err := saveScript.Run(ctx, s.client, keys, args...).Int()
	if err != nil {
		return wrap("save", err)
	}
	return scriptOutcome(n)
}

// scriptOutcome turns the reply of the save and touch scripts into the
// Store contract's errors.
func scriptOutcome(n int) error {
	switch n {
	case 1:
		return nil
	case -1:
		return boltsession.ErrReplaced
	case -2:
		return boltsession.ErrExists
	}
	return boltsession.ErrNotFound
}

func flag(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// Touch moves the expiry of a live session (its m:expires field and its
// PEXPIREAT) without rewriting its values. A missing or expired record
// gives boltsession.ErrNotFound.
func (s *Store) Touch(ctx context.Context, id string, expires time.Time) error {
	if s.misconfigured != nil {
		return s.misconfigured
	}
	if !validID(id) {
		return boltsession.ErrNotFound
	}
	n, err := touchScript.Run(ctx, s.client, []string{s.sessionKey(id)},
		id, s.ownerPrefix(), nanos(s.opts.Now()), nanos(expires), millis(expires)).Int()
	if err != nil {
		return wrap("touch", err)
	}
	return scriptOutcome(n)
}

// maxReplaceChain bounds how many markers of replaced sessions Delete
// follows; replaces only ever point to unused IDs, so a chain cannot loop.
const maxReplaceChain = 10_000

// Delete ends the session: it removes the session and its owner-index
// entry and, if the session was replaced while its marker is kept, the
// replacements too, in one script. Deleting a missing session is not an
// error.
func (s *Store) Delete(ctx context.Context, id string) error {
	if s.misconfigured != nil {
		return s.misconfigured
	}
	if !validID(id) {
		return nil
	}
	if err := deleteScript.Run(ctx, s.client, []string{s.sessionKey(id)}, id, s.ownerPrefix(),
		s.opts.Prefix, maxReplaceChain).Err(); err != nil {
		return wrap("delete", err)
	}
	return nil
}

// Owned returns the owner's live sessions, oldest first, with Values nil.
// The same script removes from the owner's set every member that is no
// longer a live session of that owner.
func (s *Store) Owned(ctx context.Context, owner string) ([]boltsession.Record, error) {
	if s.misconfigured != nil {
		return nil, s.misconfigured
	}
	res, err := ownedScript.Run(ctx, s.client, []string{s.ownerKey(owner)},
		s.opts.Prefix, owner, nanos(s.opts.Now())).Slice()
	if err != nil {
		return nil, wrap("owned", err)
	}
	out := make([]boltsession.Record, 0, len(res))
	for _, row := range res {
		f, ok := row.([]any)
		if !ok || len(f) != 4 {
			return nil, fmt.Errorf("boltsession: redisstore: owned: unexpected script reply %v", row)
		}
		id, _ := f[0].(string)
		created, _ := f[1].(string)
		expires, _ := f[2].(string)
		maxAge, _ := f[3].(string)
		r := boltsession.Record{ID: id, Owner: owner}
		var errC, errE, errM error
		r.Created, errC = parseNanos(fieldCreated, created)
		r.Expires, errE = parseNanos(fieldExpires, expires)
		r.MaxAge, errM = parseMaxAge(maxAge)
		if errC != nil || errE != nil || errM != nil {
			continue // corrupt: not listable, as Iterate skips it too
		}
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b boltsession.Record) int {
		if c := a.Created.Compare(b.Created); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out, nil
}

// DestroyOwner deletes every session of the owner and the owner's set in
// one script, and returns how many of those sessions were live. A save that
// races it either lands before (and is deleted) or finds its session gone.
func (s *Store) DestroyOwner(ctx context.Context, owner string) (int, error) {
	if s.misconfigured != nil {
		return 0, s.misconfigured
	}
	n, err := destroyOwnerScript.Run(ctx, s.client, []string{s.ownerKey(owner)},
		s.opts.Prefix, owner, nanos(s.opts.Now())).Int()
	if err != nil {
		return 0, wrap("destroy owner", err)
	}
	return n, nil
}
