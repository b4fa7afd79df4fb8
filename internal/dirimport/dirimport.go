// Package dirimport is the mechanism the session importers share
// (express.ImportFileStore and gorillastore.ImportFilesystemStore):
// reading a directory of session files without ever leaving it, and saving
// the imported records with enough saves in flight that a store with group
// commit shares each fsync among many sessions.
//
// What a file holds, how it expires and how the result is summarised stay
// with each importer; this package knows neither format.
package dirimport

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/boltsession/boltsession/migrate"
)

// Reasons the reader gives in Skip.Reason.
const (
	ReasonNotRegular = migrate.ReasonNotRegular
	ReasonTooLarge   = migrate.ReasonTooLarge
	ReasonUnreadable = migrate.ReasonUnreadable
)

// DefaultMaxFileSize is the largest file Dir reads when MaxFileSize is zero
// or negative: 1 MiB, far above any session an app keeps.
const DefaultMaxFileSize = 1 << 20

// Skip is one file left out, and why: what an importer reports in
// migrate.Summary.Skipped.
type Skip = migrate.Skip

// File is one session file read in full.
type File struct {
	Name    string    // the file's name inside the directory
	ID      string    // the session ID its name holds
	Data    []byte    // its contents, at most the size limit
	ModTime time.Time // its modification time when opened
}

// Dir describes a directory of session files to read.
type Dir struct {
	// Path is the directory. Only regular files directly inside it are
	// read; links and subdirectories are never followed.
	Path string

	// SessionID returns the session ID a file name holds, or false for a
	// name that is not a session file (the entry is then counted as
	// ignored and not opened).
	SessionID func(name string) (id string, ok bool)

	// MaxFileSize is the largest file read; a larger one is skipped with
	// ReasonTooLarge. Zero or negative means DefaultMaxFileSize.
	MaxFileSize int64

	// ErrPrefix starts every error message ("boltsession",
	// "gorillastore"), so errors name the importer the caller called.
	ErrPrefix string
}

// Read calls importFile for every regular file in d whose name d.SessionID
// accepts, in name order. It opens files only through an os.Root on d.Path
// and skips anything that is not a regular file by the time it is open (an
// entry may have been swapped for a link since the listing), so it never
// reads outside the directory.
//
// importFile returns a skip to record (its File is filled in), or an error
// that ends the read. Read returns how many entries it ignored by name or as
// subdirectories, the files it skipped, and an error only when the whole
// read failed: the directory could not be opened or listed, ctx was
// cancelled, or importFile returned one.
func (d Dir) Read(ctx context.Context, importFile func(File) (*Skip, error)) (ignored int, skipped []Skip, err error) {
	maxSize := d.MaxFileSize
	if maxSize <= 0 {
		maxSize = DefaultMaxFileSize
	}
	root, err := os.OpenRoot(d.Path)
	if err != nil {
		return 0, nil, fmt.Errorf("%s: opening session directory: %w", d.ErrPrefix, err)
	}
	defer root.Close()
	entries, err := fs.ReadDir(root.FS(), ".")
	if err != nil {
		return 0, nil, fmt.Errorf("%s: reading session directory: %w", d.ErrPrefix, err)
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Name() < entries[j].Name() })

	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			return ignored, skipped, fmt.Errorf("%s: import interrupted: %w", d.ErrPrefix, err)
		}
		name := e.Name()
		id, ok := d.SessionID(name)
		if !ok || id == "" || e.IsDir() {
			ignored++
			continue
		}
		var skip *Skip
		if !e.Type().IsRegular() {
			skip = d.notRegular(name, e.Type())
		} else {
			var f File
			if f, skip = d.readFile(root, name, maxSize); skip == nil {
				f.ID = id
				if skip, err = importFile(f); err != nil {
					return ignored, skipped, err
				}
			}
		}
		if skip != nil {
			skip.File = name
			skipped = append(skipped, *skip)
		}
	}
	return ignored, skipped, nil
}

// readFile reads one file through root, refusing anything that is not a
// regular file by the time it is open or that is larger than maxSize.
func (d Dir) readFile(root *os.Root, name string, maxSize int64) (File, *Skip) {
	fi, err := root.Lstat(name)
	if err != nil {
		return File{}, &Skip{Reason: ReasonUnreadable, Err: err}
	}
	if !fi.Mode().IsRegular() {
		return File{}, d.notRegular(name, fi.Mode())
	}
	f, err := root.Open(name)
	if err != nil {
		return File{}, &Skip{Reason: ReasonUnreadable, Err: err}
	}
	defer f.Close()
	if fi, err = f.Stat(); err != nil {
		return File{}, &Skip{Reason: ReasonUnreadable, Err: err}
	}
	if !fi.Mode().IsRegular() {
		return File{}, d.notRegular(name, fi.Mode())
	}
	data, err := io.ReadAll(io.LimitReader(f, maxSize+1))
	if err != nil {
		return File{}, &Skip{Reason: ReasonUnreadable, Err: err}
	}
	if int64(len(data)) > maxSize {
		return File{}, &Skip{Reason: ReasonTooLarge,
			Err: fmt.Errorf("%s: %s is larger than %d bytes", d.ErrPrefix, name, maxSize)}
	}
	return File{Name: name, Data: data, ModTime: fi.ModTime()}, nil
}

