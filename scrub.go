package boltsession

import (
	"bytes"

	bbolt "go.etcd.io/bbolt"
)

// Scrubbing freed pages. bbolt does not overwrite a page it frees: until a
// later write reuses it, the file still holds what the page held. That
// matters twice. A file converted from format version 2 has freed pages
// full of session IDs, each of which signs its holder in; a file resealed
// by Rekey has freed pages of values in clear or sealed under the key that
// is being retired, perhaps because it leaked.
//
// So the conversion and Rekey put the "scrub" mark in the meta bucket, in
// the same transaction as their first change, and Open, finding the mark,
// compacts the file in place before it serves: Compact writes a new file
// holding only what is live and renames it over the old one, and leaves
// the mark out of the copy. The mark goes in before anything is freed and
// leaves with the compaction, so a process killed at any point leaves a
// file whose next Open scrubs it. A compaction that fails (another
// process took the lock in the instant Open had let it go; a full disk)
// is logged and the store opens anyway, mark kept: the next Open tries
// again.
//
// What the filesystem does with the old file's blocks is beyond bbolt and
// this package: docs/GUARANTEES.md says so, and what to do about backups
// made before.

// scrubMark is the meta entry's value; bbolt may not tell an empty value
// from none.
var scrubMark = []byte{1}

// markScrub puts the scrub mark in tx's file.
func markScrub(tx *bbolt.Tx) error {
	m := tx.Bucket(bucketMeta)
	if m == nil || bytes.Equal(m.Get(keyScrub), scrubMark) {
		return nil
	}
	return m.Put(keyScrub, scrubMark)
}

// clearScrub takes the mark out of tx's file: the compacted copy's.
func clearScrub(tx *bbolt.Tx) error {
	m := tx.Bucket(bucketMeta)
	if m == nil || m.Get(keyScrub) == nil {
		return nil
	}
	return m.Delete(keyScrub)
}

// scrub compacts the file that openFile opened as db if it bears the
// scrub mark, and returns the database to serve: db itself, or the
// compacted file opened again (checked as any file Open opens: another
// process may have had it in between).
func scrub(db *bbolt.DB, path string, o *BoltOptions, sl *sealer) (*bbolt.DB, error) {
	var marked bool
	if err := db.View(func(tx *bbolt.Tx) error {
		marked = tx.Bucket(bucketMeta).Get(keyScrub) != nil
		return nil
	}); err != nil || !marked {
		if err != nil {
			db.Close()
		}
		return db, err
	}
	if err := db.Close(); err != nil {
		return nil, err
	}
	res, err := scrubCompact(path, "", &CompactOptions{Timeout: o.Timeout})
	if err != nil {
		o.Logger.Warn("boltsession: could not compact the session file to overwrite freed pages that hold session IDs or values under a retired key; the next Open tries again",
			"path", path, "err", err)
	} else {
		o.Logger.Info("boltsession: compacted the session file: no freed page holds session IDs or values under a retired key",
			"path", path, "before", res.Before, "after", res.After)
	}
	return openFile(path, o, sl)
}

// scrubCompact is Compact; tests make it fail.
var scrubCompact = Compact
