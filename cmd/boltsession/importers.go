package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/boltsession/boltsession"
	"github.com/boltsession/boltsession/express"
	"github.com/boltsession/boltsession/gorillastore"
	"github.com/boltsession/boltsession/migrate"
)

// importerCommands lists the commands that bring sessions in from other
// session stores.
var importerCommands = []*command{importFileStoreCommand, importGorillaCommand}

var importFileStoreCommand = &command{
	name:    "import-filestore",
	usage:   "DIR FILE [--ttl S] [--ext .json] [--owner-field PATH] [--secret-env NAME | --secret-file PATH] [--crypto JSON] [--dry-run] [--value-keys-env NAME | --value-keys-file PATH] [--json]",
	summary: "Copy the sessions of a Node session-file-store directory into FILE (created if missing), for an app moving from express-session.",
	example: `$ boltsession import-filestore ./sessions sessions.db --ttl 86400 --owner-field passport.user --dry-run
would import 1200 sessions from ./sessions into sessions.db (expired 85, skipped 1, ignored 1); nothing written
  sessions/yQ2…json: corrupt: unexpected end of JSON input
$ boltsession import-filestore ./sessions sessions.db --ttl 86400 --owner-field passport.user
imported 1200 sessions from ./sessions into sessions.db (expired 85, skipped 1, ignored 1)
  sessions/yQ2…json: corrupt: unexpected end of JSON input

For an app that set session-file-store's secret option (its files are
encrypted), give that secret through an environment variable or a file,
never on the command line (where ps and shell history would show it):
$ SFS_SECRET='…' boltsession import-filestore ./sessions sessions.db --secret-env SFS_SECRET
and, if the app also set session-file-store's crypto option, that object
as JSON, as the app has it: --crypto '{"algorithm":"aes-256-gcm","use_scrypt":true}'.
A wrong secret stops the import at the first file, with nothing imported.

Run it with the Node app stopped. Files that do not parse are listed and
skipped; running it again gives the same file (sessions are replaced by
their file's copy). Sessions are written one by one: an interrupted run
leaves some imported, and a second run completes it. When every session
file is skipped and none imported, the command fails (exit 1) with the
likely cause, e.g. that DIR is not a session-file-store directory.`,
	json: importerJSONDoc,
	run:  runImportFileStore,
}

var importGorillaCommand = &command{
	name:    "import-gorilla",
	usage:   "DIR FILE --key HEX [--key HEX]... --name NAME [--name NAME]... [--max-age S] [--dry-run] [--value-keys-env NAME | --value-keys-file PATH] [--json]",
	summary: "Copy the sessions of a gorilla/sessions FilesystemStore directory into FILE (or DIR/sessions.db when FILE is a directory) for gorillastore.",
	example: `$ boltsession import-gorilla ./sessions ./sessions/sessions.db \
    --key 6f1d…e2 --key 09ab…7c --name session-name --dry-run
would import 830 sessions from ./sessions into ./sessions/sessions.db (expired 12, skipped 0, ignored 1); nothing written

--key takes the FilesystemStore's key pairs in hex, in the order given to
NewFilesystemStore (hash key, block key, ...). --name takes every session
name the app passed to store.Get: each file is signed with its name. Run
it with the app stopped; running it again gives the same file. When no file
verifies with the keys and names, the command fails (exit 1) and says so
once, instead of listing every file.`,
	json: importerJSONDoc,
	run:  runImportGorilla,
}

