package boltfile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"runtime/debug"
	"strings"
	"time"

	bbolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// boltTimeout bounds one exercise of a file with bbolt: far above what a
// test file takes (milliseconds), far below the test's own timeout.
const boltTimeout = 20 * time.Second

// errBoltCrashed marks an exercise in which bbolt panicked, faulted, hung or
// contradicted Check: what Check exists to rule out.
var errBoltCrashed = errors.New("bbolt crashed")

// exerciseBolt opens the file at path with bbolt as boltsession does and
// uses it every way a store does, twice: a cursor walk of every bucket,
// forwards, backwards and by seeking, Stats, WriteTo, bbolt's own
// consistency check, and a write transaction that deletes and adds keys in
// every bucket; then it reopens the file and walks and checks it again. It
// runs in a goroutine of its own that turns a memory fault into a panic
// (debug.SetPanicOnFault) and recovers it.
//
// opened is false when bbolt.Open returned an error. err wraps
// errBoltCrashed for a panic, fault, hang or a complaint of bbolt's own
// check (other than leaked pages); it is another error when bbolt merely
// returned one.
func exerciseBolt(path string) (opened bool, err error) {
	type result struct {
		opened bool
		err    error
	}
	done := make(chan result, 1)
	go func() {
		debug.SetPanicOnFault(true)
		var opened bool
		defer func() {
			if p := recover(); p != nil {
				done <- result{opened, fmt.Errorf("%w: panic: %v\n%s", errBoltCrashed, p, debug.Stack())}
			}
		}()
		err := useWithBolt(path, &opened)
		done <- result{opened, err}
	}()
	select {
	case r := <-done:
		return r.opened, r.err
	case <-time.After(boltTimeout):
		return true, fmt.Errorf("%w: still running after %v", errBoltCrashed, boltTimeout)
	}
}

func useWithBolt(path string, opened *bool) error {
	// Without fsync: syncing changes what survives a machine crash, not
	// what bbolt reads, and it would slow the hundreds of files tried.
	options := &bbolt.Options{Timeout: time.Second, NoSync: true, NoGrowSync: true}
	db, err := bbolt.Open(path, 0o600, options)
	if err != nil {
		return err
	}
	*opened = true
	// Two write transactions, the second on pages the first freed, then the
	// file as the next Open finds it.
	for range 2 {
		if err := db.View(readEverything); err != nil {
			return err
		}
		if err := db.Update(writeEverywhere); err != nil {
			return err
		}
	}
	_ = db.Stats()
	if err := db.Close(); err != nil {
		return err
	}
	if db, err = bbolt.Open(path, 0o600, options); err != nil {
		return fmt.Errorf("%w: reopening after bbolt's own commits: %v", errBoltCrashed, err)
	}
	if err := db.View(readEverything); err != nil {
		return fmt.Errorf("%w: after bbolt's own commits: %v", errBoltCrashed, err)
	}
	return db.Close()
}

// readEverything walks every bucket, copies the file and runs bbolt's check.
func readEverything(tx *bbolt.Tx) error {
	if err := tx.ForEach(func(name []byte, b *bbolt.Bucket) error {
		if b == nil {
			return fmt.Errorf("root key %q is not a bucket", name)
		}
		walkBucket(b, 0)
		return nil
	}); err != nil {
		return err
	}
	if _, err := tx.WriteTo(io.Discard); err != nil {
		return err
	}
	var problems []string
	for err := range tx.Check() {
		// Leaked pages are harmless, and so is a damaged header on the
		// meta page bbolt does not use (its check asserts both headers,
		// its transactions neither): Check accepts both.
		if !strings.Contains(err.Error(), "unreachable unfreed") && !unusedMetaHeader.MatchString(err.Error()) {
			problems = append(problems, err.Error())
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: bbolt's Check: %s", errBoltCrashed, strings.Join(problems[:min(len(problems), 5)], "; "))
	}
	return nil
}

// unusedMetaHeader matches what bbolt's check says of a meta page whose
// header is damaged; Check refuses that on the meta page bbolt uses.
var unusedMetaHeader = regexp.MustCompile(`page [01]: has unexpected type/flags|expected to be: [01], but self identifies`)

func walkBucket(b *bbolt.Bucket, depth int) {
	_ = b.Stats()
	c := b.Cursor()
	var sample [][]byte
	n := 0
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if n%13 == 0 {
			sample = append(sample, bytes.Clone(k))
		}
		n++
		if v == nil {
			if sub := b.Bucket(k); sub != nil && depth < 100 {
				walkBucket(sub, depth+1)
			}
		}
	}
	for k, _ := c.Last(); k != nil; k, _ = c.Prev() {
	}
	for _, k := range sample {
		c.Seek(k)
		_ = b.Get(k)
	}
}

// writeEverywhere does what boltsession's writers do to every bucket:
// creates the buckets it needs, deletes every third key (rebalancing the
// trees), adds keys, and deletes nested buckets.
func writeEverywhere(tx *bbolt.Tx) error {
	for _, name := range [][]byte{bucketSessions, bucketExpiry, bucketOwners, bucketMeta} {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil && !errors.Is(err, bolterrors.ErrIncompatibleValue) {
			return err
		}
	}
	return tx.ForEach(func(name []byte, b *bbolt.Bucket) error {
		return writeBucket(b, 0)
	})
}

func writeBucket(b *bbolt.Bucket, depth int) error {
	var keys, subs [][]byte
	c := b.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if v == nil {
			subs = append(subs, bytes.Clone(k))
		} else {
			keys = append(keys, bytes.Clone(k))
		}
	}
	for i, k := range keys {
		if i%3 == 0 {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
	}
	for i := range 50 {
		if err := b.Put([]byte(fmt.Sprintf("new-%03d", i)), bytes.Repeat([]byte{byte(i)}, 100)); err != nil && !errors.Is(err, bolterrors.ErrIncompatibleValue) {
			return err
		}
	}
	for i, k := range subs {
		if i%2 == 1 {
			if err := b.DeleteBucket(k); err != nil {
				return err
			}
		} else if sub := b.Bucket(k); sub != nil && depth < 100 {
			if err := writeBucket(sub, depth+1); err != nil {
				return err
			}
		}
	}
	return nil
}
