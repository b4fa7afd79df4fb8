package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
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
	client  redis.UniversalClient
	opts    Options
	sharded bool
	scripts *scriptSet
	sealer  *boltsession.ValueSealer // Options.ValueKeys; nil: values in clear
	// misconfigured is returned by every method when the options cannot
	// work with the client.
	misconfigured error
	// hooks lets tests stop or pause multi-step operations between steps.
	hooks *hooks
	// cache and tracker serve Load from memory (Options.Cache); nil
	// without.
	cache   *cache
	tracker *tracker
}

var (
	_ boltsession.Store      = (*Store)(nil)
	_ boltsession.OwnerIndex = (*Store)(nil)
	_ boltsession.Counter    = (*Store)(nil)
	_ boltsession.Iterator   = (*Store)(nil)
)

// New returns a Store that keeps sessions through client: a *redis.Client
// (one server, or Sentinel failover with redis.NewFailoverClient), a
// *redis.ClusterClient or a *redis.Ring. The layout is the same on each;
// on Cluster and Ring it spreads sessions over every master or shard. A
// nil opts means the defaults documented on Options. New does not contact
// Redis; an unreachable server shows as errors from the methods, and
// service resumes when the client reconnects. Options that cannot work
// (ValueKeys of a wrong size, ValueKeys with CreateLegacy, WaitReplicas
// with another kind of client) make every method return an error that
// says so.
func New(client redis.UniversalClient, opts *Options) *Store {
	o := resolve(client, opts)
	s := &Store{client: client, opts: o, sharded: sharded(client), scripts: newScripts(o.strictScripts)}
	if len(o.ValueKeys) > 0 {
		sl, err := boltsession.NewValueSealer(o.ValueKeys)
		switch {
		case err != nil:
			s.misconfigured = fmt.Errorf("boltsession: redisstore: Options.ValueKeys: %w", err)
		case o.CreateLegacy:
			s.misconfigured = errors.New("boltsession: redisstore: CreateLegacy cannot be combined with ValueKeys: " +
				"processes of the earlier release would read sealed values; set ValueKeys once CreateLegacy is off")
		}
		s.sealer = sl
	}
	if o.Cache != nil {
		rc, ok := client.(*redis.Client)
		switch {
		case !ok:
			s.misconfigured = fmt.Errorf("boltsession: redisstore: Options.Cache needs a *redis.Client (one server, or Sentinel), not %T: "+
				"on Cluster and Ring each master would need a tracking connection of its own, which the cache does not keep", client)
		case rc.Options().StreamingCredentialsProvider != nil:
			s.misconfigured = errors.New("boltsession: redisstore: Options.Cache cannot be combined with a StreamingCredentialsProvider: " +
				"the tracking connection authenticates once, with Username and Password or a CredentialsProvider")
		default:
			s.cache = newCache(resolveCache(*o.Cache))
			s.tracker = startTracker(rc, s.cache)
		}
	}
	if o.WaitReplicas > 0 {
		switch client.(type) {
		case *redis.Client, *redis.ClusterClient, *redis.Ring:
		default:
			s.misconfigured = fmt.Errorf("boltsession: redisstore: WaitReplicas needs a *redis.Client, *redis.ClusterClient or *redis.Ring, not %T", client)
		}
	}
	return s
}

// Close stops what the store runs besides the client: the tracking
// connection of Options.Cache and its goroutine. The store keeps working
// after Close, reading every session from Redis. It does not close the
// client (the caller's); close the store first. Without Options.Cache it
// does nothing. It is safe to call more than once, and always returns nil.
func (s *Store) Close() error {
	if s.tracker != nil {
		s.tracker.close()
	}
	return nil
}

// CacheStats returns what the cache of Load did (Options.Cache): the zero
// CacheStats without one.
func (s *Store) CacheStats() CacheStats {
	if s.cache == nil {
		return CacheStats{}
	}
	return s.cache.stats()
}

// Prefix returns the key prefix in use, after defaults.
func (s *Store) Prefix() string { return s.opts.Prefix }

// LegacyPrefix returns the prefix of the legacy layout that the store
// reads, or "" when NoLegacy turned it off.
func (s *Store) LegacyPrefix() string { return s.opts.LegacyPrefix }

