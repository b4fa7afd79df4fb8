package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/boltsession/boltsession"
	"github.com/redis/go-redis/v9"
)

// replace regenerates u.Replaces (S) into u.ID (N). The two sessions'
// handles hash to different slots, usually on different masters, so no
// one script can do it; the store follows the protocol written on
// boltsession.Update.Replaces, each step one script on one slot, and names
// sessions by handle throughout (the marker holds N's handle, the pending
// record S's):
//
//  0. claim the owner N will have (the one the request set, else S's
//     current one) in that owner's index, for N;
//  1. create N as a pending record: create-if-absent, never loadable,
//     carrying that owner, expiring after pendingLifetime;
//  2. in S's slot, only if S is live: turn S into the marker "replaced by
//     N" and read its record (the linearization point: a merge into S
//     lands before it and is carried to N, or after it and fails with
//     ErrReplaced); if S is not live, withdraw N and fail;
//  3. in N's slot, only if the pending record is still there: write S's
//     record with u applied and make N live. A Delete of S that followed
//     the marker, or DestroyOwner, removed it meanwhile: the logout won and
//     the replace fails with ErrNotFound.
//
// A crash between steps leaves a stale index member (after 0), a pending
// record that expires (after 1), or a marker whose successor is pending
// and expires (after 2: the user signs in again), never a live session
// that a Delete of S cannot reach.
//
// An S of the legacy layout is first moved to the per-session one (see
// MoveLegacy), except under CreateLegacy, where the earlier release's one
// script replaces it within the legacy layout.
func (s *Store) replace(ctx context.Context, u boltsession.Update) error {
	if err := ctx.Err(); err != nil {
		return wrap("save", err)
	}
	p, err := s.peekReplace(ctx, u)
	if err != nil {
		return wrap("save", err)
	}
	if p.nInUse {
		return boltsession.ErrExists
	}
	switch {
	case p.legacyMoved:
		if err := s.finishMove(ctx, u.Replaces); err != nil {
			return err
		}
	case p.legacy && s.opts.CreateLegacy:
		// Processes of the earlier release still run and must find the
		// new session: it stays in the legacy layout, keyed by its ID.
		n, err := s.legacySave(ctx, u)
		if err != nil || n != codeMoved {
			return err
		}
		if err := s.finishMove(ctx, u.Replaces); err != nil {
			return err
		}
	case p.legacy:
		// Move the old session to the per-session layout and replace it
		// there, so that the new ID is never written to Redis. If it
		// ended meanwhile, the replace's mark step finds nothing.
		mv, err := s.moveOne(ctx, u.Replaces)
		if err != nil {
			return wrap("save", err)
		}
		if mv == moveReplaced {
			return boltsession.ErrReplaced
		}
	}
	err = s.replaceAcrossSlots(ctx, u, p.owner)
	if errors.Is(err, errMoving) {
		// S was being moved from the legacy layout when it was marked:
		// finish the move (the frozen record is S) and replace it there.
		if err := s.finishMove(ctx, u.Replaces); err != nil {
			return err
		}
		err = s.replaceAcrossSlots(ctx, u, p.owner)
	}
	if errors.Is(err, errMoving) {
		return fmt.Errorf("boltsession: redisstore: save: %w", err)
	}
	return err
}

// errMoving is what replaceAcrossSlots returns when the replaced session is
// in the middle of a move from the legacy layout.
var errMoving = errors.New("the replaced session is being moved from the legacy layout")

// replacePeek is what one round trip learns before a replace: where S
// lives and whom it belongs to, and whether N is in use in the legacy
// layout (the pending record checks the per-session one).
type replacePeek struct {
	legacy, legacyMoved bool
	owner               string
	nInUse              bool
}

