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

// Sessions of the legacy layout (Options.LegacyPrefix) are read and written
// where they are, with the scripts of the releases that wrote them, until
// they expire or MoveLegacy moves them. A regenerate of such a session
// stays in the legacy layout too (one script, as before), so processes of
// an earlier release that still run during a rolling deploy keep
// understanding every session they meet.

// loadLegacy reads id from the legacy layout. With frozen, a record that
// MoveLegacy froze counts as live: its copy is pending and not active yet.
func (s *Store) loadLegacy(ctx context.Context, id string, frozen bool) (*boltsession.Record, error) {
	h, err := s.hgetall(ctx, s.legacyKey(id))
	if err != nil {
		return nil, err
	}
	if frozen {
		delete(h, fieldMoved)
	}
	return s.decodeLive(handleOf(id), h, true)
}

// legacySave runs the legacy save script for u (a create, a merge, or a
// replace whose old and new session are both legacy). It returns the
// script's code and the contract error it means; codeMoved (frozen by a move)
// comes with a nil error, for the caller to finish the move. The values
// are written as the earlier releases wrote them, in clear: a store with
// ValueKeys never runs it (it refuses CreateLegacy, and moves a legacy
// session before merging into it).
func (s *Store) legacySave(ctx context.Context, u boltsession.Update) (int64, error) {
	keys := []string{s.legacyKey(u.ID)}
	if u.Replaces != "" {
		keys = append(keys, s.legacyKey(u.Replaces))
	}
	args := make([]any, 0, 15+2*len(u.Set)+len(u.Delete))
	args = append(args, u.ID, s.legacyOwnerPrefix(), nanos(s.opts.Now()),
		flag(u.Create), nanos(u.Created), flag(u.Clear))
	args = appendMetaArgs(args, u)
	args = append(args, u.Replaces, millis(s.opts.Now().Add(boltsession.ReplacedGrace)), len(u.Set))
	for k, v := range u.Set {
		args = append(args, valuePrefix+k, v)
	}
	for _, k := range u.Delete {
		args = append(args, valuePrefix+k)
	}
	c := newCall(s.scripts.legacy.save, keys, args...)
	if err := s.run(ctx, c); err != nil {
		return 0, wrap("save", err)
	}
	if err := scriptErr("save", c); err != nil {
		return 0, err
	}
	if c.code() == codeMoved {
		return codeMoved, nil
	}
	return c.code(), outcome(c.code())
}

// legacyTouch runs the legacy touch script; codeMoved as for legacySave.
func (s *Store) legacyTouch(ctx context.Context, id string, expires time.Time) (int64, error) {
	c := newCall(s.scripts.legacy.touch, []string{s.legacyKey(id)},
		id, s.legacyOwnerPrefix(), nanos(s.opts.Now()), nanos(expires), millis(expires))
	if err := s.run(ctx, c); err != nil {
		return 0, wrap("touch", err)
	}
	if err := scriptErr("touch", c); err != nil {
		return 0, err
	}
	if c.code() == codeMoved {
		return codeMoved, nil
	}
	return c.code(), outcome(c.code())
}

// legacyInUse reports whether id names a live session, a marker or a move
// in the legacy layout.
func (s *Store) legacyInUse(ctx context.Context, id string) (bool, error) {
	cmd := s.client.HMGet(ctx, s.legacyKey(id), fieldExpires, fieldNext, fieldMoved)
	if err := cmd.Err(); err != nil && !isWrongType(err) {
		s.noteFailure(ctx, err)
		return false, err
	}
	return s.inUse(strs(cmd), true), nil
}

// createLegacy makes a new session in the legacy layout (CreateLegacy),
// only if its ID is not in use in the per-session layout either.
func (s *Store) createLegacy(ctx context.Context, u boltsession.Update) error {
	cmd := s.client.HMGet(ctx, s.sessionKey(handleOf(u.ID)), fieldExpires, fieldNext, fieldPending)
	if err := cmd.Err(); err != nil && !isWrongType(err) {
		s.noteFailure(ctx, err)
		return wrap("save", err)
	}
	if s.inUse(strs(cmd), false) {
		return boltsession.ErrExists
	}
	_, err := s.legacySave(ctx, u)
	return err
}

// MoveLegacy moves every live session of the legacy layout into the
// per-session layout and returns how many it moved: each session's ID
// (the legacy key, its owner set member) gives way to its handle, and
// with ValueKeys its values are sealed. Run it once every
// process runs this release without CreateLegacy (a process of an earlier
// release would not understand a moved session); the application may go
// on serving meanwhile. It is idempotent, and safe to interrupt and run
// again: a move cut short is finished by the next step on that session or
// by the next MoveLegacy.
//
// Each session moves in single-slot steps, like a replace to the same ID:
// its owner is claimed in the per-session index; a pending copy is
// created; the legacy record is frozen (it stays readable, and from then
// on every legacy step on it finishes the move first and then applies
// itself to the copy) and read; the copy is activated with the frozen
// record, only if it is still pending (a logout meanwhile removed it: the
// session stays ended); the frozen record is deleted. Nobody is logged out
// and no write is lost: a write before the freeze is in the frozen record,
// one after it lands on the copy.
//
// Markers of replaced legacy sessions are left to expire (within
// boltsession.ReplacedGrace); a logout through one still reaches the
// moved replacement.
func (s *Store) MoveLegacy(ctx context.Context) (int, error) {
	if s.misconfigured != nil {
		return 0, s.misconfigured
	}
	if !s.legacyOn() {
		return 0, nil
	}
	moved := 0
	var errs []error
	err := s.scanPrefix(ctx, s.opts.LegacyPrefix, func(_ redis.Cmdable, keys []string) error {
		for _, k := range keys {
			id, ok := s.idOfLegacyKey(k)
			if !ok {
				continue
			}
			mv, err := s.moveOne(ctx, id)
			if err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				// Named by handle: an error may be logged.
				errs = append(errs, fmt.Errorf("session %s: %w", handleOf(id), err))
				continue
			}
			if mv == moveDone {
				moved++
			}
		}
		return nil
	})
	if err != nil {
		return moved, wrap("move legacy", err)
	}
	if len(errs) > 0 {
		return moved, fmt.Errorf("boltsession: redisstore: move legacy: %d sessions not moved: %w", len(errs), errors.Join(errs...))
	}
	return moved, nil
}

