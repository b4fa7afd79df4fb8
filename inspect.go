package boltsession

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"iter"
	"os"
	"slices"
	"strings"
	"time"

	bbolt "go.etcd.io/bbolt"
)

// Inspection is what Inspect reports about a session file: the figures an
// operator asks for first, all read from the file's indexes and bbolt's
// own bookkeeping, none from the session records.
type Inspection struct {
	// FormatVersion is the session file format version stored in the file.
	FormatVersion int

	// FileSize is the size of the file on disk in bytes.
	FileSize int64

	// PageSize is bbolt's page size for the file, in bytes.
	PageSize int

	// FreePages is the number of pages bbolt holds free for reuse (free
	// and pending). bbolt never shrinks a file; Compact returns them.
	FreePages int

	// Sessions is the number of live sessions (as Count).
	Sessions int

	// Expired is the number of records past their expiry that no sweep has
	// deleted yet.
	Expired int

	// Owners is the number of distinct owners in the owner index. It counts
	// owners of expired sessions not yet swept too.
	Owners int

	// ExpiresFirst and ExpiresLast are the earliest and latest expiry of a
	// live session; zero when there is none. They come from the expiry
	// index; creation times would need every record decoded. With one idle
	// timeout for all sessions, the first belongs to the session idle
	// longest and the last to the one used most recently.
	ExpiresFirst, ExpiresLast time.Time
}

// Inspect reports on the file without decoding any session record, so it
// stays fast on large files and a corrupt record does not stop it. Its cost
// is a walk of the sessions bucket's pages, of the expired part of the
// expiry index, and of the owner index's keys.
func (s *BoltStore) Inspect(ctx context.Context) (Inspection, error) {
	if err := s.enter(ctx, "inspect"); err != nil {
		return Inspection{}, err
	}
	defer s.mu.RUnlock()
	now := s.now()
	var in Inspection
	err := s.view("inspect", func(tx *bbolt.Tx) error {
		if raw := tx.Bucket(bucketMeta).Get(keyVersion); len(raw) == 8 {
			in.FormatVersion = int(binary.BigEndian.Uint64(raw))
		}
		stored, expired, err := countTx(tx, now)
		if err != nil {
			return err
		}
		in.Expired = min(expired, stored)
		in.Sessions = stored - in.Expired

		// Distinct owners: keys are owner ‖ 0x00 ‖ ID, sorted, so each
		// owner's keys are adjacent.
		var last []byte
		var order keyOrder
		c := tx.Bucket(bucketOwners).Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			if err := order.next(k); err != nil {
				return err
			}
			owner := k
			if i := bytes.IndexByte(k, 0); i >= 0 {
				owner = k[:i]
			}
			if last == nil || !bytes.Equal(owner, last) {
				in.Owners++
				last = bytes.Clone(owner)
			}
		}

		ec := tx.Bucket(bucketExpiry).Cursor()
		if k, _ := firstLiveExpiry(ec, now); k != nil {
			in.ExpiresFirst = expiryKeyTime(k)
			lk, _ := ec.Last()
			in.ExpiresLast = expiryKeyTime(lk)
		}
		return nil
	})
	if err != nil {
		return Inspection{}, fmt.Errorf("boltsession: inspect: %w", err)
	}
	st := s.db.Stats()
	in.FreePages = st.FreePageN + st.PendingPageN
	in.PageSize = s.pageSize
	fi, err := os.Stat(s.path)
	if err != nil {
		return Inspection{}, fmt.Errorf("boltsession: inspect: %w", err)
	}
	in.FileSize = fi.Size()
	return in, nil
}

// firstLiveExpiry positions c on the first expiry entry of a live session
// (expiry after now).
func firstLiveExpiry(c *bbolt.Cursor, now time.Time) ([]byte, []byte) {
	limit := expiryLimit(now)
	k, v := c.Seek(limit)
	for k != nil && bytes.Compare(k[:min(len(k), 8)], limit) <= 0 {
		k, v = c.Next()
	}
	return k, v
}

// expiryKeyTime is the expiry an expiry index key holds.
func expiryKeyTime(k []byte) time.Time {
	if len(k) < 8 {
		return time.Time{}
	}
	return nanosToTime(int64(binary.BigEndian.Uint64(k)))
}

// ScanOptions selects the records Scan visits. The zero value visits every
// live session in handle order.
type ScanOptions struct {
	// Owner, when set, visits only that owner's sessions, through the owner
	// index (in handle order within the owner).
	Owner string

	// HandlePrefix, when set, visits only sessions whose handle (see
	// Handle) starts with it: hex, of any length.
	HandlePrefix string

	// Expired includes records past their expiry that no sweep has deleted
	// yet (SessionInfo.Expired tells them apart).
	Expired bool

	// Limit stops the scan after this many records; zero means no limit.
	Limit int

	// Values fills SessionInfo.Values; without it Values is nil and the
	// values are not copied.
	Values bool
}

