package boltsession_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/boltsession/boltsession"
)

// valueKey returns a distinct 32-byte value key.
func valueKey(n byte) []byte { return bytes.Repeat([]byte{n}, 32) }

// rekeyFile writes n sessions whose values hold a recognisable text, with
// the given value keys (nil: in clear), and returns the path and the texts.
func rekeyFile(t *testing.T, n int, keys [][]byte) (string, []string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "sessions.db")
	s, err := boltsession.Open(path, &boltsession.BoltOptions{SweepInterval: -1, NoSync: true, ValueKeys: keys})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	texts := make([]string, n)
	for i := range n {
		texts[i] = fmt.Sprintf("card-number-%06d", i)
		mustSave(t, s, boltsession.Update{ID: fmt.Sprintf("rekey-%06d", i), Create: true, Expires: time.Now().Add(time.Hour),
			Owner: ptr(fmt.Sprintf("user-%d", i%10)), Set: map[string][]byte{"card": append([]byte{0xb2}, texts[i]...)}})
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return path, texts
}

// inClear returns the texts that the file's bytes hold as they are.
func inClear(t *testing.T, path string, texts []string) []string {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var found []string
	for _, x := range texts {
		if bytes.Contains(raw, []byte(x)) {
			found = append(found, x)
		}
	}
	return found
}

// checkValues loads every session of rekeyFile with the given keys.
func checkValues(t *testing.T, path string, texts []string, keys [][]byte) {
	t.Helper()
	s := openAt(t, path, &boltsession.BoltOptions{ValueKeys: keys})
	defer s.Close()
	for i, x := range texts {
		rec := mustLoad(t, s, fmt.Sprintf("rekey-%06d", i))
		if string(rec.Values["card"][1:]) != x || rec.Owner != fmt.Sprintf("user-%d", i%10) {
			t.Fatalf("session %d after rekey: %+v", i, rec)
		}
	}
}

