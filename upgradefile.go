package boltsession

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/boltsession/boltsession/internal/boltfile"
	bbolt "go.etcd.io/bbolt"
)

// UpgradeResult reports what Upgrade found and did.
type UpgradeResult struct {
	// FromVersion is the format version the file had before Upgrade. For
	// a conversion a killed process had begun (Resumed) it is 2: the file
	// no longer tells whether it was 1 or 2, which the conversion treats
	// alike.
	FromVersion int

	// Version is the format version the file has now: the one this
	// release writes.
	Version int

	// Converted reports that Upgrade converted the file (FromVersion was
	// older than Version), or finished a conversion that a killed process
	// had begun (then Resumed is set too). False for a file that was
	// current: Upgrade then changed nothing.
	Converted, Resumed bool

	// Sessions and Expired are the live records, and those past their
	// expiry that no sweep has deleted yet, after the conversion, as
	// Inspect counts them. Every one of them is reachable by its ID.
	Sessions, Expired int
}

// Upgrade converts the session file at path to the format this release
// writes, as Open does before it serves (see Handle: version 3 keys each
// session by its handle, never its ID), and reports what it found and did:
// for the command-line tool's upgrade command, and for a deployment that
// converts its file before it starts the app. A current file is left as
// it is. The conversion keeps every session, crash-safely: a process
// killed at any point leaves a file that opens, and the next Open or
// Upgrade finishes the job. Then, as Open does after a conversion, the file
// is compacted, so that no page bbolt freed still holds a session ID.
//
// opts is as for Open (nil means the defaults; a file sealed with
// ValueKeys needs them). Unlike Open, Upgrade never creates a file: a
// missing path gives an error wrapping fs.ErrNotExist, and a bbolt file
// that is not a session file one wrapping ErrVersion, and a damaged file
// one wrapping ErrCorrupt, with nothing written. A file held by another process gives an error wrapping
// ErrLocked after opts.Timeout.
func Upgrade(path string, opts *BoltOptions) (UpgradeResult, error) {
	if _, err := os.Stat(path); err != nil {
		return UpgradeResult{}, fmt.Errorf("boltsession: upgrade: %w", err)
	}
	var o BoltOptions
	if opts != nil {
		o = *opts
	}
	if o.Timeout <= 0 {
		o.Timeout = time.Second
	}
	// Upgrade converts; it never sets a damaged file aside.
	o.ReplaceDamagedFile = false
	var res UpgradeResult
	// A look first, read-only and checked like any file Open maps, so that
	// what is not a session file is refused with nothing written.
	db, err := bbolt.Open(path, 0, &bbolt.Options{ReadOnly: true, Timeout: o.Timeout,
		OpenFile: boltfile.OpenFile(o.Timeout, boltfile.Check)})
	if err != nil {
		return UpgradeResult{}, openError(path, &o, err)
	}
	err = readUpgradeState(db, &res)
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return UpgradeResult{}, fmt.Errorf("boltsession: upgrade %s: %w", path, err)
	}
	// A conversion that was set aside (step 1) already says the new
	// version; its "v2" bucket tells that it is not finished.
	res.Converted = res.FromVersion < formatVersion || res.Resumed
	if res.Resumed {
		res.FromVersion = legacyVersion
	}

	s, err := Open(path, &o) // converts, then compacts (scrub.go)
	if err != nil {
		return UpgradeResult{}, err
	}
	defer s.Close()
	in, err := s.Inspect(context.Background())
	if err != nil {
		return UpgradeResult{}, fmt.Errorf("boltsession: upgrade %s: %w", path, err)
	}
	res.Version, res.Sessions, res.Expired = in.FormatVersion, in.Sessions, in.Expired
	if err := s.Close(); err != nil {
		return UpgradeResult{}, err
	}
	return res, nil
}

// readUpgradeState reads the format version of a file and whether a
// conversion is unfinished, containing a damaged page's panic as the
// store's transactions do (contain.go).
func readUpgradeState(db *bbolt.DB, res *UpgradeResult) error {
	return containDamage("reading the format version met", func() error {
		return db.View(func(tx *bbolt.Tx) error {
			if err := checkFormat(tx); err != nil {
				return err
			}
			res.FromVersion = int(fileVersion(tx))
			res.Resumed = tx.Bucket(bucketLegacy) != nil
			return nil
		})
	})
}
