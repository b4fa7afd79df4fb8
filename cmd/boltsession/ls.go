package main

import (
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
	usage:   "FILE [--owner U] [--include-expired] [--limit N] [--value-keys-env NAME | --value-keys-file PATH] [--json]",
	summary: "List sessions, one a line, in handle order: handle prefix, owner, created, expires, size of the stored record.",
	example: `$ boltsession ls sessions.db --owner user-42 --limit 2
HANDLE         OWNER     CREATED                EXPIRES                SIZE
63f94b520713   user-42   2026-11-26T09:12:40Z   2026-11-27T09:12:40Z   212
99668f7324b2   user-42   2026-11-26T12:58:01Z   2026-11-27T12:58:01Z   180

A session is named by its handle, the SHA-256 of its ID, which is what
the file keys it by: the file holds no session ID, and nothing here can
print one. show and rm take a handle or an unambiguous prefix of at
least 6 hex digits; --json prints the whole handle.
Sessions past their expiry that the sweeper has not removed yet are left
out unless --include-expired (or its older name --expired) is given.`,
	json: `{"handle":"63f94b520713c36c9e528958e18922787d89852385bb3ec14346b361c9399b91","owner":"user-42","created":"2026-11-26T09:12:40Z","expires":"2026-11-27T09:12:40Z","maxage":"720h0m0s","size":212,"expired":true,"corrupt":"boltsession: corrupt session data: …"}
(corrupt: the record does not decode, or its values are encrypted with a key not given)`,
	run: runLs,
}

// lsJSON is one line of ls --json. Its fields are those of the admin
// handler's session list.
type lsJSON struct {
	Handle  string    `json:"handle"`
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
	vk := addValueKeyFlags(fs)
	asJSON := fs.Bool("json", false, "print one JSON object a line")
	pos, err := parseExactly(e, c, fs, args, "FILE")
	if err != nil {
		return err
	}
	if *limit < 0 {
		return usagef("--limit must be 0 or more")
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

	tw := tabwriter.NewWriter(e.stdout, 0, 0, 3, ' ', 0)
	if !*asJSON {
		fmt.Fprintln(tw, "HANDLE\tOWNER\tCREATED\tEXPIRES\tSIZE")
	}
	var unreadable []boltsession.SessionInfo
	opts := boltsession.ScanOptions{Owner: *owner, Expired: expired, Limit: *limit}
	err = s.Scan(e.ctx, opts, func(in boltsession.SessionInfo) error {
		if in.Err != nil {
			unreadable = append(unreadable, in)
		}
		if *asJSON {
			l := lsJSON{Handle: in.Handle, Owner: in.Owner, Created: in.Created.UTC(), Expires: in.Expires.UTC(), Size: in.Size, Expired: in.Expired}
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
			ownerCol = unreadableLabel(in.Err)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\n", shortHandle(in.Handle), printable(ownerCol), textTime(in.Created), expires, in.Size)
		return nil
	})
	if ferr := tw.Flush(); err == nil {
		err = ferr
	}
	if err != nil {
		return fmt.Errorf("%s: %w", pos[0], err)
	}
	return unreadableError(pos[0], "listed", unreadable)
}

// unreadableLabel is what ls shows in the owner column of a record it
// cannot read.
func unreadableLabel(err error) string {
	if errors.Is(err, boltsession.ErrKey) {
		return "NO KEY"
	}
	return "CORRUPT"
}

// unreadableError is the error of a command that met records it could not
// read (none: nil), naming the first and the way out. lead says what the
// command did with them ("listed").
func unreadableError(path, lead string, unreadable []boltsession.SessionInfo) error {
	if len(unreadable) == 0 {
		return nil
	}
	first := unreadable[0]
	if errors.Is(first.Err, boltsession.ErrKey) {
		return fmt.Errorf("%s: %s %d session records that do not open with the value keys given (first: %s); give the key they were sealed with, or 'boltsession rm %s HANDLE' removes one: %w",
			path, lead, len(unreadable), shortHandle(first.Handle), path, first.Err)
	}
	return fmt.Errorf("%s: %s %d corrupt session records (first: %s); 'boltsession rm %s HANDLE' removes one: %w",
		path, lead, len(unreadable), shortHandle(first.Handle), path, first.Err)
}

// printable returns s as it is when every character prints, and quoted
// (Go syntax) otherwise: owners and keys come from the app's users, and
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