// outcome turns a script's outcome code into the Store contract's errors.
// The legacy layout's save and touch scripts answer with the same codes.
func outcome(code int64) error {
	switch code {
	case codeOK:
		return nil
	case codeReplaced:
		return boltsession.ErrReplaced
	case codeExists:
		return boltsession.ErrExists
	}
	return boltsession.ErrNotFound
}

// Load returns the live session with the given ID; the record carries
// both the ID and its handle. A missing record, a replaced or pending one,
// or one past its Expires by the store's clock, gives
// boltsession.ErrNotFound; a key that is not a session hash of this
// package gives an error wrapping boltsession.ErrCorrupt, and a value
// sealed with a key the store was not given (Options.ValueKeys) one
// wrapping boltsession.ErrKey. An ID not found in the per-session layout
// is looked up in the legacy one.
//
// With Options.Cache, a session of the per-session layout that this
// process read before and that no server changed since is returned from
// memory, within the bound stated on CacheOptions.
func (s *Store) Load(ctx context.Context, id string) (*boltsession.Record, error) {
	if s.misconfigured != nil {
		return nil, s.misconfigured
	}
	if !validID(id) {
		return nil, boltsession.ErrNotFound
	}
	hd := handleOf(id)
	key := s.sessionKey(hd)
	if s.cache == nil {
		h, err := s.hgetall(ctx, key)
		if err != nil {
			return nil, err
		}
		return s.loadFrom(ctx, id, hd, h, nil)
	}
	if err := ctx.Err(); err != nil {
		return nil, wrap("load", err) // as a read of Redis would
	}
	if r := s.cache.get(key); r != nil && s.opts.Now().Before(r.Expires) {
		return copyRecord(r, id), nil
	}
	// A miss reads on the tracking connection, so that Redis tracks the
	// key for this process and orders the reply with the invalidations.
	tr, err := s.tracked(ctx, reqRead, key, []string{"HGETALL", key})
	switch {
	case tr != nil && tr.reply.errorText() != "":
		s.endTracked(tr, nil)
		err = respError(tr.reply.errorText())
		if isWrongType(err) {
			return nil, fmt.Errorf("boltsession: redisstore: load: %w: %w", boltsession.ErrCorrupt, err)
		}
		return nil, wrap("load", err)
	case tr != nil:
		var kept *boltsession.Record
		defer func() { s.endTracked(tr, kept) }()
		return s.loadFrom(ctx, id, hd, hashOf(tr.reply), &kept)
	case err != nil && ctx.Err() != nil:
		return nil, wrap("load", err)
	}
	// No tracking connection, or it failed: read through the client.
	h, err := s.hgetall(ctx, key)
	if err != nil {
		return nil, err
	}
	return s.loadFrom(ctx, id, hd, h, nil)
}

// loadFrom is the rest of Load once the session's hash h is read. With
// kept, a record of the per-session layout is left there for the cache,
// and the caller gets a copy.
func (s *Store) loadFrom(ctx context.Context, id string, hd handle, h map[string]string, kept **boltsession.Record) (*boltsession.Record, error) {
	var (
		r   *boltsession.Record
		err error
	)
	switch {
	case len(h) == 0 && s.legacyOn():
		r, err = s.loadLegacy(ctx, id, false)
	case h[fieldPending] == pendingMove && s.legacyOn():
		// MoveLegacy froze the legacy record and has not activated its
		// copy yet: the frozen record is the session until then.
		r, err = s.loadLegacy(ctx, id, true)
	default:
		r, err = s.decodeLive(hd, h, false)
		if err == nil && kept != nil {
			*kept = r
			return copyRecord(r, id), nil
		}
	}
	if err != nil {
		return nil, err
	}
	r.ID = id
	return r, nil
}

// hgetall reads one hash, reporting a key of another type as corrupt.
func (s *Store) hgetall(ctx context.Context, key string) (map[string]string, error) {
	h, err := s.client.HGetAll(ctx, key).Result()
	if err != nil {
		if isWrongType(err) { // some other value under our key
			return nil, fmt.Errorf("boltsession: redisstore: load: %w: %w", boltsession.ErrCorrupt, err)
		}
		s.noteFailure(ctx, err)
		return nil, wrap("load", err)
	}
	return h, nil
}

