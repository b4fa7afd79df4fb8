package boltfile

import (
	"errors"
	"fmt"
	"strconv"
)

// ErrCorrupt is wrapped by every error that reports a damaged file: one that
// bbolt would misread, panic on, fault on or loop over. Nothing has been
// written: this package only reads.
var ErrCorrupt = errors.New("boltsession: damaged bbolt file")

// ErrEmpty is returned by Check and CheckMeta for a file of zero bytes. It
// does not wrap ErrCorrupt: bbolt.Open turns an empty file into a new,
// empty database, which is what a caller creating a store wants and what a
// caller reopening one may not (everything the file held is gone).
var ErrEmpty = errors.New("boltsession: empty bbolt file")

// ErrNoBucket is returned by Salvage when no meta page leads to a root
// bucket that holds the bucket asked for. The file may still hold its
// records on leaf pages: Scan finds them.
var ErrNoBucket = errors.New("boltsession: bucket not found in any usable meta page")

// PageError is a problem found on one page. It wraps ErrCorrupt. Check
// returns it (as an error) for the first problem it meets; Salvage and Scan
// report one per damaged page they skip.
type PageError struct {
	// Page is the id of the page: its offset in the file divided by the
	// page size.
	Page uint64

	// Bucket is the path of the bucket the page belongs to, names joined
	// by "/", or "" for the root bucket, the meta and freelist pages, and
	// pages found by Scan.
	Bucket string

	// Problem says what is wrong, in words.
	Problem string
}

// Error reports the page, its bucket and the problem.
func (e *PageError) Error() string {
	s := "boltsession: bbolt file: page " + strconv.FormatUint(e.Page, 10)
	if e.Bucket != "" {
		s += " (bucket " + strconv.Quote(e.Bucket) + ")"
	}
	return s + ": " + e.Problem
}

// Unwrap returns ErrCorrupt.
func (e *PageError) Unwrap() error { return ErrCorrupt }

// corruptf reports a problem of the whole file rather than of one page.
func corruptf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrCorrupt, fmt.Sprintf(format, args...))
}
