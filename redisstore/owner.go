package redisstore

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/boltsession/boltsession"
	"github.com/redis/go-redis/v9"
)

// The owner index of the per-session layout is one sorted set per owner,
// Prefix{owner:o}, in a slot of its own: an owner's sessions sit on every
// master, and no script spans the index and a session. The index is kept
// right by ordering single-slot steps instead.
//
// Members are the sessions' handles, never their IDs.
//
// Invariant: every live or pending session S with owner O is a member of
// O's index with a score (its coverage, Unix ms) at or after S's expiry,
// and the index itself lives until OwnerIndexMargin after its highest
// score.
//
// Why it holds:
//   - A step that makes S owned by O, or moves S's expiry past the
//     coverage S recorded (m:ocover), first claims S in O's index
//     (claimSrc: the member is added or its score raised, and the index's
//     own expiry extended), and only then runs S's own script, which
//     refuses to write (asking for a claim) unless a claim of O covers
//     the expiry it would set. So S is O's only after a member covers it.
//     A crash or an error between the claim and the step leaves a member
//     with no session behind it, never the reverse.
//   - Members are removed only when their score is over OwnerIndexMargin
//     in the past: any step covered by that claim set an expiry at or
//     before the score, so the session has been dead for that long, and a
//     step that needs more coverage claims again first (which re-adds the
//     member). No member is removed because its session looked gone: a
//     claimed create may still be on its way.
//   - Members that are no longer live sessions of O (deleted, expired,
//     re-owned, replaced) are stale: readers check each member's session
//     and skip them, until their coverage ends and they are dropped.

// claim adds the session h to owner's index with at least the given
// coverage and returns the coverage granted.
func (s *Store) claim(ctx context.Context, owner string, h handle, cover int64) (claim, error) {
	now := s.opts.Now().UnixMilli()
	c := newCall(s.scripts.claim, []string{s.ownerKey(owner)}, string(h), cover, now, OwnerIndexMargin.Milliseconds())
	if err := s.run(ctx, c); err != nil {
		return claim{}, err
	}
	if c.err != nil {
		return claim{}, c.err
	}
	granted, err := strconv.ParseInt(c.str(1), 10, 64)
	if err != nil || c.code() != codeOK {
		return claim{}, fmt.Errorf("unexpected claim reply %v", c.reply)
	}
	return claim{owner: owner, cover: granted}, nil
}

// ownerRead returns the call that cleans and reads owner's index.
func (s *Store) ownerRead(owner string) *call {
	return newCall(s.scripts.ownerRead, []string{s.ownerKey(owner)},
		s.opts.Now().UnixMilli(), OwnerIndexMargin.Milliseconds())
}

// members returns the members an ownerRead call read.
func members(c *call) []handle {
	if len(c.reply) < 2 {
		return nil
	}
	raw, _ := c.reply[1].([]any)
	out := make([]handle, 0, len(raw))
	for _, m := range raw {
		if h, ok := m.(string); ok && isHandle(h) {
			out = append(out, handle(h))
		}
	}
	return out
}

// Owned returns the owner's live sessions, oldest first, with Values nil.
// Each record names its session by Handle and has an empty ID: the store
// does not keep IDs (a session still in the legacy layout is listed the
// same way). It reads the owner's index, then every member's session in one pipeline
// (one round trip per master on Cluster), and keeps those that are live
// sessions of the owner; sessions of the legacy layout come from its own
// index. Each session is read at one instant, but not all at the same one:
// a session regenerated while Owned runs may be listed under neither ID.
func (s *Store) Owned(ctx context.Context, owner string) ([]boltsession.Record, error) {
	if s.misconfigured != nil {
		return nil, s.misconfigured
	}
	read := s.ownerRead(owner)
	calls := []*call{read}
	var legacy *call
	if s.legacyOn() {
		legacy = newCall(s.scripts.legacy.owned, []string{s.legacyOwnerKey(owner)},
			s.opts.LegacyPrefix, owner, nanos(s.opts.Now()))
		calls = append(calls, legacy)
	}
	if err := s.run(ctx, calls...); err != nil {
		return nil, wrap("owned", err)
	}
	for _, c := range calls {
		if err := scriptErr("owned", c); err != nil {
			return nil, err
		}
	}
	hs := members(read)
	out := make([]boltsession.Record, 0, len(hs))
	if len(hs) > 0 {
		pipe := s.client.Pipeline()
		cmds := make([]*redis.SliceCmd, len(hs))
		for i, h := range hs {
			cmds[i] = pipe.HMGet(ctx, s.sessionKey(h), fieldOwner, fieldExpires, fieldCreated, fieldMaxAge, fieldNext, fieldPending)
		}
		if err := execTolerant(ctx, pipe); err != nil {
			s.noteFailure(ctx, err)
			return nil, wrap("owned", err)
		}
		now := nanos(s.opts.Now())
		for i, h := range hs {
			f := strs(cmds[i])
			if f[0] != owner || f[4] != "" || f[5] != "" || !isDecimal(f[1]) || !laterDecimal(f[1], now) {
				continue // stale member
			}
			if r, ok := ownedRecord(h, owner, f[2], f[1], f[3]); ok {
				out = append(out, r)
			}
		}
	}
	if legacy != nil {
		for _, row := range legacy.reply {
			f, ok := row.([]any)
			if !ok || len(f) != 4 {
				return nil, fmt.Errorf("boltsession: redisstore: owned: unexpected script reply %v", row)
			}
			id, _ := f[0].(string)
			created, _ := f[1].(string)
			expires, _ := f[2].(string)
			maxAge, _ := f[3].(string)
			h := handleOf(id)
			if slices.ContainsFunc(out, func(r boltsession.Record) bool { return r.Handle == string(h) }) {
				continue
			}
			if r, ok := ownedRecord(h, owner, created, expires, maxAge); ok {
				out = append(out, r)
			}
		}
	}
	slices.SortFunc(out, func(a, b boltsession.Record) int {
		if c := a.Created.Compare(b.Created); c != 0 {
			return c
		}
		return strings.Compare(a.Handle, b.Handle)
	})
	return out, nil
}

