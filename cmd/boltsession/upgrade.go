package main

import (
	"errors"
	"flag"
	"fmt"

	"github.com/boltsession/boltsession"
)

var upgradeCommand = &command{
	name:    "upgrade",
	usage:   "FILE [--value-keys-env NAME | --value-keys-file PATH] [--json]",
	summary: "Convert a session file written by an older release to the current format (sessions keyed by handle, not ID), and say what was done.",
	example: `$ boltsession upgrade sessions.db
converted sessions.db from format version 2 to 3: 99998 sessions (2 expired, not yet swept), each now keyed by its handle
$ boltsession upgrade sessions.db
sessions.db is at format version 3 already: nothing to convert (99998 sessions, 2 expired)

Releases before format version 3 kept each session under its ID, which
signs anyone who reads the file in as its user; version 3 keeps it under
its handle, the SHA-256 of the ID. Every session stays reachable by its
ID: no one is signed out. The conversion is crash-safe: a process killed
at any point leaves a file that opens, and the next upgrade (or Open)
finishes it ("finished converting"). A conversion ends with a
compaction: until bbolt reuses them, the pages the conversion freed still
hold the sessions under their IDs. The app's Open, and every other
command here, converts and compacts a file it opens just the same;
upgrade does it before the new release starts, and says what it did.

Backups and exports made before the conversion still hold the IDs:
replace them, or keep them as safe as the sessions themselves.`,
	json: `{"file":"sessions.db","from_version":2,"format_version":3,"converted":true,"resumed":true,"sessions":99998,"expired":2}
(resumed: the conversion finished one that an earlier, killed process had begun)`,
	run: runUpgrade,
}

func runUpgrade(e *env, c *command, args []string) error {
	fs := flag.NewFlagSet("upgrade", flag.ContinueOnError)
	vk := addValueKeyFlags(fs)
	asJSON := fs.Bool("json", false, "print one JSON object")
	pos, err := parseExactly(e, c, fs, args, "FILE")
	if err != nil {
		return err
	}
	keys, err := vk.keys()
	if err != nil {
		return err
	}
	path := pos[0]
	if err := checkExisting(path); err != nil {
		return err
	}
	res, err := boltsession.Upgrade(path, storeOptions(keys))
	if err != nil {
		if errors.Is(err, boltsession.ErrLocked) || errors.Is(err, boltsession.ErrVersion) || errors.Is(err, boltsession.ErrKey) {
			return describeOpenError(path, err)
		}
		return fmt.Errorf("%s: upgrade: %w", path, err)
	}
	if *asJSON {
		return writeJSON(e, upgradeJSON{File: path, FromVersion: res.FromVersion, FormatVersion: res.Version,
			Converted: res.Converted, Resumed: res.Resumed, Sessions: res.Sessions, Expired: res.Expired})
	}
	switch {
	case res.Resumed:
		_, err = fmt.Fprintf(e.stdout, "finished converting %s to format version %d, which an earlier process had begun: %d %s (%d expired, not yet swept), each now keyed by its handle\n",
			path, res.Version, res.Sessions, plural(res.Sessions, "session", "sessions"), res.Expired)
	case res.Converted:
		_, err = fmt.Fprintf(e.stdout, "converted %s from format version %d to %d: %d %s (%d expired, not yet swept), each now keyed by its handle\n",
			path, res.FromVersion, res.Version, res.Sessions, plural(res.Sessions, "session", "sessions"), res.Expired)
	default:
		_, err = fmt.Fprintf(e.stdout, "%s is at format version %d already: nothing to convert (%d %s, %d expired)\n",
			path, res.Version, res.Sessions, plural(res.Sessions, "session", "sessions"), res.Expired)
	}
	return err
}

// upgradeJSON is upgrade --json.
type upgradeJSON struct {
	File          string `json:"file"`
	FromVersion   int    `json:"from_version"`
	FormatVersion int    `json:"format_version"`
	Converted     bool   `json:"converted"`
	Resumed       bool   `json:"resumed"`
	Sessions      int    `json:"sessions"`
	Expired       int    `json:"expired"`
}