// moveResult is what moveOne found.
type moveResult int

const (
	moveNone     moveResult = iota // not a live legacy session (or it ended meanwhile): nothing moved
	moveReplaced                   // the marker of a replaced legacy session: left to expire
	moveDone                       // moved, or a move cut short finished
)

// moveOne moves one legacy session (see MoveLegacy) to the per-session
// layout, under its handle.
func (s *Store) moveOne(ctx context.Context, id string) (moveResult, error) {
	h := handleOf(id)
	for range 3 {
		cmd := s.client.HMGet(ctx, s.legacyKey(id), fieldOwner, fieldExpires, fieldNext, fieldMoved)
		err := cmd.Err()
		if err != nil {
			return moveNone, err
		}
		f := strs(cmd)
		switch {
		case f[3] != "":
			if err := s.finishMove(ctx, id); err != nil {
				return moveNone, err
			}
			return moveDone, nil
		case f[2] != "":
			return moveReplaced, nil
		case !isDecimal(f[1]) || !laterDecimal(f[1], nanos(s.opts.Now())):
			return moveNone, nil
		}
		n, _ := strconv.ParseInt(f[1], 10, 64)
		expires := time.Unix(0, n)
		owner := f[0]
		var cl claim
		if owner != "" {
			if cl, err = s.claim(ctx, owner, h, coverFor(s.opts.Now(), expires)); err != nil {
				return moveNone, err
			}
		}
		if err := s.hook("move", "claim"); err != nil {
			return moveNone, err
		}
		pend := newCall(s.scripts.pending, []string{s.sessionKey(h)}, nanos(s.opts.Now()), pendingMove,
			cl.owner, cl.cover, millis(expires))
		if err := s.run(ctx, pend); err != nil {
			return moveNone, err
		}
		if err := scriptErr("move legacy", pend); err != nil {
			return moveNone, err
		}
		if pend.code() == codeExists {
			st, err := s.client.HGet(ctx, s.sessionKey(h), fieldPending).Result()
			if err != nil || st != pendingMove {
				return moveNone, fmt.Errorf("the ID is in use in both layouts")
			}
		}
		if err := s.hook("move", "pending"); err != nil {
			return moveNone, err
		}
		freeze := newCall(s.scripts.legacy.freeze, []string{s.legacyKey(id)},
			id, s.legacyOwnerPrefix(), nanos(s.opts.Now()), owner)
		if err := s.run(ctx, freeze); err != nil {
			return moveNone, err
		}
		if err := scriptErr("move legacy", freeze); err != nil {
			return moveNone, err
		}
		switch freeze.code() {
		case codeOK:
		case codeNeedClaim: // the owner changed since the read: start again
			_ = s.run(ctx, newCall(s.scripts.unpend, []string{s.sessionKey(h)}, pendingMove))
			continue
		default: // ended meanwhile
			_ = s.run(ctx, newCall(s.scripts.unpend, []string{s.sessionKey(h)}, pendingMove))
			return moveNone, nil
		}
		if err := s.hook("move", "freeze"); err != nil {
			return moveNone, err
		}
		rec, err := s.recordOf(h, freeze.reply, true)
		if err != nil {
			return moveNone, err
		}
		if err := s.activate(ctx, h, pendingMove, rec, cl); err != nil {
			if errors.Is(err, boltsession.ErrNotFound) {
				return moveNone, s.dropMoved(ctx, id)
			}
			return moveNone, err
		}
		return moveDone, s.dropMoved(ctx, id)
	}
	return moveNone, errors.New("its owner kept changing")
}

// finishMove completes a move that froze id's legacy record: it activates
// the pending copy with the frozen record, if the copy is still pending,
// and deletes the frozen record. A copy that is gone means a logout ended
// the session during the move; the frozen record is deleted then too.
func (s *Store) finishMove(ctx context.Context, id string) error {
	h, err := s.hgetall(ctx, s.legacyKey(id))
	if err != nil {
		return err
	}
	if _, frozen := h[fieldMoved]; !frozen {
		return nil
	}
	hd := handleOf(id)
	rec, err := s.decodeRecord(hd, h, true)
	if err != nil {
		return fmt.Errorf("boltsession: redisstore: move legacy: %w", err)
	}
	if err := s.activate(ctx, hd, pendingMove, rec, claim{}); err != nil && !errors.Is(err, boltsession.ErrNotFound) {
		return err
	}
	return s.dropMoved(ctx, id)
}

func (s *Store) dropMoved(ctx context.Context, id string) error {
	c := newCall(s.scripts.legacy.dropMoved, []string{s.legacyKey(id)})
	if err := s.run(ctx, c); err != nil {
		return wrap("move legacy", err)
	}
	return scriptErr("move legacy", c)
}