// readSecret returns the secret named by --secret-env or --secret-file
// ("" for neither). A file's trailing newline is not part of the secret.
func readSecret(env, file string) (string, error) {
	switch {
	case env != "" && file != "":
		return "", usagef("give the secret with --secret-env or --secret-file, not both")
	case env != "":
		v, ok := os.LookupEnv(env)
		if !ok || v == "" {
			return "", usagef("--secret-env %s: the environment variable is not set or empty", env)
		}
		return v, nil
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("--secret-file: %w", err)
		}
		v := strings.TrimRight(string(b), "\r\n")
		if v == "" {
			return "", usagef("--secret-file %s is empty", file)
		}
		return v, nil
	}
	return "", nil
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
	secretEnv := fs.String("secret-env", "", "environment variable `NAME` holding session-file-store's secret option (encrypted files)")
	secretFile := fs.String("secret-file", "", "file `PATH` holding session-file-store's secret option (trailing newline ignored)")
	crypto := fs.String("crypto", "", "session-file-store's crypto option as `JSON`, if the app set one")
	dryRun := fs.Bool("dry-run", false, "read and count everything, write nothing")
	vk := addValueKeyFlags(fs)
	asJSON := fs.Bool("json", false, "print one JSON object")
	pos, err := parseExactly(e, c, fs, args, "DIR", "FILE")
	if err != nil {
		return err
	}
	valueKeys, err := vk.keys()
	if err != nil {
		return err
	}
	if *ttl <= 0 {
		return usagef("--ttl must be a positive number of seconds")
	}
	secret, err := readSecret(*secretEnv, *secretFile)
	if err != nil {
		return err
	}
	var cryptoOpt json.RawMessage
	if *crypto != "" {
		if !json.Valid([]byte(*crypto)) {
			return usagef("--crypto is not JSON")
		}
		if secret == "" {
			return usagef("--crypto needs the secret (--secret-env or --secret-file)")
		}
		cryptoOpt = json.RawMessage(*crypto)
	}
	return runImporter(e, importer{
		dir: pos[0], path: pos[1], dryRun: *dryRun, asJSON: *asJSON, valueKeys: valueKeys,
		causes: map[string]string{
			migrate.ReasonCorrupt:   "none of the %d session files in %s is a session-file-store session: the likely cause is that it is not a session-file-store directory",
			migrate.ReasonEncrypted: "all %d session files in %s are encrypted with session-file-store's secret option: give that secret with --secret-env or --secret-file",
		},
		run: func(ctx context.Context, dst boltsession.Store) (migrate.Summary, error) {
			return express.ImportFileStore(ctx, pos[0], dst, express.ImportOptions{
				TTL: time.Duration(*ttl) * time.Second, FileExtension: *ext, OwnerField: *ownerField,
				Secret: secret, Crypto: cryptoOpt, DryRun: *dryRun,
			})
		},
	})
}

func runImportGorilla(e *env, c *command, args []string) error {
	fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
	var keys, names stringList
	fs.Var(&keys, "key", "a key of the FilesystemStore's key pairs, in `HEX`; repeat, in order")
	fs.Var(&names, "name", "a session `NAME` the app used; repeat for each")
	maxAge := fs.Int("max-age", 86400*30, "the store's MaxAge `S`, in seconds: a session expires that long after its file was written")
	dryRun := fs.Bool("dry-run", false, "verify and count everything, write nothing")
	vk := addValueKeyFlags(fs)
	asJSON := fs.Bool("json", false, "print one JSON object")
	pos, err := parseExactly(e, c, fs, args, "DIR", "FILE")
	if err != nil {
		return err
	}
	valueKeys, err := vk.keys()
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
	return runImporter(e, importer{
		dir: pos[0], path: file, dryRun: *dryRun, asJSON: *asJSON, valueKeys: valueKeys,
		causes: map[string]string{
			migrate.ReasonCorrupt: "none of the %d session files in %s verified with the --key pairs and --name given: the likely cause is a wrong key, keys in the wrong order (hash key, block key, ...), or a session name the app did not pass to store.Get",
		},
		run: func(ctx context.Context, dst boltsession.Store) (migrate.Summary, error) {
			return gorillastore.ImportFilesystemStore(ctx, pos[0], dst, gorillastore.ImportOptions{
				KeyPairs: pairs, Names: names, MaxAge: *maxAge, DryRun: *dryRun,
			})
		},
	})
}

// importerJSONDoc documents the importers' --json output.
const importerJSONDoc = `{"dir":"./sessions","file":"sessions.db","dry_run":false,"imported":1200,"expired":85,"ignored":1,"skipped":[{"file":"yQ2….json","reason":"corrupt","error":"unexpected end of JSON input"}]}
(skipped files are named inside dir; reason is one of corrupt, encrypted (no secret given), not a regular file, too large, unreadable)`

