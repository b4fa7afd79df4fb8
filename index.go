package boltsession

import (
	"bytes"
	"encoding/binary"
	"slices"
	"time"

	bbolt "go.etcd.io/bbolt"
)

// records is the one place that writes session records. The sessions bucket
// and its two indexes, expiry and owners, must move together: a record
// without its expiry entry is never swept, one without its owner entry
// escapes DestroyOwner, and an entry without its record leaks. So every
// writer (a save, a touch, a replace, a delete, DestroyOwner, the sweeper,
// Restore) changes records only through put and remove, inside its write
// transaction.
type records struct {
	s                                  *BoltStore // its record codec
	sessions, expiry, owners, replaced *bbolt.Bucket

	// batch, when set, collects the index changes instead of applying
	// them, and flush applies them in key order (Restore writes many
	// records in one transaction: see Restore).
	batch *indexBatch
}

// indexBatch holds index keys to delete and to put, per index bucket.
type indexBatch struct {
	del, put [2][][]byte // [0] expiry, [1] owners
}

// recordsOf returns the record writer of a write transaction.
func (s *BoltStore) recordsOf(tx *bbolt.Tx) *records {
	return &records{
		s:        s,
		sessions: tx.Bucket(bucketSessions),
		expiry:   tx.Bucket(bucketExpiry),
		owners:   tx.Bucket(bucketOwners),
		replaced: tx.Bucket(bucketReplaced),
	}
}

// load returns the record stored under key, decoded (with the ID id), or
// nil when there is none. A record that does not decode gives an error
// wrapping ErrCorrupt.
func (r *records) load(key []byte, id string) (*Record, error) {
	raw := r.sessions.Get(key)
	if raw == nil {
		return nil, nil
	}
	return r.s.decodeRecord(key, id, raw)
}

// current returns the record under key as the transaction sees it, like
// load, and whether it is the cache's, to be copied before any change. The
// cache holds a record only as last committed: writes hand it their
// changes in commit order, before the next write transaction begins (see
// update); so only a record this transaction changed must be read from
// the transaction.
func (r *records) current(key []byte, id string) (rec *Record, shared bool, err error) {
	if !r.s.written.has(key) {
		if rec, ok := r.s.cache.get(key); ok {
			return rec, true, nil
		}
	}
	rec, err = r.load(key, id)
	return rec, false, err
}

// put stores rec, already encoded as raw, under key. old is the record
// it overwrites as decoded from the store (nil when there is none or it
// does not decode: the entries of an undecodable record cannot be found,
// and are cleaned when the sweeper or Owned meets them). Index entries of
// old that no longer hold are removed and rec's are added; an entry that is
// already there is not written again, since bbolt rewrites the page of
// every key it is given, and an unchanged owner entry would otherwise cost
// a page written and fsynced on every save of a signed-in session.
func (r *records) put(key []byte, old, rec *Record, raw []byte) error {
	r.s.written.key(key)
	if err := r.sessions.Put(key, raw); err != nil {
		return err
	}
	if old == nil || !old.Expires.Equal(rec.Expires) {
		if old != nil {
			if err := r.index(0, false, expiryKey(old.Expires, key)); err != nil {
				return err
			}
		}
		if err := r.index(0, true, expiryKey(rec.Expires, key)); err != nil {
			return err
		}
	}
	if old == nil || old.Owner != rec.Owner {
		if old != nil && old.Owner != "" {
			if err := r.index(1, false, ownerKey(old.Owner, key)); err != nil {
				return err
			}
		}
		if rec.Owner != "" {
			if err := r.index(1, true, ownerKey(rec.Owner, key)); err != nil {
				return err
			}
		}
	}
	return nil
}

// remove deletes the record under key and, when old (its decoded index
// fields) is known, its index entries.
func (r *records) remove(key []byte, old *Record) error {
	r.s.written.key(key)
	if old != nil {
		if err := r.index(0, false, expiryKey(old.Expires, key)); err != nil {
			return err
		}
		if old.Owner != "" {
			if err := r.index(1, false, ownerKey(old.Owner, key)); err != nil {
				return err
			}
		}
	}
	return r.sessions.Delete(key)
}

