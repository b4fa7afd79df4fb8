package reliability_test

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/boltsession/boltsession"
	"github.com/vmihailenco/msgpack/v5"
	bolt "go.etcd.io/bbolt"
)

// TestCorruptRecordGivesThatRequestANewSession writes garbage over one
// stored record and checks issue item 2: the request holding it gets a fresh
// session, the error is logged and counted, nothing panics, other sessions
// are untouched, and iteration and the sweeper skip or remove it and say so.
func TestCorruptRecordGivesThatRequestANewSession(t *testing.T) {
	random := make([]byte, 200)
	rand.Read(random)
	wrongShape, _ := msgpack.Marshal("a string, not a record")
	hugeLen := []byte{0xdf, 0xff, 0xff, 0xff, 0xff} // a map claiming 4G entries
	cases := []struct {
		name    string
		garbage func(valid []byte) []byte
	}{
		{"random bytes", func([]byte) []byte { return random }},
		{"empty", func([]byte) []byte { return []byte{} }},
		{"reserved msgpack byte", func([]byte) []byte { return []byte{0xc1} }},
		{"wrong msgpack shape", func([]byte) []byte { return wrongShape }},
		{"truncated record", func(valid []byte) []byte { return valid[:len(valid)/2] }},
		{"huge length prefix", func([]byte) []byte { return hugeLen }},
		{"one flipped byte", func(valid []byte) []byte {
			b := append([]byte(nil), valid...)
			b[0] ^= 0xff
			return b
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, rigConfig{noSync: true})
			ctx := context.Background()
			victim, victimID := r.login("mallory")
			r.must(http.MethodPost, "/incr", victim)
			bystander, _ := r.login("olive")
			r.must(http.MethodPost, "/incr", bystander)

			r.reopen(func(tx *bolt.Tx) error {
				b := tx.Bucket([]byte("sessions"))
				valid := b.Get(recordKey(victimID))
				if valid == nil {
					return errors.New("victim record missing")
				}
				return b.Put(recordKey(victimID), tc.garbage(append([]byte(nil), valid...)))
			})
			corruptBefore := r.store.Stats().Corrupt

			rep := r.must(http.MethodGet, "/get", victim)
			if !rep.isNew || rep.n != 0 {
				t.Fatalf("request on a corrupt record: %q, want a new empty session", rep.body)
			}
			if got := r.store.Stats().Corrupt; got <= corruptBefore {
				t.Errorf("Stats.Corrupt = %d, not counted (was %d)", got, corruptBefore)
			}
			if logs := r.logs.String(); !strings.Contains(strings.ToLower(logs), "corrupt") {
				t.Errorf("the corrupt record was not logged:\n%s", logs)
			}
			if _, err := r.store.Load(ctx, victimID); !errors.Is(err, boltsession.ErrCorrupt) {
				t.Errorf("Load of the corrupt record: %v, want ErrCorrupt", err)
			}

			// The victim can go on: a write starts a new session.
			rep = r.must(http.MethodPost, "/incr", victim)
			if !rep.isNew || rep.n != 1 || rep.cookie == nil {
				t.Errorf("write after corruption: %q", rep.body)
			}
			assertIssuedIDIsNot(t, r, rep, victimID)
			// The bystander is untouched.
			if rep := r.must(http.MethodGet, "/get", bystander); rep.isNew || rep.n != 1 {
				t.Errorf("bystander session: %q", rep.body)
			}

			// Iteration and owner listing skip it without failing.
			var seen int
			err := r.store.Iterate(ctx, func(rec *boltsession.Record) error {
				if rec.ID == victimID {
					t.Errorf("Iterate returned the corrupt record")
				}
				seen++
				return nil
			})
			if err != nil || seen != 2 {
				t.Errorf("Iterate: %d records, %v; want the bystander and the victim's new session", seen, err)
			}
			if owned, err := r.m.Owned(ctx, "mallory"); err != nil || len(owned) != 0 {
				t.Errorf("Owned(mallory) = %d records, %v", len(owned), err)
			}
			// Logging out everywhere still works for the corrupt owner.
			if _, err := r.m.DestroyOwner(ctx, "mallory"); err != nil {
				t.Errorf("DestroyOwner with a corrupt record: %v", err)
			}

			// Past its expiry, the sweeper removes it and reports it.
			r.clock.Advance(25 * time.Hour)
			res, err := r.store.Sweep(ctx)
			if err != nil {
				t.Fatalf("Sweep: %v", err)
			}
			if res.Corrupt != 1 {
				t.Errorf("SweepResult %+v: want Corrupt 1", res)
			}
			if st := r.store.Stats(); st.LastSweepError != nil || st.Sessions != 0 || st.Expired != 0 {
				t.Errorf("after sweep: %+v", st)
			}
			if _, err := r.store.Load(ctx, victimID); !errors.Is(err, boltsession.ErrNotFound) {
				t.Errorf("corrupt record after sweep: %v", err)
			}
		})
	}
}

