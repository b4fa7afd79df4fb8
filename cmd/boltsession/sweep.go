package main

import (
	"flag"
	"fmt"
	"time"
)

var sweepCommand = &command{
	name:    "sweep",
	usage:   "FILE [--json]",
	summary: "Run one sweep pass now: delete every session past its expiry, and print what was removed.",
	example: `$ boltsession sweep sessions.db
swept 1204 expired sessions (0 corrupt records, 0 stale index entries) in 38ms`,
	run: runSweep,
}

func runSweep(e *env, c *command, args []string) error {
	fs := flag.NewFlagSet("sweep", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print one JSON object")
	pos, err := parseExactly(e, c, fs, args, "FILE")
	if err != nil {
		return err
	}
	s, err := openExisting(pos[0])
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
		return writeJSON(e, map[string]any{
			"swept": res.Swept, "corrupt": res.Corrupt, "stale": res.Stale, "duration": res.Duration.String(),
		})
	}
	fmt.Fprintf(e.stdout, "swept %d expired %s (%d corrupt records, %d stale index entries) in %v\n",
		res.Swept, plural(res.Swept, "session", "sessions"), res.Corrupt, res.Stale, res.Duration.Round(time.Microsecond))
	return nil
}
