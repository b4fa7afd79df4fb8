package redisstore

import (
	"context"
	"fmt"

	"github.com/boltsession/boltsession"
)

// replace regenerates u.Replaces (S) into u.ID (N) with the ordered
// protocol of boltsession.Update.Replaces, each step one script on one
// session's slot (S and N are two keys that hash anywhere):
//
//  1. N becomes a pending record (""), only if N is not in use;
//  2. in S's slot, only if S is live: S is deleted and its marker set
//     ("replaced by N", kept for ReplacedGrace at most), and S's value
//     comes back (the linearization point: a save of S lands before it
//     and is carried to N, or after it and fails with ErrReplaced);
//  3. in N's slot, only if the pending record is still there (a Delete of
//     S that followed the marker removes it): N gets S's value with u
//     applied and its expiry.
//
// connect-redis reads the pending record as no session, and never reads
// a marker. A crash between steps leaves a pending record that expires
// after a minute, or a marker whose successor is pending (the user signs
// in again), never a live session a Delete of S cannot reach.
func (s *ConnectRedisStore) replace(ctx context.Context, u boltsession.Update) error {
	if err := ctx.Err(); err != nil {
		return wrap("save", err)
	}
	from, to := u.Replaces, u.ID
	now := s.opts.Now()
	reply, err := s.run(ctx, s.scripts.pending, []string{s.sessionKey(to), s.markerKey(to)},
		ms(now), pendingLifetime.Milliseconds())
	if err != nil {
		return crErr("save", err)
	}
	if reply.code() != codeOK {
		return outcome(reply.code())
	}
	if err := s.step("pending"); err != nil {
		return err
	}

	reply, err = s.run(ctx, s.scripts.mark, []string{s.sessionKey(from), s.markerKey(from)},
		ms(now), to, ms(now.Add(boltsession.ReplacedGrace)))
	if err == nil && reply.code() != codeOK {
		err = outcome(reply.code())
	}
	if err != nil {
		// S is not live (a logout won, or another replace did), or the
		// step failed: withdraw N. Should this fail too, N stays pending,
		// unloadable, and expires.
		_, _ = s.run(context.WithoutCancel(ctx), s.scripts.unpend, []string{s.sessionKey(to)})
		if reply == nil { // the step itself failed
			return crErr("save", err)
		}
		return err
	}
	if err := s.step("mark"); err != nil {
		return err
	}

	value := reply.str(1)
	sess, err := parseSession([]byte(value))
	if err != nil {
		// Node wrote S over with something it cannot load itself: S is
		// gone, and nothing can take its place.
		_, _ = s.run(context.WithoutCancel(ctx), s.scripts.unpend, []string{s.sessionKey(to)})
		return fmt.Errorf("boltsession: redisstore: save: %w", err)
	}
	current, _ := s.expiry(reply.int(2), value, now)
	sess.apply(u, &s.opts.Cookie, current, sess.created(now))
	reply, err = s.run(ctx, s.scripts.activate, []string{s.sessionKey(to)}, ms(now), sess.obj.render(), ms(u.Expires))
	if err != nil {
		return crErr("save", err)
	}
	if reply.code() != codeOK {
		// The pending record is gone: a Delete that followed the marker
		// ended the session while it was being replaced.
		return fmt.Errorf("boltsession: redisstore: save: session ended while being replaced: %w", boltsession.ErrNotFound)
	}
	return nil
}

// step lets a test stop a replace between two steps, as a crash would.
func (s *ConnectRedisStore) step(name string) error {
	if s.afterStep == nil {
		return nil
	}
	if err := s.afterStep(name); err != nil {
		return fmt.Errorf("boltsession: redisstore: replace after %s: %w", name, err)
	}
	return nil
}
