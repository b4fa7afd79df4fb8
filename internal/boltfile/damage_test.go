package boltfile

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"
)

// checkBounded runs Check on data and fails the test if it panics or takes
// longer than a generous bound (a hang).
func checkBounded(t testing.TB, data []byte) (Summary, error) {
	t.Helper()
	type result struct {
		sum Summary
		err error
		pan any
	}
	done := make(chan result, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				done <- result{pan: p}
			}
		}()
		sum, err := Check(bytes.NewReader(data), int64(len(data)))
		done <- result{sum: sum, err: err}
	}()
	select {
	case r := <-done:
		if r.pan != nil {
			t.Fatalf("Check panicked: %v", r.pan)
		}
		return r.sum, r.err
	case <-time.After(10 * time.Second):
		t.Fatalf("Check still running after 10s on %d bytes", len(data))
	}
	return Summary{}, nil
}

// verdicts counts what Check and bbolt made of damaged files of one kind.
type verdicts struct {
	kind                               string
	files, refused, accepted, survived int
	boltErrors                         int
	crashed                            int
	refusedWhy                         map[string]int
}

// try checks one damaged file and, when Check accepts it, has bbolt use it.
// A crash of bbolt on an accepted file fails the test.
func (v *verdicts) try(t *testing.T, dir string, data []byte, label string) {
	t.Helper()
	v.files++
	_, err := checkBounded(t, data)
	if err != nil {
		if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrEmpty) {
			t.Errorf("%s: Check error wraps neither ErrCorrupt nor ErrEmpty: %v", label, err)
		}
		v.refused++
		if v.refusedWhy == nil {
			v.refusedWhy = map[string]int{}
		}
		v.refusedWhy[reasonOf(err)]++
		return
	}
	v.accepted++
	path := filepath.Join(dir, fmt.Sprintf("%s-%d.db", v.kind, v.files))
	writeFile(t, path, data)
	defer os.Remove(path)
	opened, err := exerciseBolt(path)
	switch {
	case errors.Is(err, errBoltCrashed):
		v.crashed++
		t.Errorf("%s: Check accepted the file, then %v", label, err)
	case !opened || err != nil:
		v.boltErrors++
		t.Logf("%s: Check accepted the file; bbolt returned an error: %v", label, err)
	default:
		v.survived++
	}
}

func (v *verdicts) log(t *testing.T) {
	t.Helper()
	t.Logf("%-10s %4d files: %4d refused by Check, %4d accepted: %4d survived bbolt, %d bbolt errors, %d crashed",
		v.kind, v.files, v.refused, v.accepted, v.survived, v.boltErrors, v.crashed)
	t.Logf("%-10s refusals by reason: %v", v.kind, v.refusedWhy)
}

// reasonOf is the kind of problem an error reports, for the tallies: its
// text with numbers replaced by N, cut before the first quoted key.
func reasonOf(err error) string {
	msg := strings.TrimPrefix(err.Error(), ErrCorrupt.Error()+": ")
	var pe *PageError
	if errors.As(err, &pe) {
		msg = pe.Problem
	}
	if i := strings.IndexAny(msg, "\"(,;"); i >= 0 {
		msg = msg[:i]
	}
	return strings.TrimSpace(digits.ReplaceAllString(msg, "N"))
}

var digits = regexp.MustCompile(`[0-9]+`)

// damageBases are the files the damage tests start from: small enough that
// hundreds of damaged copies run through bbolt quickly, varied enough to
// hold branch, leaf, overflow, freelist and inline-bucket pages. They come
// in a fixed order, so that each test damages the same files the same way
// on every run.
func damageBases(t *testing.T, dir string) []namedFile {
	var bases []namedFile
	for _, spec := range []fileSpec{
		{name: "small", pageSize: 1024, sessions: 60, deleteEvery: 3, extras: true, seed: 21},
		{name: "overflow", pageSize: 1024, sessions: 150, deleteEvery: 4, bigValues: true, seed: 22},
		{name: "default", sessions: 400, deleteEvery: 5, seed: 23},
	} {
		bases = append(bases, namedFile{spec.name, readFile(t, buildFile(t, dir, spec))})
	}
	return bases
}