// TestSweeperSkipsCorruptRecordsItCannotIndex: a record whose expiry entry
// is gone (so the sweeper never meets it) and whose bytes are garbage stays
// harmless: loads count it, the sweeper keeps working, Count is not thrown.
func TestSweeperKeepsWorkingAroundCorruptRecords(t *testing.T) {
	r := newRig(t, rigConfig{noSync: true})
	ctx := context.Background()
	var cookies []string
	for range 10 {
		c, _ := r.login("pat")
		cookies = append(cookies, c)
	}
	r.reopen(func(tx *bolt.Tx) error {
		// Garbage under IDs no index knows about.
		for i := range 5 {
			junk := make([]byte, 30)
			rand.Read(junk)
			if err := tx.Bucket([]byte("sessions")).Put([]byte{'x', byte(i)}, junk); err != nil {
				return err
			}
		}
		return nil
	})
	r.clock.Advance(25 * time.Hour)
	res, err := r.store.Sweep(ctx)
	if err != nil || res.Swept != 10 {
		t.Fatalf("Sweep = %+v, %v; want the 10 expired sessions swept", res, err)
	}
	var n int
	if err := r.store.Iterate(ctx, func(*boltsession.Record) error { n++; return nil }); err != nil || n != 0 {
		t.Fatalf("Iterate: %d, %v", n, err)
	}
	if st := r.store.Stats(); st.Corrupt < 5 {
		t.Errorf("Iterate over 5 corrupt records counted %d", st.Corrupt)
	}
	for _, c := range cookies {
		if rep := r.must(http.MethodGet, "/get", c); !rep.isNew {
			t.Errorf("expired session still served: %q", rep.body)
		}
	}
}

func TestOpenRefusesFilesThatAreNotSessionFiles(t *testing.T) {
	dir := t.TempDir()
	boltFile := func(name string, fill func(tx *bolt.Tx) error) string {
		p := filepath.Join(dir, name)
		db, err := bolt.Open(p, 0o600, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := db.Update(fill); err != nil {
			t.Fatal(err)
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		return p
	}
	sessionFile := func(name string, edit func(tx *bolt.Tx) error) string {
		p := filepath.Join(dir, name)
		s, err := boltsession.Open(p, &boltsession.BoltOptions{SweepInterval: -1})
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
		db, err := bolt.Open(p, 0o600, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := db.Update(edit); err != nil {
			t.Fatal(err)
		}
		db.Close()
		return p
	}
	version := func(v uint64) func(tx *bolt.Tx) error {
		return func(tx *bolt.Tx) error {
			var b [8]byte
			binary.BigEndian.PutUint64(b[:], v)
			return tx.Bucket([]byte("meta")).Put([]byte("version"), b[:])
		}
	}
	textFile := filepath.Join(dir, "notes.txt")
	os.WriteFile(textFile, []byte(strings.Repeat("not a database\n", 2000)), 0o600)
	randomFile := filepath.Join(dir, "random.bin")
	junk := make([]byte, 64<<10)
	rand.Read(junk)
	os.WriteFile(randomFile, junk, 0o600)

	cases := []struct {
		name string
		path string
		want error // nil: any error with the path in its message
	}{
		{"other application's bbolt file", boltFile("other.db", func(tx *bolt.Tx) error {
			_, err := tx.CreateBucket([]byte("users"))
			return err
		}), boltsession.ErrVersion},
		{"newer format version", sessionFile("newer.db", version(99)), boltsession.ErrVersion},
		{"version zero", sessionFile("zero.db", version(0)), boltsession.ErrVersion},
		{"version unreadable", sessionFile("short.db", func(tx *bolt.Tx) error {
			return tx.Bucket([]byte("meta")).Put([]byte("version"), []byte{1})
		}), boltsession.ErrVersion},
		{"sessions bucket missing", sessionFile("nobucket.db", func(tx *bolt.Tx) error {
			return tx.DeleteBucket([]byte("sessions"))
		}), boltsession.ErrVersion},
		{"text file", textFile, nil},
		{"random bytes", randomFile, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before, _ := os.ReadFile(tc.path)
			s, err := boltsession.Open(tc.path, &boltsession.BoltOptions{SweepInterval: -1, Timeout: 100 * time.Millisecond})
			if err == nil {
				s.Close()
				t.Fatal("Open accepted it")
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Errorf("err = %v, want %v", err, tc.want)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "boltsession:") || !strings.Contains(msg, tc.path) {
				t.Errorf("error does not say what and which file: %q", msg)
			}
			after, _ := os.ReadFile(tc.path)
			if string(before) != string(after) {
				t.Errorf("Open changed a file it refused")
			}
		})
	}
}
