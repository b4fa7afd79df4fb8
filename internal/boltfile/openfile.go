package boltfile

import (
	"io"
	"os"
	"time"
)

// OpenFile returns a function for bbolt's Options.OpenFile that runs check
// (Check or CheckMeta) on the file before bbolt maps it, so that bbolt.Open
// returns check's error, unchanged, instead of panicking or faulting on a
// damaged file. A file of zero bytes is passed through unchecked: bbolt
// initialises it.
//
// The check runs under the same lock bbolt takes (exclusive, or shared for a
// read-only open), taken on the file it returns, so no other process can
// write between the check and bbolt's mapping; bbolt then takes that lock
// again on the same file, which succeeds at once. The lock is waited for up
// to timeout (zero waits for ever, as in bbolt); when it stays held the
// error is bbolt's errors.ErrTimeout, as bbolt.Open itself returns. On
// platforms where bbolt does not lock with flock (Windows, Solaris, AIX,
// Android, Plan 9) the check runs before bbolt locks, so a writer in another
// process can race it: the open then fails, as it would on the lock.
func OpenFile(timeout time.Duration, check func(io.ReaderAt, int64) (Summary, error)) func(name string, flag int, perm os.FileMode) (*os.File, error) {
	return func(name string, flag int, perm os.FileMode) (*os.File, error) {
		f, err := os.OpenFile(name, flag, perm)
		if err != nil {
			return nil, err
		}
		if err := lockFile(f, flag&(os.O_WRONLY|os.O_RDWR) != 0, timeout); err != nil {
			f.Close()
			return nil, err
		}
		fi, err := f.Stat()
		if err != nil {
			f.Close()
			return nil, err
		}
		if fi.Size() == 0 {
			return f, nil
		}
		if _, err := check(f, fi.Size()); err != nil {
			f.Close() // releases the lock
			return nil, err
		}
		return f, nil
	}
}

// Lock takes on f the flock bbolt takes (exclusive, or shared as a
// read-only bbolt.Open does), waiting up to timeout (zero: for ever) and
// then returning bbolt's errors.ErrTimeout. Closing f releases it. A reader
// working on a file without bbolt (Salvage) takes the shared lock to keep
// writers out as bbolt's readers do; a writer of a temporary file takes the
// exclusive one so that RemoveStale leaves the file alone while it is
// written. Where bbolt does not lock with flock, it does nothing.
func Lock(f *os.File, exclusive bool, timeout time.Duration) error {
	return lockFile(f, exclusive, timeout)
}
