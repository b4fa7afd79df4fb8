package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/boltsession/boltsession"
)

var importCommand = &command{
	name:    "import",
	usage:   "FILE [--in F] [--value-keys-env NAME | --value-keys-file PATH] [--json]",
	summary: "Read sessions as JSON Lines (the export format) from standard input or F and write them into FILE, created if missing.",
	example: `$ boltsession import new.db --in sessions.jsonl
imported 99998 sessions from sessions.jsonl into new.db (0 already expired, skipped)
$ boltsession export old.db | boltsession import new.db

All sessions are written in one transaction: a malformed line or a failed
write leaves FILE exactly as it was. A missing FILE is built under a
temporary name beside it and appears only complete: an interrupted or
killed import leaves no FILE. A session already in FILE is replaced
by the imported one, so importing twice gives the same file. Lines name
sessions by "handle"; the "id" of an older release's export is read too,
and hashed to its handle (only the handle is stored). With value keys,
the values are written encrypted under the first key (and FILE, if new,
is created so).`,
	json: `{"file":"new.db","in":"sessions.jsonl","imported":99998,"expired":0}
(in is "-" for standard input; expired: sessions already past their expiry, not written)`,
	run: runImport,
}

// maxLine bounds one import line; a session is far smaller, so a longer
// line is a wrong file rather than a session.
const maxLine = 16 << 20

func runImport(e *env, c *command, args []string) error {
	flags := flag.NewFlagSet("import", flag.ContinueOnError)
	in := flags.String("in", "", "read from file `F` instead of standard input")
	vk := addValueKeyFlags(flags)
	asJSON := flags.Bool("json", false, "print one JSON object")
	pos, err := parseExactly(e, c, flags, args, "FILE")
	if err != nil {
		return err
	}
	keys, err := vk.keys()
	if err != nil {
		return err
	}
	path := pos[0]
	src, name := e.stdin, "standard input"
	var size int64 = -1
	if *in != "" {
		f, err := os.Open(*in)
		if err != nil {
			return err
		}
		defer f.Close()
		src, name = f, *in
		if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() {
			size = fi.Size()
		}
	}
	// An existing FILE must be a session file; a missing one appears only
	// once the import is complete (importTarget).
	target, err := openImportTarget(path, keys)
	if err != nil {
		return err
	}
	s := target.store

	bar := newBar(e, size, "import", true)
	r := bufio.NewReaderSize(io.TeeReader(interruptibleReader{ctx: e.ctx, r: src}, bar), 256<<10)
	res, err := s.Restore(e.ctx, readLines(r, name))
	finishBar(bar)
	if err != nil && e.ctx.Err() != nil {
		err = errors.New("interrupted")
	}
	if err != nil {
		target.discard()
		if target.created() {
			return fmt.Errorf("%s: import: %w; nothing imported, no file created", path, err)
		}
		return fmt.Errorf("%s: import: %w; %s is unchanged", path, err, path)
	}
	if err := target.commit(); err != nil {
		return err
	}
	if *asJSON {
		source := *in
		if source == "" {
			source = "-"
		}
		return writeJSON(e, importJSON{File: path, In: source, Imported: res.Restored, Expired: res.Expired})
	}
	_, err = fmt.Fprintf(e.stdout, "imported %d %s from %s into %s (%d already expired, skipped)\n",
		res.Restored, plural(res.Restored, "session", "sessions"), name, path, res.Expired)
	return err
}

// importJSON is import --json.
type importJSON struct {
	File     string `json:"file"`
	In       string `json:"in"`
	Imported int    `json:"imported"`
	Expired  int    `json:"expired"`
}

// readLines yields the records of an export stream, one a line; blank
// lines are skipped. An error names the source and the line and ends the
// sequence.
func readLines(r *bufio.Reader, name string) func(yield func(*boltsession.Record, error) bool) {
	return func(yield func(*boltsession.Record, error) bool) {
		for lineNo := 1; ; lineNo++ {
			line, err := readLine(r)
			if errors.Is(err, io.EOF) && len(line) == 0 {
				return
			}
			if err != nil && !errors.Is(err, io.EOF) {
				yield(nil, fmt.Errorf("%s line %d: %w", name, lineNo, err))
				return
			}
			if len(bytes.TrimSpace(line)) == 0 {
				continue
			}
			rec, perr := parseLine(line)
			if perr != nil {
				yield(nil, fmt.Errorf("%s line %d: %w", name, lineNo, perr))
				return
			}
			if !yield(&rec, nil) {
				return
			}
		}
	}
}

// readLine returns the next line without its newline, refusing lines
// longer than maxLine.
func readLine(r *bufio.Reader) ([]byte, error) {
	var line []byte
	for {
		chunk, err := r.ReadSlice('\n')
		if len(line)+len(chunk) > maxLine {
			return nil, fmt.Errorf("line longer than %d MiB", maxLine>>20)
		}
		line = append(line, chunk...)
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		return bytes.TrimSuffix(line, []byte("\n")), err
	}
}

// interruptibleReader returns as soon as ctx is done, even while a read
// blocks (a pipe or terminal with nothing to read yet), so an interrupt
// ends an import at once. The abandoned read finishes in its goroutine
// into a buffer nobody uses.
type interruptibleReader struct {
	ctx context.Context
	r   io.Reader
}

func (i interruptibleReader) Read(p []byte) (int, error) {
	if err := i.ctx.Err(); err != nil {
		return 0, err
	}
	type result struct {
		n   int
		err error
	}
	buf := make([]byte, len(p))
	done := make(chan result, 1)
	go func() {
		n, err := i.r.Read(buf)
		done <- result{n, err}
	}()
	select {
	case r := <-done:
		return copy(p, buf[:r.n]), r.err
	case <-i.ctx.Done():
		return 0, i.ctx.Err()
	}
}