type namedFile struct {
	name string
	data []byte
}

func pageSizeOf(t *testing.T, data []byte) int {
	sum, err := Check(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatalf("base file: %v", err)
	}
	return sum.PageSize
}

func TestTruncatedFilesAreRefusedOrSurvivedByBbolt(t *testing.T) {
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(1, 1))
	v := &verdicts{kind: "truncate"}
	for _, base := range damageBases(t, dir) {
		name, data := base.name, base.data
		ps := pageSizeOf(t, data)
		offsets := []int{0, 1, 79, 80, ps - 1, ps, ps + 80, 2*ps - 1, 2 * ps, 4095, 4096, len(data) - ps, len(data) - 1}
		for range 40 {
			offsets = append(offsets, rng.IntN(len(data)))
		}
		for _, off := range offsets {
			if off >= 0 && off < len(data) {
				v.try(t, dir, data[:off:off], fmt.Sprintf("%s cut at %d", name, off))
			}
		}
	}
	v.log(t)
}

func TestFlippedBytesAreRefusedOrSurvivedByBbolt(t *testing.T) {
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(2, 2))
	v := &verdicts{kind: "flip"}
	for _, base := range damageBases(t, dir) {
		name, data := base.name, base.data
		ps := pageSizeOf(t, data)
		pages := len(data) / ps
		for range 120 {
			d := bytes.Clone(data)
			page := rng.IntN(pages)
			for range 1 + rng.IntN(4) {
				// Half the flips hit the page header and element headers,
				// where a flip changes structure rather than content.
				at := rng.IntN(ps)
				if rng.IntN(2) == 0 {
					at = rng.IntN(min(ps, 96))
				}
				d[page*ps+at] ^= byte(1 + rng.IntN(255))
			}
			v.try(t, dir, d, fmt.Sprintf("%s page %d flipped", name, page))
		}
	}
	v.log(t)
}

func TestDuplicatedPagesAreRefusedOrSurvivedByBbolt(t *testing.T) {
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(3, 3))
	raw, renamed := &verdicts{kind: "dup-raw"}, &verdicts{kind: "dup-id"}
	for _, base := range damageBases(t, dir) {
		name, data := base.name, base.data
		ps := pageSizeOf(t, data)
		pages := len(data) / ps
		for range 50 {
			from, to := 2+rng.IntN(pages-2), 2+rng.IntN(pages-2)
			if from == to {
				continue
			}
			d := bytes.Clone(data)
			copy(d[to*ps:(to+1)*ps], data[from*ps:(from+1)*ps])
			raw.try(t, dir, d, fmt.Sprintf("%s page %d copied over %d", name, from, to))
			// The same with the header naming its new place, as a page
			// written to the wrong offset would look.
			native.PutUint64(d[to*ps:], uint64(to))
			renamed.try(t, dir, d, fmt.Sprintf("%s page %d copied over %d, id fixed", name, from, to))
		}
	}
	raw.log(t)
	renamed.log(t)
}