// SessionInfo is one record as Scan reports it.
type SessionInfo struct {
	// Record is the decoded record, named by its Handle (ID is empty: the
	// store keeps no IDs); Values only with ScanOptions.Values. For a
	// corrupt record only Handle is set.
	Record

	// Size is the length in bytes of the stored record (values included).
	Size int

	// Expired reports a record past its expiry that no sweep has deleted.
	Expired bool

	// Err, when not nil, wraps ErrCorrupt: the record does not decode.
	// Corrupt records are reported, not skipped, so that an operator can
	// find and delete them. Their expiry is unknown, so they are reported
	// whether or not ScanOptions.Expired is set; with ScanOptions.Owner,
	// only those the owner's index entries name.
	Err error
}

// Scan calls fn for each record that opts selects, in handle order, until fn
// returns an error (which Scan returns) or opts.Limit records were visited.
// Unlike Iterate it reports each record's stored size, can include expired
// records, and reports corrupt records (with Err set) instead of skipping
// them.
//
// The whole scan is one read transaction, so it sees one consistent state
// of the file. fn runs inside that transaction: it must not write to the
// store (bbolt may deadlock), and a slow fn keeps the transaction, and so
// the pages it sees, open for longer.
func (s *BoltStore) Scan(ctx context.Context, opts ScanOptions, fn func(SessionInfo) error) error {
	if err := s.enter(ctx, "scan"); err != nil {
		return err
	}
	defer s.mu.RUnlock()
	now := s.now()
	seek, match, err := handlePrefix(opts.HandlePrefix)
	if err != nil {
		return err
	}
	err = s.view("scan", func(tx *bbolt.Tx) error {
		sessions := tx.Bucket(bucketSessions)
		visited := 0
		visit := func(key, raw []byte) error {
			if err := ctx.Err(); err != nil {
				return err
			}
			info := SessionInfo{Size: len(raw)}
			rec, err := s.decodeRecord(key, "", raw)
			if err != nil {
				s.corrupt.Add(1)
				info.Handle, info.Err = handleOf(key), err
			} else {
				if opts.Owner != "" && rec.Owner != opts.Owner {
					return nil // a stale owner index entry
				}
				info.Record = *rec
				info.Expired = !now.Before(rec.Expires)
				if info.Expired && !opts.Expired {
					return nil
				}
				if !opts.Values {
					info.Values = nil
				}
			}
			visited++
			if err := fn(info); err != nil {
				return err
			}
			if opts.Limit > 0 && visited >= opts.Limit {
				return errScanDone
			}
			return nil
		}

		if opts.Owner != "" {
			owner := ownerKey(opts.Owner, nil)
			c := tx.Bucket(bucketOwners).Cursor()
			var order keyOrder
			for k, _ := c.Seek(ownerKey(opts.Owner, seek)); k != nil && bytes.HasPrefix(k, owner); k, _ = c.Next() {
				if err := order.next(k); err != nil {
					return err
				}
				key := k[len(owner):]
				if !match(key) {
					if bytes.Compare(key, seek) > 0 {
						break
					}
					continue
				}
				if raw := sessions.Get(key); raw != nil {
					if err := visit(key, raw); err != nil {
						return err
					}
				}
			}
			return nil
		}
		c := sessions.Cursor()
		var order keyOrder
		for k, v := c.Seek(seek); k != nil && match(k); k, v = c.Next() {
			if err := order.next(k); err != nil {
				return err
			}
			if err := visit(k, v); err != nil {
				return err
			}
		}
		return nil
	})
	if errors.Is(err, errScanDone) {
		return nil
	}
	return err
}

// errScanDone ends a scan that reached its limit.
var errScanDone = errors.New("boltsession: scan limit reached")

// restoreFillPercent is how full Restore packs the pages it splits.
const restoreFillPercent = 0.9

// RestoreResult reports what Restore wrote.
type RestoreResult struct {
	// Restored is the number of records written.
	Restored int

	// Expired is the number of records skipped because they were already
	// past their expiry.
	Expired int
}

