package boltsession

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"time"

	bbolt "go.etcd.io/bbolt"
)

// maxReplaceChain bounds how many markers Delete follows from one replaced
// session to the next. Replaces only ever point to IDs that were unused
// (Update.Create), so a chain cannot loop in a sound file; the bound keeps a
// damaged one from looping forever.
const maxReplaceChain = 10_000

// Save applies u atomically through the group committer: a create, a
// per-key merge or a replace, as Update describes. It returns once the
// transaction holding it has committed (and been fsynced unless NoSync); an
// error means nothing of u was written. A create with a zero Created uses
// the store clock. An empty ID, an ID or owner longer than 1024 bytes, and
// an owner holding a NUL byte (the owner index's separator) are refused.
func (s *BoltStore) Save(ctx context.Context, u Update) error {
	if err := checkKey("save", u.ID); err != nil {
		return err
	}
	if u.Owner != nil {
		if err := checkOwner("save", *u.Owner); err != nil {
			return err
		}
	}
	if u.Replaces != "" {
		if !u.Create {
			return errors.New("boltsession: save: Replaces needs Create")
		}
		if u.Replaces == u.ID {
			return errors.New("boltsession: save: a session cannot replace itself")
		}
	}
	if u.Create && u.Expires.IsZero() {
		return errors.New("boltsession: save: a new record needs an expiry")
	}
	return s.write(ctx, "save", func(tx *bbolt.Tx, now time.Time) error {
		return s.applySave(s.recordsOf(tx), &u, now)
	})
}

// Touch moves the expiry of a live record; see Store. A zero expires is
// refused.
func (s *BoltStore) Touch(ctx context.Context, id string, expires time.Time) error {
	if err := checkKey("touch", id); err != nil {
		return err
	}
	if expires.IsZero() {
		return errors.New("boltsession: touch: zero expiry")
	}
	return s.write(ctx, "touch", func(tx *bbolt.Tx, now time.Time) error {
		return s.applySave(s.recordsOf(tx), &Update{ID: id, Expires: expires}, now)
	})
}

// Delete ends the session id: the record, its index entries and, if id was
// replaced, its replacement (see Store). A missing record is not an error.
func (s *BoltStore) Delete(ctx context.Context, id string) error {
	if id == "" || len(id) > maxIDLen {
		return nil // no such key can exist
	}
	// A delete of a missing record needs no commit (and no fsync); a
	// record created after this check is ordered after the delete.
	var present bool
	if err := s.enter(ctx, "delete"); err != nil {
		return err
	}
	key := keyOf(id)
	err := s.view("delete", func(tx *bbolt.Tx) error {
		present = tx.Bucket(bucketSessions).Get(key) != nil ||
			tx.Bucket(bucketReplaced).Get(markerIDKey(key)) != nil
		return nil
	})
	s.mu.RUnlock()
	if err != nil || !present {
		return wrapIf("delete", err)
	}
	return s.write(ctx, "delete", func(tx *bbolt.Tx, now time.Time) error {
		_, err := s.end(s.recordsOf(tx), key, now)
		return err
	})
}

// DeleteHandle ends the session with the given handle (see Handle), as
// Delete ends it by its ID: for operators, who see handles, never IDs. A
// handle that names no session is not an error; a string that is not a
// handle is.
func (s *BoltStore) DeleteHandle(ctx context.Context, handle string) error {
	key, err := parseHandle(handle)
	if err != nil {
		return err
	}
	return s.write(ctx, "delete", func(tx *bbolt.Tx, now time.Time) error {
		_, err := s.end(s.recordsOf(tx), key, now)
		return err
	})
}

