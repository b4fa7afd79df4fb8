package boltsession

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	bbolt "go.etcd.io/bbolt"
)

// rekeyChunk is how many records one transaction of Rekey or Decrypt
// rewrites: enough to share an fsync among many, few enough that the saves
// of a running app never wait long behind one.
const rekeyChunk = 1000

// RekeyResult reports what Rekey or Decrypt did to the records of a file.
type RekeyResult struct {
	// Rewritten is the number of records written again: sealed under the
	// first of BoltOptions.ValueKeys (Rekey) or in clear (Decrypt).
	Rewritten int

	// Unchanged is the number of records that were already so (sealed
	// under the first key; in clear) and were left as they were. A second
	// run over the same file finds every record unchanged.
	Unchanged int

	// Unreadable is the number of records that did not decode: damaged,
	// or sealed with a key that is not among ValueKeys. They are left as
	// they are, counted in Stats.Corrupt, and reported by Scan with Err
	// set, so that an operator can find and delete them.
	Unreadable int
}

// Rekey seals every record of the file, expired ones included, under the
// first of the store's BoltOptions.ValueKeys: records in clear, and records
// sealed under another of the keys (key rotation: put the new key first,
// Rekey, then drop the old keys). A store without ValueKeys gives an error
// and writes nothing; to write every record in clear, see Decrypt.
//
// The records are rewritten in transactions of a thousand, each atomic and
// fsynced (unless NoSync), alongside the store's other writes: a running
// app keeps serving, and its own saves seal with the first key anyway. A
// cancelled ctx, an error or a killed process stops Rekey between
// transactions with every record readable (sealed under the old key or the
// new one); running it again finishes the job, and a run over a file with
// nothing left to do writes nothing. A record's sessions, values, expiry
// and owner do not change, and MaxRecordSize is not applied (a rewritten
// record grows by at most the sealing's 37 bytes).
//
// bbolt does not overwrite the pages a rewrite frees: until it reuses
// them, the file still holds the records as they were (in clear, or sealed
// under the old key). So Rekey marks the file, and the next Open compacts
// it before it serves (a one-off cost at that start, about as long as
// Compact takes); the command-line tool's rekey compacts at once.
//
// progress, when not nil, is called after each transaction with the
// records visited so far and the records stored when Rekey began; it runs
// on Rekey's goroutine and must not call the store.
func (s *BoltStore) Rekey(ctx context.Context, progress func(done, total int)) (RekeyResult, error) {
	if s.sealer == nil {
		return RekeyResult{}, errors.New("boltsession: rekey: the store has no BoltOptions.ValueKeys to seal with (Decrypt writes the records in clear)")
	}
	res, _, err := s.rewriteAll(ctx, "rekey", true, progress, func(key, raw []byte) ([]byte, *Record, error) {
		if s.sealer.current(raw) {
			return nil, nil, nil
		}
		rec, err := s.decodeRecord(key, "", raw)
		if err != nil {
			return nil, nil, err
		}
		sealed, err := s.encode(key, rec)
		return sealed, rec, err
	})
	return res, err
}

// Decrypt writes every record of the session file at path back in clear,
// expired ones included, and then removes the file's mark of sealed values
// (see BoltOptions.ValueKeys), so that it opens without ValueKeys again.
// It opens the file with opts, whose ValueKeys must open the sealed
// records (nil opts means the defaults; a file marked as sealed then gives
// an error wrapping ErrKey, and nothing is written), and closes it before
// it returns. Like Open, it converts a file of an older format first.
//
// The records are rewritten in transactions of a thousand, each atomic;
// the mark goes in a last transaction, once no sealed record is left. So a
// cancelled ctx, an error or a killed process leaves a file that still
// opens only with the keys, every record readable with them, and running
// Decrypt again finishes the job; a file already in clear is left as it
// is (Decrypt is idempotent). A sealed record that does not open with the
// keys (damaged, or sealed with a key not given) keeps the mark in place:
// Decrypt then returns an error wrapping ErrKey after rewriting all the
// others; deleting that record (BoltStore.DeleteHandle, by the handle Scan
// reports) and running Decrypt again completes it.
//
// Once Decrypt returns nil, an app must open the file without ValueKeys to
// keep it in clear: a store opened with keys marks the file again and seals
// every record it writes. Records already in clear are left as they are,
// without being decoded. progress is as for Rekey.
func Decrypt(ctx context.Context, path string, opts *BoltOptions, progress func(done, total int)) (RekeyResult, error) {
	s, err := Open(path, opts)
	if err != nil {
		return RekeyResult{}, err
	}
	defer s.Close()
	res, left, err := s.rewriteAll(ctx, "decrypt", false, progress, func(key, raw []byte) ([]byte, *Record, error) {
		if _, ok := sealedID(raw); !ok {
			return nil, nil, nil
		}
		rec, err := s.decodeRecord(key, "", raw)
		if err != nil {
			return nil, nil, err
		}
		clear, err := encodeRecord(rec)
		return clear, rec, err
	})
	if err != nil {
		return res, err
	}
	if left.n > 0 {
		return res, fmt.Errorf("%w: decrypt %s: %d sealed records do not open with the keys given (the first has the handle %s); the file stays marked as sealed",
			ErrKey, path, left.n, left.first)
	}
	if err := s.enter(ctx, "decrypt"); err != nil {
		return res, err
	}
	defer s.mu.RUnlock()
	err = s.update("decrypt", func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketMeta).Delete(keySealed)
	})
	if err != nil {
		return res, fmt.Errorf("boltsession: decrypt %s: %w", path, err)
	}
	return res, nil
}