func TestRekeySealsEveryRecordUnderTheFirstKeyAndASecondRunWritesNothing(t *testing.T) {
	const n = 2500 // three transactions
	path, texts := rekeyFile(t, n, nil)
	if len(inClear(t, path, texts)) != n {
		t.Fatal("the values of a file without ValueKeys are not in clear")
	}
	k1 := valueKey(1)
	s := openAt(t, path, &boltsession.BoltOptions{ValueKeys: [][]byte{k1}})
	var calls []int
	res, err := s.Rekey(context.Background(), func(done, total int) {
		if total != n {
			t.Errorf("progress total %d, want %d", total, n)
		}
		calls = append(calls, done)
	})
	if err != nil || res != (boltsession.RekeyResult{Rewritten: n}) {
		t.Fatalf("Rekey = %+v, %v; want %d rewritten", res, err, n)
	}
	if fmt.Sprint(calls) != "[1000 2000 2500]" {
		t.Fatalf("progress called with %v", calls)
	}
	commits := s.Stats().Commits
	res, err = s.Rekey(context.Background(), nil)
	if err != nil || res != (boltsession.RekeyResult{Unchanged: n}) {
		t.Fatalf("second Rekey = %+v, %v; want all %d unchanged", res, err, n)
	}
	if s.Stats().Commits != commits {
		t.Fatal("a Rekey with nothing to do committed")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// The freed pages still hold the old records until Compact.
	if _, err := boltsession.Compact(path, "", nil); err != nil {
		t.Fatal(err)
	}
	if found := inClear(t, path, texts); len(found) != 0 {
		t.Fatalf("after Rekey and Compact the file holds %d values in clear, e.g. %q", len(found), found[0])
	}
	checkValues(t, path, texts, [][]byte{k1})
	if _, err := boltsession.Open(path, nil); !errors.Is(err, boltsession.ErrKey) {
		t.Fatalf("Open without keys after Rekey: %v, want ErrKey", err)
	}
}

func TestRekeyRotatesToTheFirstKeySoTheOldKeyCanBeDropped(t *testing.T) {
	oldKey, newKey := valueKey(1), valueKey(2)
	path, texts := rekeyFile(t, 1200, [][]byte{oldKey})
	s := openAt(t, path, &boltsession.BoltOptions{ValueKeys: [][]byte{newKey, oldKey}})
	res, err := s.Rekey(context.Background(), nil)
	if err != nil || res.Rewritten != len(texts) || res.Unchanged != 0 || res.Unreadable != 0 {
		t.Fatalf("Rekey = %+v, %v", res, err)
	}
	s.Close()
	checkValues(t, path, texts, [][]byte{newKey})
}

func TestRekeyWithoutValueKeysWritesNothing(t *testing.T) {
	path, _ := rekeyFile(t, 3, nil)
	s := openAt(t, path, nil)
	if _, err := s.Rekey(context.Background(), nil); err == nil {
		t.Fatal("Rekey of a store without ValueKeys succeeded")
	}
	if s.Stats().Commits != 0 {
		t.Fatal("Rekey without keys committed")
	}
}

func TestRekeyLeavesARecordOfAnUnknownKeyAndCountsIt(t *testing.T) {
	k1, k2 := valueKey(1), valueKey(2)
	path, texts := rekeyFile(t, 5, [][]byte{k1})
	rawReplaceWithLostKey(t, path, valueKey(9))
	s := openAt(t, path, &boltsession.BoltOptions{ValueKeys: [][]byte{k2, k1}})
	res, err := s.Rekey(context.Background(), nil)
	if err != nil || res != (boltsession.RekeyResult{Rewritten: len(texts) - 1, Unreadable: 1}) {
		t.Fatalf("Rekey = %+v, %v; want %d rewritten and 1 unreadable", res, err, len(texts)-1)
	}
	if s.Stats().Corrupt == 0 {
		t.Fatal("the unreadable record is not counted in Stats.Corrupt")
	}
	if _, err := s.Load(context.Background(), "rekey-000000"); !errors.Is(err, boltsession.ErrKey) {
		t.Fatalf("the record sealed under the lost key: %v, want ErrKey", err)
	}
}

// rawReplaceWithLostKey replaces the record of rekey-000000 with one
// sealed under the key lost, as a file whose key was thrown away holds it.
func rawReplaceWithLostKey(t *testing.T, path string, lost []byte) {
	t.Helper()
	other := filepath.Join(t.TempDir(), "other.db")
	o := openAt(t, other, &boltsession.BoltOptions{ValueKeys: [][]byte{lost}})
	mustSave(t, o, boltsession.Update{ID: "rekey-000000", Create: true, Expires: time.Now().Add(time.Hour),
		Set: map[string][]byte{"card": {0xa1, 'x'}}})
	o.Close()
	db, err := bbolt.Open(other, 0o600, &bbolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	var sealed []byte
	_ = db.View(func(tx *bbolt.Tx) error {
		sealed = bytes.Clone(tx.Bucket([]byte("sessions")).Get(boltsession.KeyOf("rekey-000000")))
		return nil
	})
	db.Close()
	if len(sealed) == 0 {
		t.Fatal("no record to copy")
	}
	rawUpdate(t, path, func(tx *bbolt.Tx) error {
		return tx.Bucket([]byte("sessions")).Put(boltsession.KeyOf("rekey-000000"), sealed)
	})
}

func TestRekeyInterruptedThenRunAgainFinishes(t *testing.T) {
	path, texts := rekeyFile(t, 2500, nil)
	k1 := valueKey(1)
	s := openAt(t, path, &boltsession.BoltOptions{ValueKeys: [][]byte{k1}})
	ctx, cancel := context.WithCancel(context.Background())
	_, err := s.Rekey(ctx, func(done, total int) { cancel() })
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled Rekey: %v", err)
	}
	s.Close()
	checkValues(t, path, texts, [][]byte{k1}) // every record readable half way
	s = openAt(t, path, &boltsession.BoltOptions{ValueKeys: [][]byte{k1}})
	res, err := s.Rekey(context.Background(), nil)
	if err != nil || res.Rewritten != 1500 || res.Unchanged != 1000 {
		t.Fatalf("second Rekey = %+v, %v; want 1500 rewritten, 1000 unchanged", res, err)
	}
}

func TestRekeyAlongsideSavesLosesNoSave(t *testing.T) {
	path, texts := rekeyFile(t, 1500, nil)
	k1 := valueKey(1)
	s := openAt(t, path, &boltsession.BoltOptions{ValueKeys: [][]byte{k1}})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := w; i < len(texts); i += 4 {
				mustSave(t, s, boltsession.Update{ID: fmt.Sprintf("rekey-%06d", i), Set: map[string][]byte{"seen": {0x01}}})
			}
		})
	}
	res, err := s.Rekey(context.Background(), nil)
	wg.Wait()
	if err != nil || res.Rewritten+res.Unchanged != len(texts) {
		t.Fatalf("Rekey = %+v, %v", res, err)
	}
	res, err = s.Rekey(context.Background(), nil)
	if err != nil || res.Unchanged != len(texts) {
		t.Fatalf("after the saves, a second Rekey = %+v, %v; want every record sealed under the first key", res, err)
	}
	for i := range texts {
		rec := mustLoad(t, s, fmt.Sprintf("rekey-%06d", i))
		if string(rec.Values["seen"]) != "\x01" || string(rec.Values["card"][1:]) != texts[i] {
			t.Fatalf("session %d lost a value: %+v", i, rec.Values)
		}
	}
}

