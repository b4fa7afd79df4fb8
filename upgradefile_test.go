package boltsession

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"
)

// writeVersion2File writes a session file as release 2 did: buckets
// sessions, expiry, owners, replaced and meta, format version 2, records
// (checksummed) and index entries keyed by session ID.
func writeVersion2File(t *testing.T, path string, n int) {
	t.Helper()
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	now := time.Now()
	err = db.Update(func(tx *bbolt.Tx) error {
		for _, name := range [][]byte{bucketSessions, bucketExpiry, bucketOwners, bucketReplaced, bucketMeta} {
			if _, err := tx.CreateBucket(name); err != nil {
				return err
			}
		}
		if err := tx.Bucket(bucketMeta).Put(keyVersion, binary.BigEndian.AppendUint64(nil, 2)); err != nil {
			return err
		}
		for i := range n {
			id := fmt.Sprintf("v2-session-%05d", i)
			rec := &Record{Created: now, Expires: now.Add(time.Hour), Owner: fmt.Sprintf("u%d", i%3),
				Values: map[string][]byte{"n": {byte(i)}}}
			raw, err := encodeRecord(rec)
			if err != nil {
				return err
			}
			if err := errors.Join(
				tx.Bucket(bucketSessions).Put([]byte(id), raw),
				tx.Bucket(bucketExpiry).Put(expiryKey(rec.Expires, []byte(id)), nil),
				tx.Bucket(bucketOwners).Put(ownerKey(rec.Owner, []byte(id)), nil),
			); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestUpgradeConvertsAVersion2FileAndThenFindsItCurrent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "v2.db")
	const n = 2300
	writeVersion2File(t, path, n)
	res, err := Upgrade(path, nil)
	want := UpgradeResult{FromVersion: 2, Version: formatVersion, Converted: true, Sessions: n}
	if err != nil || res != want {
		t.Fatalf("Upgrade = %+v, %v; want %+v", res, err, want)
	}
	s, err := Open(path, &BoltOptions{SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		rec, err := s.Load(context.Background(), fmt.Sprintf("v2-session-%05d", i))
		if err != nil || rec.Values["n"][0] != byte(i) {
			t.Fatalf("session %d after Upgrade: %+v, %v", i, rec, err)
		}
	}
	if owned, err := s.Owned(context.Background(), "u1"); err != nil || len(owned) != (n+1)/3 {
		t.Fatalf("Owned(u1) after Upgrade: %d, %v", len(owned), err)
	}
	s.Close()

	res, err = Upgrade(path, nil)
	want = UpgradeResult{FromVersion: formatVersion, Version: formatVersion, Sessions: n}
	if err != nil || res != want {
		t.Fatalf("Upgrade of a current file = %+v, %v; want %+v", res, err, want)
	}
}

func TestUpgradeFinishesAConversionAKilledProcessBegan(t *testing.T) {
	path := filepath.Join(t.TempDir(), "v2.db")
	writeVersion2File(t, path, 1500)
	// What a process killed after step 1 and the first chunk leaves.
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(setAsideLegacy)
	if err == nil {
		err = db.Update(func(tx *bbolt.Tx) error { _, _, err := upgradeChunkTx(tx); return err })
	}
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	res, err := Upgrade(path, nil)
	want := UpgradeResult{FromVersion: legacyVersion, Version: formatVersion, Converted: true, Resumed: true, Sessions: 1500}
	if err != nil || res != want {
		t.Fatalf("Upgrade = %+v, %v; want %+v", res, err, want)
	}
}

func TestUpgradeRefusesWhatIsNotASessionFileAndCreatesNothing(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.db")
	if _, err := Upgrade(missing, nil); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Upgrade of a missing file: %v, want fs.ErrNotExist", err)
	}
	if _, err := os.Stat(missing); !errors.Is(err, fs.ErrNotExist) {
		t.Fatal("Upgrade created a missing file")
	}

	foreign := filepath.Join(dir, "foreign.db")
	db, err := bbolt.Open(foreign, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	db.Close() // a bbolt file with no bucket at all: Open would make it a session file
	before, _ := os.ReadFile(foreign)
	if _, err := Upgrade(foreign, nil); !errors.Is(err, ErrVersion) {
		t.Fatalf("Upgrade of an empty bbolt file: %v, want ErrVersion", err)
	}
	if after, _ := os.ReadFile(foreign); string(after) != string(before) {
		t.Fatal("Upgrade wrote to a file that is not a session file")
	}

	text := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(text, []byte("not a database, not at all, really not\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Upgrade(text, nil); !errors.Is(err, ErrVersion) {
		t.Fatalf("Upgrade of a text file: %v, want ErrVersion", err)
	}
}
