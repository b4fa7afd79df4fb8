//go:build !windows && !plan9 && !solaris && !aix && !android

package boltfile

import (
	"errors"
	"os"
	"syscall"
	"time"

	bolterrors "go.etcd.io/bbolt/errors"
)

// flockPlatform is whether bbolt locks its files with flock here.
const flockPlatform = true

// lockFile takes the flock bbolt takes on the platforms where it uses
// flock, retrying as bbolt does until timeout (zero: for ever).
func lockFile(f *os.File, exclusive bool, timeout time.Duration) error {
	how := syscall.LOCK_SH | syscall.LOCK_NB
	if exclusive {
		how = syscall.LOCK_EX | syscall.LOCK_NB
	}
	const retry = 50 * time.Millisecond
	start := time.Now()
	for {
		err := syscall.Flock(int(f.Fd()), how)
		if err == nil {
			return nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			return err
		}
		if timeout != 0 && time.Since(start) > timeout-retry {
			return bolterrors.ErrTimeout
		}
		time.Sleep(retry)
	}
}
