package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/boltsession/boltsession/internal/boltfile"
)

var backupCommand = &command{
	name:    "backup",
	usage:   "FILE OUT [--value-keys-env NAME | --value-keys-file PATH] [--json]",
	summary: "Write a consistent copy of the session file to OUT (a session file itself).",
	example: `$ boltsession backup sessions.db /backups/sessions-2026-11-26.db
backed up sessions.db to /backups/sessions-2026-11-26.db (21.4 MiB)

OUT appears only when the copy is complete and synced (a temporary file,
then an atomic rename), replacing any older file of that name. For a file
a running app holds, download the backup from the app's admin handler.
The copy holds the records as FILE holds them: values encrypted with
value keys stay encrypted. Such a file opens only with its keys, so
backup takes them as every command that opens FILE does.`,
	json: `{"file":"sessions.db","out":"/backups/sessions-2026-11-26.db","bytes":22437888}`,
	run:  runBackup,
}

func runBackup(e *env, c *command, args []string) error {
	flags := flag.NewFlagSet("backup", flag.ContinueOnError)
	vk := addValueKeyFlags(flags)
	asJSON := flags.Bool("json", false, "print one JSON object")
	pos, err := parseExactly(e, c, flags, args, "FILE", "OUT")
	if err != nil {
		return err
	}
	keys, err := vk.keys()
	if err != nil {
		return err
	}
	path, out := pos[0], pos[1]
	if a, err := os.Stat(path); err == nil {
		if b, err := os.Stat(out); err == nil && os.SameFile(a, b) {
			return fmt.Errorf("%s: OUT is the file itself", out)
		}
	}
	s, err := openExisting(path, keys)
	if err != nil {
		return err
	}
	defer s.Close()
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	n, err := writeFileAtomic(out, 0o600, func(f *os.File) (int64, error) {
		bar := newBar(e, fi.Size(), "backup", true)
		defer finishBar(bar)
		return s.WriteTo(interruptibleWriter{ctx: e.ctx, w: countingWriter{w: f, bar: bar}})
	})
	if err != nil && e.ctx.Err() != nil {
		return fmt.Errorf("%s: backup interrupted; %s was not written", path, out)
	}
	if err != nil {
		return fmt.Errorf("%s: backup to %s: %w", path, out, err)
	}
	if err := s.Close(); err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(e, backupJSON{File: path, Out: out, Bytes: n})
	}
	_, err = fmt.Fprintf(e.stdout, "backed up %s to %s (%s)\n", path, out, humanBytes(n))
	return err
}

// backupJSON is backup --json.
type backupJSON struct {
	File  string `json:"file"`
	Out   string `json:"out"`
	Bytes int64  `json:"bytes"`
}

// writeFileAtomic writes path through fill into a temporary file beside it,
// syncs it and renames it into place, so that path either keeps its old
// content or holds the complete new one, never a partial write. A run
// killed midway leaves the temporary file (.NAME.tmp-*), which the next
// run to the same path removes.
func writeFileAtomic(path string, perm fs.FileMode, fill func(*os.File) (int64, error)) (int64, error) {
	dir, prefix := filepath.Dir(path), "."+filepath.Base(path)+".tmp-"
	boltfile.RemoveStale(dir, prefix) // what a killed run left
	f, err := os.CreateTemp(dir, prefix+"*")
	if err != nil {
		return 0, err
	}
	tmp := f.Name()
	// Locked while it is written, so that another run's RemoveStale leaves
	// it alone; a fresh file is not held by anyone else.
	if err := boltfile.Lock(f, true, time.Second); err != nil {
		f.Close()
		return 0, errors.Join(err, removeIfExists(tmp))
	}
	n, err := fill(f)
	if err == nil {
		err = f.Chmod(perm)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		return 0, errors.Join(err, removeIfExists(tmp))
	}
	syncDir(dir)
	return n, nil
}

func removeIfExists(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// interruptibleWriter stops a copy once ctx is done (an interrupt): the
// write fails and the partial file is removed.
type interruptibleWriter struct {
	ctx context.Context
	w   io.Writer
}

func (i interruptibleWriter) Write(p []byte) (int, error) {
	if err := i.ctx.Err(); err != nil {
		return 0, fmt.Errorf("interrupted: %w", err)
	}
	return i.w.Write(p)
}
