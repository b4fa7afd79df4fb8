//go:build unix

package boltsession

import (
	"os"
	"syscall"
)

// unlocked reports whether no process holds a lock on the file at path
// (bbolt takes a flock on every file it opens).
func unlocked(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		return false
	}
	syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	return true
}
