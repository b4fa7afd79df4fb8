package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/boltsession/boltsession"
)

var exportCommand = &command{
	name:    "export",
	usage:   "FILE [--out F [--json]] [--value-keys-env NAME | --value-keys-file PATH]",
	summary: "Write every live session as JSON Lines (handle, created, expires, owner, maxage, values) to standard output or F.",
	example: `$ boltsession export sessions.db --out sessions.jsonl
exported 99998 sessions from sessions.db to sessions.jsonl
$ boltsession export sessions.db | head -1
{"handle":"63f94b520713c36c…","created":"2026-11-26T09:12:40.52Z","expires":"2026-11-27T09:12:40.52Z","owner":"user-42","values":{"views":"EQ=="}}

Sessions are named by their handles: the file holds no session ID, and
neither does the export. Each value is its msgpack bytes in base64, so
that import reproduces the session exactly ('show' renders values
readably). Values a file holds encrypted are exported decrypted (give the
value keys): treat the export as the secret it then is. The export is one
consistent snapshot. With --out, F appears only once complete, mode 0600.
--json needs --out, since without it the sessions themselves go to
standard output.`,
	json: `{"file":"sessions.db","out":"sessions.jsonl","exported":99998,"corrupt":0}
(corrupt: records that did not decode, or whose values are encrypted with a key not given, left out; the command then exits 1)`,
	run: runExport,
}

func runExport(e *env, c *command, args []string) error {
	fs := flag.NewFlagSet("export", flag.ContinueOnError)
	out := fs.String("out", "", "write to file `F` instead of standard output")
	vk := addValueKeyFlags(fs)
	asJSON := fs.Bool("json", false, "print one JSON object (needs --out)")
	pos, err := parseExactly(e, c, fs, args, "FILE")
	if err != nil {
		return err
	}
	if *asJSON && *out == "" {
		return usagef("--json needs --out F: without it, standard output carries the sessions")
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
	total, err := s.Count(ctx)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}

	var n int
	var corrupt []boltsession.SessionInfo
	export := func(w io.Writer) error {
		bar := newBar(e, int64(total), "export", false)
		defer finishBar(bar)
		bw := bufio.NewWriterSize(w, 256<<10)
		enc := json.NewEncoder(bw)
		enc.SetEscapeHTML(false)
		err := s.Scan(ctx, boltsession.ScanOptions{Values: true}, func(in boltsession.SessionInfo) error {
			if in.Err != nil {
				corrupt = append(corrupt, in)
				return nil
			}
			n++
			_ = bar.Add(1)
			return enc.Encode(newExportLine(&in.Record))
		})
		if err != nil {
			return err
		}
		return bw.Flush()
	}
	if *out == "" {
		err = export(e.stdout)
	} else {
		_, err = writeFileAtomic(*out, 0o600, func(f *os.File) (int64, error) { return 0, export(f) })
	}
	if err != nil && ctx.Err() != nil && *out != "" {
		return fmt.Errorf("%s: export interrupted; %s was not written", path, *out)
	}
	if err != nil && ctx.Err() != nil {
		return fmt.Errorf("%s: export interrupted after %d sessions", path, n)
	}
	if err != nil {
		return fmt.Errorf("%s: export: %w", path, err)
	}
	switch {
	case *asJSON:
		if err := writeJSON(e, exportJSON{File: path, Out: *out, Exported: n, Corrupt: len(corrupt)}); err != nil {
			return err
		}
	case *out != "":
		fmt.Fprintf(e.stdout, "exported %d %s from %s to %s\n", n, plural(n, "session", "sessions"), path, *out)
	}
	if len(corrupt) > 0 {
		return unreadableError(path, fmt.Sprintf("exported %d sessions but skipped", n), corrupt)
	}
	return nil
}

// exportJSON is export --json.
type exportJSON struct {
	File     string `json:"file"`
	Out      string `json:"out"`
	Exported int    `json:"exported"`
	Corrupt  int    `json:"corrupt"`
}