// index puts or deletes one index key, at once or into the batch.
func (r *records) index(which int, put bool, k []byte) error {
	if r.batch != nil {
		if put {
			r.batch.put[which] = append(r.batch.put[which], k)
		} else {
			r.batch.del[which] = append(r.batch.del[which], k)
		}
		return nil
	}
	b := r.expiry
	if which == 1 {
		b = r.owners
	}
	if put {
		return b.Put(k, nil)
	}
	return b.Delete(k)
}

// flush applies the batched index changes, each bucket's in key order, the
// deletes first: an entry both removed and put back (a record rewritten
// with the same expiry) must end up present.
func (r *records) flush() error {
	if r.batch == nil {
		return nil
	}
	for which, b := range []*bbolt.Bucket{r.expiry, r.owners} {
		for _, put := range []bool{false, true} {
			keys := r.batch.del[which]
			if put {
				keys = r.batch.put[which]
			}
			slices.SortFunc(keys, bytes.Compare)
			for _, k := range keys {
				var err error
				if put {
					err = b.Put(k, nil)
				} else {
					err = b.Delete(k)
				}
				if err != nil {
					return err
				}
			}
		}
	}
	r.batch = nil
	return nil
}

// Markers of replaced sessions (see Update.Replaces) live in their own
// bucket, so that the sessions bucket holds sessions only and Count stays a
// page walk. It has two kinds of key, both naming sessions by their keys
// (handles, never IDs):
//
//	'i' ‖ old key                → 8-byte big-endian until ‖ new key
//	'e' ‖ 8-byte until ‖ old key → empty (the sweeper walks these in order)
const (
	markerByID    = 'i'
	markerByUntil = 'e'
)

// mark records that the session under old was replaced by the one under
// next, until the given time.
func (r *records) mark(old, next []byte, until time.Time) error {
	v := make([]byte, 8+len(next))
	binary.BigEndian.PutUint64(v, uint64(max(timeToNanos(until), 0)))
	copy(v[8:], next)
	if err := r.replaced.Put(markerIDKey(old), v); err != nil {
		return err
	}
	return r.replaced.Put(markerUntilKey(until, old), nil)
}

// successor returns the key of what replaced the session under key, if a
// marker for it is kept and its time is not past at now. The slice is the
// transaction's.
func (r *records) successor(key []byte, now time.Time) ([]byte, bool) {
	v := r.replaced.Get(markerIDKey(key))
	if len(v) < 8 || !now.Before(nanosToTime(int64(binary.BigEndian.Uint64(v)))) {
		return nil, false
	}
	return v[8:], true
}

// unmark drops the marker of the session under key, if any, whether or
// not its time is past.
func (r *records) unmark(key []byte) error {
	k := markerIDKey(key)
	v := r.replaced.Get(k)
	if v == nil {
		return nil
	}
	if len(v) >= 8 {
		until := nanosToTime(int64(binary.BigEndian.Uint64(v)))
		if err := r.replaced.Delete(markerUntilKey(until, key)); err != nil {
			return err
		}
	}
	return r.replaced.Delete(k)
}

func markerIDKey(key []byte) []byte {
	return append([]byte{markerByID}, key...)
}

func markerUntilKey(until time.Time, key []byte) []byte {
	return append([]byte{markerByUntil}, expiryKey(until, key)...)
}

// expiryKey is the key of the expiry index: the expiry as big-endian Unix
// nanoseconds (clamped at 0, so the byte order is the time order) followed
// by the session's key.
func expiryKey(t time.Time, key []byte) []byte {
	k := make([]byte, 8+len(key))
	binary.BigEndian.PutUint64(k, uint64(max(timeToNanos(t), 0)))
	copy(k[8:], key)
	return k
}

// expiryLimit is the 8-byte time prefix of the entries expiring at t: an
// entry whose first 8 bytes compare at most equal to it has expired by t.
func expiryLimit(t time.Time) []byte {
	k := make([]byte, 8)
	binary.BigEndian.PutUint64(k, uint64(max(timeToNanos(t), 0)))
	return k
}

// ownerKey is the key of the owner index: owner ‖ 0x00 ‖ the session's
// key. Save refuses owners holding a 0x00 byte, so the first 0x00 of a key
// ends the owner.
func ownerKey(owner string, key []byte) []byte {
	k := make([]byte, 0, len(owner)+1+len(key))
	k = append(k, owner...)
	k = append(k, 0)
	return append(k, key...)
}