// ownedRecord builds one row of Owned; a corrupt one is not listable, as
// Iterate skips it too.
func ownedRecord(h handle, owner, created, expires, maxAge string) (boltsession.Record, bool) {
	r := boltsession.Record{Handle: string(h), Owner: owner}
	var errC, errE, errM error
	r.Created, errC = parseNanos(fieldCreated, created)
	r.Expires, errE = parseNanos(fieldExpires, expires)
	r.MaxAge, errM = parseMaxAge(maxAge)
	return r, errC == nil && errE == nil && errM == nil
}

// maxDestroyPasses bounds how often DestroyOwner reads the index again
// after a pass that ended sessions.
const maxDestroyPasses = 4

// DestroyOwner ends every session of the owner and returns how many live
// ones it ended. It is not one atomic step across sessions (they live on
// different masters); it reads the owner's index, then ends each member
// that is the owner's in one script on that member's slot (live or
// pending; a marker of the owner's replaced session leads on to the
// replacement, which is ended if pending or still the owner's), and reads
// the index again after any pass that ended a session, at most four times.
// Sessions of the legacy layout are ended by that layout's one script.
//
// What it guarantees when it returns nil:
//   - every session that was a live or pending session of the owner when
//     DestroyOwner was called is ended, and so is every session that
//     replaced one of them and is still the owner's;
//   - every session made the owner's by a save (a create, a SetOwner, a
//     regenerate) that returned before DestroyOwner's last read of the
//     index is ended: the save claimed its index member before it
//     returned, so the read lists it, and its session was the owner's
//     when the pass visited it;
//   - a save that returns after that read may survive, as if it had come
//     after DestroyOwner (a login that overlaps a "sign out everywhere");
//     Owned lists it, and a second DestroyOwner ends it;
//   - no ended session comes back: merges and touches need a live record,
//     and a replace needs its old session live at its mark step.
//
// While it runs, requests on sessions it has not visited yet succeed. An
// error means some sessions may already be ended; DestroyOwner can be
// repeated.
func (s *Store) DestroyOwner(ctx context.Context, owner string) (int, error) {
	if s.misconfigured != nil {
		return 0, s.misconfigured
	}
	total := 0
	for range maxDestroyPasses {
		if s.hooks != nil && s.hooks.beforeOwnerRead != nil {
			s.hooks.beforeOwnerRead()
		}
		read := s.ownerRead(owner)
		calls := []*call{read}
		var legacy *call
		if s.legacyOn() {
			legacy = newCall(s.scripts.legacy.destroyOwner, []string{s.legacyOwnerKey(owner)},
				s.opts.LegacyPrefix, owner, nanos(s.opts.Now()))
			calls = append(calls, legacy)
		}
		if err := s.run(ctx, calls...); err != nil {
			return total, wrap("destroy owner", err)
		}
		ended := 0
		for _, c := range calls {
			if err := scriptErr("destroy owner", c); err != nil {
				return total, err
			}
		}
		if legacy != nil {
			ended += int(legacy.code())
		}
		n, err := s.visit(ctx, owner, members(read))
		ended += n
		total += ended
		if err != nil {
			return total, wrap("destroy owner", err)
		}
		if ended == 0 {
			break
		}
	}
	return total, nil
}

// visit runs visitSrc on every member, one pipeline per round, then on the
// replacements the markers name, and returns how many live sessions it
// ended.
func (s *Store) visit(ctx context.Context, owner string, hs []handle) (int, error) {
	ended := 0
	cont := "0"
	now := nanos(s.opts.Now())
	seen := make(map[string]bool)
	for hops := 0; len(hs) > 0 && hops < maxReplaceChain; hops++ {
		calls := make([]*call, 0, len(hs))
		for _, h := range hs {
			if seen[string(h)+cont] {
				continue
			}
			seen[string(h)+cont] = true
			calls = append(calls, newCall(s.scripts.visit, []string{s.sessionKey(h)}, owner, now, cont))
		}
		if len(calls) == 0 {
			break
		}
		if err := s.run(ctx, calls...); err != nil {
			return ended, err
		}
		hs = hs[:0:0]
		for _, c := range calls {
			if c.err != nil {
				if isWrongType(c.err) {
					continue
				}
				return ended, c.err
			}
			ended += int(c.code())
			if n := c.str(1); isHandle(n) {
				hs = append(hs, handle(n))
			}
		}
		cont = "1"
	}
	return ended, nil
}
