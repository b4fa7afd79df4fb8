package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/boltsession/boltsession"
)

var compactCommand = &command{
	name:    "compact",
	usage:   "FILE [--out NEW] [--json]",
	summary: "Rewrite the file without its free pages (bbolt compaction) and report the sizes before and after.",
	example: `$ boltsession compact sessions.db
compacted sessions.db: 84.0 MiB -> 21.3 MiB (saved 62.7 MiB)
$ boltsession compact sessions.db --out sessions-small.db
compacted sessions.db into sessions-small.db: 84.0 MiB -> 21.3 MiB (sessions.db unchanged)

Without --out the file is replaced only once the compacted copy is complete
and synced (a temporary file beside it, then an atomic rename); an
interrupted compaction leaves the original as it was. With --out, FILE is
left as it is and NEW must not exist yet; it appears only when complete.
Records are copied as they are: a file whose values are encrypted needs
no value keys, and its copy stays encrypted. The copy holds none of the
pages the file had freed (bbolt keeps old record versions in them until
it reuses them), which is why rekey ends with a compaction.`,
	json: `{"file":"sessions.db","out":"sessions-small.db","before":88080384,"after":22334464}
(file is the file compacted; out, only with --out, the compacted copy; before and after in bytes)`,
	run: runCompact,
}

func runCompact(e *env, c *command, args []string) error {
	fs := flag.NewFlagSet("compact", flag.ContinueOnError)
	out := fs.String("out", "", "write the compacted copy to `NEW` and leave FILE as it is")
	asJSON := fs.Bool("json", false, "print one JSON object")
	pos, err := parseExactly(e, c, fs, args, "FILE")
	if err != nil {
		return err
	}
	path := pos[0]
	// Open it once as a store: the same checks and messages as every other
	// command (missing, empty, held, not a session file). The compaction
	// copies records as they are, so a file whose values are encrypted
	// needs no keys.
	s, err := openExisting(path, nil)
	switch {
	case errors.Is(err, boltsession.ErrKey):
	case err != nil:
		return err
	default:
		if err := s.Close(); err != nil {
			return err
		}
	}
	// --out naming FILE itself is a compaction in place, as for
	// boltsession.Compact.
	if *out != "" && sameFile(path, *out) {
		*out = ""
	}
	target, interrupted := path, fmt.Errorf("%s: compaction interrupted; %s is as it was", path, path)
	if *out != "" {
		target = *out
		interrupted = fmt.Errorf("%s: compaction interrupted; %s was not written, %s is as it was", path, *out, path)
	}
	bar := newBar(e, -1, "compacting", true)
	res, err := compactInterruptibly(e, target, interrupted, func() (boltsession.CompactResult, error) {
		return boltsession.Compact(path, *out, &boltsession.CompactOptions{
			Timeout: lockWait,
			Progress: func(written, total int64) {
				bar.ChangeMax64(total)
				_ = bar.Set64(written)
			},
		})
	})
	finishBar(bar)
	if err != nil {
		if errors.Is(err, boltsession.ErrLocked) || errors.Is(err, boltsession.ErrVersion) {
			return describeOpenError(path, err)
		}
		return err
	}
	if *asJSON {
		return writeJSON(e, compactJSON{File: path, Out: *out, Before: res.Before, After: res.After})
	}
	if *out != "" {
		_, err = fmt.Fprintf(e.stdout, "compacted %s into %s: %s -> %s (%s unchanged)\n", path, *out,
			humanBytes(res.Before), humanBytes(res.After), path)
		return err
	}
	_, err = fmt.Fprintf(e.stdout, "compacted %s: %s -> %s (saved %s)\n", path,
		humanBytes(res.Before), humanBytes(res.After), humanBytes(max(res.Before-res.After, 0)))
	return err
}

// compactJSON is compact --json.
type compactJSON struct {
	File   string `json:"file"`
	Out    string `json:"out,omitempty"`
	Before int64  `json:"before"`
	After  int64  `json:"after"`
}

// sameFile reports whether a and b name one existing file.
func sameFile(a, b string) bool {
	fa, err := os.Stat(a)
	if err != nil {
		return false
	}
	fb, err := os.Stat(b)
	return err == nil && os.SameFile(fa, fb)
}

// compactInterruptibly runs compact, which writes target, and, if the
// command is interrupted first, removes the partial copy and returns
// interrupted. bbolt's compaction cannot be stopped midway; removing its
// temporary file (see boltsession.Compact for the name) makes the final
// rename fail, so target never changes after the interrupt was
// acknowledged.
func compactInterruptibly(e *env, target string, interrupted error, compact func() (boltsession.CompactResult, error)) (boltsession.CompactResult, error) {
	pattern := filepath.Join(filepath.Dir(target), "."+filepath.Base(target)+".compact-*")
	existing := map[string]bool{}
	if names, err := filepath.Glob(pattern); err == nil {
		for _, n := range names {
			existing[n] = true
		}
	}
	type outcome struct {
		res boltsession.CompactResult
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		res, err := compact()
		done <- outcome{res, err}
	}()
	select {
	case o := <-done:
		return o.res, o.err
	case <-e.ctx.Done():
	}
	poll := time.NewTicker(20 * time.Millisecond)
	defer poll.Stop()
	for {
		select {
		case o := <-done: // finished (or failed) before the copy could be removed
			return o.res, o.err
		case <-poll.C:
			names, _ := filepath.Glob(pattern)
			for _, n := range names {
				if !existing[n] && os.Remove(n) == nil {
					return boltsession.CompactResult{}, interrupted
				}
			}
		}
	}
}
