package boltfile

import (
	"os"
	"path/filepath"
	"strings"
	"time"
)

// RemoveStale removes the regular files in dir whose name starts with
// prefix and that no process holds locked: the temporary copies that a
// compaction, a backup or an import leaves when it is killed before it can
// remove them. Such a copy holds the sessions of the file it was made
// from. One that a running process is writing is locked by bbolt and left
// alone. Where bbolt does not lock with flock, it cannot tell, and removes
// nothing. Errors are ignored: what is not removed now is the next run's.
func RemoveStale(dir, prefix string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if !e.Type().IsRegular() || !strings.HasPrefix(e.Name(), prefix) {
			continue
		}
		path := filepath.Join(dir, e.Name())
		if unheld(path) {
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