func TestDecryptWritesEveryRecordInClearAndUnmarksTheFile(t *testing.T) {
	k1 := valueKey(1)
	path, texts := rekeyFile(t, 2100, [][]byte{k1})
	if found := inClear(t, path, texts); len(found) != 0 {
		t.Fatalf("a sealed file holds %q in clear", found[0])
	}
	if _, err := boltsession.Decrypt(context.Background(), path, nil, nil); !errors.Is(err, boltsession.ErrKey) {
		t.Fatalf("Decrypt without the keys: %v, want ErrKey", err)
	}
	res, err := boltsession.Decrypt(context.Background(), path, &boltsession.BoltOptions{ValueKeys: [][]byte{k1}}, nil)
	if err != nil || res != (boltsession.RekeyResult{Rewritten: len(texts)}) {
		t.Fatalf("Decrypt = %+v, %v", res, err)
	}
	checkValues(t, path, texts, nil) // opens without keys
	res, err = boltsession.Decrypt(context.Background(), path, nil, nil)
	if err != nil || res != (boltsession.RekeyResult{Unchanged: len(texts)}) {
		t.Fatalf("second Decrypt = %+v, %v; want all unchanged", res, err)
	}
}

func TestDecryptKeepsTheMarkWhileARecordStaysSealed(t *testing.T) {
	lost, k1 := valueKey(9), valueKey(1)
	path, texts := rekeyFile(t, 4, [][]byte{k1})
	rawReplaceWithLostKey(t, path, lost)
	opts := &boltsession.BoltOptions{ValueKeys: [][]byte{k1}}
	res, err := boltsession.Decrypt(context.Background(), path, opts, nil)
	handle := boltsession.Handle("rekey-000000")
	if !errors.Is(err, boltsession.ErrKey) || res.Rewritten != len(texts)-1 || res.Unreadable != 1 || !bytes.Contains([]byte(err.Error()), []byte(handle)) {
		t.Fatalf("Decrypt = %+v, %v; want ErrKey naming %s after rewriting the others", res, err, handle)
	}
	if _, err := boltsession.Open(path, nil); !errors.Is(err, boltsession.ErrKey) {
		t.Fatalf("the file opens without keys while a record is sealed: %v", err)
	}
	s := openAt(t, path, opts)
	if err := s.DeleteHandle(context.Background(), handle); err != nil {
		t.Fatal(err)
	}
	s.Close()
	res, err = boltsession.Decrypt(context.Background(), path, opts, nil)
	if err != nil || res.Unchanged != len(texts)-1 {
		t.Fatalf("Decrypt after deleting the sealed record = %+v, %v", res, err)
	}
	s = openAt(t, path, nil) // no keys needed now
	for i := 1; i < len(texts); i++ {
		if rec := mustLoad(t, s, fmt.Sprintf("rekey-%06d", i)); string(rec.Values["card"][1:]) != texts[i] {
			t.Fatalf("session %d: %+v", i, rec.Values)
		}
	}
}
