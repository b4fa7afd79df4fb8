package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/boltsession/boltsession"
	bbolt "go.etcd.io/bbolt"
)

// valueKey returns a distinct 32-byte value key.
func valueKey(n byte) []byte { return bytes.Repeat([]byte{n}, 32) }

// writeValueKeys writes a value keys file (mode 0600) holding keys, the
// first sealing, and returns its path.
func writeValueKeys(t testing.TB, keys ...[]byte) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("# value keys: the first seals\n")
	for _, k := range keys {
		b.WriteString(base64.StdEncoding.EncodeToString(k) + "\n")
	}
	path := filepath.Join(t.TempDir(), "value-keys")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// sealedFile is standardFile with its values sealed under key.
func sealedFile(t testing.TB, key []byte) string {
	t.Helper()
	return makeSealedFile(t, [][]byte{key},
		session{id: alpha1, owner: "user-1", expires: now.Add(time.Hour), values: map[string]any{"card": "4111-1111"}},
		session{id: beta3, expires: now.Add(time.Hour), values: map[string]any{"token": "tok-secret"}})
}

// newID makes a session ID as the Manager's default does: 256 random
// bits, base64url.
func newID(t testing.TB) string {
	t.Helper()
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// noneIn fails the test if any of the secrets appears in data, saying
// where data came from.
func noneIn(t *testing.T, where string, data []byte, secrets []string) {
	t.Helper()
	for _, x := range secrets {
		if bytes.Contains(data, []byte(x)) {
			t.Fatalf("%s holds %q", where, x)
		}
	}
}

func fileBytes(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestOperatorsWorkByHandleAndNoSessionIDLeavesTheFile goes through what an
// operator does with a file an app wrote: list, show, remove by ID and by
// cookie, export, import, encrypt the values and decrypt them again. No
// output, export or file holds a session ID, and, once encrypted, no value.
func TestOperatorsWorkByHandleAndNoSessionIDLeavesTheFile(t *testing.T) {
	const n = 12
	ids := make([]string, n)
	values := make([]string, n)
	var sessions []session
	for i := range n {
		ids[i] = newID(t)
		values[i] = fmt.Sprintf("value-in-clear-%02d", i)
		sessions = append(sessions, session{id: ids[i], owner: fmt.Sprintf("user-%d", i%3), expires: now.Add(time.Hour),
			values: map[string]any{"secret": values[i]}})
	}
	path := makeFile(t, sessions...)
	noneIn(t, "the session file", fileBytes(t, path), ids)
	var outputs bytes.Buffer // everything the commands printed
	run := func(stdin string, code int, args ...string) result {
		t.Helper()
		r := cli(t, stdin, args...)
		if r.code != code {
			t.Fatalf("boltsession %q: exit %d, want %d\nstdout: %s\nstderr: %s", args, r.code, code, r.stdout, r.stderr)
		}
		outputs.WriteString(r.stdout + r.stderr)
		return r
	}

	// ls names every session by its handle.
	r := run("", 0, "ls", path, "--json")
	var listed []string
	for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		var l lsJSON
		if err := json.Unmarshal([]byte(line), &l); err != nil {
			t.Fatal(err)
		}
		listed = append(listed, l.Handle)
	}
	for _, id := range ids {
		if !strings.Contains(strings.Join(listed, " "), boltsession.Handle(id)) {
			t.Fatalf("ls --json does not list the handle of a session: %q", listed)
		}
	}
	run("", 0, "ls", path).expect(t, 0, short(ids[0]))
	run("", 0, "show", path, short(ids[0])).expect(t, 0, "handle    "+boltsession.Handle(ids[0]), `"`+values[0]+`"`)

	// rm by the ID (from a log line or a user), and by the cookie a
	// browser holds: a boltsession cookie with the app's key file or key
	// variable, an express-session one without a key.
	run("", 0, "rm", path, "--id", "--", ids[0]).expect(t, 0, "removed 1 session from "+path)
	keyFile := filepath.Join(t.TempDir(), "sessions.db.key")
	key, err := boltsession.LoadOrCreateKey(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	codec, err := boltsession.SecureCookie(key)
	if err != nil {
		t.Fatal(err)
	}
	cookie1, err := codec.Encode("sid", ids[1])
	if err != nil {
		t.Fatal(err)
	}
	appCookie, err := codec.Encode("app_session", ids[2])
	if err != nil {
		t.Fatal(err)
	}
	wrong, err := boltsession.SecureCookie(bytes.Repeat([]byte{7}, 64))
	if err != nil {
		t.Fatal(err)
	}
	forged, err := wrong.Encode("sid", ids[3])
	if err != nil {
		t.Fatal(err)
	}
	run("", 1, "rm", path, "--cookie", "--key-file", keyFile, forged).expect(t, 1, "cookie value 1: does not verify")
	run("", 1, "rm", path, "--cookie", "--key-file", keyFile, appCookie).expect(t, 1, "does not verify")
	run("", 0, "rm", path, "--cookie", "--key-file", keyFile, `"`+cookie1+`"`).expect(t, 0, "removed 1 session")
	t.Setenv("BOLTSESSION_TEST_COOKIE_KEY", base64.StdEncoding.EncodeToString(key))
	run("", 0, "rm", path, "--cookie", "--key-env", "BOLTSESSION_TEST_COOKIE_KEY", "--cookie-name", "app_session", appCookie).
		expect(t, 0, "removed 1 session")
	express := "s%3A" + ids[3] + ".c2lnbmF0dXJlLW5vdC1jaGVja2Vk"
	run("", 0, "rm", path, "--cookie", express, "s:"+ids[4]+".sig", "--json").expect(t, 0, `"removed":2`)
	if n := len(records(t, path)); n != len(ids)-5 {
		t.Fatalf("%d sessions left, want %d", n, len(ids)-5)
	}
	ids, values = ids[5:], values[5:]

	// export names sessions by handle: no ID in it; import reproduces them,
	// and the app finds each by its ID.
	jsonl := filepath.Join(t.TempDir(), "sessions.jsonl")
	run("", 0, "export", path, "--out", jsonl)
	noneIn(t, "the export", fileBytes(t, jsonl), ids)
	if !bytes.Contains(fileBytes(t, jsonl), []byte(`"handle":"`+boltsession.Handle(ids[0])+`"`)) {
		t.Fatalf("the export does not name a session by its handle:\n%s", fileBytes(t, jsonl))
	}
	copyPath := filepath.Join(t.TempDir(), "copy.db")
	run("", 0, "import", copyPath, "--in", jsonl).expect(t, 0, fmt.Sprintf("imported %d sessions", len(ids)))
	assertSameRecords(t, records(t, copyPath), records(t, path))
	loadEach(t, copyPath, ids, values, nil)

	// rekey seals every value: none left in clear anywhere in the file.
	k1 := valueKey(1)
	keys := writeValueKeys(t, k1)
	run("", 0, "rekey", path, "--value-keys-file", keys).
		expect(t, 0, fmt.Sprintf("resealed %d records of %s under the first value key (0 already were, 0 unreadable)", len(ids), path))
	noneIn(t, "the file after rekey", fileBytes(t, path), values)
	noneIn(t, "the file after rekey", fileBytes(t, path), ids)
	r = run("", 1, "ls", path)
	r.expect(t, 1, path+": its session values are encrypted", "--value-keys-file")
	r.oneLineError(t)
	run("", 0, "show", path, short(ids[0]), "--value-keys-file", keys).expect(t, 0, `"`+values[0]+`"`)
	run("", 0, "rekey", path, "--value-keys-file", keys, "--json").expect(t, 0, fmt.Sprintf(`"rewritten":0,"unchanged":%d,`, len(ids)))
	// The export of a sealed file holds the values decrypted.
	run("", 0, "export", path, "--out", jsonl, "--value-keys-file", keys)
	sealedCopy := filepath.Join(t.TempDir(), "sealed-copy.db")
	run("", 0, "import", sealedCopy, "--in", jsonl, "--value-keys-file", keys)
	noneIn(t, "a file imported with value keys", fileBytes(t, sealedCopy), values)
	loadEach(t, sealedCopy, ids, values, [][]byte{k1})

	// rekey --decrypt: every value back in clear, the file opens without keys.
	run("", 0, "rekey", path, "--decrypt", "--value-keys-file", keys).
		expect(t, 0, fmt.Sprintf("wrote %d records of %s in clear (0 already were, 0 unreadable); it opens without value keys now", len(ids), path))
	run("", 0, "show", path, short(ids[0])).expect(t, 0, `"`+values[0]+`"`)
	loadEach(t, path, ids, values, nil)
	run("", 0, "rekey", path, "--decrypt", "--json").expect(t, 0, fmt.Sprintf(`"rewritten":0,"unchanged":%d,`, len(ids)))

	noneIn(t, "the commands' output", outputs.Bytes(), ids)
}

// loadEach opens the file as the app does and loads every session by its
// ID.
func loadEach(t *testing.T, path string, ids, values []string, valueKeys [][]byte) {
	t.Helper()
	s, err := boltsession.Open(path, &boltsession.BoltOptions{SweepInterval: -1, ValueKeys: valueKeys})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i, id := range ids {
		rec, err := s.Load(context.Background(), id)
		if err != nil || !bytes.Contains(rec.Values["secret"], []byte(values[i])) {
			t.Fatalf("Load of session %d of %s: %+v, %v", i, path, rec, err)
		}
	}
}

func TestRekeyRotatesToTheNewKeyAndTheOldKeyCanGo(t *testing.T) {
	oldKey, newKey := valueKey(1), valueKey(2)
	path := sealedFile(t, oldKey)
	cli(t, "", "rekey", path, "--value-keys-file", writeValueKeys(t, newKey, oldKey)).expect(t, 0, "resealed 2 records")
	only := writeValueKeys(t, newKey)
	cli(t, "", "show", path, short(alpha1), "--value-keys-file", only).expect(t, 0, `"4111-1111"`)
	// The old key opens nothing now: every record is listed as such.
	r := cli(t, "", "ls", path, "--value-keys-file", writeValueKeys(t, oldKey))
	r.expect(t, 1, "listed 2 session records that do not open with the value keys given")
	if !strings.Contains(r.stdout, "NO KEY") {
		t.Fatalf("ls does not mark records it cannot open:\n%s", r.stdout)
	}
}

func TestRekeyDecryptKeepsTheMarkWhileARecordStaysSealed(t *testing.T) {
	k1 := valueKey(1)
	path := sealedFile(t, k1)
	// One record sealed under a key that is not given.
	other := makeSealedFile(t, [][]byte{valueKey(9)}, session{id: beta3, expires: now.Add(time.Hour), values: map[string]any{"x": 1}})
	var sealed []byte
	withBolt(t, other, func(tx *bbolt.Tx) error {
		sealed = bytes.Clone(tx.Bucket([]byte("sessions")).Get(handleKey(t, beta3)))
		return nil
	})
	withBolt(t, path, func(tx *bbolt.Tx) error {
		return tx.Bucket([]byte("sessions")).Put(handleKey(t, beta3), sealed)
	})
	keys := writeValueKeys(t, k1)
	r := cli(t, "", "rekey", path, "--decrypt", "--value-keys-file", keys)
	r.expect(t, 1, "1 record does not open with the value keys given, so the file keeps its mark")
	if !strings.Contains(r.stdout, "wrote 1 record of "+path+" in clear (0 already were, 1 unreadable); it still opens only with value keys") {
		t.Fatalf("rekey --decrypt printed %q", r.stdout)
	}
	r.oneLineError(t)
	cli(t, "", "ls", path).expect(t, 1, "its session values are encrypted")
	cli(t, "", "rm", path, short(beta3), "--value-keys-file", keys).expect(t, 0, "removed 1 session")
	cli(t, "", "rekey", path, "--decrypt", "--value-keys-file", keys).expect(t, 0, "(1 already were, 0 unreadable); it opens without value keys now")
	cli(t, "", "ls", path).expect(t, 0, short(alpha1))
}

func TestCompactNeedsNoValueKeys(t *testing.T) {
	path := sealedFile(t, valueKey(1))
	cli(t, "", "compact", path).expect(t, 0, "compacted "+path)
	cli(t, "", "show", path, short(alpha1), "--value-keys-file", writeValueKeys(t, valueKey(1))).expect(t, 0, `"4111-1111"`)
}

func withBolt(t *testing.T, path string, fn func(*bbolt.Tx) error) {
	t.Helper()
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(fn); err != nil {
		t.Fatal(err)
	}
}

// version2IDs are the sessions of version2File: the first two of owner
// u1, the last replaced by the first (a regenerated session, its marker
// kept).
var version2IDs = []string{"v2-first-session-id-0000000000000000000000", "v2-second-session-id-000000000000000000000", "v2-third-session-id-0000000000000000000000"}

// version2File writes a session file as the release before handles did
// (format version 2): buckets sessions, expiry, owners, replaced and meta,
// every record and index entry keyed by the session ID. Records themselves
// did not change with version 3 (a record does not hold its ID), so they
// are taken as the library writes them, from a file of its own.
func version2File(t testing.TB) string {
	t.Helper()
	expires := now.Add(time.Hour).Truncate(time.Second)
	src := makeFile(t,
		session{id: version2IDs[0], owner: "u1", expires: expires, values: map[string]any{"n": 0}},
		session{id: version2IDs[1], owner: "u1", expires: expires, values: map[string]any{"n": 1}})
	raw := map[string][]byte{}
	db, err := bbolt.Open(src, 0o600, &bbolt.Options{Timeout: time.Second, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	_ = db.View(func(tx *bbolt.Tx) error {
		for _, id := range version2IDs[:2] {
			raw[id] = bytes.Clone(tx.Bucket([]byte("sessions")).Get(handleKey(t, id)))
		}
		return nil
	})
	db.Close()

	path := filepath.Join(t.TempDir(), "v2.db")
	db, err = bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	be := func(n uint64) []byte { return binary.BigEndian.AppendUint64(nil, n) }
	err = db.Update(func(tx *bbolt.Tx) error {
		b := map[string]*bbolt.Bucket{}
		for _, name := range []string{"sessions", "expiry", "owners", "replaced", "meta"} {
			var err error
			if b[name], err = tx.CreateBucket([]byte(name)); err != nil {
				return err
			}
		}
		errs := []error{b["meta"].Put([]byte("version"), be(2))}
		for _, id := range version2IDs[:2] {
			errs = append(errs,
				b["sessions"].Put([]byte(id), raw[id]),
				b["expiry"].Put(append(be(uint64(expires.UnixNano())), id...), nil),
				b["owners"].Put(append([]byte("u1\x00"), id...), nil))
		}
		// The third session was regenerated into the first: its marker
		// ('i' ‖ old ID → until ‖ new ID, and 'e' ‖ until ‖ old ID).
		until := be(uint64(expires.UnixNano()))
		errs = append(errs,
			b["replaced"].Put(append([]byte("i"), version2IDs[2]...), append(until, version2IDs[0]...)),
			b["replaced"].Put(append(append([]byte("e"), until...), version2IDs[2]...), nil))
		return errors.Join(errs...)
	})
	if err != nil {
		t.Fatal(err)
	}
	return path
}

func TestUpgradeConvertsAVersion2FileAndEverySessionLoadsByItsID(t *testing.T) {
	path := version2File(t)
	if !bytes.Contains(fileBytes(t, path), []byte(version2IDs[0])) {
		t.Fatal("the version 2 file does not hold its IDs: the test builds it wrong")
	}
	r := cli(t, "", "upgrade", path)
	r.expect(t, 0, "converted "+path+" from format version 2 to 3: 2 sessions (0 expired, not yet swept), each now keyed by its handle")
	noneIn(t, "the converted file", fileBytes(t, path), version2IDs)

	s, err := boltsession.Open(path, &boltsession.BoltOptions{SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i, id := range version2IDs[:2] {
		rec, err := s.Load(ctx, id)
		if err != nil || rec.Owner != "u1" || !bytes.Equal(rec.Values["n"], mustMsgpack(t, i)) {
			t.Fatalf("session %d after upgrade: %+v, %v", i, rec, err)
		}
	}
	if owned, err := s.Owned(ctx, "u1"); err != nil || len(owned) != 2 {
		t.Fatalf("Owned(u1) after upgrade: %d sessions, %v", len(owned), err)
	}
	// The marker moved too: a logout through the replaced ID ends its
	// successor.
	if err := s.Delete(ctx, version2IDs[2]); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Load(ctx, version2IDs[0]); !errors.Is(err, boltsession.ErrNotFound) {
		t.Fatalf("the successor of the replaced session after its logout: %v", err)
	}
	s.Close()

	r = cli(t, "", "upgrade", path, "--json")
	r.expect(t, 0)
	var got upgradeJSON
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatal(err)
	}
	if got != (upgradeJSON{File: path, FromVersion: 3, FormatVersion: 3, Sessions: 1}) {
		t.Fatalf("upgrade of a current file: %+v", got)
	}
	cli(t, "", "upgrade", path).expect(t, 0, path+" is at format version 3 already: nothing to convert (1 session, 0 expired)")
}

func TestUpgradeRefusesWhatIsNotASessionFile(t *testing.T) {
	dir := t.TempDir()
	foreign := filepath.Join(dir, "foreign.db")
	db, err := bbolt.Open(foreign, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	for _, c := range []struct{ path, want string }{
		{foreign, foreign + ": not a session file"},
		{filepath.Join(dir, "missing.db"), "missing.db: no such file"},
	} {
		r := cli(t, "", "upgrade", c.path)
		r.expect(t, 1, c.want)
		r.oneLineError(t)
	}
	if _, err := os.Stat(filepath.Join(dir, "missing.db")); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("upgrade created a missing file")
	}
}
