package main

import (
	"context"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/boltsession/boltsession"
	"github.com/boltsession/boltsession/gorillastore"
)

// importerCommands lists the commands that bring sessions in from other
// session stores.
var importerCommands = []*command{importFileStoreCommand, importGorillaCommand}

var importFileStoreCommand = &command{
	name:    "import-filestore",
	usage:   "DIR FILE [--ttl S] [--ext .json] [--owner-field PATH] [--dry-run] [--json]",
	summary: "Copy the sessions of a Node session-file-store directory into FILE (created if missing), for an app moving from express-session.",
	example: `$ boltsession import-filestore ./sessions sessions.db --ttl 86400 --owner-field passport.user --dry-run
would import 1200, expired 85, skipped 1, ignored 1
  yQ2…json: corrupt: unexpected end of JSON input
$ boltsession import-filestore ./sessions sessions.db --ttl 86400 --owner-field passport.user
imported 1200, expired 85, skipped 1, ignored 1
  yQ2…json: corrupt: unexpected end of JSON input

Run it with the Node app stopped. Files that do not parse are listed and
skipped; running it again gives the same file (sessions are replaced by
their file's copy). Sessions are written one by one: an interrupted run
leaves some imported, and a second run completes it.`,
	run: runImportFileStore,
}

var importGorillaCommand = &command{
	name:    "import-gorilla",
	usage:   "DIR FILE --key HEX [--key HEX]... --name NAME [--name NAME]... [--max-age S] [--dry-run] [--json]",
	summary: "Copy the sessions of a gorilla/sessions FilesystemStore directory into FILE (or DIR/sessions.db when FILE is a directory) for gorillastore.",
	example: `$ boltsession import-gorilla ./sessions ./sessions/sessions.db \
    --key 6f1d…e2 --key 09ab…7c --name session-name --dry-run
would import 830, expired 12, skipped 0, ignored 1

--key takes the FilesystemStore's key pairs in hex, in the order given to
NewFilesystemStore (hash key, block key, ...). --name takes every session
name the app passed to store.Get: each file is signed with its name. Run
it with the app stopped; running it again gives the same file.`,
	run: runImportGorilla,
}

// stringList is a flag that may be given more than once.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

func runImportFileStore(e *env, c *command, args []string) error {
	fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
	ttl := fs.Int("ttl", 3600, "session-file-store's ttl option: idle lifetime `S`, in seconds, of a session whose cookie has no maxAge")
	ext := fs.String("ext", ".json", "session-file-store's fileExtension option")
	ownerField := fs.String("owner-field", "", "dotted `PATH` in the session to the user's ID, e.g. passport.user (sets the owner)")
	dryRun := fs.Bool("dry-run", false, "read and count everything, write nothing")
	asJSON := fs.Bool("json", false, "print one JSON object")
	pos, err := parseExactly(e, c, fs, args, "DIR", "FILE")
	if err != nil {
		return err
	}
	if *ttl <= 0 {
		return usagef("--ttl must be a positive number of seconds")
	}
	return runImporter(e, pos[0], pos[1], *dryRun, *asJSON, func(ctx context.Context, dst boltsession.Store) (boltsession.ImportSummary, error) {
		return boltsession.ImportFileStore(ctx, pos[0], dst, boltsession.FileStoreImportOptions{
			TTL: time.Duration(*ttl) * time.Second, FileExtension: *ext, OwnerField: *ownerField, DryRun: *dryRun,
		})
	})
}

func runImportGorilla(e *env, c *command, args []string) error {
	fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
	var keys, names stringList
	fs.Var(&keys, "key", "a key of the FilesystemStore's key pairs, in `HEX`; repeat, in order")
	fs.Var(&names, "name", "a session `NAME` the app used; repeat for each")
	maxAge := fs.Int("max-age", 86400*30, "the store's MaxAge `S`, in seconds: a session expires that long after its file was written")
	dryRun := fs.Bool("dry-run", false, "verify and count everything, write nothing")
	asJSON := fs.Bool("json", false, "print one JSON object")
	pos, err := parseExactly(e, c, fs, args, "DIR", "FILE")
	if err != nil {
		return err
	}
	if len(keys) == 0 || len(names) == 0 {
		return usagef("--key and --name are required")
	}
	if *maxAge <= 0 {
		return usagef("--max-age must be a positive number of seconds")
	}
	pairs := make([][]byte, len(keys))
	for i, k := range keys {
		b, err := hex.DecodeString(k)
		if err != nil || len(b) == 0 {
			return usagef("--key %d is not hex", i+1)
		}
		pairs[i] = b
	}
	file := pos[1]
	if fi, err := os.Stat(file); err == nil && fi.IsDir() {
		file = filepath.Join(file, gorillastore.DefaultFileName)
	}
	return runImporter(e, pos[0], file, *dryRun, *asJSON, func(ctx context.Context, dst boltsession.Store) (boltsession.ImportSummary, error) {
		return gorillastore.ImportFilesystemStore(ctx, pos[0], dst, gorillastore.ImportOptions{
			KeyPairs: pairs, Names: names, MaxAge: *maxAge, DryRun: *dryRun,
		})
	})
}

// importSummaryJSON is the --json output of the importers.
type importSummaryJSON struct {
	DryRun   bool             `json:"dry_run"`
	Imported int              `json:"imported"`
	Expired  int              `json:"expired"`
	Ignored  int              `json:"ignored"`
	Skipped  []importSkipJSON `json:"skipped"`
}

type importSkipJSON struct {
	File   string `json:"file"`
	Reason string `json:"reason"`
	Error  string `json:"error"`
}

// runImporter opens FILE (unless dry-running, which writes nothing and so
// needs no file), runs one importer into it and prints its summary.
func runImporter(e *env, dir, path string, dryRun, asJSON bool, importer func(context.Context, boltsession.Store) (boltsession.ImportSummary, error)) error {
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return fmt.Errorf("%s: not a directory", dir)
	}
	var dst boltsession.Store
	created := false
	if !dryRun {
		_, statErr := os.Stat(path)
		created = errors.Is(statErr, os.ErrNotExist)
		s, err := openStore(path)
		if err != nil {
			return err
		}
		defer s.Close()
		dst = s
	}
	sum, err := importer(e.ctx, dst)
	if err != nil {
		if created && sum.Imported == 0 {
			dst.(*boltsession.BoltStore).Close()
			_ = removeIfExists(path)
		}
		return fmt.Errorf("%s: import from %s: %w (imported %d before the failure; running it again completes it)", path, dir, err, sum.Imported)
	}
	if s, ok := dst.(*boltsession.BoltStore); ok {
		if err := s.Close(); err != nil {
			return err
		}
	}
	if asJSON {
		out := importSummaryJSON{DryRun: sum.DryRun, Imported: sum.Imported, Expired: sum.Expired, Ignored: sum.Ignored, Skipped: []importSkipJSON{}}
		for _, k := range sum.Skipped {
			out.Skipped = append(out.Skipped, importSkipJSON{File: k.File, Reason: k.Reason, Error: fmt.Sprint(k.Err)})
		}
		return writeJSON(e, out)
	}
	_, err = fmt.Fprintln(e.stdout, sum.String())
	return err
}
