package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strconv"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/boltsession/boltsession"
)

var lsCommand = &command{
	name:    "ls",
	usage:   "FILE [--owner U] [--include-expired] [--limit N] [--json]",
	summary: "List sessions, one a line, in ID order: ID prefix, owner, created, expires, size of the stored record.",
	example: `$ boltsession ls sessions.db --owner user-42 --limit 2
ID             OWNER     CREATED                EXPIRES                SIZE
Vq3kX0b8Rr2M   user-42   2026-11-26T09:12:40Z   2026-11-27T09:12:40Z   212
bN7x-0pQe4Lw   user-42   2026-11-26T12:58:01Z   2026-11-27T12:58:01Z   180

Sessions past their expiry that the sweeper has not removed yet are left
out unless --include-expired (or its older name --expired) is given.
--json prints one JSON object a line with the full ID (for rm and show,
which also take an unambiguous ID prefix).`,
	json: `{"id":"Vq3kX0b8Rr2MzQ1c7mJ0aYy6bT9uWvE2pL4sKdHfNgA","owner":"user-42","created":"2026-11-26T09:12:40Z","expires":"2026-11-27T09:12:40Z","maxage":"720h0m0s","size":212,"expired":true,"corrupt":"boltsession: corrupt session data: …"}`,
	run:  runLs,
}

// idPrefixLen is how much of an ID ls shows: enough to tell sessions
// apart and to pass to show or rm, too little to hijack one with.
const idPrefixLen = 12

// lsJSON is one line of ls --json.
type lsJSON struct {
	ID      string    `json:"id"`
	Owner   string    `json:"owner,omitempty"`
	Created time.Time `json:"created,omitzero"`
	Expires time.Time `json:"expires,omitzero"`
	MaxAge  string    `json:"maxage,omitempty"`
	Size    int       `json:"size"`
	Expired bool      `json:"expired,omitempty"`
	Corrupt string    `json:"corrupt,omitempty"`
}

func runLs(e *env, c *command, args []string) error {
	fs := flag.NewFlagSet("ls", flag.ContinueOnError)
	owner := fs.String("owner", "", "only the sessions of owner `U`")
	var expired bool
	fs.BoolVar(&expired, "include-expired", false, "include sessions past their expiry that the sweeper has not removed yet")
	fs.BoolVar(&expired, "expired", false, "the same as --include-expired")
	limit := fs.Int("limit", 0, "list at most `N` sessions (0: all)")
	asJSON := fs.Bool("json", false, "print one JSON object a line")
	pos, err := parseExactly(e, c, fs, args, "FILE")
	if err != nil {
		return err
	}
	if *limit < 0 {
		return usagef("--limit must be 0 or more")
	}
	s, err := openExisting(pos[0])
	if err != nil {
		return err
	}
	defer s.Close()

	tw := tabwriter.NewWriter(e.stdout, 0, 0, 3, ' ', 0)
	if !*asJSON {
		fmt.Fprintln(tw, "ID\tOWNER\tCREATED\tEXPIRES\tSIZE")
	}
	var corrupt []string
	opts := boltsession.ScanOptions{Owner: *owner, Expired: expired, Limit: *limit}
	err = s.Scan(e.ctx, opts, func(in boltsession.SessionInfo) error {
		if in.Err != nil {
			corrupt = append(corrupt, in.ID)
		}
		if *asJSON {
			l := lsJSON{ID: in.ID, Owner: in.Owner, Created: in.Created.UTC(), Expires: in.Expires.UTC(), Size: in.Size, Expired: in.Expired}
			if in.MaxAge != 0 {
				l.MaxAge = in.MaxAge.String()
			}
			if in.Err != nil {
				l.Corrupt = in.Err.Error()
			}
			return writeJSON(e, l)
		}
		ownerCol, expires := in.Owner, textTime(in.Expires)
		if ownerCol == "" {
			ownerCol = "-"
		}
		if in.Expired {
			expires += " (expired)"
		}
		if in.Err != nil {
			ownerCol = "CORRUPT"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\n", printable(shortID(in.ID)), printable(ownerCol), textTime(in.Created), expires, in.Size)
		return nil
	})
	if ferr := tw.Flush(); err == nil {
		err = ferr
	}
	if err != nil {
		return fmt.Errorf("%s: %w", pos[0], err)
	}
	if len(corrupt) > 0 {
		return fmt.Errorf("%s: %d corrupt session records listed (first: %s); 'boltsession rm %s ID' removes one: %w",
			pos[0], len(corrupt), printable(shortID(corrupt[0])), pos[0], boltsession.ErrCorrupt)
	}
	return nil
}

// shortID is the prefix of id that ls shows.
func shortID(id string) string {
	if len(id) <= idPrefixLen {
		return id
	}
	return id[:idPrefixLen]
}

// resolveID finds the one stored session whose ID is id or starts with id,
// as git does with commit hashes: an exact match wins; a prefix must be at
// least minPrefix bytes long and match exactly one session. Expired
// records that the sweeper has not yet removed count too (rm removes them).
func resolveID(ctx context.Context, s *boltsession.BoltStore, path, id string) (string, error) {
	const minPrefix = 6
	var found []string
	err := s.Scan(ctx, boltsession.ScanOptions{IDPrefix: id, Expired: true, Limit: 2}, func(in boltsession.SessionInfo) error {
		if in.ID == id {
			found = []string{id}
			return errStopScan
		}
		found = append(found, in.ID)
		return nil
	})
	if err != nil && !errors.Is(err, errStopScan) {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	switch {
	case len(found) == 1 && found[0] == id:
		return id, nil
	case len(found) == 0:
		return "", fmt.Errorf("%s: no session %q: %w", path, id, boltsession.ErrNotFound)
	case len(id) < minPrefix:
		return "", fmt.Errorf("%s: no session %q (an ID prefix needs at least %d characters)", path, id, minPrefix)
	case len(found) > 1:
		return "", fmt.Errorf("%s: ID prefix %q matches more than one session; give more of the ID", path, id)
	}
	return found[0], nil
}

// errStopScan ends a Scan early without being an error of the command.
var errStopScan = errors.New("stop scan")

// printable returns s as it is when every character prints, and quoted
// (Go syntax) otherwise: IDs, owners and keys come from the app's users, and
// a control character must neither break the columns nor reach the
// operator's terminal as an escape sequence.
func printable(s string) string {
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return strconv.Quote(s)
		}
	}
	return s
}