// Restore writes every record of records into the store in one
// transaction: either all of them land (with one fsync) or, if the
// sequence yields an error, a record is invalid or the write fails, none
// does and the file is as it was. A record names its session by Handle
// (as Iterate, Scan and the command-line tool's export give it), or by ID,
// which Restore turns into its handle; with both, they must agree. Each
// record replaces any record with the same handle (of two with one handle
// in records, the later wins), so restoring the same records twice gives
// the same file (idempotent). Records already past
// their expiry on the store's clock are skipped and counted. Values must be
// msgpack-encoded as Session.Set stores them; a zero Created means now.
//
// Restore reads the whole sequence before it writes, holding the encoded
// records in memory, and then writes each bucket in key order: bbolt
// splits pages only at commit, so one transaction of inserts in random
// order costs time quadratic in its size, in key order linear.
//
// Restore is meant for moving sessions between files (the command-line
// tool's import). Saves from other goroutines wait while it writes: on a
// live store, restore in modest batches.
func (s *BoltStore) Restore(ctx context.Context, records iter.Seq2[*Record, error]) (RestoreResult, error) {
	if err := s.enter(ctx, "restore"); err != nil {
		return RestoreResult{}, err
	}
	defer s.mu.RUnlock()

	type entry struct {
		key []byte
		rec Record
		raw []byte
	}
	var (
		res     RestoreResult
		entries []entry
		index   = map[string]int{} // key → position in entries
		now     = s.now()
	)
	for rec, err := range records {
		if err != nil {
			return RestoreResult{}, err
		}
		if err := ctx.Err(); err != nil {
			return RestoreResult{}, fmt.Errorf("boltsession: restore: %w", err)
		}
		key, err := restoreKey(rec)
		if err != nil {
			return RestoreResult{}, err
		}
		name := handleOf(key)
		switch {
		case len(rec.Owner) > maxOwnerLen:
			return RestoreResult{}, fmt.Errorf("boltsession: restore %s: owner longer than %d bytes", name, maxOwnerLen)
		case strings.IndexByte(rec.Owner, 0) >= 0:
			return RestoreResult{}, fmt.Errorf("boltsession: restore %s: owner holds a 0x00 byte", name)
		case rec.Expires.IsZero():
			return RestoreResult{}, fmt.Errorf("boltsession: restore %s: no expiry", name)
		}
		if !now.Before(rec.Expires) {
			res.Expired++
			continue
		}
		r := *rec
		if r.Created.IsZero() {
			r.Created = now
		}
		raw, err := s.encode(key, &r)
		if err == nil {
			err = s.checkSize(len(raw))
		}
		if err != nil {
			return RestoreResult{}, fmt.Errorf("boltsession: restore %s: %w", name, err)
		}
		r.Values = nil // encoded in raw; put needs only the index fields
		e := entry{key: key, rec: r, raw: raw}
		if i, ok := index[string(key)]; ok {
			entries[i] = e
			continue
		}
		index[string(key)] = len(entries)
		entries = append(entries, e)
	}
	slices.SortFunc(entries, func(a, b entry) int { return bytes.Compare(a.key, b.key) })

	err := s.update("restore", func(tx *bbolt.Tx) error {
		// Keys go in in order, so pages can be filled nearly full when they
		// split at commit (bbolt's default of half suits random inserts).
		for _, name := range [][]byte{bucketSessions, bucketExpiry, bucketOwners} {
			tx.Bucket(name).FillPercent = restoreFillPercent
		}
		r := s.recordsOf(tx)
		r.batch = &indexBatch{}
		for _, e := range entries {
			old, err := r.load(e.key, "")
			if err != nil {
				// Replaced anyway; its index entries cannot be found and
				// are cleaned when met.
				s.corrupt.Add(1)
				old = nil
			}
			if err := r.put(e.key, old, &e.rec, e.raw); err != nil {
				return err
			}
			if err := r.unmark(e.key); err != nil {
				return err
			}
		}
		if err := r.flush(); err != nil {
			return err
		}
		return ctx.Err()
	})
	if err != nil {
		return RestoreResult{}, fmt.Errorf("boltsession: restore: %w", err)
	}
	res.Restored = len(entries)
	if len(entries) > 0 {
		s.commits.Add(1)
		s.writes.Add(int64(len(entries)))
	}
	return res, nil
}

// restoreKey is the key Restore stores rec under: its Handle, or its ID's.
func restoreKey(rec *Record) ([]byte, error) {
	switch {
	case rec.Handle != "":
		key, err := parseHandle(rec.Handle)
		if err != nil {
			return nil, fmt.Errorf("boltsession: restore: %w", err)
		}
		if rec.ID != "" && Handle(rec.ID) != rec.Handle {
			return nil, fmt.Errorf("boltsession: restore %s: the record's ID has another handle", rec.Handle)
		}
		return key, nil
	case rec.ID != "":
		if err := checkKey("restore", rec.ID); err != nil {
			return nil, err
		}
		return keyOf(rec.ID), nil
	}
	return nil, errors.New("boltsession: restore: a record with neither a handle nor an ID")
}

// checkFormat checks, read-only, that tx is of a session file this release
// reads, without creating anything: Open writes only to a new file, and
// Compact reads its source with it.
func checkFormat(tx *bbolt.Tx) error {
	meta := tx.Bucket(bucketMeta)
	if meta == nil {
		return fmt.Errorf("%w: a bbolt file without a session format version", ErrVersion)
	}
	if len(meta.Get(keyVersion)) != 8 {
		return fmt.Errorf("%w: the meta bucket holds no readable format version", ErrVersion)
	}
	if v := fileVersion(tx); v == 0 || v > formatVersion {
		return fmt.Errorf("%w: format version %d, this release reads up to %d", ErrVersion, v, formatVersion)
	}
	for _, name := range [][]byte{bucketSessions, bucketExpiry, bucketOwners} {
		if tx.Bucket(name) == nil {
			return fmt.Errorf("%w: bucket %q is missing", ErrVersion, name)
		}
	}
	return nil
}

// fileVersion is the format version a session file's meta bucket holds,
// 0 when it holds none.
func fileVersion(tx *bbolt.Tx) uint64 {
	if meta := tx.Bucket(bucketMeta); meta != nil {
		if raw := meta.Get(keyVersion); len(raw) == 8 {
			return binary.BigEndian.Uint64(raw)
		}
	}
	return 0
}
