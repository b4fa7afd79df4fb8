package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/boltsession/boltsession"
	"github.com/redis/go-redis/v9"
)

// ConnectRedisStore keeps sessions in connect-redis 10's format, so that a
// Node app (express-session with connect-redis) and a Go app (a Manager
// with express.Cookie, the same secret and cookie name) serve the same
// users from the same Redis: a session either side writes is the other's
// to read, change, touch and end. See the package doc, "Sharing sessions
// with a Node app", for the format, what each side guarantees, and how to
// roll out.
//
// It implements boltsession.Store, boltsession.Counter,
// boltsession.Iterator and boltsession.SessionLocker, but not
// boltsession.OwnerIndex: Node's saves know nothing of an index, so
// Manager.Owned and Manager.DestroyOwner report boltsession.ErrUnsupported.
// Values are kept as the msgpack values they encode, written as JSON (the
// mapping of the package doc), not byte for byte. It is safe for
// concurrent use. It needs Redis 7.0 or later (PEXPIRETIME).
type ConnectRedisStore struct {
	client  redis.UniversalClient
	opts    ConnectRedisOptions
	scripts *crScripts
	// misconfigured is returned by every method when the options cannot
	// work.
	misconfigured error
	// afterStep, when set by a test, runs after each step of a replace
	// ("pending", "mark"); an error stops the replace there.
	afterStep func(step string) error
	// afterRead, when set by a test, runs between a merge's read and its
	// compare-and-set, where a Node save can come in.
	afterRead func()
}

var (
	_ boltsession.Store         = (*ConnectRedisStore)(nil)
	_ boltsession.Counter       = (*ConnectRedisStore)(nil)
	_ boltsession.Iterator      = (*ConnectRedisStore)(nil)
	_ boltsession.SessionLocker = (*ConnectRedisStore)(nil)
)

// Defaults of ConnectRedisOptions: connect-redis's.
const (
	defaultConnectRedisTTL = 86400 * time.Second
)

