package main

import (
	"errors"
	"flag"
	"fmt"

	"github.com/boltsession/boltsession"
)

var rekeyCommand = &command{
	name:    "rekey",
	usage:   "FILE (--value-keys-env NAME | --value-keys-file PATH) [--decrypt] [--json]",
	summary: "Re-encrypt every session's values under the first value key (key rotation, or encrypting a file kept in clear), or with --decrypt write them all in clear.",
	example: `$ boltsession rekey sessions.db --value-keys-file /etc/app/value-keys
resealed 99998 records of sessions.db under the first value key (0 already were, 0 unreadable); compacted
$ boltsession rekey sessions.db --value-keys-file /etc/app/value-keys --decrypt
wrote 99998 records of sessions.db in clear (0 already were, 0 unreadable); it opens without value keys now

Rotation: put the new key first in the keys file and keep the old ones
after it; the app, given those keys, seals what it writes with the new
key and still opens the rest. With the app stopped (rekey needs the file
to itself), run rekey, then drop the old keys. Encrypting a file an app
kept in clear is the same command, with the keys the app then starts
with. rekey ends with a compaction: until bbolt reuses a freed page, it
holds the record as it was before (in clear, or under the old key). A
running app can reseal its own file instead (BoltStore.Rekey): that
marks the file, and the app's next start compacts it.

--decrypt writes every record back in clear and removes the file's mark
of encrypted values, so that the file opens without keys again; then
start the app without ValueKeys (an app opened with keys seals again).
A record that does not open with the keys given stays as it is, is
counted as unreadable, and makes the command exit 1 (with --decrypt the
file then keeps its mark); 'boltsession ls FILE' lists such records.

Records are rewritten a thousand to a transaction: an interrupted rekey
leaves every record readable with the keys, and running it again
finishes the job; on a file already done it rewrites nothing.`,
	json: `{"file":"sessions.db","decrypt":false,"rewritten":99998,"unchanged":0,"unreadable":0}`,
	run:  runRekey,
}

func runRekey(e *env, c *command, args []string) error {
	fs := flag.NewFlagSet("rekey", flag.ContinueOnError)
	vk := addValueKeyFlags(fs)
	decrypt := fs.Bool("decrypt", false, "write every record in clear and unmark the file, instead of sealing under the first key")
	asJSON := fs.Bool("json", false, "print one JSON object")
	pos, err := parseExactly(e, c, fs, args, "FILE")
	if err != nil {
		return err
	}
	if !*decrypt && !vk.given() {
		return usagef("rekey seals under the first of the value keys: give them with --value-keys-env NAME or --value-keys-file PATH")
	}
	keys, err := vk.keys()
	if err != nil {
		return err
	}
	path := pos[0]
	if err := checkExisting(path); err != nil {
		return err
	}
	bar := newBar(e, -1, "rekey", false)
	progress := func(done, total int) {
		bar.ChangeMax(total)
		_ = bar.Set(done)
	}
	var res boltsession.RekeyResult
	if *decrypt {
		res, err = boltsession.Decrypt(e.ctx, path, storeOptions(keys), progress)
	} else {
		res, err = rekeySeal(e, path, keys, progress)
	}
	finishBar(bar)
	// Decrypt's one error after which it has a report: records that stay
	// sealed (and so the mark), counted as unreadable.
	sealedLeft := *decrypt && errors.Is(err, boltsession.ErrKey) && res.Unreadable > 0
	if err != nil && !sealedLeft {
		return rekeyError(e, path, res, err)
	}

	if *asJSON {
		if err := writeJSON(e, rekeyJSON{File: path, Decrypt: *decrypt, Rewritten: res.Rewritten, Unchanged: res.Unchanged, Unreadable: res.Unreadable}); err != nil {
			return err
		}
	} else if *decrypt {
		note := "it opens without value keys now"
		if sealedLeft {
			note = "it still opens only with value keys"
		}
		fmt.Fprintf(e.stdout, "wrote %d %s of %s in clear (%d already were, %d unreadable); %s\n",
			res.Rewritten, plural(res.Rewritten, "record", "records"), path, res.Unchanged, res.Unreadable, note)
	} else {
		fmt.Fprintf(e.stdout, "resealed %d %s of %s under the first value key (%d already were, %d unreadable); compacted\n",
			res.Rewritten, plural(res.Rewritten, "record", "records"), path, res.Unchanged, res.Unreadable)
	}
	switch {
	case sealedLeft:
		return fmt.Errorf("%s: %d %s not open with the value keys given, so the file keeps its mark of encrypted values: 'boltsession ls %s' with the keys lists them (NO KEY or CORRUPT); give their key, or remove them with 'boltsession rm %s HANDLE', and run it again",
			path, res.Unreadable, plural(res.Unreadable, "record does", "records do"), path, path)
	case res.Unreadable > 0:
		return fmt.Errorf("%s: %d %s not be read (damaged, or sealed with a key not given) and stay as they were: 'boltsession ls %s' with the keys lists them: %w",
			path, res.Unreadable, plural(res.Unreadable, "record could", "records could"), path, boltsession.ErrCorrupt)
	}
	return nil
}

// rekeySeal reseals every record of the file under the first key, then
// compacts the file so that no page keeps an older form of a record.
func rekeySeal(e *env, path string, keys [][]byte, progress func(done, total int)) (boltsession.RekeyResult, error) {
	s, err := boltsession.Open(path, storeOptions(keys)) // rekeyError words its errors
	if err != nil {
		return boltsession.RekeyResult{}, err
	}
	defer s.Close()
	res, err := s.Rekey(e.ctx, progress)
	if err != nil {
		return res, err
	}
	if err := s.Close(); err != nil {
		return res, err
	}
	interrupted := fmt.Errorf("%s: rekey interrupted while compacting: every record is sealed under the first key, but freed pages may still hold older forms; run it again", path)
	_, err = compactInterruptibly(e, path, interrupted, func() (boltsession.CompactResult, error) {
		return boltsession.Compact(path, "", &boltsession.CompactOptions{Timeout: lockWait})
	})
	return res, err
}

// rekeyError words a rekey that stopped.
func rekeyError(e *env, path string, res boltsession.RekeyResult, err error) error {
	switch {
	case e.ctx.Err() != nil:
		return fmt.Errorf("%s: rekey interrupted after rewriting %d records; every record is readable with the keys: run it again to finish", path, res.Rewritten)
	case errors.Is(err, boltsession.ErrLocked), errors.Is(err, boltsession.ErrVersion), errors.Is(err, boltsession.ErrKey):
		return describeOpenError(path, err)
	}
	return fmt.Errorf("%s: rekey: %w", path, err)
}

// rekeyJSON is rekey --json.
type rekeyJSON struct {
	File       string `json:"file"`
	Decrypt    bool   `json:"decrypt"`
	Rewritten  int    `json:"rewritten"`
	Unchanged  int    `json:"unchanged"`
	Unreadable int    `json:"unreadable"`
}
