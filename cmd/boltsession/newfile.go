package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/boltsession/boltsession"
	"github.com/boltsession/boltsession/internal/boltfile"
)

// importTarget is the session file an import writes: an existing file, or
// a new one that is built under a temporary name beside the path and takes
// the path only once the import is complete. So FILE either is what it was
// (missing) or holds the whole import, even if the command is killed: a
// killed run leaves only the temporary file (.NAME.import-*), which the
// next import into FILE, or the app's Open of FILE, removes.
type importTarget struct {
	path  string
	tmp   string // "" for an existing file
	store *boltsession.BoltStore
}

// openImportTarget opens path for an import with the value keys given.
func openImportTarget(path string, keys [][]byte) (*importTarget, error) {
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		s, err := openExisting(path, keys)
		if err != nil {
			return nil, err
		}
		return &importTarget{path: path, store: s}, nil
	}
	dir, prefix := filepath.Dir(path), "."+filepath.Base(path)+".import-"
	boltfile.RemoveStale(dir, prefix)
	f, err := os.CreateTemp(dir, prefix+"*")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	tmp := f.Name()
	// Open refuses an empty file (a session file is never empty): bbolt
	// makes the file anew under the name, random enough to be ours.
	f.Close()
	if err := os.Remove(tmp); err != nil {
		return nil, err
	}
	s, err := openStore(tmp, keys)
	if err != nil {
		_ = removeIfExists(tmp)
		return nil, err
	}
	return &importTarget{path: path, tmp: tmp, store: s}, nil
}

// created reports whether the import makes a new file.
func (t *importTarget) created() bool { return t.tmp != "" }

// commit closes the store and, for a new file, gives it its path. A file
// that appeared at the path meanwhile is not replaced: the import is then
// discarded with an error.
func (t *importTarget) commit() error {
	if err := t.store.Close(); err != nil {
		t.discard()
		return err
	}
	if t.tmp == "" {
		return nil
	}
	// A link, not a rename: it fails rather than replace a file another
	// process created at the path during the import.
	err := os.Link(t.tmp, t.path)
	if rerr := os.Remove(t.tmp); err == nil {
		err = rerr
	}
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%s: created by another process during the import; nothing imported", t.path)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", t.path, err)
	}
	syncDir(filepath.Dir(t.path))
	return nil
}

// discard closes the store and removes a new file; an existing file is
// left as the store left it (an import is one transaction: unchanged).
func (t *importTarget) discard() {
	t.store.Close()
	if t.tmp != "" {
		_ = removeIfExists(t.tmp)
	}
}

// syncDir makes a rename or link in dir durable. Some systems cannot sync
// a directory; the change has happened either way.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}
