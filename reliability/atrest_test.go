package reliability_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/boltsession/boltsession"
	bolt "go.etcd.io/bbolt"
)

// previousReleaseFile writes a session file as the previous release (format
// version 2) wrote it: n sessions keyed by their IDs, the expiry and owner
// indexes keyed by ID too. It makes the file with this release, then moves
// every record under its ID: a record does not hold its key, so its bytes
// are the same in both versions.
func previousReleaseFile(t *testing.T, n int) (path string, ids []string) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "sessions.db")
	s, err := boltsession.Open(path, &boltsession.BoltOptions{SweepInterval: -1, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	exp := time.Now().Add(24 * time.Hour)
	owner := func(i int) string { return fmt.Sprint("owner-", i%50) }
	for i := range n {
		ids = append(ids, fmt.Sprintf("u%05d-%s", i, strings.Repeat("x", 30)))
	}
	if _, err := s.Restore(context.Background(), func(yield func(*boltsession.Record, error) bool) {
		for i, id := range ids {
			if !yield(&boltsession.Record{ID: id, Expires: exp, Owner: owner(i), Values: map[string][]byte{"n": {byte(i)}}}, nil) {
				return
			}
		}
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Update(func(tx *bolt.Tx) error {
		raw := make([][]byte, n)
		for i, id := range ids {
			raw[i] = bytes.Clone(tx.Bucket([]byte("sessions")).Get(recordKey(id)))
		}
		b := map[string]*bolt.Bucket{}
		for _, name := range []string{"sessions", "expiry", "owners", "replaced"} {
			if err := tx.DeleteBucket([]byte(name)); err != nil {
				return err
			}
			var err error
			if b[name], err = tx.CreateBucket([]byte(name)); err != nil {
				return err
			}
		}
		for i, id := range ids {
			ek := binary.BigEndian.AppendUint64(nil, uint64(exp.UnixNano()))
			if err := errorsJoin(
				b["sessions"].Put([]byte(id), raw[i]),
				b["expiry"].Put(append(ek, id...), nil),
				b["owners"].Put(append([]byte(owner(i)+"\x00"), id...), nil),
			); err != nil {
				return err
			}
		}
		return tx.Bucket([]byte("meta")).Put([]byte("version"), binary.BigEndian.AppendUint64(nil, 2))
	})
	if err != nil {
		t.Fatal(err)
	}
	return path, ids
}

// TestUpgradeKilledAtAnyPointLeavesEverySessionReachable converts a file
// of the previous release (sessions keyed by ID) while the process that
// converts it is killed (SIGKILL) at a random moment, 15 times: each time
// the file opens afterwards, the conversion finishes, and every session
// loads by its ID, with its owner, and the file holds none of the IDs,
// freed pages included.
func TestUpgradeKilledAtAnyPointLeavesEverySessionReachable(t *testing.T) {
	bin, err := buildCrashServer()
	if err != nil {
		t.Fatal(err)
	}
	base, ids := previousReleaseFile(t, 8000)
	orig, err := os.ReadFile(base)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(5, 6))
	midway, unscrubbed := 0, 0
	for round := range 15 {
		path := filepath.Join(t.TempDir(), "sessions.db")
		if err := os.WriteFile(path, orig, 0o600); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bin, "-db", path, "-key", hex.EncodeToString(bytes.Repeat([]byte{1}, 32)))
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(rng.IntN(400)) * time.Millisecond)
		cmd.Process.Kill()
		cmd.Wait()

		// Did the kill land during the conversion? (The old buckets are
		// set aside in a bucket of their own until it ends.)
		db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
		if err != nil {
			t.Fatalf("round %d: the killed conversion left a file bbolt cannot open: %v", round, err)
		}
		_ = db.View(func(tx *bolt.Tx) error {
			switch {
			case tx.Bucket([]byte("v2")) != nil:
				midway++
			case tx.Bucket([]byte("meta")).Get([]byte("scrub")) != nil:
				unscrubbed++ // converted, not yet compacted
			}
			return nil
		})
		db.Close()

		s, err := boltsession.Open(path, &boltsession.BoltOptions{SweepInterval: -1})
		if err != nil {
			t.Fatalf("round %d: Open after the kill: %v", round, err)
		}
		ctx := context.Background()
		for i, id := range ids {
			rec, err := s.Load(ctx, id)
			if err != nil || rec.Values["n"][0] != byte(i) || rec.Owner != fmt.Sprint("owner-", i%50) {
				t.Fatalf("round %d: session %d after the killed conversion: %+v, %v", round, i, rec, err)
			}
		}
		if owned, err := s.Owned(ctx, "owner-7"); err != nil || len(owned) != len(ids)/50 {
			t.Fatalf("round %d: Owned(owner-7) = %d, %v", round, len(owned), err)
		}
		s.Close()
		// The Open that finished the conversion compacted the file: no
		// freed page keeps an ID.
		after, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range ids {
			if bytes.Contains(after, []byte(id)) {
				t.Fatalf("round %d: the converted file still holds the ID %q", round, id)
			}
		}
	}
	t.Logf("15 kills, %d of them during the conversion, %d after it and before its compaction: every session reachable after each, no ID left in the file",
		midway, unscrubbed)
	if midway == 0 {
		t.Error("no kill landed during the conversion: the test checked nothing")
	}
}

