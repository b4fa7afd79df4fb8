package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"time"

	"github.com/boltsession/boltsession"
	bolterrors "go.etcd.io/bbolt/errors"
)

// lockWait is how long a command waits for a file another process holds
// before saying so: long enough to ride out a process that is just closing,
// short enough that nobody thinks the command hung.
const lockWait = time.Second

// openExisting opens the session file at path for a command that reads or
// changes an existing file: a missing or empty path is an error here, not
// a new file (bbolt would create one, and a typo would leave a stray file
// behind). keys are the file's value keys (nil for a file in clear). The
// background sweeper stays off: a command does only what it was asked to.
//
// Like the app's Open, it converts a file of an older format (see the
// upgrade command).
func openExisting(path string, keys [][]byte) (*boltsession.BoltStore, error) {
	if err := checkExisting(path); err != nil {
		return nil, err
	}
	return openStore(path, keys)
}

// checkExisting refuses a path that cannot be an existing session file,
// naming it: missing, a directory, empty, or no bbolt database.
func checkExisting(path string) error {
	fi, err := statExisting(path)
	if err != nil {
		return err
	}
	if fi.Size() == 0 {
		return fmt.Errorf("%s: empty file, not a session file", path)
	}
	return checkMagic(path)
}

// statExisting refuses a path that is missing or a directory, naming it.
func statExisting(path string) (fs.FileInfo, error) {
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("%s: no such file", path)
	case err != nil:
		return nil, err
	case fi.IsDir():
		return nil, fmt.Errorf("%s: is a directory, not a session file", path)
	}
	return fi, nil
}

// bboltMagic is the number every bbolt meta page carries, 16 bytes into
// the file (after the page header), in the machine's byte order.
const bboltMagic = 0xED0CDAED

// checkMagic tells a file that is not a bbolt database at all (a log, a
// JSON export given by mistake) from a damaged or foreign one, before
// bbolt reports it in its own terms.
func checkMagic(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	var head [20]byte
	if _, err := io.ReadFull(f, head[:]); err != nil || binary.NativeEndian.Uint32(head[16:]) != bboltMagic {
		return fmt.Errorf("%s: not a bbolt database file (no bbolt header at the start)", path)
	}
	return nil
}

// storeOptions are the options every command opens a file with.
func storeOptions(keys [][]byte) *boltsession.BoltOptions {
	return &boltsession.BoltOptions{
		Timeout:       lockWait,
		SweepInterval: -1,
		Logger:        slog.New(slog.NewTextHandler(io.Discard, nil)),
		ValueKeys:     keys,
	}
}

// openStore opens (or creates) the session file at path with the value
// keys (nil for none), turning the errors an operator meets into what to
// do about them.
func openStore(path string, keys [][]byte) (*boltsession.BoltStore, error) {
	s, err := boltsession.Open(path, storeOptions(keys))
	if err != nil {
		return nil, describeOpenError(path, err)
	}
	return s, nil
}

// describeOpenError names the cause of a failed open in the operator's
// terms.
func describeOpenError(path string, err error) error {
	switch {
	case errors.Is(err, boltsession.ErrLocked), errors.Is(err, bolterrors.ErrTimeout):
		return fmt.Errorf("%s: held by another process, e.g. the app: stop it, or use the app's admin handler", path)
	case errors.Is(err, bolterrors.ErrInvalid), errors.Is(err, bolterrors.ErrVersionMismatch), errors.Is(err, bolterrors.ErrChecksum):
		return fmt.Errorf("%s: not a bbolt database file (%v)", path, err)
	case errors.Is(err, boltsession.ErrVersion):
		return fmt.Errorf("%s: not a session file of a format this boltsession knows (%v)", path, err)
	case errors.Is(err, boltsession.ErrKey):
		return describedError{
			msg:   path + ": its session values are encrypted (an app opened it with value keys): give the keys with --value-keys-env NAME or --value-keys-file PATH",
			cause: err,
		}
	}
	return fmt.Errorf("%s: %w", path, err)
}

// describedError is an operator's message in place of its cause's, which
// errors.Is still finds.
type describedError struct {
	msg   string
	cause error
}

func (d describedError) Error() string { return d.msg }
func (d describedError) Unwrap() error { return d.cause }
