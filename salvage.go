package boltsession

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/boltsession/boltsession/internal/boltfile"
	bolterrors "go.etcd.io/bbolt/errors"
)

// SalvageOptions configures Salvage. A nil pointer gives the defaults.
type SalvageOptions struct {
	// ValueKeys are the damaged file's value keys, if its values are
	// sealed (see BoltOptions.ValueKeys); the new file is sealed with
	// them too. Without them sealed records are skipped.
	ValueKeys [][]byte

	// Now is the clock that decides which sessions have expired (they are
	// not copied); nil means time.Now.
	Now func() time.Time

	// Timeout bounds the wait for the damaged file's lock. Zero means 1s;
	// a file an app still holds then gives an error wrapping ErrLocked.
	Timeout time.Duration
}

// SalvageResult reports what Salvage recovered and what it could not.
type SalvageResult struct {
	// Recovered is the number of sessions written to the new file.
	Recovered int

	// Expired is the number of readable sessions left out because they
	// were past their expiry.
	Expired int

	// Skipped counts the records found but not recovered, by reason:
	// "checksum" (damaged bytes), "undecodable", "sealed with a key not
	// given", "not a session" (a leaf element that is no session record:
	// an index entry, a marker).
	Skipped map[string]int

	// Damaged lists the pages (or parts of pages) that could not be read:
	// the sessions on them are lost.
	Damaged []string

	// Scanned is true when no meta page led to the sessions, and every leaf
	// page of the file was read instead (see Salvage).
	Scanned bool
}