// errNothingToRewrite rolls back a rewrite transaction that changed
// nothing: no commit, no fsync.
var errNothingToRewrite = errors.New("nothing to rewrite")

// stillSealed counts the unreadable records a rewrite left sealed, and
// names the first by its handle.
type stillSealed struct {
	n     int
	first string
}

func (l *stillSealed) add(o stillSealed) {
	if l.first == "" {
		l.first = o.first
	}
	l.n += o.n
}

// rewriteAll runs rewrite over every stored record, a transaction per
// rekeyChunk records, in key order. rewrite returns the record's new
// stored form with its decoded index fields, nil for a record to leave as
// it is, or an error for one that does not decode; with scrub, a
// transaction that rewrites puts the scrub mark (scrub.go), so that the
// next Open compacts away the freed pages holding the old forms. It
// reports the counts and the unreadable records that are still sealed.
func (s *BoltStore) rewriteAll(ctx context.Context, op string, scrub bool, progress func(done, total int),
	rewrite func(key, raw []byte) ([]byte, *Record, error)) (RekeyResult, stillSealed, error) {
	var (
		res   RekeyResult
		left  stillSealed
		after []byte
		done  int
		total = -1
	)
	for {
		if err := s.enter(ctx, op); err != nil {
			return res, left, err
		}
		var (
			chunk     RekeyResult
			chunkLeft stillSealed
			next      []byte
			seen      int
		)
		err := s.update(op, func(tx *bbolt.Tx) error {
			chunk, chunkLeft, next, seen = RekeyResult{}, stillSealed{}, nil, 0
			r := s.recordsOf(tx)
			if total < 0 {
				total = r.sessions.Stats().KeyN
			}
			// Collect the keys first: writing under a bbolt cursor can
			// make it skip keys.
			var keys [][]byte
			c := r.sessions.Cursor()
			k, _ := c.First()
			if after != nil {
				k, _ = c.Seek(after)
				if k != nil && bytes.Equal(k, after) {
					k, _ = c.Next()
				}
			}
			for ; k != nil && len(keys) < rekeyChunk; k, _ = c.Next() {
				keys = append(keys, bytes.Clone(k))
			}
			seen = len(keys)
			if len(keys) > 0 {
				next = keys[len(keys)-1]
			}
			for _, key := range keys {
				raw := r.sessions.Get(key)
				out, rec, err := rewrite(key, raw)
				switch {
				case err != nil:
					s.corrupt.Add(1)
					chunk.Unreadable++
					if _, sealed := sealedID(raw); sealed {
						chunkLeft.add(stillSealed{1, handleOf(key)})
					}
					continue
				case out == nil:
					chunk.Unchanged++
					continue
				}
				// The index fields do not change: put writes the record only.
				if err := r.put(key, rec, rec, out); err != nil {
					return err
				}
				chunk.Rewritten++
			}
			if chunk.Rewritten == 0 {
				return errNothingToRewrite
			}
			if scrub {
				if err := markScrub(tx); err != nil {
					return err
				}
			}
			return ctx.Err()
		})
		s.mu.RUnlock()
		if err != nil && !errors.Is(err, errNothingToRewrite) {
			return res, left, fmt.Errorf("boltsession: %s: %w", op, err)
		}
		res.Rewritten += chunk.Rewritten
		res.Unchanged += chunk.Unchanged
		res.Unreadable += chunk.Unreadable
		left.add(chunkLeft)
		done += seen
		if progress != nil {
			progress(done, max(total, done))
		}
		if next == nil || seen < rekeyChunk {
			return res, left, nil
		}
		after = next
	}
}
