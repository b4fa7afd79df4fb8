package gorillastore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/boltsession/boltsession"
	"github.com/gorilla/securecookie"
)

// ImportOptions configures ImportFilesystemStore.
type ImportOptions struct {
	// KeyPairs are the key pairs the FilesystemStore was created with
	// (hash key, block key, ...). Required: a file is signed, and
	// encrypted when there is a block key.
	KeyPairs [][]byte

	// Names are the session (cookie) names the app used with the store:
	// FilesystemStore signs each file together with its session's name,
	// and the file does not record it. Each file is tried with every name.
	// Required.
	Names []string

	// MaxAge is the store's MaxAge in seconds (FilesystemStore.MaxAge,
	// default 30 days): a session expires MaxAge after its file was last
	// written (the file's modification time). Zero means 30 days.
	MaxAge int

	// DryRun verifies and counts everything but writes nothing.
	DryRun bool

	// MaxFileSize is the largest file read; larger ones are skipped with
	// boltsession.ReasonTooLarge. Zero means 1 MiB.
	MaxFileSize int64

	// Now is the clock expiry is judged by; nil means time.Now.
	Now func() time.Time
}

// sessionFilePrefix is how FilesystemStore names its files: session_<ID>.
const sessionFilePrefix = "session_"

// ImportFilesystemStore copies the sessions of a gorilla FilesystemStore
// directory (files named session_<ID>) into dst in gorillastore's format, so
// the cookies FilesystemStore issued keep working with a Store built on dst
// with the same key pairs.
//
// Each file is verified with the key pairs and session names given, and its
// values are carried over as the gob bytes FilesystemStore wrote, so the
// importer needs none of the app's types registered. The session keeps its
// ID; it expires MaxAge after the file's modification time, and files
// already past that are counted in Expired and not written. Files that do
// not verify with any key pair and name are skipped with
// boltsession.ReasonCorrupt; nothing is written for them. Only regular
// files directly inside dir are read: symbolic links and subdirectories are
// never followed (os.Root guards every open), so nothing outside dir is
// read. Other names (such as New's sessions.db) are ignored.
//
// The import is idempotent (see boltsession.ImportSummary). The error is
// non-nil only when the whole import failed: bad options, dir unreadable, a
// store write failed, or ctx was cancelled.
func ImportFilesystemStore(ctx context.Context, dir string, dst boltsession.Store, opts ImportOptions) (boltsession.ImportSummary, error) {
	sum := boltsession.ImportSummary{DryRun: opts.DryRun}
	if len(opts.KeyPairs) == 0 || len(opts.KeyPairs[0]) == 0 {
		return sum, errors.New("gorillastore: ImportFilesystemStore needs the store's key pairs")
	}
	if len(opts.Names) == 0 {
		return sum, errors.New("gorillastore: ImportFilesystemStore needs the session names the app used")
	}
	if dst == nil && !opts.DryRun {
		return sum, errors.New("gorillastore: ImportFilesystemStore needs a destination store")
	}
	if opts.MaxAge == 0 {
		opts.MaxAge = 86400 * 30
	}
	if opts.MaxFileSize <= 0 {
		opts.MaxFileSize = 1 << 20
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	w := newImportWriter(ctx, dst)
	err := importFiles(ctx, dir, opts, &sum, w)
	written, werr := w.wait()
	if !opts.DryRun {
		sum.Imported = written
	}
	if err == nil {
		err = werr
	}
	return sum, err
}

// importFiles reads dir and queues a save for every live session file;
// opts has its defaults filled in.
func importFiles(ctx context.Context, dir string, opts ImportOptions, sum *boltsession.ImportSummary, w *importWriter) error {
	codecs := fileCodecs(opts.KeyPairs)
	maxAge := time.Duration(opts.MaxAge) * time.Second
	root, err := os.OpenRoot(dir)
	if err != nil {
		return fmt.Errorf("gorillastore: opening session directory: %w", err)
	}
	defer root.Close()
	entries, err := fs.ReadDir(root.FS(), ".")
	if err != nil {
		return fmt.Errorf("gorillastore: reading session directory: %w", err)
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Name() < entries[j].Name() })

	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("gorillastore: import interrupted: %w", err)
		}
		name := e.Name()
		id, ok := strings.CutPrefix(name, sessionFilePrefix)
		if !ok || id == "" || e.IsDir() {
			sum.Ignored++
			continue
		}
		skip := func(reason string, err error) {
			sum.Skipped = append(sum.Skipped, boltsession.ImportSkip{File: name, Reason: reason, Err: err})
		}
		data, modTime, reason, err := readRegularFile(root, name, e, opts.MaxFileSize)
		if err != nil {
			skip(reason, err)
			continue
		}
		gobValues, err := parseFilesystemSession(data, opts.Names, codecs)
		if err != nil {
			skip(boltsession.ReasonCorrupt, err)
			continue
		}
		expires := modTime.Add(maxAge)
		if !expires.After(opts.Now()) {
			sum.Expired++
			continue
		}
		if opts.DryRun {
			sum.Imported++
			continue
		}
		value, err := wrapGob(gobValues)
		if err != nil {
			return err
		}
		err = w.save(boltsession.Update{
			ID:      id,
			Create:  true,
			Created: modTime,
			Set:     map[string][]byte{ValuesKey: value},
			Expires: expires,
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// fileCodecs are the store's codecs set up to read files: no timestamp check
// (expiry comes from the modification time), no length limit (apps raise
// FilesystemStore.MaxLength), and no deserialization, so the gob bytes are
// carried over without needing the app's types.
func fileCodecs(keyPairs [][]byte) []securecookie.Codec {
	codecs := securecookie.CodecsFromPairs(keyPairs...)
	for _, c := range codecs {
		if sc, ok := c.(*securecookie.SecureCookie); ok {
			sc.MaxAge(0)
			sc.MaxLength(0)
			sc.SetSerializer(securecookie.NopEncoder{})
		}
	}
	return codecs
}

// parseFilesystemSession verifies (and decrypts) one FilesystemStore file
// with every session name in turn and returns the gob-encoded Values it
// holds.
func parseFilesystemSession(data []byte, names []string, codecs []securecookie.Codec) ([]byte, error) {
	value := strings.TrimSpace(string(data))
	var lastErr error
	for _, name := range names {
		var g []byte
		err := securecookie.DecodeMulti(name, value, &g, codecs...)
		if err == nil {
			return g, nil
		}
		lastErr = err
	}
	return nil, fmt.Errorf("gorillastore: file does not verify with the key pairs and names given: %w", lastErr)
}

// readRegularFile reads one directory entry through root, refusing anything
// that is not a regular file (also if it was swapped after the listing) or
// is larger than maxSize.
func readRegularFile(root *os.Root, name string, e fs.DirEntry, maxSize int64) ([]byte, time.Time, string, error) {
	notRegular := func(m fs.FileMode) error {
		return fmt.Errorf("gorillastore: %s is a %v, not followed", name, m.Type())
	}
	if !e.Type().IsRegular() {
		return nil, time.Time{}, boltsession.ReasonNotRegular, notRegular(e.Type())
	}
	fi, err := root.Lstat(name)
	if err != nil {
		return nil, time.Time{}, boltsession.ReasonUnreadable, err
	}
	if !fi.Mode().IsRegular() {
		return nil, time.Time{}, boltsession.ReasonNotRegular, notRegular(fi.Mode())
	}
	f, err := root.Open(name)
	if err != nil {
		return nil, time.Time{}, boltsession.ReasonUnreadable, err
	}
	defer f.Close()
	if fi, err = f.Stat(); err != nil {
		return nil, time.Time{}, boltsession.ReasonUnreadable, err
	}
	if !fi.Mode().IsRegular() {
		return nil, time.Time{}, boltsession.ReasonNotRegular, notRegular(fi.Mode())
	}
	data, err := io.ReadAll(io.LimitReader(f, maxSize+1))
	if err != nil {
		return nil, time.Time{}, boltsession.ReasonUnreadable, err
	}
	if int64(len(data)) > maxSize {
		return nil, time.Time{}, boltsession.ReasonTooLarge, fmt.Errorf("gorillastore: %s is larger than %d bytes", name, maxSize)
	}
	return data, fi.ModTime(), "", nil
}

// importWriters is how many saves an import keeps in flight, so that a
// store with group commit (BoltStore) shares each fsync among many sessions.
const importWriters = 16

// importWriter saves an import's records concurrently; the first failed
// save stops the import.
type importWriter struct {
	ctx    context.Context
	cancel context.CancelFunc
	work   chan boltsession.Update
	wg     sync.WaitGroup

	mu      sync.Mutex
	err     error
	written int
}

func newImportWriter(ctx context.Context, dst boltsession.Store) *importWriter {
	w := &importWriter{work: make(chan boltsession.Update)}
	w.ctx, w.cancel = context.WithCancel(ctx)
	for range importWriters {
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			for u := range w.work {
				err := dst.Save(w.ctx, u)
				w.mu.Lock()
				if err == nil {
					w.written++
				} else if w.err == nil {
					w.err = fmt.Errorf("gorillastore: importing session file: %w", err)
					w.cancel()
				}
				w.mu.Unlock()
			}
		}()
	}
	return w
}

// save queues u, or returns the error that stopped the import.
func (w *importWriter) save(u boltsession.Update) error {
	select {
	case w.work <- u:
		return nil
	case <-w.ctx.Done():
		w.mu.Lock()
		defer w.mu.Unlock()
		if w.err != nil {
			return w.err
		}
		return fmt.Errorf("gorillastore: import interrupted: %w", w.ctx.Err())
	}
}

// wait lets the queued saves finish; it returns how many were written and
// the first error.
func (w *importWriter) wait() (int, error) {
	close(w.work)
	w.wg.Wait()
	w.cancel()
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.written, w.err
}
