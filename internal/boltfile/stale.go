package boltfile

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// RemoveStale removes the regular files in dir whose name starts with one
// of prefixes and that no process holds locked: the temporary copies that a
// compaction, a backup or an import leaves when it is killed before it can
// remove them. Such a copy holds the sessions of the file it was made
// from. One that a running process is writing is locked by bbolt and left
// alone. Where bbolt does not lock with flock, it cannot tell, and removes
// nothing. Errors are ignored: what is not removed now is the next run's.
// The directory is read once, however many prefixes are given.
func RemoveStale(dir string, prefixes ...string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		name := e.Name()
		stale := e.Type().IsRegular() && slices.ContainsFunc(prefixes, func(p string) bool {
			return strings.HasPrefix(name, p)
		})
		if !stale {
			continue
		}
		if path := filepath.Join(dir, name); unheld(path) {
			os.Remove(path)
		}
	}
}

// unheld reports whether the file at path can be locked exclusively at
// once, that is no process holds it.
func unheld(path string) bool {
	if !flockPlatform {
		return false
	}
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close() // releases the lock
	// A timeout shorter than the retry interval makes one attempt only.
	return lockFile(f, true, time.Nanosecond) == nil
}