// applySave is one Update inside a write transaction. It decides and
// validates everything before its first write, returning a rejected error
// if the step must not happen, so that a failed step leaves the shared
// transaction of a group commit untouched.
func (s *BoltStore) applySave(r *records, u *Update, now time.Time) error {
	key := keyOf(u.ID)
	if u.Create {
		if err := s.checkUnused(r, key, now); err != nil {
			return err
		}
	}
	// cur is what u.ID holds now: for a create, an expired record or
	// nothing; for a merge, the live record.
	cur, shared, err := r.current(key, u.ID)
	if err != nil { // for a create, checkUnused refused it already
		s.corrupt.Add(1)
		return rejected{err}
	}

	var rec Record
	var from *Record // the replaced record (a replace)
	var fromKey []byte
	switch {
	case u.Replaces != "":
		fromKey = keyOf(u.Replaces)
		if from, err = s.liveRecord(r, fromKey, now); err != nil {
			return err
		}
		rec = *from
		rec.ID, rec.Handle = u.ID, handleOf(key)
		rec.Values = maps.Clone(from.Values)
		if u.Clear {
			rec.Values = make(map[string][]byte, len(u.Set))
		}
	case u.Create:
		rec = Record{ID: u.ID, Handle: handleOf(key), Created: u.Created, Values: make(map[string][]byte, len(u.Set))}
		if rec.Created.IsZero() {
			rec.Created = now
		}
	default:
		if cur == nil || !now.Before(cur.Expires) {
			if _, replaced := r.successor(key, now); replaced {
				return rejected{ErrReplaced}
			}
			return rejected{ErrNotFound}
		}
		rec = *cur
		switch {
		case u.Clear:
			rec.Values = make(map[string][]byte, len(u.Set))
		case shared:
			rec.Values = maps.Clone(cur.Values) // the cache's values stay as they are
		}
	}
	// rec goes to the cache once committed: it must own its values (the
	// caller may reuse the slices of u.Set; values kept from cur are never
	// changed in place).
	for k, v := range u.Set {
		rec.Values[k] = bytes.Clone(v)
	}
	for _, k := range u.Delete {
		delete(rec.Values, k)
	}
	if !u.Expires.IsZero() {
		rec.Expires = u.Expires
	}
	if u.Owner != nil {
		rec.Owner = *u.Owner
	}
	if u.MaxAge != nil {
		rec.MaxAge = *u.MaxAge
	}
	raw, err := s.encode(key, &rec)
	if err != nil {
		return rejected{err}
	}
	if err := s.checkSize(len(raw)); err != nil {
		return rejected{err}
	}

	// Validation is over: from here on every error is bbolt's own.
	if u.Create {
		if err := r.unmark(key); err != nil { // an expired marker
			return err
		}
	}
	if err := r.put(key, cur, &rec, raw); err != nil {
		return err
	}
	s.written.stored(key, cacheable(&rec), len(raw))
	if from != nil {
		if err := r.remove(fromKey, from); err != nil {
			return err
		}
		until := from.Expires
		if grace := now.Add(ReplacedGrace); grace.Before(until) {
			until = grace
		}
		return r.mark(fromKey, key, until)
	}
	return nil
}

// checkSize refuses a record longer than BoltOptions.MaxRecordSize.
func (s *BoltStore) checkSize(n int) error {
	if s.maxRecord > 0 && n > s.maxRecord {
		return fmt.Errorf("%w: the session record would be %d bytes, the limit is %d (BoltOptions.MaxRecordSize)",
			ErrTooLarge, n, s.maxRecord)
	}
	return nil
}

// checkUnused rejects a create of an ID that names a live record, an
// undecodable one (a create never overwrites what it cannot read), or a
// kept marker of a replaced session.
func (s *BoltStore) checkUnused(r *records, key []byte, now time.Time) error {
	cur, err := r.load(key, "")
	if err != nil {
		s.corrupt.Add(1)
		return rejected{fmt.Errorf("%w: %w", ErrExists, err)}
	}
	if cur != nil && now.Before(cur.Expires) {
		return rejected{ErrExists}
	}
	if _, replaced := r.successor(key, now); replaced {
		return rejected{ErrExists}
	}
	return nil
}

// liveRecord returns the live record under key for a replace, or the
// rejection that says why there is none: ErrReplaced, ErrNotFound, or
// ErrCorrupt.
func (s *BoltStore) liveRecord(r *records, key []byte, now time.Time) (*Record, error) {
	rec, err := r.load(key, "")
	if err != nil {
		s.corrupt.Add(1)
		return nil, rejected{err}
	}
	if rec != nil && now.Before(rec.Expires) {
		return rec, nil
	}
	if _, replaced := r.successor(key, now); replaced {
		return nil, rejected{ErrReplaced}
	}
	return nil, rejected{ErrNotFound}
}

// end deletes the record id with its index entries, and follows the
// markers of replaced sessions from id onwards, deleting each marker and
// the sessions that replaced it: a logout that loaded a session before it
// was regenerated ends the regenerated one too. It reports how many live
// sessions it removed.
func (s *BoltStore) end(r *records, key []byte, now time.Time) (int, error) {
	ended := 0
	for range maxReplaceChain {
		live, err := s.removeRecord(r, key, now)
		if err != nil {
			return ended, err
		}
		if live {
			ended++
		}
		next, replaced := r.successor(key, now)
		next = bytes.Clone(next) // the marker's bytes go with it
		if err := r.unmark(key); err != nil {
			return ended, err
		}
		if !replaced {
			return ended, nil
		}
		key = next
	}
	return ended, fmt.Errorf("boltsession: delete: more than %d replaced sessions in a row from %s: %w",
		maxReplaceChain, handleOf(key), ErrCorrupt)
}

// removeRecord deletes the record under key and, when it decodes, its
// index entries. It reports whether a live record was removed.
func (s *BoltStore) removeRecord(r *records, key []byte, now time.Time) (wasLive bool, err error) {
	raw := r.sessions.Get(key)
	if raw == nil {
		return false, nil
	}
	rec, derr := s.decodeIndexFields(key, raw)
	if derr != nil {
		s.corrupt.Add(1) // its index entries, if any, are cleaned when met
		rec = nil
	}
	if err := r.remove(key, rec); err != nil {
		return false, err
	}
	return rec != nil && now.Before(rec.Expires), nil
}
