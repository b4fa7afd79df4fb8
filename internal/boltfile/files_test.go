package boltfile

import (
	"encoding/base64"
	"encoding/binary"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"
)

// fileSpec describes a session file to build: boltsession's layout (records
// under sessions, index entries under expiry and owners, a format version
// under meta), written over many transactions so that it has free pages,
// split and merged trees.
type fileSpec struct {
	name        string
	pageSize    int // 0: bbolt's default, the OS page size
	sessions    int
	deleteEvery int  // delete every n-th session afterwards (0: none)
	bigValues   bool // every 50th record spans overflow pages
	extras      bool // a nested bucket and a second inline one, which boltsession does not write
	noFreelist  bool // written with NoFreelistSync
	seed        uint64
}

// validSpecs are the valid files the tests start from.
var validSpecs = []fileSpec{
	{name: "new", sessions: 0},
	{name: "inline", pageSize: 1024, sessions: 3, seed: 1},
	{name: "small", pageSize: 1024, sessions: 40, deleteEvery: 3, extras: true, seed: 2},
	{name: "overflow", pageSize: 1024, sessions: 120, deleteEvery: 5, bigValues: true, seed: 3},
	{name: "medium", sessions: 1500, deleteEvery: 4, bigValues: true, extras: true, seed: 4},
	{name: "nofreelist", pageSize: 1024, sessions: 200, deleteEvery: 2, noFreelist: true, seed: 5},
}

var (
	bucketSessions = []byte("sessions")
	bucketExpiry   = []byte("expiry")
	bucketOwners   = []byte("owners")
	bucketMeta     = []byte("meta")
)

// buildFile writes the file spec describes in dir and returns its path.
func buildFile(tb testing.TB, dir string, spec fileSpec) string {
	tb.Helper()
	path := filepath.Join(dir, spec.name+".db")
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{
		Timeout:        time.Second,
		PageSize:       spec.pageSize,
		NoSync:         true,
		NoFreelistSync: spec.noFreelist,
	})
	if err != nil {
		tb.Fatal(err)
	}
	defer func() {
		if err := db.Close(); err != nil {
			tb.Fatal(err)
		}
	}()
	rng := rand.New(rand.NewPCG(spec.seed, 7))
	must := func(err error) {
		tb.Helper()
		if err != nil {
			tb.Fatal(err)
		}
	}
	must(db.Update(func(tx *bbolt.Tx) error {
		for _, name := range [][]byte{bucketSessions, bucketExpiry, bucketOwners, bucketMeta} {
			if _, err := tx.CreateBucket(name); err != nil {
				return err
			}
		}
		return tx.Bucket(bucketMeta).Put([]byte("version"), binary.BigEndian.AppendUint64(nil, 1))
	}))
	var ids [][]byte
	const perTx = 97
	for done := 0; done < spec.sessions; {
		must(db.Update(func(tx *bbolt.Tx) error {
			for i := 0; i < perTx && done < spec.sessions; i, done = i+1, done+1 {
				id := sessionID(rng)
				ids = append(ids, id)
				if err := putSession(tx, rng, id, spec.bigValues && done%50 == 49); err != nil {
					return err
				}
			}
			return nil
		}))
	}
	if spec.deleteEvery > 0 {
		for start := 0; start < len(ids); start += 3 * perTx {
			must(db.Update(func(tx *bbolt.Tx) error {
				for i := start; i < min(start+3*perTx, len(ids)); i++ {
					if i%spec.deleteEvery == 0 {
						if err := deleteSession(tx, ids[i]); err != nil {
							return err
						}
					}
				}
				return nil
			}))
		}
	}
	if spec.extras {
		must(db.Update(func(tx *bbolt.Tx) error {
			audit, err := tx.CreateBucket([]byte("audit"))
			if err != nil {
				return err
			}
			for i := range 3 * perTx {
				day, err := audit.CreateBucketIfNotExists([]byte{byte('a' + i%3)})
				if err != nil {
					return err
				}
				if err := day.Put(binary.BigEndian.AppendUint64(nil, uint64(i)), randomBytes(rng, 40, 400)); err != nil {
					return err
				}
			}
			small, err := audit.CreateBucket([]byte("small"))
			if err != nil {
				return err
			}
			return small.Put([]byte("k"), []byte("v"))
		}))
	}
	return path
}

func sessionID(rng *rand.Rand) []byte {
	var b [32]byte
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return []byte(base64.RawURLEncoding.EncodeToString(b[:]))
}

func randomBytes(rng *rand.Rand, lo, hi int) []byte {
	b := make([]byte, lo+rng.IntN(hi-lo))
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

// putSession stores a record of a realistic size (a msgpack map of a few
// short values) and its index entries, as boltsession's save does.
func putSession(tx *bbolt.Tx, rng *rand.Rand, id []byte, big bool) error {
	record := randomBytes(rng, 60, 220)
	if big {
		record = randomBytes(rng, 5000, 9000)
	}
	if err := tx.Bucket(bucketSessions).Put(id, record); err != nil {
		return err
	}
	expiry := binary.BigEndian.AppendUint64(nil, rng.Uint64N(1<<40))
	if err := tx.Bucket(bucketExpiry).Put(append(expiry, id...), nil); err != nil {
		return err
	}
	if rng.IntN(3) == 0 {
		owner := []byte("user-" + string(rune('a'+rng.IntN(26))))
		if err := tx.Bucket(bucketOwners).Put(append(append(owner, 0), id...), nil); err != nil {
			return err
		}
	}
	return nil
}

// deleteSession removes a record; its index entries are left for the
// sweeper, as a crash between the two would.
func deleteSession(tx *bbolt.Tx, id []byte) error {
	return tx.Bucket(bucketSessions).Delete(id)
}

func readFile(tb testing.TB, path string) []byte {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func writeFile(tb testing.TB, path string, b []byte) {
	tb.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		tb.Fatal(err)
	}
}
