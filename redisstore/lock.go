package redisstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sync"
	"time"

	"github.com/boltsession/boltsession"
	"github.com/redis/go-redis/v9"
)

var _ boltsession.SessionLocker = (*Store)(nil)

// Bounds of the wait between attempts to take a held lock: short enough that
// a released lock is taken again within milliseconds, long enough that a
// waiter costs Redis a few hundred commands a second at most.
const (
	lockPollMin = 500 * time.Microsecond
	lockPollMax = 8 * time.Millisecond
)

// unlockTimeout bounds the release of a lock, which runs even when the
// request's context is already cancelled; an unreleased lock expires after
// LockTTL anyway.
const unlockTimeout = 2 * time.Second

// unlockScript deletes a lock only if it still holds the caller's token, so
// a request whose lock expired (it ran past LockTTL) cannot release the lock
// another request has taken since.
//
// KEYS[1] lock key. ARGV[1] token.
var unlockScript = redis.NewScript(`
if redis.call("GET", KEYS[1]) == ARGV[1] then
  return redis.call("DEL", KEYS[1])
end
return 0
`)

// LockSession takes the lock of session id in Redis for one request, so that
// boltsession.Options.Serialize holds across every process on this Redis
// (boltsession.SessionLocker). The lock is the key
// Prefix+"{"+handle+"}:lock", in the session's own slot, set with SET NX PX to a random token and a
// lifetime of LockTTL; while it is held, others retry every few
// milliseconds until wait has passed, then get an error wrapping
// boltsession.ErrBusy. The returned function releases the lock with a
// script that deletes it only if it still holds this token. Under
// CreateLegacy the legacy layout's lock LegacyPrefix+"lock:"+id is taken
// first as well, so that processes of an earlier release, which take only
// that one, are excluded during a rolling deploy: that key holds the ID,
// as the earlier release's did.
//
// A process that dies holding a lock blocks that session until LockTTL
// passes; a request that runs longer than LockTTL loses its exclusivity.
func (s *Store) LockSession(ctx context.Context, id string, wait time.Duration) (func(), error) {
	if s.misconfigured != nil {
		return nil, s.misconfigured
	}
	if !validID(id) {
		return nil, fmt.Errorf("boltsession: redisstore: lock: a session ID may not be empty, hold a brace, or start with %q or %q", ownerInfix, lockInfix)
	}
	deadline := time.Now().Add(wait)
	if !s.opts.CreateLegacy {
		return s.lockKeyUntil(ctx, s.lockKey(handleOf(id)), deadline, wait)
	}
	first, err := s.lockKeyUntil(ctx, s.legacyLockKey(id), deadline, wait)
	if err != nil {
		return nil, err
	}
	second, err := s.lockKeyUntil(ctx, s.lockKey(handleOf(id)), deadline, wait)
	if err != nil {
		first()
		return nil, err
	}
	return func() { second(); first() }, nil
}

// lockKeyUntil takes one lock key, polling until deadline.
func (s *Store) lockKeyUntil(ctx context.Context, key string, deadline time.Time, wait time.Duration) (func(), error) {
	return takeLock(ctx, s.client, key, s.opts.LockTTL, deadline, wait, s.noteFailure)
}

// takeLock takes one lock key through client, set to a random token for
// ttl, polling until deadline; note hears of errors on the way to Redis.
// It is shared by both stores of the package.
func takeLock(ctx context.Context, client redis.UniversalClient, key string, ttl time.Duration, deadline time.Time,
	wait time.Duration, note func(context.Context, error)) (func(), error) {
	var raw [16]byte
	rand.Read(raw[:])
	token := hex.EncodeToString(raw[:])
	poll := lockPollMin
	for {
		ok, err := client.SetNX(ctx, key, token, ttl).Result()
		if err != nil {
			note(ctx, err)
			return nil, wrap("lock", err)
		}
		if ok {
			return unlocker(ctx, client, key, token), nil
		}
		left := time.Until(deadline)
		if left <= 0 {
			return nil, fmt.Errorf("boltsession: redisstore: lock: %w (waited %v)", boltsession.ErrBusy, wait)
		}
		t := time.NewTimer(min(poll, left))
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("boltsession: redisstore: lock: %w", ctx.Err())
		}
		poll = min(2*poll, lockPollMax)
	}
}

// unlocker returns the release function of a lock taken with token.
func unlocker(ctx context.Context, client redis.UniversalClient, key, token string) func() {
	var once sync.Once
	return func() {
		once.Do(func() {
			ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), unlockTimeout)
			defer cancel()
			// An error leaves the lock to expire after LockTTL: the
			// request is over and has nobody to tell.
			_ = unlockScript.Run(ctx, client, []string{key}, token).Err()
		})
	}
}