func (s *Store) peekReplace(ctx context.Context, u boltsession.Update) (replacePeek, error) {
	pipe := s.client.Pipeline()
	sNew := pipe.HMGet(ctx, s.sessionKey(handleOf(u.Replaces)), fieldOwner, fieldCreated)
	var sOld, nOld, nNew *redis.SliceCmd
	if s.legacyOn() {
		sOld = pipe.HMGet(ctx, s.legacyKey(u.Replaces), fieldOwner, fieldCreated, fieldNext, fieldMoved)
		nOld = pipe.HMGet(ctx, s.legacyKey(u.ID), fieldExpires, fieldNext, fieldMoved)
		nNew = pipe.HMGet(ctx, s.sessionKey(handleOf(u.ID)), fieldExpires, fieldNext, fieldPending)
	}
	cmds, _ := pipe.Exec(ctx)
	for _, cmd := range cmds {
		if err := cmd.Err(); err != nil && !isWrongType(err) {
			s.noteFailure(ctx, err)
			return replacePeek{}, err
		}
	}
	var p replacePeek
	nv := strs(sNew)
	p.owner = nv[0]
	if s.legacyOn() && nv[1] == "" {
		ov := strs(sOld)
		switch {
		case ov[3] != "":
			p.legacyMoved = true
		case ov[1] != "" || ov[2] != "":
			p.legacy, p.owner = true, ov[0]
		}
		p.nInUse = s.inUse(strs(nOld), true)
		if p.legacy && s.opts.CreateLegacy {
			// The legacy replace creates N in the legacy layout: N must
			// not be in use in the per-session one either.
			p.nInUse = p.nInUse || s.inUse(strs(nNew), false)
		}
	}
	if u.Owner != nil {
		p.owner = *u.Owner
	}
	return p, nil
}

// inUse reads an HMGET of m:expires, m:next and m:moved (legacy) or
// m:pending: a live record, a marker, a move or a pending record.
func (s *Store) inUse(v []string, legacy bool) bool {
	if v[1] != "" || v[2] != "" {
		return true
	}
	return v[0] != "" && laterDecimal(v[0], nanos(s.opts.Now()))
}

// replaceAcrossSlots runs steps 0 to 3 with S in the per-session layout.
func (s *Store) replaceAcrossSlots(ctx context.Context, u boltsession.Update, owner string) error {
	from, to := handleOf(u.Replaces), handleOf(u.ID)
	tag := "r:" + string(from)
	now := s.opts.Now()
	var cl claim
	if owner != "" {
		var err error
		if cl, err = s.claim(ctx, owner, to, coverFor(now, u.Expires)); err != nil {
			return wrap("save", err)
		}
	}
	if err := s.hook("replace", "claim"); err != nil {
		return err
	}

	keys := []string{s.sessionKey(to)}
	if !s.sharded && s.legacyOn() {
		keys = append(keys, s.legacyKey(u.ID))
	}
	pend := newCall(s.scripts.pending, keys, nanos(now), tag, cl.owner, cl.cover,
		now.Add(pendingLifetime).UnixMilli())
	if err := s.run(ctx, pend); err != nil {
		return wrap("save", err)
	}
	if err := scriptErr("save", pend); err != nil {
		return err
	}
	if pend.code() != codeOK {
		return outcome(pend.code())
	}
	if err := s.hook("replace", "pending"); err != nil {
		return err
	}

	mark := newCall(s.scripts.mark, []string{s.sessionKey(from)}, nanos(now), string(to),
		now.Add(boltsession.ReplacedGrace).UnixMilli())
	if err := s.run(ctx, mark); err != nil {
		return wrap("save", err)
	}
	if err := scriptErr("save", mark); err != nil {
		return err
	}
	if mark.code() != codeOK {
		// S is not live (a logout won, or another replace did): withdraw
		// N. Should this fail, N stays pending, unloadable, and expires.
		_ = s.run(context.WithoutCancel(ctx), newCall(s.scripts.unpend, []string{s.sessionKey(to)}, tag))
		if mark.code() == codeMoved {
			return errMoving
		}
		return outcome(mark.code())
	}
	if err := s.hook("replace", "mark"); err != nil {
		return err
	}
	rec, err := s.recordOf(from, mark.reply, false)
	if err != nil {
		return err
	}
	applyUpdate(rec, u)
	return s.activate(ctx, to, tag, rec, cl)
}