func (d Dir) notRegular(name string, m fs.FileMode) *Skip {
	return &Skip{Reason: ReasonNotRegular,
		Err: fmt.Errorf("%s: %s is a %v, not followed", d.ErrPrefix, name, m.Type())}
}

// Writers is how many saves a Writer keeps in flight: enough for a store
// with group commit (BoltStore) to share each fsync among many sessions, few
// enough not to crowd out the app's own requests.
const Writers = 16

// Saver is the one method of a session store a Writer uses
// (boltsession.Store has it for T = boltsession.Update).
type Saver[T any] interface {
	Save(ctx context.Context, record T) error
}

// Overwriting is the Saver an importer hands to Import: it creates each
// record, and where its ID is already in use (the import run again, or a
// session the target store holds under that ID) it deletes that record and
// creates it again, so that an import is idempotent and the imported copy
// wins. The stores' creates never overwrite (boltsession.Update.Create), so
// the delete is explicit. exists reports the error of a create whose ID is
// in use, id the ID of a record.
type Overwriting[T any] struct {
	Store interface {
		Saver[T]
		Delete(ctx context.Context, id string) error
	}
	ID     func(T) string
	Exists func(error) bool
}

// Save creates r, or replaces the record with its ID.
func (o Overwriting[T]) Save(ctx context.Context, r T) error {
	err := o.Store.Save(ctx, r)
	if !o.Exists(err) {
		return err
	}
	if err := o.Store.Delete(ctx, o.ID(r)); err != nil {
		return err
	}
	return o.Store.Save(ctx, r)
}

// Writer saves an import's records concurrently, Writers at a time. The
// first failed save cancels the rest and stops the import. Its methods are
// for one goroutine: Save, then Wait once.
type Writer[T any] struct {
	ctx    context.Context
	cancel context.CancelFunc
	prefix string
	work   chan T
	wg     sync.WaitGroup

	mu      sync.Mutex
	err     error
	written int
}

// NewWriter starts a Writer saving to dst under ctx. dst is not called
// until Save queues a record, so a dry run may pass a nil one. errPrefix
// starts its error messages, as Dir.ErrPrefix does.
func NewWriter[T any](ctx context.Context, errPrefix string, dst Saver[T]) *Writer[T] {
	w := &Writer[T]{prefix: errPrefix, work: make(chan T)}
	w.ctx, w.cancel = context.WithCancel(ctx)
	for range Writers {
		w.wg.Add(1)
		go w.run(dst)
	}
	return w
}

func (w *Writer[T]) run(dst Saver[T]) {
	defer w.wg.Done()
	for r := range w.work {
		err := dst.Save(w.ctx, r)
		w.mu.Lock()
		if err == nil {
			w.written++
		} else if w.err == nil {
			w.err = fmt.Errorf("%s: importing session file: %w", w.prefix, err)
			w.cancel()
		}
		w.mu.Unlock()
	}
}

// Save queues r, or returns the error that stopped the import: the first
// failed save, or ctx's cancellation.
func (w *Writer[T]) Save(r T) error {
	select {
	case w.work <- r:
		return nil
	case <-w.ctx.Done():
		w.mu.Lock()
		defer w.mu.Unlock()
		if w.err != nil {
			return w.err
		}
		return fmt.Errorf("%s: import interrupted: %w", w.prefix, w.ctx.Err())
	}
}

// Wait lets the queued saves finish and returns how many were written and
// the first failed save's error.
func (w *Writer[T]) Wait() (written int, err error) {
	close(w.work)
	w.wg.Wait()
	w.cancel()
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.written, w.err
}

// Result is what Import did with a directory.
type Result struct {
	Ignored int    // entries ignored by name or as subdirectories
	Skipped []Skip // files left out, in name order
	Written int    // records saved
}

// Import reads d as Read does, calling importFile for each session file with
// save, which queues a record on a Writer saving to dst. It returns once the
// queued saves are done. The error is the read's (the directory, ctx or
// importFile) or else the first failed save's.
func Import[T any](ctx context.Context, d Dir, dst Saver[T], importFile func(f File, save func(T) error) (*Skip, error)) (Result, error) {
	w := NewWriter(ctx, d.ErrPrefix, dst)
	var res Result
	var err error
	res.Ignored, res.Skipped, err = d.Read(ctx, func(f File) (*Skip, error) {
		return importFile(f, w.Save)
	})
	written, werr := w.Wait()
	res.Written = written
	if err == nil {
		err = werr
	}
	return res, err
}