// NewConnectRedis returns a store of connect-redis sessions through
// client: a *redis.Client (one server or Sentinel), a *redis.ClusterClient
// or a *redis.Ring, whichever the Node app's client talks to. A nil opts
// means connect-redis's and express-session's defaults (see
// ConnectRedisOptions). New does not contact Redis. Options that cannot
// work (a Prefix with a stray brace, an unknown SameSite) make every method
// return the error saying so.
func NewConnectRedis(client redis.UniversalClient, opts *ConnectRedisOptions) *ConnectRedisStore {
	var o ConnectRedisOptions
	if opts != nil {
		o = *opts
	}
	if o.Prefix == "" {
		o.Prefix = defaultPrefix
	}
	if o.TTL <= 0 {
		o.TTL = defaultConnectRedisTTL
	}
	if o.ScanCount <= 0 {
		o.ScanCount = defaultScanCount
	}
	if o.LockTTL <= 0 {
		o.LockTTL = defaultLockTTL
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	s := &ConnectRedisStore{client: client, opts: o, scripts: newCRScripts(false)}
	if strings.ContainsAny(o.Prefix, "{}") && !hasHashTag(o.Prefix) {
		s.misconfigured = fmt.Errorf("boltsession: redisstore: connect-redis Prefix %q holds a brace that is not one whole hash tag", o.Prefix)
	}
	if err := o.Cookie.check(); err != nil {
		s.misconfigured = err
	}
	return s
}

// Prefix returns the key prefix in use, after defaults.
func (s *ConnectRedisStore) Prefix() string { return s.opts.Prefix }

// sessionKey is connect-redis's key of a session.
func (s *ConnectRedisStore) sessionKey(id string) string { return s.opts.Prefix + id }

// markerKey is where the marker of a replaced session lives: a key of its
// own, which Node never reads (it does not start with Prefix, so
// connect-redis's all, length and clear never see it either), in the hash
// slot of the session's key, so that one script reads and writes both.
func (s *ConnectRedisStore) markerKey(id string) string {
	k := s.sessionKey(id)
	return "{" + slotString(k) + "}:replaced-by:" + k
}

// lockKey is the lock of a session under Serialize, beside its marker.
func (s *ConnectRedisStore) lockKey(id string) string {
	k := s.sessionKey(id)
	return "{" + slotString(k) + "}:lock:" + k
}

// slotString is the part of key that Redis hashes to place it: its hash
// tag if it has one, else the whole key.
func slotString(key string) string {
	if i := strings.IndexByte(key, '{'); i >= 0 {
		if j := strings.IndexByte(key[i+1:], '}'); j > 0 {
			return key[i+1 : i+1+j]
		}
	}
	return key
}

// crValidID reports an ID that names a session of this store: not empty
// and without braces (which would change the hash slot of its marker).
// express-session's IDs (uid-safe, base64url) and the Manager's are always
// valid.
func crValidID(id string) bool { return id != "" && !strings.ContainsAny(id, "{}") }

func ms(t time.Time) int64 { return t.UnixMilli() }

// run runs one script on the keys of one session and returns it as a
// call holding the reply, read with the call's accessors.
func (s *ConnectRedisStore) run(ctx context.Context, sc *redis.Script, keys []string, args ...any) (*call, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	res, err := sc.Run(ctx, s.client, keys, args...).Result()
	if err != nil {
		if !isReply(err) {
			reloadSlots(ctx, s.client, err)
		}
		return nil, err
	}
	reply, ok := res.([]any)
	if !ok || len(reply) == 0 {
		return nil, fmt.Errorf("unexpected script reply %v", res)
	}
	return &call{sc: sc, keys: keys, args: args, reply: reply}, nil
}

// crErr wraps an error of op, marking a key of another type under our
// name as corrupt.
func crErr(op string, err error) error {
	if isWrongType(err) {
		return fmt.Errorf("boltsession: redisstore: %s: %w: %w", op, boltsession.ErrCorrupt, err)
	}
	return wrap(op, err)
}

// read is what a load of one session found.
type read struct {
	value   string
	expires time.Time
}

// read loads the raw value of a live session: ErrReplaced under a marker,
// ErrNotFound for no session (missing, pending, expired by the store's
// clock).
func (s *ConnectRedisStore) read(ctx context.Context, op, id string) (read, error) {
	reply, err := s.run(ctx, s.scripts.load, []string{s.sessionKey(id), s.markerKey(id)})
	if err != nil {
		return read{}, crErr(op, err)
	}
	switch reply.code() {
	case codeReplaced:
		return read{}, boltsession.ErrReplaced
	case codeOK:
	default:
		return read{}, boltsession.ErrNotFound
	}
	v := reply.str(1)
	if v == "" {
		return read{}, boltsession.ErrNotFound // a replace's pending record
	}
	now := s.opts.Now()
	exp, ok := s.expiry(reply.int(2), v, now)
	if !ok {
		return read{}, boltsession.ErrNotFound
	}
	return read{value: v, expires: exp}, nil
}

// expiry turns a key's PEXPIRETIME into the session's expiry. A key
// without a TTL (connect-redis's disableTTL) expires at its cookie's
// expiry, or, for a browser-session cookie, TTL from now. ok is false past
// the expiry.
func (s *ConnectRedisStore) expiry(pexpiretime int64, value string, now time.Time) (time.Time, bool) {
	var exp time.Time
	if pexpiretime >= 0 {
		exp = time.UnixMilli(pexpiretime)
	} else if sess, err := parseSession([]byte(value)); err == nil {
		if e, ok := sess.cookieExpires(); ok {
			exp = e
		}
	}
	if exp.IsZero() {
		exp = now.Add(s.opts.TTL)
	}
	return exp, now.Before(exp)
}

// Load returns the live session with the given ID, its values decoded
// from the JSON members (see the package doc for the mapping), its expiry
// the key's own (connect-redis's touch moves only that). A missing,
// expired or replaced session, or the pending record of a replace, gives
// boltsession.ErrNotFound; a value express-session could not load either
// (not JSON, no cookie member) or a key of another type, an error wrapping
// boltsession.ErrCorrupt.
func (s *ConnectRedisStore) Load(ctx context.Context, id string) (*boltsession.Record, error) {
	if s.misconfigured != nil {
		return nil, s.misconfigured
	}
	if !crValidID(id) {
		return nil, boltsession.ErrNotFound
	}
	r, err := s.read(ctx, "load", id)
	if errors.Is(err, boltsession.ErrReplaced) {
		return nil, boltsession.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	return s.decode(id, r)
}

func (s *ConnectRedisStore) decode(id string, r read) (*boltsession.Record, error) {
	sess, err := parseSession([]byte(r.value))
	if err != nil {
		return nil, fmt.Errorf("boltsession: redisstore: load: %w", err)
	}
	rec, err := sess.record(id, r.expires, s.opts.Cookie.MaxAge, s.opts.Now())
	if err != nil {
		return nil, fmt.Errorf("boltsession: redisstore: load: %w", err)
	}
	return rec, nil
}

// Save applies u (see boltsession.Update) in connect-redis's format. A
// create writes the JSON object express-session would write for a new
// session (the cookie member of ConnectRedisOptions.Cookie, the values, the
// creation time and owner in the __boltsession member) with the key's TTL
// at u.Expires, only if the ID is not in use. A merge reads the session,
// applies u to its JSON member by member (what it does not change keeps
// the text Node wrote) and writes it back only if the value is still the
// one it read, reading and merging again when a Node save came in
// between, so no concurrent save of either side is lost. A replace is the
// ordered protocol of boltsession.Update.Replaces (see the package doc).
//
// A value named as express-session names its own members gives an error
// wrapping ErrReservedKey and writes nothing.
func (s *ConnectRedisStore) Save(ctx context.Context, u boltsession.Update) error {
	if s.misconfigured != nil {
		return s.misconfigured
	}
	if !crValidID(u.ID) {
		return fmt.Errorf("boltsession: redisstore: save: session ID %q is empty or holds a brace", u.ID)
	}
	if u.Create && u.Expires.IsZero() {
		return errors.New("boltsession: redisstore: save: a new record needs Expires")
	}
	if err := checkNames(u); err != nil {
		return fmt.Errorf("boltsession: redisstore: save: %w", err)
	}
	if u.Replaces != "" {
		switch {
		case !u.Create:
			return errors.New("boltsession: redisstore: save: Replaces needs Create")
		case u.Replaces == u.ID:
			return errors.New("boltsession: redisstore: save: a session cannot replace itself")
		case !crValidID(u.Replaces):
			return boltsession.ErrNotFound
		}
		return s.replace(ctx, u)
	}
	if err := ctx.Err(); err != nil {
		return wrap("save", err)
	}
	if u.Create {
		return s.create(ctx, u)
	}
	return s.merge(ctx, u)
}

func (s *ConnectRedisStore) create(ctx context.Context, u boltsession.Update) error {
	now := s.opts.Now()
	created := u.Created
	if created.IsZero() {
		created = now
	}
	sess := newSession(&s.opts.Cookie)
	sess.apply(u, &s.opts.Cookie, u.Expires, created)
	reply, err := s.run(ctx, s.scripts.create, []string{s.sessionKey(u.ID), s.markerKey(u.ID)},
		ms(now), sess.obj.render(), ms(u.Expires))
	if err != nil {
		return crErr("save", err)
	}
	return outcome(reply.code())
}

// maxMergeAttempts bounds how often a merge reads again after a
// concurrent save changed the session under it. Each round one writer
// wins, so this many writers on one session at once all land.
const maxMergeAttempts = 64

// merge is a read-modify-write of the session's JSON with a
// compare-and-set: it lands only on the value it was computed from.
func (s *ConnectRedisStore) merge(ctx context.Context, u boltsession.Update) error {
	for range maxMergeAttempts {
		r, err := s.read(ctx, "save", u.ID)
		if err != nil {
			return err
		}
		sess, err := parseSession([]byte(r.value))
		if err != nil {
			return fmt.Errorf("boltsession: redisstore: save: %w", err)
		}
		if s.afterRead != nil {
			s.afterRead()
		}
		now := s.opts.Now()
		sess.apply(u, &s.opts.Cookie, r.expires, sess.created(now))
		expiry := ""
		if !u.Expires.IsZero() {
			expiry = strconv.FormatInt(ms(u.Expires), 10)
		}
		reply, err := s.run(ctx, s.scripts.set, []string{s.sessionKey(u.ID), s.markerKey(u.ID)},
			ms(now), r.value, sess.obj.render(), expiry)
		if err != nil {
			return crErr("save", err)
		}
		if reply.code() != codeChanged {
			return outcome(reply.code())
		}
	}
	return fmt.Errorf("boltsession: redisstore: save: the session changed under %d attempts to merge into it; nothing was written", maxMergeAttempts)
}

// Touch moves a live session's expiry as connect-redis's touch does: the
// key's TTL (PEXPIREAT) alone. The stored cookie.expires keeps the value
// of the last full save, as after Node's own touches; the key's TTL is
// what both sides read. A missing or expired session gives
// boltsession.ErrNotFound, a replaced one boltsession.ErrReplaced; an
// expiry not after now ends the session.
func (s *ConnectRedisStore) Touch(ctx context.Context, id string, expires time.Time) error {
	if s.misconfigured != nil {
		return s.misconfigured
	}
	if !crValidID(id) {
		return boltsession.ErrNotFound
	}
	reply, err := s.run(ctx, s.scripts.touch, []string{s.sessionKey(id), s.markerKey(id)},
		ms(s.opts.Now()), ms(expires))
	if err != nil {
		return crErr("touch", err)
	}
	return outcome(reply.code())
}

// Delete ends the session as connect-redis's destroy does (DEL of its key)
// and, if it was replaced while its marker is kept, each replacement in
// turn. Deleting a missing session is not an error.
func (s *ConnectRedisStore) Delete(ctx context.Context, id string) error {
	if s.misconfigured != nil {
		return s.misconfigured
	}
	for hops := 0; crValidID(id) && hops < maxReplaceChain; hops++ {
		reply, err := s.run(ctx, s.scripts.del, []string{s.sessionKey(id), s.markerKey(id)})
		if err != nil {
			return crErr("delete", err)
		}
		id = reply.str(1)
	}
	return nil
}

// LockSession takes the lock of session id for one request under
// boltsession.Options.Serialize, as Store.LockSession does, at the key
// "{"+Prefix+id+"}:lock:"+Prefix+id (outside Prefix, so connect-redis never
// sees it). Node's requests do not take it: it serializes the Go app's
// requests on a session, across all its processes, not Node's.
func (s *ConnectRedisStore) LockSession(ctx context.Context, id string, wait time.Duration) (func(), error) {
	if s.misconfigured != nil {
		return nil, s.misconfigured
	}
	if !crValidID(id) {
		return nil, fmt.Errorf("boltsession: redisstore: lock: session ID %q is empty or holds a brace", id)
	}
	note := func(ctx context.Context, err error) { reloadSlots(ctx, s.client, err) }
	return takeLock(ctx, s.client, s.lockKey(id), s.opts.LockTTL, time.Now().Add(wait), wait, note)
}