// Salvage copies every session it can still read from the damaged session
// file at src into a new file at dst, which must not exist, and reports how
// many were recovered, skipped and why. It is the way out when Open refuses
// a file as damaged (ErrCorrupt), as SQLite's .recover is.
//
// It reads src itself, without bbolt, under the shared lock bbolt's
// readers take: a file an app holds gives an error wrapping ErrLocked
// after opts.Timeout (stop the app first), and an app that starts while
// Salvage reads waits for it, as it would for a Compact. It goes through
// the newest meta page that still leads to the sessions, skipping damaged
// pages and reading their readable siblings; when none does, it reads every leaf page of the file and takes
// what decodes as a session record, leaving out pages bbolt had freed
// (superseded or deleted sessions, which must not come back). Each record
// is verified (its checksum, or its seal) before it is copied; the indexes
// (expiry, owners) are rebuilt from the records. Markers of replaced
// sessions are not copied. Salvage never panics on any input, and its time
// and memory are bounded by the file's size.
//
// dst is written by Open and Restore: complete and fsynced when Salvage
// returns nil. On error, dst is removed.
func Salvage(ctx context.Context, src, dst string, opts *SalvageOptions) (SalvageResult, error) {
	var o SalvageOptions
	if opts != nil {
		o = *opts
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	res := SalvageResult{Skipped: map[string]int{}}
	if _, err := os.Stat(dst); err == nil {
		return res, fmt.Errorf("boltsession: salvage: %s already exists", dst)
	}
	sl, err := newSealer(o.ValueKeys)
	if err != nil {
		return res, err
	}
	f, err := os.Open(src)
	if err != nil {
		return res, fmt.Errorf("boltsession: salvage: %w", err)
	}
	defer f.Close()
	if o.Timeout <= 0 {
		o.Timeout = time.Second
	}
	if err := boltfile.Lock(f, false, o.Timeout); err != nil {
		if errors.Is(err, bolterrors.ErrTimeout) {
			return res, fmt.Errorf("%w: %s is locked by another process (is the application still running?); gave up after %v",
				ErrLocked, src, o.Timeout)
		}
		return res, fmt.Errorf("boltsession: salvage: lock %s: %w", src, err)
	}
	fi, err := f.Stat()
	if err != nil {
		return res, fmt.Errorf("boltsession: salvage: %w", err)
	}

	decoder := &BoltStore{sealer: sl}
	found := map[string]*Record{} // by key; a later, longer-lived copy wins
	take := func(key, value []byte, byHandle bool) {
		if !byHandle || len(key) != sha256.Size {
			key = keyOf(string(key)) // a file of format 1 or 2 keyed sessions by ID
		}
		rec, err := decoder.decodeRecord(key, "", value)
		switch {
		case errors.Is(err, ErrKey):
			res.Skipped["sealed with a key not given"]++
			return
		case err != nil && bytes.Contains([]byte(err.Error()), []byte("checksum")):
			res.Skipped["checksum"]++
			return
		case err != nil:
			res.Skipped["undecodable"]++
			return
		}
		if old := found[string(key)]; old == nil || rec.Expires.After(old.Expires) {
			found[string(key)] = rec
		}
	}

	version := salvageVersion(f, fi.Size())
	rep, err := boltfile.Salvage(f, fi.Size(), bucketSessions, func(k, v []byte) error {
		take(bytes.Clone(k), bytes.Clone(v), version >= 3)
		return ctx.Err()
	})
	for _, d := range rep.Damage {
		res.Damaged = append(res.Damaged, d.Error())
	}
	if errors.Is(err, boltfile.ErrNoBucket) {
		res.Scanned = true
		var srep boltfile.ScanReport
		srep, err = boltfile.Scan(f, fi.Size(), func(r boltfile.Record) error {
			if r.Free {
				return ctx.Err() // freed: superseded or deleted, must not come back
			}
			if !looksLikeRecord(r.Value) {
				res.Skipped["not a session"]++
				return ctx.Err()
			}
			// With no meta page to say the format, a key of a handle's
			// length that is not printable text is a handle; IDs are text.
			take(bytes.Clone(r.Key), bytes.Clone(r.Value), len(r.Key) == sha256.Size && !printable(r.Key))
			return ctx.Err()
		})
		for _, d := range srep.Damage {
			res.Damaged = append(res.Damaged, d.Error())
		}
	}
	if errors.Is(err, boltfile.ErrCorrupt) || errors.Is(err, boltfile.ErrEmpty) {
		return res, fmt.Errorf("%w: salvage %s: nothing readable: %w", ErrCorrupt, src, err)
	}
	if err != nil {
		return res, fmt.Errorf("boltsession: salvage %s: %w", src, err)
	}

	now := o.Now()
	out, err := Open(dst, &BoltOptions{SweepInterval: -1, ValueKeys: o.ValueKeys, Now: o.Now, MaxRecordSize: -1})
	if err != nil {
		return res, fmt.Errorf("boltsession: salvage: %w", err)
	}
	restored, err := out.Restore(ctx, func(yield func(*Record, error) bool) {
		for _, rec := range found {
			if !now.Before(rec.Expires) {
				continue // Restore counts these as Expired too
			}
			if !yield(rec, nil) {
				return
			}
		}
	})
	res.Expired = len(found) - restored.Restored
	res.Recovered = restored.Restored
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(dst)
		return res, fmt.Errorf("boltsession: salvage: %w", err)
	}
	return res, nil
}

// salvageVersion reads the format version of a damaged file from its meta
// bucket, or 0 when it cannot.
func salvageVersion(f *os.File, size int64) uint64 {
	var v uint64
	_, _ = boltfile.Salvage(f, size, bucketMeta, func(k, val []byte) error {
		if bytes.Equal(k, keyVersion) && len(val) == 8 {
			v = binary.BigEndian.Uint64(val)
		}
		return nil
	})
	return v
}

// looksLikeRecord reports whether a leaf value may be a session record: a
// checksummed or sealed one, or a msgpack map (format 1).
func looksLikeRecord(v []byte) bool {
	if len(v) == 0 {
		return false
	}
	switch b := v[0]; {
	case b == recordTag, b == sealTag, b&0xf0 == 0x80, b == 0xde, b == 0xdf:
		return true
	}
	return false
}

// printable reports whether every byte of b is printable ASCII.
func printable(b []byte) bool {
	for _, c := range b {
		if c < 0x20 || c > 0x7e {
			return false
		}
	}
	return true
}