// activate is the last step of a replace or a move: the pending record of
// the session h with the given tag becomes rec, if it is still there.
// Every value is written anew, in the form this store writes (sealed
// under h with ValueKeys): a sealed value is bound to its session, so the
// values of a replaced session cannot be copied over as they are.
func (s *Store) activate(ctx context.Context, h handle, tag string, rec *boltsession.Record, cl claim) error {
	sets, err := s.encodeValues(h, rec.Values)
	if err != nil {
		return err
	}
	c, err := s.step(ctx, h, cl, func(cl claim) *call {
		args := []any{tag, nanos(rec.Created), nanos(rec.Expires), millis(rec.Expires), rec.Owner, "",
			cl.owner, cl.cover}
		if rec.MaxAge != 0 {
			args[5] = strconv.FormatInt(int64(rec.MaxAge), 10)
		}
		args = append(args, sets...)
		return newCall(s.scripts.activate, []string{s.sessionKey(h)}, args...)
	})
	if err != nil {
		return wrap("save", err)
	}
	if err := scriptErr("save", c); err != nil {
		return err
	}
	if c.code() != codeOK {
		// The pending record is gone: a Delete that followed the marker,
		// or DestroyOwner, ended the session while it was being replaced.
		return fmt.Errorf("boltsession: redisstore: save: session ended while being replaced: %w", boltsession.ErrNotFound)
	}
	return nil
}

// recordOf decodes the HGETALL of the session h that a mark step (or,
// with legacy, a freeze step) returned as the second element of its reply.
func (s *Store) recordOf(h handle, reply []any, legacy bool) (*boltsession.Record, error) {
	if len(reply) < 2 {
		return nil, fmt.Errorf("boltsession: redisstore: unexpected script reply %v", reply)
	}
	r, err := s.decodeRecord(h, hashFields(reply[1]), legacy)
	if err != nil {
		return nil, fmt.Errorf("boltsession: redisstore: save: %w", err)
	}
	return r, nil
}

// applyUpdate applies the merge part of u to rec, as the single-slot save
// script does: Clear, Set, Delete, Owner, MaxAge and Expires.
func applyUpdate(rec *boltsession.Record, u boltsession.Update) {
	if u.Clear {
		clear(rec.Values)
	}
	for k, v := range u.Set {
		rec.Values[k] = v
	}
	for _, k := range u.Delete {
		delete(rec.Values, k)
	}
	if u.Owner != nil {
		rec.Owner = *u.Owner
	}
	if u.MaxAge != nil {
		rec.MaxAge = *u.MaxAge
	}
	if !u.Expires.IsZero() {
		rec.Expires = u.Expires
	}
}

// hooks let the tests stop an operation between two of its steps, as a
// crash of the process would, or hold it there while they interleave
// other requests.
type hooks struct {
	// afterStep is called after each step of a multi-step operation has
	// landed (op "replace": "claim", "pending", "mark"; op "move":
	// "claim", "pending", "freeze"). A non-nil error stops the operation
	// there and is returned.
	afterStep func(op, step string) error
	// beforeOwnerRead is called before each read of an owner's index by
	// DestroyOwner.
	beforeOwnerRead func()
}

func (s *Store) hook(op, step string) error {
	if s.hooks == nil || s.hooks.afterStep == nil {
		return nil
	}
	if err := s.hooks.afterStep(op, step); err != nil {
		return fmt.Errorf("boltsession: redisstore: %s after %s: %w", op, step, err)
	}
	return nil
}

// strs turns an HMGET reply into strings, "" for a missing field or a
// failed command.
func strs(cmd *redis.SliceCmd) []string {
	vals, _ := cmd.Result()
	out := make([]string, len(cmd.Args())-2)
	for i := range out {
		if i < len(vals) {
			out[i], _ = vals[i].(string)
		}
	}
	return out
}