// decodeLive returns the record of the session h from its hash (of the
// legacy layout, with legacy), or ErrNotFound for a missing, marker,
// pending, moved or expired one. The record's ID is left empty.
func (s *Store) decodeLive(hd handle, h map[string]string, legacy bool) (*boltsession.Record, error) {
	if len(h) == 0 {
		return nil, boltsession.ErrNotFound
	}
	for _, f := range []string{fieldNext, fieldPending, fieldMoved} {
		if _, ok := h[f]; ok {
			return nil, boltsession.ErrNotFound
		}
	}
	r, err := decodeMeta(hd, h)
	if err != nil {
		return nil, fmt.Errorf("boltsession: redisstore: load: %w", err)
	}
	if !s.opts.Now().Before(r.Expires) {
		return nil, boltsession.ErrNotFound
	}
	if err := s.decodeValues(r, h, legacy); err != nil {
		return nil, fmt.Errorf("boltsession: redisstore: load: %w", err)
	}
	return r, nil
}

// Save applies u atomically: every part of it lands, or none does (see
// boltsession.Update for the errors that say why not).
//
// A create or a merge is one script on the session's slot; when it makes
// the session owned, or moves its expiry past what the owner's index
// covers, the owner is first claimed in the index (see the package doc,
// "Owner index"). A replace is the protocol of boltsession.Update.Replaces
// in single-slot steps (see the package doc, "Replace across slots").
// A session of the legacy layout is written where it is.
//
// Save returning nil means Redis applied the change in memory (with
// Options.WaitReplicas, also that many replicas); whether it survives a
// Redis crash is up to the server's persistence settings (appendonly,
// appendfsync) and replication, not to this package.
func (s *Store) Save(ctx context.Context, u boltsession.Update) error {
	if s.misconfigured != nil {
		return s.misconfigured
	}
	if !validID(u.ID) {
		return fmt.Errorf("boltsession: redisstore: save: a session ID may not be empty, hold a brace, or start with %q or %q", ownerInfix, lockInfix)
	}
	if u.Create && u.Expires.IsZero() {
		return errors.New("boltsession: redisstore: save: a new record needs Expires")
	}
	if u.Replaces != "" {
		switch {
		case !u.Create:
			return errors.New("boltsession: redisstore: save: Replaces needs Create")
		case u.Replaces == u.ID:
			return errors.New("boltsession: redisstore: save: a session cannot replace itself")
		case !validID(u.Replaces):
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

// claim is a coverage granted by an owner's index (see owner.go); the zero
// claim is none.
type claim struct {
	owner string
	cover int64 // ms
}

// saveCall builds the per-session layout's save script for u, the
// session h, under cl; sets are u.Set as encodeValues returns them.
func (s *Store) saveCall(u boltsession.Update, h handle, sets []any, cl claim) *call {
	keys := []string{s.sessionKey(h)}
	if u.Create && !s.sharded && s.legacyOn() {
		// One server holds both layouts: the create checks the legacy
		// key in the same script.
		keys = append(keys, s.legacyKey(u.ID))
	}
	args := make([]any, 0, 14+len(sets)+len(u.Delete))
	args = append(args, nanos(s.opts.Now()), flag(u.Create), nanos(u.Created), flag(u.Clear))
	args = appendMetaArgs(args, u)
	args = append(args, cl.owner, cl.cover, len(sets)/2)
	args = append(args, sets...)
	for _, k := range u.Delete {
		args = append(args, valuePrefix+k)
	}
	sc := s.scripts.save
	if s.cache != nil {
		sc = s.scripts.saveRead
	}
	return newCall(sc, keys, args...)
}

// saveStep runs the save script of u on the session h, claiming in the
// owner's index as the script asks, and returns the call for its outcome.
func (s *Store) saveStep(ctx context.Context, u boltsession.Update, h handle, cl claim) (*call, error) {
	sets, err := s.encodeValues(h, u.Set)
	if err != nil {
		return nil, err
	}
	c, err := s.step(ctx, h, cl, func(cl claim) *call { return s.saveCall(u, h, sets, cl) })
	if err != nil {
		return nil, wrap("save", err)
	}
	if err := scriptErr("save", c); err != nil {
		return nil, err
	}
	return c, nil
}

// create makes a new session in the per-session layout (or in the legacy
// one under CreateLegacy), only if its ID is in use in neither.
func (s *Store) create(ctx context.Context, u boltsession.Update) error {
	if s.opts.CreateLegacy {
		return s.createLegacy(ctx, u)
	}
	if s.sharded && s.legacyOn() {
		inUse, err := s.legacyInUse(ctx, u.ID)
		if err != nil {
			return wrap("save", err)
		}
		if inUse {
			return boltsession.ErrExists
		}
	}
	h := handleOf(u.ID)
	var cl claim
	if u.Owner != nil && *u.Owner != "" {
		var err error
		if cl, err = s.claim(ctx, *u.Owner, h, coverFor(s.opts.Now(), u.Expires)); err != nil {
			return wrap("save", err)
		}
	}
	c, err := s.saveStep(ctx, u, h, cl)
	if err != nil {
		return err
	}
	return outcome(c.code())
}

// merge applies a per-key merge to a live session, in whichever layout
// holds it. With ValueKeys, a session of the legacy layout is moved to the
// per-session one first, so that its values are sealed there: the legacy
// layout never holds sealed values.
func (s *Store) merge(ctx context.Context, u boltsession.Update) error {
	h := handleOf(u.ID)
	var cl claim
	if u.Owner != nil && *u.Owner != "" && !u.Expires.IsZero() {
		var err error
		if cl, err = s.claim(ctx, *u.Owner, h, coverFor(s.opts.Now(), u.Expires)); err != nil {
			return wrap("save", err)
		}
	}
	for range 2 {
		c, err := s.saveStep(ctx, u, h, cl)
		if err != nil {
			return err
		}
		if (c.code() != codeAbsent && c.code() != codeMoved) || !s.legacyOn() {
			return outcome(c.code())
		}
		if s.sealer != nil {
			switch mv, err := s.moveOne(ctx, u.ID); {
			case err != nil:
				return wrap("save", err)
			case mv == moveReplaced:
				return boltsession.ErrReplaced
			case mv == moveNone:
				return boltsession.ErrNotFound
			}
			continue
		}
		n, err := s.legacySave(ctx, u)
		if err != nil || n != codeMoved {
			return err
		}
		// MoveLegacy froze it: finish the move and merge there.
		if err := s.finishMove(ctx, u.ID); err != nil {
			return err
		}
	}
	return boltsession.ErrNotFound
}

// step runs the call mk builds, and while its reply asks for a claim in an
// owner's index, claims and runs it again. The caller reads the outcome.
func (s *Store) step(ctx context.Context, h handle, cl claim, mk func(claim) *call) (*call, error) {
	for range 3 {
		c := mk(cl)
		if err := s.run(ctx, c); err != nil {
			return nil, err
		}
		if c.err != nil || c.code() != codeNeedClaim {
			return c, nil
		}
		exp, err := strconv.ParseInt(c.str(2), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("unexpected claim request %v", c.reply)
		}
		if cl, err = s.claim(ctx, c.str(1), h, coverFor(s.opts.Now(), time.UnixMilli(exp))); err != nil {
			return nil, err
		}
	}
	return nil, errors.New("the owner index did not cover the step after three claims")
}

// appendMetaArgs appends the arguments both layouts' save scripts take
// for u's Expires, Owner and MaxAge: expires ns and ms ("" for unchanged),
// owner given "1"/"0" and the owner, maxage given "1"/"0" and its ns.
func appendMetaArgs(args []any, u boltsession.Update) []any {
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
	return args
}

func flag(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// Touch moves the expiry of a live session (its m:expires field and its
// PEXPIREAT) without rewriting its values, claiming more coverage in the
// owner's index first when the new expiry needs it. A missing or expired
// record gives boltsession.ErrNotFound, a replaced one
// boltsession.ErrReplaced.
func (s *Store) Touch(ctx context.Context, id string, expires time.Time) error {
	if s.misconfigured != nil {
		return s.misconfigured
	}
	if !validID(id) {
		return boltsession.ErrNotFound
	}
	h := handleOf(id)
	for range 2 {
		c, err := s.step(ctx, h, claim{}, func(cl claim) *call {
			return newCall(s.scripts.touch, []string{s.sessionKey(h)},
				nanos(s.opts.Now()), nanos(expires), millis(expires), cl.owner, cl.cover)
		})
		if err != nil {
			return wrap("touch", err)
		}
		if err := scriptErr("touch", c); err != nil {
			return err
		}
		if (c.code() != codeAbsent && c.code() != codeMoved) || !s.legacyOn() {
			return outcome(c.code())
		}
		n, err := s.legacyTouch(ctx, id, expires)
		if err != nil || n != codeMoved {
			return err
		}
		if err := s.finishMove(ctx, id); err != nil {
			return err
		}
	}
	return boltsession.ErrNotFound
}

// maxReplaceChain bounds how many markers of replaced sessions Delete
// follows; replaces only ever point to unused IDs, so a chain cannot loop.
const maxReplaceChain = 10_000

// Delete ends the session: it removes the session's hash, in both layouts,
// and, if the session was replaced while its marker is kept, each
// replacement in turn, one single-slot script per session. Deleting a
// missing session is not an error. The owner index keeps the session's
// handle as a stale member, which readers skip and which is dropped when
// its coverage ends.
func (s *Store) Delete(ctx context.Context, id string) error {
	if s.misconfigured != nil {
		return s.misconfigured
	}
	if !validID(id) {
		return nil
	}
	_, err := s.deleteFrom(ctx, handleOf(id), id)
	return err
}

// DeleteHandle ends the session with the given handle (see
// boltsession.Handle), as Delete ends it by its ID: for operators, who see
// handles (Owned, Iterate), never IDs. Replacements of the session are
// ended too. A handle that names no session is not an error; a string that
// is not a handle (64 hex characters) is, and nothing is deleted.
//
// A session still in the legacy layout is keyed by its ID there, which a
// handle cannot be turned back into: DeleteHandle finds it by a SCAN of
// the legacy layout, hashing each ID, at the cost of Count. After
// MoveLegacy (or with NoLegacy) it costs what Delete does.
func (s *Store) DeleteHandle(ctx context.Context, handleText string) error {
	if s.misconfigured != nil {
		return s.misconfigured
	}
	h, err := parseHandle(handleText)
	if err != nil {
		return err
	}
	found, err := s.deleteFrom(ctx, h, "")
	if err != nil || found || !s.legacyOn() {
		return err
	}
	var id string
	err = s.scanPrefix(ctx, s.opts.LegacyPrefix, func(_ redis.Cmdable, keys []string) error {
		for _, k := range keys {
			if lid, ok := s.idOfLegacyKey(k); ok && handleOf(lid) == h {
				id = lid
				return errStop
			}
		}
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		return wrap("delete", err)
	}
	if id == "" {
		return nil
	}
	return s.Delete(ctx, id)
}

// deleteFrom ends the session h, and, when id is given, the legacy
// session id; then it follows the markers of replaced sessions from both.
// It reports whether the per-session layout had a key for h.
func (s *Store) deleteFrom(ctx context.Context, h handle, id string) (bool, error) {
	calls := []*call{newCall(s.scripts.del, []string{s.sessionKey(h)})}
	if id != "" && s.legacyOn() {
		calls = append(calls, newCall(s.scripts.legacy.del, []string{s.legacyKey(id)},
			id, s.legacyOwnerPrefix(), s.opts.LegacyPrefix, maxReplaceChain))
	}
	if err := s.run(ctx, calls...); err != nil {
		return false, wrap("delete", err)
	}
	for _, c := range calls {
		if err := scriptErr("delete", c); err != nil {
			return false, err
		}
	}
	found := calls[0].int(2) == 1
	var next []handle
	if n := calls[0].str(1); isHandle(n) {
		next = append(next, handle(n))
	}
	if len(calls) > 1 {
		// The legacy layout names replacements by ID.
		if n := calls[1].str(1); n != "" {
			next = append(next, handleOf(n))
		}
	}
	// Follow the markers: each replacement lives in its own slot.
	for hops := 0; len(next) > 0 && hops < maxReplaceChain; hops++ {
		n := next[0]
		next = next[1:]
		c := newCall(s.scripts.del, []string{s.sessionKey(n)})
		if err := s.run(ctx, c); err != nil {
			return found, wrap("delete", err)
		}
		if err := scriptErr("delete", c); err != nil {
			return found, err
		}
		if nn := c.str(1); isHandle(nn) {
			next = append(next, handle(nn))
		}
	}
	return found, nil
}
