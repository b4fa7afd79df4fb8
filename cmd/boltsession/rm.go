package main

import (
	"errors"
	"flag"
	"fmt"

	"github.com/boltsession/boltsession"
)

var rmCommand = &command{
	name: "rm",
	usage: "FILE HANDLE... | FILE --id ID... | FILE --cookie VALUE... [--key-file PATH | --key-env NAME] [--cookie-name NAME] | FILE --owner U" +
		" [--value-keys-env NAME | --value-keys-file PATH] [--json]",
	summary: "Remove sessions by handle (or unambiguous handle prefix), by session ID, by cookie value, or every session of one owner, and print how many.",
	example: `$ boltsession rm sessions.db 63f94b520713 99668f7324b2
removed 2 sessions from sessions.db
$ boltsession rm sessions.db --id -- -x9TqVq3kX0b8Rr2MzQ1c7mJ0aYy6bT9uWvE2pL4sKdHf
removed 1 session from sessions.db
$ boltsession rm sessions.db --cookie --key-file sessions.db.key 'MTczMjYxMjM2MHxBa2x6…'
removed 1 session from sessions.db
$ boltsession rm sessions.db --cookie 's%3AyQ2rVx0c6b8mJpL4sKdHfNgAzE1wT9uB.Qm3…'
removed 1 session from sessions.db
$ boltsession rm sessions.db --owner user-42
removed 3 sessions of owner "user-42" from sessions.db (3 live)

The file keys each session by its handle, the SHA-256 of its ID. With
--id, the arguments are session IDs, as the app's or a user's report
gives them: each is hashed to its handle. With --cookie, they are
session cookie values as a browser holds them. A boltsession cookie is
read with the app's signing key, the file LoadOrCreateKey made
(--key-file) or the variable KeyFromEnv reads (--key-env), under the
app's cookie name (--cookie-name, default sid). An express-session
cookie (s:ID.signature, percent-encoded or not) carries its ID readably
and needs no key: rm does not check its signature, since deleting the
session a cookie names needs no proof (whoever holds the cookie holds
the session).

Every argument is resolved before anything is removed: one that names no
session removes nothing. Nothing is printed that holds a session ID. An
argument that starts with "-" goes after "--": rm FILE --id -- -x9Tq...`,
	json: `{"file":"sessions.db","removed":2,"handles":["63f94b520713c36c9e528958e18922787d89852385bb3ec14346b361c9399b91","99668f7324b274a5310878f9e7031f64d92a074ed5a2200996da82dd7f42826b"]}
{"file":"sessions.db","owner":"user-42","removed":3,"live":3}
(the first for handles, --id and --cookie; the second for --owner, live counting the sessions not yet expired)`,
	run: runRm,
}

func runRm(e *env, c *command, args []string) error {
	fs := flag.NewFlagSet("rm", flag.ContinueOnError)
	owner := fs.String("owner", "", "remove every session of owner `U`")
	byID := fs.Bool("id", false, "the arguments after FILE are session IDs (each is hashed to its handle)")
	byCookie := fs.Bool("cookie", false, "the arguments after FILE are session cookie values")
	var ck cookieKeyFlags
	fs.StringVar(&ck.file, "key-file", "", "with --cookie: the app's cookie signing key file `PATH` (made by LoadOrCreateKey)")
	fs.StringVar(&ck.env, "key-env", "", "with --cookie: environment variable `NAME` holding the app's signing key in base64 (as KeyFromEnv reads it)")
	fs.StringVar(&ck.name, "cookie-name", "sid", "with --cookie: the app's session cookie `NAME` (Options.Name), which a boltsession cookie is signed with")
	vk := addValueKeyFlags(fs)
	asJSON := fs.Bool("json", false, "print one JSON object")
	pos, err := parse(e, c, fs, args)
	if err != nil {
		return err
	}
	cookieFlags := ck.file != "" || ck.env != "" || ck.name != "sid"
	switch {
	case len(pos) == 0:
		return usagef("want FILE")
	case *byID && *byCookie:
		return usagef("give --id or --cookie, not both")
	case *owner != "" && (len(pos) > 1 || *byID || *byCookie):
		return usagef("give handles, --id, --cookie or --owner, one of them")
	case *owner == "" && len(pos) < 2:
		return usagef("want at least one handle after FILE (or --id ID..., --cookie VALUE..., --owner U)")
	case cookieFlags && !*byCookie:
		return usagef("--key-file, --key-env and --cookie-name go with --cookie")
	}
	var codec boltsession.CookieCodec
	if *byCookie {
		if codec, err = ck.codec(); err != nil {
			return err
		}
	}
	keys, err := vk.keys()
	if err != nil {
		return err
	}
	path := pos[0]
	s, err := openExisting(path, keys)
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

	handles := make([]string, 0, len(pos)-1)
	seen := map[string]bool{}
	for i, arg := range pos[1:] {
		var handle string
		switch {
		case *byID || *byCookie:
			handle, err = resolveSecret(e, s, path, i+1, arg, *byCookie, codec, ck.name)
		default:
			handle, err = resolveHandle(ctx, s, path, arg)
		}
		if err != nil {
			return err
		}
		if !seen[handle] {
			seen[handle] = true
			handles = append(handles, handle)
		}
	}
	for i, h := range handles {
		if err := s.DeleteHandle(ctx, h); err != nil {
			return fmt.Errorf("%s: removed %d of %d sessions, then: %w", path, i, len(handles), err)
		}
	}
	if err := s.Close(); err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(e, rmJSON{File: path, Removed: len(handles), Handles: handles})
	}
	_, err = fmt.Fprintf(e.stdout, "removed %d %s from %s\n", len(handles), plural(len(handles), "session", "sessions"), path)
	return err
}

// resolveSecret returns the handle of the stored session that the n-th
// argument, a session ID or (cookie) a cookie value, names. Neither the
// argument nor the ID is ever printed: it signs its holder in.
func resolveSecret(e *env, s *boltsession.BoltStore, path string, n int, arg string, cookie bool, codec boltsession.CookieCodec, name string) (string, error) {
	what, id := "session ID", arg
	if cookie {
		what = "cookie value"
		var err error
		if id, err = cookieID(arg, codec, name); err != nil {
			if errors.Is(err, errNeedKey) {
				return "", usagef("%s %d: %v", what, n, err)
			}
			return "", fmt.Errorf("%s: %s %d: %w", path, what, n, err)
		}
	}
	if id == "" {
		return "", fmt.Errorf("%s: %s %d is empty", path, what, n)
	}
	handle := boltsession.Handle(id)
	found, err := storedHandle(e.ctx, s, handle)
	if err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	if !found {
		return "", fmt.Errorf("%s: %s %d names no session (its handle would be %s; it ended, or belongs to another file): %w",
			path, what, n, shortHandle(handle), boltsession.ErrNotFound)
	}
	return handle, nil
}

// rmJSON is rm --json. Handles are named as the admin handler names them.
type rmJSON struct {
	File    string   `json:"file"`
	Owner   string   `json:"owner,omitempty"`
	Removed int      `json:"removed"`
	Live    *int     `json:"live,omitempty"`
	Handles []string `json:"handles,omitempty"`
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
