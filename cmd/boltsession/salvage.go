package main

import (
	"errors"
	"flag"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"

	"github.com/boltsession/boltsession"
)

var salvageCommand = &command{
	name:    "salvage",
	usage:   "DAMAGED NEW [--value-keys-env NAME | --value-keys-file PATH] [--json]",
	summary: "Copy every session still readable in a damaged session file into a new file, and say what was lost.",
	example: `$ boltsession stats sessions.db
boltsession: sessions.db: corrupt session data: sessions.db is damaged (bbolt file: page 2 (bucket "sessions"): element 0 data beyond what bbolt can address): salvage what is readable into a new file ...
$ boltsession salvage sessions.db salvaged.db
salvaged 596 sessions of sessions.db into salvaged.db (0 expired left out)
lost: bbolt file: page 2 (bucket "sessions"): 4 of 29 elements unreadable
$ mv sessions.db sessions.db.damaged && mv salvaged.db sessions.db

The app refuses a damaged file at start (or sets it aside with
BoltOptions.ReplaceDamagedFile); salvage is the way out that keeps
the most: it reads DAMAGED itself, without bbolt, from the newest meta
page that still leads to the sessions and around the damaged pages, or,
if no meta page is left, from every leaf page of the file (pages the
file had freed, holding deleted or older versions of sessions, are left
out). Each record is verified (its checksum, or its encryption) before
it is copied, and the new file's indexes are built from the records.
Sessions on damaged pages are lost; those users sign in again.

DAMAGED is read under the same lock as a backup: stop the app first (a
running app's file gives "held by another process"). NEW must not exist;
it appears complete and synced, or not at all. A file whose values are
encrypted needs its value keys (the new file is encrypted with them);
without them its sessions are counted as skipped.`,
	json: `{"file":"sessions.db","out":"salvaged.db","recovered":596,"expired":0,"skipped":{"checksum":1},"damaged":["boltsession: bbolt file: page 2 (bucket \"sessions\"): 4 of 29 elements unreadable"],"scanned":false}
(scanned: no meta page was usable and every leaf page was read; skipped counts records found but not copied, by reason)`,
	run: runSalvage,
}

func runSalvage(e *env, c *command, args []string) error {
	flags := flag.NewFlagSet("salvage", flag.ContinueOnError)
	vk := addValueKeyFlags(flags)
	asJSON := flags.Bool("json", false, "print one JSON object")
	pos, err := parseExactly(e, c, flags, args, "DAMAGED", "NEW")
	if err != nil {
		return err
	}
	keys, err := vk.keys()
	if err != nil {
		return err
	}
	path, out := pos[0], pos[1]
	// Not checkExisting: a file whose meta pages are gone has no bbolt
	// header, and salvage is still its way out.
	if _, err := statExisting(path); err != nil {
		return err
	}
	if _, err := os.Stat(out); err == nil {
		return fmt.Errorf("%s: already exists: salvage writes a new file and never overwrites one", out)
	}
	res, err := boltsession.Salvage(e.ctx, path, out, &boltsession.SalvageOptions{ValueKeys: keys, Timeout: lockWait})
	switch {
	case e.ctx.Err() != nil:
		return fmt.Errorf("%s: salvage interrupted; %s was not written", path, out)
	case errors.Is(err, boltsession.ErrLocked):
		return describeOpenError(path, err)
	case errors.Is(err, boltsession.ErrCorrupt):
		return fmt.Errorf("%s: no session could be read: %w", path, err)
	case err != nil:
		return err
	}
	if *asJSON {
		if res.Damaged == nil {
			res.Damaged = []string{}
		}
		return writeJSON(e, salvageJSON{File: path, Out: out, Recovered: res.Recovered, Expired: res.Expired,
			Skipped: res.Skipped, Damaged: res.Damaged, Scanned: res.Scanned})
	}
	how := ""
	if res.Scanned {
		how = ", read page by page: no meta page was usable"
	}
	if _, err := fmt.Fprintf(e.stdout, "salvaged %d %s of %s into %s (%d expired left out%s)\n", res.Recovered,
		plural(res.Recovered, "session", "sessions"), path, out, res.Expired, how); err != nil {
		return err
	}
	for _, why := range slices.Sorted(maps.Keys(res.Skipped)) {
		if _, err := fmt.Fprintf(e.stdout, "skipped %d %s: %s\n", res.Skipped[why], plural(res.Skipped[why], "record", "records"), why); err != nil {
			return err
		}
	}
	for _, d := range res.Damaged {
		if _, err := fmt.Fprintf(e.stdout, "lost: %s\n", strings.TrimPrefix(d, "boltsession: ")); err != nil {
			return err
		}
	}
	return nil
}

// salvageJSON is salvage --json.
type salvageJSON struct {
	File      string         `json:"file"`
	Out       string         `json:"out"`
	Recovered int            `json:"recovered"`
	Expired   int            `json:"expired"`
	Skipped   map[string]int `json:"skipped"`
	Damaged   []string       `json:"damaged"`
	Scanned   bool           `json:"scanned"`
}
