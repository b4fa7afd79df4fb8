// Package migrate holds what the session importers report: the Summary of
// an import and the Skip of each file left out, with its Reason. The
// importers themselves live with the stack they come from:
// express.ImportFileStore (Node's session-file-store) in the express module,
// gorillastore.ImportFilesystemStore (gorilla's FilesystemStore) in the
// gorillastore module.
package migrate

import (
	"fmt"
	"strings"
)

// Summary reports what an importer did with a directory of sessions
// (express.ImportFileStore, gorillastore.ImportFilesystemStore).
//
// Importers are idempotent: each session is created (boltsession.Update.Create), and
// where its ID is already in use the record there is deleted first, so
// running an import twice gives the same store and the same summary. Run the
// import before the new app takes traffic: a session the new app has changed
// since would be replaced by the file's older copy.
type Summary struct {
	// DryRun is true when nothing was written: Imported then counts the
	// sessions that would have been.
	DryRun bool

	// Imported counts the sessions written to the store.
	Imported int

	// Expired counts session files that were past their expiry and so were
	// not imported.
	Expired int

	// Ignored counts directory entries that are not session files by their
	// name (other extensions, temporary files of an interrupted write,
	// subdirectories). They are not read.
	Ignored int

	// Skipped lists the session files that could not be imported, each
	// with the reason. Nothing is written for them.
	Skipped []Skip
}

// Skip is one session file an importer left out, and why.
type Skip struct {
	// File is the file's name inside the imported directory.
	File string

	// Reason is a short, stable phrase: ReasonCorrupt, ReasonEncrypted,
	// ReasonNotRegular, ReasonTooLarge or ReasonUnreadable.
	Reason string

	// Err carries the detail (the parse error, the size, ...).
	Err error
}

// Reasons an importer gives in Skip.Reason.
const (
	// ReasonCorrupt: the file does not parse as a session of that format,
	// or its signature does not verify with the keys given.
	ReasonCorrupt = "corrupt"

	// ReasonEncrypted: the file is encrypted and the importer was given no
	// key to decrypt it with (session-file-store's `secret` option: see
	// express.ImportOptions.Secret).
	ReasonEncrypted = "encrypted (no secret given)"

	// ReasonNotRegular: a symbolic link, device, pipe or socket. Importers
	// never follow a link, so they never read outside the directory.
	ReasonNotRegular = "not a regular file"

	// ReasonTooLarge: the file is larger than the importer's size limit.
	ReasonTooLarge = "too large"

	// ReasonUnreadable: opening or reading the file failed.
	ReasonUnreadable = "unreadable"
)

// String renders the summary as a few human-readable lines, the skipped
// files one per line.
func (s Summary) String() string {
	var b strings.Builder
	verb := "imported"
	if s.DryRun {
		verb = "would import"
	}
	fmt.Fprintf(&b, "%s %d, expired %d, skipped %d, ignored %d", verb, s.Imported, s.Expired, len(s.Skipped), s.Ignored)
	for _, k := range s.Skipped {
		fmt.Fprintf(&b, "\n  %s: %s: %v", k.File, k.Reason, k.Err)
	}
	return b.String()
}