// Pages of an older state of the same file spliced into the current one: a
// write that reached some pages of a transaction but not others.
func TestSplicedOldPagesAreRefusedOrSurvivedByBbolt(t *testing.T) {
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(4, 4))
	v := &verdicts{kind: "splice"}
	for _, spec := range []fileSpec{
		{name: "splice-small", pageSize: 1024, sessions: 80, deleteEvery: 3, seed: 31},
		{name: "splice-default", sessions: 300, deleteEvery: 4, seed: 32},
	} {
		path := buildFile(t, dir, spec)
		old := readFile(t, path)
		db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: time.Second, NoSync: true})
		if err != nil {
			t.Fatal(err)
		}
		for i := range 5 {
			if err := db.Update(func(tx *bbolt.Tx) error {
				for range 30 {
					if err := putSession(tx, rng, sessionID(rng), i == 4); err != nil {
						return err
					}
				}
				c := tx.Bucket(bucketSessions).Cursor()
				for k, _ := c.First(); k != nil && rng.IntN(10) != 0; k, _ = c.Next() {
					if err := c.Delete(); err != nil {
						return err
					}
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		cur := readFile(t, path)
		ps := pageSizeOf(t, cur)
		pages := min(len(old), len(cur)) / ps
		for range 60 {
			d := bytes.Clone(cur)
			n := 1 + rng.IntN(3)
			for range n {
				p := 2 + rng.IntN(pages-2)
				copy(d[p*ps:(p+1)*ps], old[p*ps:(p+1)*ps])
			}
			v.try(t, dir, d, fmt.Sprintf("%s: %d old pages spliced", spec.name, n))
		}
	}
	v.log(t)
}

// chunkReader hands out a file in small reads and, every few reads, waits
// for the writer's next commit, so that every copy spans many transactions.
type chunkReader struct {
	r       io.Reader
	max     int
	reads   int
	commits *atomic.Int64
}

func (c *chunkReader) Read(p []byte) (int, error) {
	c.reads++
	if c.reads%16 == 0 {
		seen := c.commits.Load()
		for deadline := time.Now().Add(100 * time.Millisecond); c.commits.Load() == seen && time.Now().Before(deadline); {
			runtime.Gosched()
		}
	}
	return c.r.Read(p[:min(len(p), c.max)])
}

// Copies of a live file taken while a writer commits (what cp does to a
// running store): torn between transactions.
func TestTornCopiesAreRefusedOrSurvivedByBbolt(t *testing.T) {
	dir := t.TempDir()
	path := buildFile(t, dir, fileSpec{name: "live", sessions: 500, seed: 41})
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: time.Second, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	var stop atomic.Bool
	var commits atomic.Int64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		rng := rand.New(rand.NewPCG(5, 5))
		live := map[string][]byte{} // ID → its expiry index key
		for !stop.Load() {
			err := db.Update(func(tx *bbolt.Tx) error {
				sessions, expiry := tx.Bucket(bucketSessions), tx.Bucket(bucketExpiry)
				for range 1 + rng.IntN(20) {
					id := sessionID(rng)
					at := binary.BigEndian.AppendUint64(nil, rng.Uint64N(1<<40))
					live[string(id)] = append(at, id...)
					if err := errors.Join(sessions.Put(id, randomBytes(rng, 60, 220)), expiry.Put(live[string(id)], nil)); err != nil {
						return err
					}
				}
				// Delete as many as were added, so that the file stops
				// growing and a copy reaches its end.
				for id, at := range live {
					if len(live) <= 400 {
						break
					}
					if err := errors.Join(sessions.Delete([]byte(id)), expiry.Delete(at)); err != nil {
						return err
					}
					delete(live, id)
				}
				return nil
			})
			if err != nil {
				t.Error(err)
				return
			}
			commits.Add(1)
		}
	}()
	v := &verdicts{kind: "torn"}
	var copies [][]byte
	start := commits.Load()
	for range 50 {
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if _, err := io.Copy(&buf, &chunkReader{r: f, max: 4096, commits: &commits}); err != nil {
			t.Fatal(err)
		}
		f.Close()
		copies = append(copies, buf.Bytes())
	}
	stop.Store(true)
	wg.Wait()
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	for i, c := range copies {
		v.try(t, dir, c, fmt.Sprintf("torn copy %d", i))
	}
	t.Logf("the writer committed %d transactions during the 50 copies of about %d KiB", commits.Load()-start, len(copies[0])>>10)
	v.log(t)
}