// importSummaryJSON is the --json output of the importers.
type importSummaryJSON struct {
	Dir      string           `json:"dir"`
	File     string           `json:"file"`
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

// importer is one run of an importer command.
type importer struct {
	dir, path      string // the directory read, the session file written
	dryRun, asJSON bool
	valueKeys      [][]byte // FILE's value keys (nil: values in clear)

	// causes gives, by skip reason, the likely cause of a run whose every
	// session file was skipped for that reason: a format with the file
	// count (%d) and dir (%s).
	causes map[string]string

	run func(context.Context, boltsession.Store) (migrate.Summary, error)
}

// runImporter opens FILE (unless dry-running, which writes nothing and so
// needs no file), runs one importer into it and prints its summary. A run
// that skipped session files and imported none (nor found any expired)
// fails with the likely cause, once, and leaves no new FILE behind; nor
// does a run that fails or is killed.
func runImporter(e *env, imp importer) error {
	dir, path := imp.dir, imp.path
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return fmt.Errorf("%s: not a directory", dir)
	}
	// FILE appears only once the import is complete (importTarget); a
	// dry run needs none.
	var target *importTarget
	var dst boltsession.Store
	if !imp.dryRun {
		var err error
		if target, err = openImportTarget(path, imp.valueKeys); err != nil {
			return err
		}
		dst = target.store
	}
	sum, err := imp.run(e.ctx, dst)
	failed := err
	if failed == nil {
		failed = nothingImported(imp, sum)
	}
	switch {
	case target == nil:
	case failed != nil && (target.created() || sum.Imported == 0):
		// A new file is dropped whole; an existing one keeps what a
		// failed run imported before the failure (each session is its own
		// transaction), and running it again completes it.
		target.discard()
	default:
		if cerr := target.commit(); err == nil && cerr != nil {
			return cerr
		}
	}
	if err != nil && target != nil && target.created() {
		return fmt.Errorf("%s: import from %s: %w (nothing imported, no file created; run it again)", path, dir, err)
	}
	if err != nil {
		return fmt.Errorf("%s: import from %s: %w (imported %d before the failure; running it again completes it)", path, dir, err, sum.Imported)
	}
	if imp.asJSON {
		out := importSummaryJSON{Dir: dir, File: path, DryRun: sum.DryRun, Imported: sum.Imported, Expired: sum.Expired, Ignored: sum.Ignored, Skipped: []importSkipJSON{}}
		for _, k := range sum.Skipped {
			out.Skipped = append(out.Skipped, importSkipJSON{File: k.File, Reason: k.Reason, Error: fmt.Sprint(k.Err)})
		}
		if err := writeJSON(e, out); err != nil {
			return err
		}
		return failed
	}
	if failed != nil {
		return failed
	}
	var b strings.Builder
	verb, note := "imported", ""
	if sum.DryRun {
		verb, note = "would import", "; nothing written"
	}
	fmt.Fprintf(&b, "%s %d %s from %s into %s (expired %d, skipped %d, ignored %d)%s\n",
		verb, sum.Imported, plural(sum.Imported, "session", "sessions"), dir, path, sum.Expired, len(sum.Skipped), sum.Ignored, note)
	for _, k := range sum.Skipped {
		fmt.Fprintf(&b, "  %s: %s: %v\n", printable(filepath.Join(dir, k.File)), k.Reason, k.Err)
	}
	_, err = io.WriteString(e.stdout, b.String())
	return err
}

// nothingImported returns the error of a run that skipped session files
// and imported none (nor counted any as expired, which would show that the
// files were readable), naming the likely cause once instead of calling
// every file corrupt; nil otherwise.
func nothingImported(imp importer, sum migrate.Summary) error {
	n := len(sum.Skipped)
	if sum.Imported > 0 || sum.Expired > 0 || n == 0 {
		return nil
	}
	first := sum.Skipped[0]
	detail := fmt.Sprintf("first: %s: %s: %v", printable(filepath.Join(imp.dir, first.File)), first.Reason, first.Err)
	nothing := "nothing imported"
	if imp.dryRun {
		nothing = "nothing would be imported"
	}
	for _, k := range sum.Skipped {
		if k.Reason != first.Reason {
			return fmt.Errorf("%s: none of the %d session files in %s could be imported (%s); %s", imp.path, n, imp.dir, detail, nothing)
		}
	}
	cause, ok := imp.causes[first.Reason]
	if !ok {
		return fmt.Errorf("%s: none of the %d session files in %s could be imported, each %s (%s); %s", imp.path, n, imp.dir, first.Reason, detail, nothing)
	}
	return fmt.Errorf("%s: %s (%s); %s", imp.path, fmt.Sprintf(cause, n, imp.dir), detail, nothing)
}