// TestNothingAtRestSignsAnyoneIn signs 100 users in through the middleware,
// then reads every byte of the session file and of a backup of it: none
// holds a session ID or a cookie value, so a stolen file or backup cannot
// be used to sign in. With ValueKeys, no value is there in clear either.
func TestNothingAtRestSignsAnyoneIn(t *testing.T) {
	for _, sealed := range []bool{false, true} {
		t.Run(fmt.Sprintf("ValueKeys=%v", sealed), func(t *testing.T) {
			var keys [][]byte
			if sealed {
				keys = [][]byte{bytes.Repeat([]byte{9}, 32)}
			}
			path := filepath.Join(t.TempDir(), "sessions.db")
			s, err := boltsession.Open(path, &boltsession.BoltOptions{SweepInterval: -1, ValueKeys: keys})
			if err != nil {
				t.Fatal(err)
			}
			m, err := boltsession.New(s, boltsession.Options{Keys: [][]byte{bytes.Repeat([]byte{3}, 32)}})
			if err != nil {
				t.Fatal(err)
			}
			mux := http.NewServeMux()
			mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
				sess := boltsession.FromContext(r.Context())
				user := r.FormValue("user")
				if err := errorsJoin(sess.Regenerate(), sess.Set("secret", "secret-of-"+user), sess.SetOwner(user)); err != nil {
					http.Error(w, err.Error(), 500)
					return
				}
				fmt.Fprint(w, sess.ID())
			})
			srv := httptest.NewServer(m.Middleware(mux))
			defer srv.Close()
			var ids, cookies, values []string
			for i := range 100 {
				jar, _ := cookiejar.New(nil)
				c := &http.Client{Jar: jar}
				user := fmt.Sprintf("user%03d", i)
				resp, err := c.PostForm(srv.URL+"/login", map[string][]string{"user": {user}})
				if err != nil {
					t.Fatal(err)
				}
				var id bytes.Buffer
				id.ReadFrom(resp.Body)
				resp.Body.Close()
				for _, ck := range resp.Cookies() {
					cookies = append(cookies, ck.Value)
				}
				ids = append(ids, id.String())
				values = append(values, "secret-of-"+user)
			}
			var backup bytes.Buffer
			if _, err := s.WriteTo(&backup); err != nil {
				t.Fatal(err)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			file, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			for name, data := range map[string][]byte{"the file": file, "the backup": backup.Bytes()} {
				for i := range ids {
					if len(ids[i]) < 20 || bytes.Contains(data, []byte(ids[i])) {
						t.Fatalf("%s holds session ID %q", name, ids[i])
					}
					if bytes.Contains(data, []byte(cookies[i])) {
						t.Fatalf("%s holds cookie value %q", name, cookies[i])
					}
					if sealed && bytes.Contains(data, []byte(values[i])) {
						t.Fatalf("%s holds the sealed value %q in clear", name, values[i])
					}
				}
			}
			if !sealed && !bytes.Contains(file, []byte(values[0])) {
				t.Fatal("without ValueKeys the values should be in the file: the search is broken")
			}
		})
	}
}

func errorsJoin(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
