package main

import (
	"flag"
	"fmt"

	"github.com/boltsession/boltsession"
)

var rmCommand = &command{
	name:    "rm",
	usage:   "FILE ID... | FILE --owner U [--json]",
	summary: "Remove sessions by ID (or unambiguous ID prefix), or every session of one owner, and print how many.",
	example: `$ boltsession rm sessions.db Vq3kX0b8Rr2M bN7x-0pQe4Lw
removed 2 sessions from sessions.db
$ boltsession rm sessions.db --owner user-42
removed 3 sessions of owner "user-42" from sessions.db (3 live)

Every ID is looked up before anything is removed: one unknown ID removes
nothing. An ID that starts with "-" goes after "--": rm FILE -- -x9Tq...`,
	json: `{"file":"sessions.db","removed":2,"ids":["Vq3kX0b8Rr2MzQ1c7mJ0aYy6bT9uWvE2pL4sKdHfNgA","bN7x-0pQe4LwYb5n2sRk8TzC1vXu3mHd6gJa9eFi0oQ"]}
{"file":"sessions.db","owner":"user-42","removed":3,"live":3}
(the first for IDs; the second for --owner, live counting the sessions not yet expired)`,
	run: runRm,
}

func runRm(e *env, c *command, args []string) error {
	fs := flag.NewFlagSet("rm", flag.ContinueOnError)
	owner := fs.String("owner", "", "remove every session of owner `U`")
	asJSON := fs.Bool("json", false, "print one JSON object")
	pos, err := parse(e, c, fs, args)
	if err != nil {
		return err
	}
	switch {
	case len(pos) == 0:
		return usagef("want FILE")
	case *owner != "" && len(pos) > 1:
		return usagef("give IDs or --owner, not both")
	case *owner == "" && len(pos) < 2:
		return usagef("want at least one ID after FILE (or --owner U)")
	}
	path := pos[0]
	s, err := openExisting(path)
	if err != nil {
		return err
	}
	defer s.Close()
	ctx := e.ctx

	if *owner != "" {
		var stored int
		// DestroyOwner counts the live sessions it ends; the operator is
		// told about the expired ones it removes as well.
		err := s.Scan(ctx, boltsession.ScanOptions{Owner: *owner, Expired: true}, func(in boltsession.SessionInfo) error {
			if in.Err == nil {
				stored++
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		live, err := s.DestroyOwner(ctx, *owner)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		if err := s.Close(); err != nil {
			return err
		}
		if *asJSON {
			return writeJSON(e, rmJSON{File: path, Owner: *owner, Removed: stored, Live: &live})
		}
		_, err = fmt.Fprintf(e.stdout, "removed %d %s of owner %q from %s (%d live)\n",
			stored, plural(stored, "session", "sessions"), *owner, path, live)
		return err
	}

	ids := make([]string, 0, len(pos)-1)
	seen := map[string]bool{}
	for _, arg := range pos[1:] {
		id, err := resolveID(ctx, s, path, arg)
		if err != nil {
			return err
		}
		if !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	for i, id := range ids {
		if err := s.Delete(ctx, id); err != nil {
			return fmt.Errorf("%s: removed %d of %d sessions, then: %w", path, i, len(ids), err)
		}
	}
	if err := s.Close(); err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(e, rmJSON{File: path, Removed: len(ids), IDs: ids})
	}
	_, err = fmt.Fprintf(e.stdout, "removed %d %s from %s\n", len(ids), plural(len(ids), "session", "sessions"), path)
	return err
}

// rmJSON is rm --json.
type rmJSON struct {
	File    string   `json:"file"`
	Owner   string   `json:"owner,omitempty"`
	Removed int      `json:"removed"`
	Live    *int     `json:"live,omitempty"`
	IDs     []string `json:"ids,omitempty"`
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
