package main

import (
	"flag"
	"fmt"
	"time"
)

var sweepCommand = &command{
	name:    "sweep",
	usage:   "FILE [--value-keys-env NAME | --value-keys-file PATH] [--json]",
	summary: "Run one sweep pass now: delete every session past its expiry, and print what was removed.",
	example: `$ boltsession sweep sessions.db
swept 1204 expired sessions from sessions.db (0 corrupt records, 0 stale index entries) in 38ms`,
	json: `{"file":"sessions.db","swept":1204,"corrupt":0,"stale":0,"duration":"38.2ms"}`,
	run:  runSweep,
}

func runSweep(e *env, c *command, args []string) error {
	fs := flag.NewFlagSet("sweep", flag.ContinueOnError)
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
	s, err := openExisting(pos[0], keys)
	if err != nil {
		return err
	}
	defer s.Close()
	res, err := s.Sweep(e.ctx)
	if err != nil {
		return fmt.Errorf("%s: %w", pos[0], err)
	}
	if err := s.Close(); err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(e, sweepJSON{File: pos[0], Swept: res.Swept, Corrupt: res.Corrupt, Stale: res.Stale, Duration: res.Duration.String()})
	}
	_, err = fmt.Fprintf(e.stdout, "swept %d expired %s from %s (%d corrupt records, %d stale index entries) in %v\n",
		res.Swept, plural(res.Swept, "session", "sessions"), pos[0], res.Corrupt, res.Stale, res.Duration.Round(time.Microsecond))
	return err
}

// sweepJSON is sweep --json.
type sweepJSON struct {
	File     string `json:"file"`
	Swept    int    `json:"swept"`
	Corrupt  int    `json:"corrupt"`
	Stale    int    `json:"stale"`
	Duration string `json:"duration"`
}
