package boltsession

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/boltsession/boltsession/internal/boltfile"
	bbolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// CompactOptions configures Compact. A nil pointer gives the defaults.
type CompactOptions struct {
	// Timeout bounds the wait for the source file's lock. Zero means 1s; a
	// file another process holds then gives an error wrapping ErrLocked.
	Timeout time.Duration

	// TxMaxSize is how many bytes of keys and values one transaction of
	// the copy carries before it commits, bounding memory on large files.
	// Zero means 64 MiB.
	TxMaxSize int64

	// Progress, when set, is called about ten times a second from another
	// goroutine with the bytes written to the new file so far and an
	// estimate of the total (the pages in use in the source).
	Progress func(written, total int64)
}

// CompactResult reports the file sizes around a compaction.
type CompactResult struct {
	// Before is the size of the source file in bytes.
	Before int64

	// After is the size of the compacted file in bytes.
	After int64
}

// Compact rewrites the session file src into a new file holding the same
// sessions in as few pages as bbolt needs (bbolt's own compaction): a file
// never shrinks by itself, since bbolt keeps freed pages for reuse.
//
// With dst empty (or naming src) the compaction is in place: the copy is
// written to a temporary file beside src, synced, and renamed over src
// while src is still locked, so no moment exists at which src is missing or
// half written, and no other process can write to src between the copy and
// the rename. Otherwise dst must not exist yet; it is written under a
// temporary name beside it and renamed when complete. The temporary file is
// named .NAME.compact-* (NAME: the final file's name). Either way a failure
// leaves no new file behind and src untouched.
//
// src must not be open: Compact takes the file lock (shared, for reading)
// and gives an error wrapping ErrLocked after opts.Timeout if a store or
// any other process holds it. A file that is not a session file gives an
// error wrapping ErrVersion.
func Compact(src, dst string, opts *CompactOptions) (CompactResult, error) {
	var o CompactOptions
	if opts != nil {
		o = *opts
	}
	if o.Timeout <= 0 {
		o.Timeout = time.Second
	}
	if o.TxMaxSize <= 0 {
		o.TxMaxSize = 64 << 20
	}
	srcInfo, err := os.Stat(src)
	if err != nil {
		return CompactResult{}, fmt.Errorf("boltsession: compact: %w", err)
	}
	if srcInfo.Size() == 0 {
		return CompactResult{}, fmt.Errorf("boltsession: compact %s: %w: empty file", src, ErrVersion)
	}
	inPlace := dst == ""
	if !inPlace {
		if dstInfo, err := os.Stat(dst); err == nil {
			if os.SameFile(srcInfo, dstInfo) {
				inPlace = true
			} else {
				return CompactResult{}, fmt.Errorf("boltsession: compact: %s already exists", dst)
			}
		} else if !errors.Is(err, fs.ErrNotExist) {
			return CompactResult{}, fmt.Errorf("boltsession: compact: %w", err)
		}
	}
	final := dst
	if inPlace {
		final = src
	}

	srcDB, err := bbolt.Open(src, 0, &bbolt.Options{ReadOnly: true, Timeout: o.Timeout,
		OpenFile: boltfile.OpenFile(o.Timeout, boltfile.Check)})
	if err != nil {
		switch {
		case errors.Is(err, bolterrors.ErrTimeout):
			return CompactResult{}, fmt.Errorf("%w: %s is locked by another process (is the application still running?); gave up after %v",
				ErrLocked, src, o.Timeout)
		case errors.Is(err, boltfile.ErrCorrupt):
			return CompactResult{}, fmt.Errorf("%w: %s is damaged (%w): salvage it (boltsession salvage) instead of compacting it",
				ErrCorrupt, src, err)
		}
		return CompactResult{}, fmt.Errorf("boltsession: compact: open %s: %w", src, err)
	}
	defer srcDB.Close() // after the rename: the lock covers it
	compactHook("locked")
	var total int64
	if err := srcDB.View(func(tx *bbolt.Tx) error {
		total = tx.Size() - int64(srcDB.Stats().FreePageN)*int64(srcDB.Info().PageSize)
		return checkFormat(tx)
	}); err != nil {
		return CompactResult{}, fmt.Errorf("boltsession: compact %s: %w", src, err)
	}

	boltfile.RemoveStale(filepath.Dir(final), "."+filepath.Base(final)+".compact-")
	tmp, err := os.CreateTemp(filepath.Dir(final), "."+filepath.Base(final)+".compact-*")
	if err != nil {
		return CompactResult{}, fmt.Errorf("boltsession: compact: %w", err)
	}
	tmpPath := tmp.Name()
	tmp.Close()
	keep := false
	defer func() {
		if !keep {
			os.Remove(tmpPath)
		}
	}()
	if err := os.Chmod(tmpPath, srcInfo.Mode().Perm()); err != nil {
		return CompactResult{}, fmt.Errorf("boltsession: compact: %w", err)
	}

	// Each intermediate commit need not reach the disk: the file is synced
	// once at the end, before it takes src's (or dst's) name.
	dstDB, err := bbolt.Open(tmpPath, 0, &bbolt.Options{NoSync: true, NoGrowSync: true})
	if err != nil {
		return CompactResult{}, fmt.Errorf("boltsession: compact: %w", err)
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		if o.Progress == nil {
			return
		}
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				if fi, err := os.Stat(tmpPath); err == nil {
					o.Progress(min(fi.Size(), total), total)
				}
			}
		}
	}()
	// A page damaged since the check (or one it missed) fails the
	// compaction instead of the process.
	err = containDamage("compaction read", func() error { return bbolt.Compact(dstDB, srcDB, o.TxMaxSize) })
	close(stop)
	<-done
	if err == nil {
		// The copy has no freed page holding what the source's did: it
		// needs no scrub (scrub.go).
		err = dstDB.Update(clearScrub)
	}
	if err == nil {
		err = dstDB.Sync()
	}
	if cerr := dstDB.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return CompactResult{}, fmt.Errorf("boltsession: compact %s: %w", src, err)
	}
	compactHook("copied")
	if err := os.Rename(tmpPath, final); err != nil {
		return CompactResult{}, fmt.Errorf("boltsession: compact: %w", err)
	}
	keep = true
	compactHook("renamed")
	syncDir(filepath.Dir(final))
	after, err := os.Stat(final)
	if err != nil {
		return CompactResult{}, fmt.Errorf("boltsession: compact: %w", err)
	}
	if o.Progress != nil {
		o.Progress(total, total)
	}
	return CompactResult{Before: srcInfo.Size(), After: after.Size()}, nil
}

// compactHook lets tests run code at each phase of Compact: "locked" (the
// source is open and locked), "copied" (the new file is written and
// synced), "renamed" (it has taken its final name; the source is still
// locked).
var compactHook = func(phase string) {}

// syncDir makes a rename in dir durable. Some systems cannot sync a
// directory; the rename has happened either way, so errors are ignored.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}
