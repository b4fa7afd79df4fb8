package boltsession

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"log/slog"

	bbolt "go.etcd.io/bbolt"
)

// Format upgrades. Versions 1 and 2 keyed each session by its ID; version 3
// keys it by its handle (see Handle), so that the file holds no ID that
// could sign anyone in. Open converts an older file before it serves:
//
//  1. in one transaction, the four buckets move, as they are, into a
//     bucket named "v2" (bbolt moves a bucket without copying it), empty
//     ones take their place, and the version becomes 3, so that an older
//     release refuses the file rather than misread it;
//  2. then, in transactions of upgradeChunk sessions, each record moves
//     from "v2" to the new buckets under its handle, with its expiry and
//     owner index entries, and so does each marker of a replaced session;
//  3. the emptied "v2" is deleted.
//
// A process killed at any point leaves a file that opens: the next Open
// finds "v2" and goes on from where the last committed transaction left
// off, and no session is in both places or in neither. A record's stored
// form does not hold its ID, so it moves as it is. The command-line tool's
// upgrade command runs the same steps on a file no app holds.

const (
	legacyVersion = 2 // the newest version that keys sessions by ID
	upgradeChunk  = 1000
)

var bucketLegacy = []byte("v2")

// upgradeFile converts a file of format version 1 or 2 to the current one,
// or finishes a conversion a killed process left; it does nothing to a
// current file. It reports how many sessions it moved.
func upgradeFile(db *bbolt.DB, log *slog.Logger, path string) (int, error) {
	var version uint64
	var pending bool
	if err := db.View(func(tx *bbolt.Tx) error {
		version, pending = fileVersion(tx), tx.Bucket(bucketLegacy) != nil
		return nil
	}); err != nil {
		return 0, err
	}
	if version == formatVersion && !pending {
		return 0, nil
	}
	if !pending {
		if err := db.Update(setAsideLegacy); err != nil {
			return 0, fmt.Errorf("set the old buckets aside: %w", err)
		}
		log.Info("boltsession: converting the session file to format version 3 (sessions keyed by handle, not ID)", "path", path)
	}
	moved := 0
	for {
		var n int
		var done bool
		if err := db.Update(func(tx *bbolt.Tx) error {
			var err error
			n, done, err = upgradeChunkTx(tx)
			return err
		}); err != nil {
			return moved, fmt.Errorf("convert to format version %d: %w", formatVersion, err)
		}
		moved += n
		if done {
			log.Info("boltsession: session file converted", "path", path, "sessions", moved)
			return moved, nil
		}
	}
}

// setAsideLegacy is step 1 of the conversion.
func setAsideLegacy(tx *bbolt.Tx) error {
	legacy, err := tx.CreateBucket(bucketLegacy)
	if err != nil {
		return err
	}
	for _, name := range [][]byte{bucketSessions, bucketExpiry, bucketOwners, bucketReplaced} {
		if tx.Bucket(name) == nil {
			continue // version 1 had no markers
		}
		if err := tx.MoveBucket(name, nil, legacy); err != nil {
			return err
		}
	}
	for _, name := range [][]byte{bucketSessions, bucketExpiry, bucketOwners, bucketReplaced} {
		if _, err := tx.CreateBucket(name); err != nil {
			return err
		}
	}
	// The records and index entries moved out of "v2" leave freed pages
	// holding session IDs: the mark makes Open compact them away.
	if err := markScrub(tx); err != nil {
		return err
	}
	return tx.Bucket(bucketMeta).Put(keyVersion, binary.BigEndian.AppendUint64(nil, formatVersion))
}

// upgradeChunkTx is one transaction of step 2, and step 3 when nothing is
// left: it moves up to upgradeChunk sessions (or markers) and reports how
// many and whether the conversion is done.
func upgradeChunkTx(tx *bbolt.Tx) (int, bool, error) {
	legacy := tx.Bucket(bucketLegacy)
	if legacy == nil {
		return 0, true, nil
	}
	r := (&BoltStore{}).recordsOf(tx) // the record codec is not needed: records move as they are
	moved := 0
	if old := legacy.Bucket(bucketSessions); old != nil {
		var ids [][]byte
		c := old.Cursor()
		for k, _ := c.First(); k != nil && len(ids) < upgradeChunk; k, _ = c.Next() {
			ids = append(ids, bytes.Clone(k))
		}
		for _, id := range ids {
			raw := bytes.Clone(old.Get(id))
			key := keyOf(string(id))
			// Index entries from the record itself; one that does not
			// decode (nor is sealed: older files had no sealing) moves
			// without any, for an operator to find and remove.
			var err error
			if rec, derr := decodeIndexFields(string(id), raw); derr == nil {
				err = r.put(key, nil, rec, raw)
			} else {
				err = r.sessions.Put(key, raw)
			}
			if err != nil {
				return 0, false, err
			}
			if err := old.Delete(id); err != nil {
				return 0, false, err
			}
		}
		moved += len(ids)
		if len(ids) == upgradeChunk {
			return moved, false, nil
		}
	}
	if old := legacy.Bucket(bucketReplaced); old != nil {
		c := old.Cursor()
		for k, v := c.Seek([]byte{markerByID}); k != nil && k[0] == markerByID; k, v = c.Next() {
			if len(v) < 8 {
				continue
			}
			until := nanosToTime(int64(binary.BigEndian.Uint64(v)))
			if err := r.mark(keyOf(string(k[1:])), keyOf(string(v[8:])), until); err != nil {
				return 0, false, err
			}
		}
	}
	return moved, true, tx.DeleteBucket(bucketLegacy)
}
