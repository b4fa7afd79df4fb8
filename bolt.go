package boltsession

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/boltsession/boltsession/internal/boltfile"
	bbolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// Bucket names of a session file, format version 3 (upgrade.go tells the
// older ones; handle.go, the keys).
var (
	bucketSessions = []byte("sessions") // handle → record
	bucketExpiry   = []byte("expiry")   // 8-byte big-endian expiry ‖ handle → empty
	bucketOwners   = []byte("owners")   // owner ‖ 0x00 ‖ handle → empty
	bucketReplaced = []byte("replaced") // markers of replaced sessions (see index.go)
	bucketMeta     = []byte("meta")     // "version" → 8-byte big-endian format version
	keyVersion     = []byte("version")
	keySealed      = []byte("sealed") // present once a store with ValueKeys opened the file
	keyScrub       = []byte("scrub")  // present while freed pages may hold what must not stay (scrub.go)
)

// Limits on what a key of the file may hold. bbolt refuses keys over 32 KiB;
// refusing long IDs and owners up front keeps such a failure out of a shared
// group commit.
const (
	maxIDLen    = 1024
	maxOwnerLen = 1024
)

var (
	_ Store      = (*BoltStore)(nil)
	_ OwnerIndex = (*BoltStore)(nil)
	_ Counter    = (*BoltStore)(nil)
	_ Iterator   = (*BoltStore)(nil)
)

// BoltOptions configures Open. The zero value (or a nil pointer) gives the
// defaults documented on each field.
type BoltOptions struct {
	// Timeout bounds the wait for the file lock at Open: bbolt lets one
	// process hold a file. Zero means 1s; a held file then gives an error
	// wrapping ErrLocked.
	Timeout time.Duration

	// NoSync skips the fsync after each commit. Saves get much faster, but
	// acknowledged saves can be lost (and the file damaged) if the machine
	// crashes. Off by default.
	NoSync bool

	// SweepInterval is how often the background sweeper deletes expired
	// sessions. Zero means one minute; a negative value disables the
	// background sweeper (Sweep still works on demand).
	SweepInterval time.Duration

	// SweepChunk is the most sessions one sweep transaction deletes, so a
	// large backlog never holds the write lock for long. Zero means 1000.
	SweepChunk int

	// FileMode is the permission of a newly created file. Zero means 0600.
	FileMode os.FileMode

	// Now is the store's clock: a record is expired when Now() is past its
	// Expires. Nil means time.Now; tests inject a fake clock.
	Now func() time.Time

	// Logger receives sweeper errors. Nil means slog.Default().
	Logger *slog.Logger

	// MaxBatch is the most writes one group commit carries. Zero means 1000.
	MaxBatch int

	// ValueKeys, when set, encrypt session values at rest with AES-GCM: a
	// file or backup that is read without the key shows no value. Each
	// key is 16, 24 or 32 random bytes (32: AES-256), kept apart from the
	// file. The first key seals every record written; every key opens
	// records (rotation: put the new key first, keep the old ones until
	// `boltsession rekey` has resealed the file). Records already written
	// in clear stay readable and are sealed at their next write. A file
	// that holds sealed records cannot be opened without ValueKeys (an
	// error wrapping ErrKey). Cost: a key derivation and AES-GCM per
	// record read or written (a Load of ten short values: about 6 µs more; see
	// docs/PERFORMANCE.md).
	// Default none: values in clear (session IDs are never stored: see
	// Handle).
	ValueKeys [][]byte

	// ReplaceDamagedFile, when set, keeps an app serving if its session
	// file is damaged: Open moves the file aside (renamed
	// PATH.damaged-<UTC time>, for salvage later), logs at Error level that
	// every session is lost (every user must sign in again) and where the
	// file went, and starts with an empty file. Default false: Open
	// refuses a damaged file with an error wrapping ErrCorrupt, and
	// someone decides (salvage, a backup, or starting fresh).
	ReplaceDamagedFile bool

	// MaxRecordSize is the largest stored record (a session's values and
	// metadata, encoded) a save may write, in bytes. A save that would
	// write more fails with an error wrapping ErrTooLarge and writes
	// nothing. Zero means DefaultMaxRecordSize (1 MiB); a negative value
	// means no limit. A large record costs on every request that loads
	// it: Load copies the whole record out of the file (about 45 ms for
	// 10 MiB on the machine of the performance notes).
	MaxRecordSize int

	// CacheSize bounds the memory, in bytes, of the decoded records the
	// store keeps of the sessions it loaded or saved lately, so that a
	// Load of one of them skips the file: a request that only reads its
	// session then costs about a third of what it did (docs/PERFORMANCE.md).
	// A write hands the cache what it changed after its commit and before
	// it returns, so a Load never returns what an acknowledged save,
	// delete or sweep replaced (docs/GUARANTEES.md). The count is an
	// estimate that errs high: a record of ten short values counts about
	// 1.5 KiB, so the default holds about ten thousand such sessions.
	// Zero means DefaultCacheSize (16 MiB); a negative value disables the
	// cache. With ValueKeys, cached values are held open (in clear) in
	// the process's memory, as every loaded session's are while it serves
	// its request.
	CacheSize int
}

// DefaultMaxRecordSize is BoltOptions.MaxRecordSize when left zero: far
// above what a session holds (a few KiB), far below what makes each request
// slow.
const DefaultMaxRecordSize = 1 << 20

// BoltStore is the embedded Store: every session in one bbolt file. It
// implements Store, OwnerIndex, Counter and Iterator.
//
// Writes from concurrent goroutines share one transaction and one fsync
// (group commit); a lone write commits at once. A background sweeper deletes
// expired records. Open one BoltStore per file and process; Close it when
// done.
type BoltStore struct {
	db    *bbolt.DB
	path  string
	now   func() time.Time
	log   *slog.Logger
	chunk int
	max   int

	pageSize  int     // bbolt's page size, read once at Open (reading it later races a remap)
	maxRecord int     // BoltOptions.MaxRecordSize; 0: no limit
	sealer    *sealer // BoltOptions.ValueKeys; nil: values in clear

	cache   *readCache  // decoded records for Load; nil: BoltOptions.CacheSize < 0
	written *written    // what the write transaction in progress changed (readcache.go)
	txMu    sync.Mutex  // held by update from before its transaction until the cache has its changes
	hooks   *cacheHooks // tests only: pause between the steps the cache orders

	// mu is held for reading by every operation and for writing by Close,
	// so Close waits for operations in flight and later ones see closed.
	mu     sync.RWMutex
	closed bool

	// wmu guards waiting, the writes queued for group commit, oldest
	// first; the goroutine of waiting[0] commits (see groupcommit.go).
	wmu     sync.Mutex
	waiting []*writeOp

	stopSweeper  context.CancelFunc
	sweeperCtx   context.Context
	sweepRunning sync.Mutex // one sweep at a time
	wg           sync.WaitGroup

	commits atomic.Int64
	writes  atomic.Int64
	corrupt atomic.Int64

	// failed, once set, is the error every write returns: a damaged page
	// left bbolt's write lock held (see contain.go).
	failed atomic.Pointer[error]

	sweepMu   sync.Mutex
	sweepStat sweepStats
}

// Open opens (or creates) the session file at path and starts the group
// committer and, unless disabled, the background sweeper. A nil opts means
// the defaults.
//
// A file held by another process gives an error wrapping ErrLocked after
// opts.Timeout. A bbolt file that is not a session file, or one written by a
// newer format version, gives an error wrapping ErrVersion.
func Open(path string, opts *BoltOptions) (*BoltStore, error) {
	var o BoltOptions
	if opts != nil {
		o = *opts
	}
	if o.Timeout <= 0 {
		o.Timeout = time.Second
	}
	if o.SweepInterval == 0 {
		o.SweepInterval = time.Minute
	}
	if o.SweepChunk <= 0 {
		o.SweepChunk = 1000
	}
	if o.FileMode == 0 {
		o.FileMode = 0o600
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = 1000
	}
	sl, err := newSealer(o.ValueKeys)
	if err != nil {
		return nil, err
	}
	switch {
	case o.MaxRecordSize == 0:
		o.MaxRecordSize = DefaultMaxRecordSize
	case o.MaxRecordSize < 0:
		o.MaxRecordSize = 0
	}

	db, err := openFile(path, &o, sl)
	if err == nil {
		db, err = scrub(db, path, &o, sl)
	}
	if err != nil {
		if errors.Is(err, boltfile.ErrCorrupt) && o.ReplaceDamagedFile && boltfile.HasMagic(path) {
			return replaceDamaged(path, &o, err)
		}
		return nil, openError(path, &o, err)
	}

	s := &BoltStore{
		db:    db,
		path:  path,
		now:   o.Now,
		log:   o.Logger,
		chunk: o.SweepChunk,
		max:   o.MaxBatch,

		pageSize:  db.Info().PageSize,
		maxRecord: o.MaxRecordSize,
		sealer:    sl,
		cache:     newReadCache(o.CacheSize),
	}
	s.sweeperCtx, s.stopSweeper = context.WithCancel(context.Background())
	if o.SweepInterval > 0 {
		s.wg.Add(1)
		go s.sweepLoop(o.SweepInterval)
	}
	return s, nil
}

// openFile opens and locks the file at path, checks it, makes it a session
// file if it is new, converts it if it is of an older format, and checks
// that sl opens its values. Errors are for openError to word.
func openFile(path string, o *BoltOptions, sl *sealer) (*bbolt.DB, error) {
	db, err := openLocked(path, o)
	if err != nil {
		return nil, err
	}
	db.NoSync = o.NoSync
	// Holding the lock, clean up after maintenance that was killed: the
	// temporary copies of a Compact, a backup or an import hold sessions.
	dir, base := filepath.Dir(path), filepath.Base(path)
	// (The import's is the command-line tool's, into a new file.)
	boltfile.RemoveStale(dir, "."+base+".compact-", base+".backup-", "."+base+".import-")
	if err := initFile(db); err != nil {
		db.Close()
		return nil, err
	}
	if _, err := upgradeFile(db, o.Logger, path); err != nil {
		db.Close()
		return nil, fmt.Errorf("%w (the file opens again and the conversion goes on)", err)
	}
	if err := checkSealing(db, sl); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// openError words a failure of openFile.
func openError(path string, o *BoltOptions, err error) error {
	switch {
	case errors.Is(err, bolterrors.ErrTimeout):
		return fmt.Errorf("%w: %s is locked by another process (is the application still running?); gave up after %v",
			ErrLocked, path, o.Timeout)
	case errors.Is(err, bolterrors.ErrInvalid), errors.Is(err, bolterrors.ErrVersionMismatch):
		return fmt.Errorf("%w: %s is not a bbolt file of a known version: %w", ErrVersion, path, err)
	case errors.Is(err, boltfile.ErrCorrupt) && !boltfile.HasMagic(path):
		return fmt.Errorf("%w: %s is not a bbolt file (no bbolt meta page): %w", ErrVersion, path, err)
	case errors.Is(err, boltfile.ErrCorrupt):
		return fmt.Errorf("%w: %s is damaged (%w): salvage what is readable into a new file "+
			"(boltsession salvage, or Salvage), restore a backup, or move it away to start with no sessions "+
			"(BoltOptions.ReplaceDamagedFile does that at Open)", ErrCorrupt, path, err)
	case errors.Is(err, os.ErrPermission):
		return fmt.Errorf("boltsession: open %s: the file or its directory is not writable by this process: %w", path, err)
	}
	return fmt.Errorf("boltsession: open %s: %w", path, err)
}

// replaceDamaged moves the damaged file at path aside and opens a new one
// there (BoltOptions.ReplaceDamagedFile); cause is why it was refused.
func replaceDamaged(path string, o *BoltOptions, cause error) (*BoltStore, error) {
	aside := path + ".damaged-" + time.Now().UTC().Format("20060102T150405Z")
	if err := os.Rename(path, aside); err != nil {
		return nil, fmt.Errorf("%w: %s is damaged (%w), and moving it aside failed: %w", ErrCorrupt, path, cause, err)
	}
	syncDir(filepath.Dir(path))
	o.Logger.Error("boltsession: the session file was damaged and has been replaced by an empty one: EVERY SESSION IS LOST, every user must sign in again; salvage the moved file with `boltsession salvage`",
		"path", path, "moved_to", aside, "damage", cause.Error())
	o.ReplaceDamagedFile = false // a new file that fails the check is a bug, not damage
	return Open(path, o)
}

// checkSealing refuses to serve a file whose values may be sealed without
// the keys to open them: every session would fail to load, and each user
// would silently be signed out. A store with ValueKeys marks the file.
func checkSealing(db *bbolt.DB, sl *sealer) error {
	var sealed bool
	if err := db.View(func(tx *bbolt.Tx) error {
		sealed = tx.Bucket(bucketMeta).Get(keySealed) != nil
		return nil
	}); err != nil {
		return err
	}
	switch {
	case sealed && sl == nil:
		return fmt.Errorf("%w: the file's session values are encrypted (it was opened with BoltOptions.ValueKeys): give the keys", ErrKey)
	case !sealed && sl != nil:
		return db.Update(func(tx *bbolt.Tx) error {
			return tx.Bucket(bucketMeta).Put(keySealed, []byte{1})
		})
	}
	return nil
}

// boltOptionsHook lets benchmarks try bbolt options the store does not
// expose (the freelist's type and whether it is synced), so that the
// figures docs/PERFORMANCE.md gives for them can be reproduced. Open
// itself never changes it.
var boltOptionsHook = func(*bbolt.Options) {}

// openLocked opens path with bbolt and makes sure that the file it locked
// is still the one at path. Compact in place, run by another process,
// renames the compacted file over path while it holds the lock on the old
// one; an Open that waited for that lock would otherwise get the old,
// renamed-away file and acknowledge saves that nobody would see again. So
// the path is looked up before and after the lock is taken, and opened
// again if it names another file by then.
func openLocked(path string, o *BoltOptions) (*bbolt.DB, error) {
	for tries := 1; ; tries++ {
		before, statErr := os.Stat(path)
		if statErr == nil && before.Mode().IsRegular() && before.Size() == 0 {
			// bbolt would take it for a new file and make it an empty
			// store: every session lost without a word.
			return nil, fmt.Errorf("%w: %s is empty (0 bytes), not a session file: an interrupted copy or a full disk? "+
				"Restore a backup, or delete the file to start with no sessions", ErrCorrupt, path)
		}
		// The file is checked before bbolt maps it, under bbolt's own
		// lock: bbolt trusts its file, and a damaged one makes it panic,
		// fault (SIGBUS, which no recover catches without
		// SetPanicOnFault) or loop inside Open or any later transaction.
		bo := &bbolt.Options{Timeout: o.Timeout,
			OpenFile: boltfile.OpenFile(o.Timeout, boltfile.Check),
		}
		boltOptionsHook(bo)
		db, err := bbolt.Open(path, o.FileMode, bo)
		if err != nil {
			return nil, err
		}
		after, err := os.Stat(path)
		if err == nil && (statErr != nil || os.SameFile(before, after)) {
			return db, nil
		}
		db.Close()
		if tries == 5 {
			return nil, fmt.Errorf("boltsession: open %s: the file was replaced %d times while Open waited for its lock", path, tries)
		}
	}
}

// initFile creates the buckets and the format version in a new file and
// checks them in an existing one.
func initFile(db *bbolt.DB) error {
	// An existing session file is only checked, in a read transaction: a
	// write here would change the file on every Open, even for a look.
	if db.View(checkFormat) == nil {
		return nil // an older version is converted by upgradeFile
	}
	return db.Update(func(tx *bbolt.Tx) error {
		if tx.Bucket(bucketMeta) == nil {
			var other []string
			_ = tx.ForEach(func(name []byte, _ *bbolt.Bucket) error {
				other = append(other, string(name))
				return nil
			})
			if len(other) > 0 {
				return fmt.Errorf("%w: a bbolt file without a session format version (buckets %q)", ErrVersion, other)
			}
			for _, name := range [][]byte{bucketSessions, bucketExpiry, bucketOwners, bucketReplaced, bucketMeta} {
				if _, err := tx.CreateBucket(name); err != nil {
					return err
				}
			}
			return tx.Bucket(bucketMeta).Put(keyVersion, binary.BigEndian.AppendUint64(nil, formatVersion))
		}
		// A session file checkFormat refused above: the same check says why.
		return checkFormat(tx)
	})
}

// Close stops the sweeper, waits for operations (and group commits) in
// flight and closes the file. Later calls on the store return ErrClosed;
// closing twice returns nil.
func (s *BoltStore) Close() error {
	s.stopSweeper() // a sweep in progress stops between chunks
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	s.wg.Wait()
	s.cache.clear()
	if err := s.closeDB(); err != nil {
		return fmt.Errorf("boltsession: close %s: %w", s.path, err)
	}
	return nil
}

// Path returns the path of the session file, as given to Open.
func (s *BoltStore) Path() string { return s.path }

// enter marks an operation in flight; it fails once the store is closed.
// The caller must call s.mu.RUnlock when done.
func (s *BoltStore) enter(ctx context.Context, op string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("boltsession: %s: %w", op, err)
	}
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return fmt.Errorf("boltsession: %s: %w", op, ErrClosed)
	}
	return nil
}

// Load returns the live record with the given ID; see Store.
func (s *BoltStore) Load(ctx context.Context, id string) (*Record, error) {
	if err := s.enter(ctx, "load"); err != nil {
		return nil, err
	}
	defer s.mu.RUnlock()
	rec, err := s.load(id)
	if err != nil {
		return nil, err
	}
	return rec.clone(), nil
}

// loadShared is Load without the copy: the record may be the cache's, and
// the caller must not change it. The Manager uses it (see New).
func (s *BoltStore) loadShared(ctx context.Context, id string) (*Record, error) {
	if err := s.enter(ctx, "load"); err != nil {
		return nil, err
	}
	defer s.mu.RUnlock()
	return s.load(id)
}

// load returns the live record with the given ID from the cache or the
// file, shared with the cache.
func (s *BoltStore) load(id string) (*Record, error) {
	k := handleKey(id) // on the stack for a hit: get keeps no reference
	rec, ok := s.cache.get(k[:])
	if !ok {
		key := k[:]
		gen := s.cache.stamp(key) // before the transaction begins: see readcache.go
		s.hooks.at("stamped")
		var size int
		err := s.view("load", func(tx *bbolt.Tx) error {
			raw := tx.Bucket(bucketSessions).Get(key)
			if raw == nil {
				return ErrNotFound
			}
			var err error
			rec, err = s.decodeRecord(key, id, raw) // copies everything out of raw
			size = len(raw)
			return err
		})
		s.hooks.at("read")
		if err != nil {
			return nil, s.loadError(err)
		}
		s.cache.add(key, gen, rec, size)
	}
	if !s.now().Before(rec.Expires) {
		return nil, ErrNotFound
	}
	return rec, nil
}

// loadError words an error of load's transaction.
func (s *BoltStore) loadError(err error) error {
	switch {
	case errors.Is(err, ErrCorrupt):
		s.corrupt.Add(1)
		return err
	case errors.Is(err, ErrNotFound):
		return ErrNotFound
	}
	return fmt.Errorf("boltsession: load: %w", err)
}

func checkKey(op, id string) error {
	if id == "" {
		return fmt.Errorf("boltsession: %s: empty session ID", op)
	}
	if len(id) > maxIDLen {
		return fmt.Errorf("boltsession: %s: session ID longer than %d bytes", op, maxIDLen)
	}
	return nil
}

// checkOwner refuses an owner the owner index cannot hold: longer than
// 1024 bytes, or holding its separator, a NUL byte.
func checkOwner(op, owner string) error {
	if len(owner) > maxOwnerLen {
		return fmt.Errorf("boltsession: %s: owner longer than %d bytes", op, maxOwnerLen)
	}
	if strings.IndexByte(owner, 0) >= 0 {
		return fmt.Errorf("boltsession: %s: owner contains a NUL byte", op)
	}
	return nil
}

func wrapIf(op string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("boltsession: %s: %w", op, err)
}

// Count returns the number of live sessions. It does not decode records:
// it is the number stored minus the expiry entries already past, so it
// walks the pages of the sessions bucket (not the records) plus the expired
// part of the expiry index. An undecodable record counts until a sweep or
// a delete removes it.
func (s *BoltStore) Count(ctx context.Context) (int, error) {
	if err := s.enter(ctx, "count"); err != nil {
		return 0, err
	}
	defer s.mu.RUnlock()
	var live int
	err := s.view("count", func(tx *bbolt.Tx) error {
		stored, expired, err := countTx(tx, s.now())
		live = max(stored-expired, 0)
		return err
	})
	return live, wrapIf("count", err)
}

// countTx returns the records stored and the expiry entries at or before
// now, in O(expired) plus a walk of the sessions bucket's pages.
func countTx(tx *bbolt.Tx, now time.Time) (stored, expired int, err error) {
	stored = tx.Bucket(bucketSessions).Stats().KeyN
	limit := expiryLimit(now)
	c := tx.Bucket(bucketExpiry).Cursor()
	var order keyOrder
	for k, _ := c.First(); k != nil && bytes.Compare(k[:min(len(k), 8)], limit) <= 0; k, _ = c.Next() {
		if err := order.next(k); err != nil {
			return 0, 0, err
		}
		expired++
	}
	return stored, expired, nil
}

// iterateChunk is how many records Iterate reads per read transaction. fn
// runs outside any transaction, so it may call the store (a write from
// inside a read transaction could deadlock bbolt when the file grows).
const iterateChunk = 256

// Iterate calls fn for each live record, in ID order, until fn returns an
// error, which Iterate returns. Corrupt records are skipped and counted in
// Stats.Corrupt. Records saved or deleted during the walk may or may not be
// seen.
func (s *BoltStore) Iterate(ctx context.Context, fn func(*Record) error) error {
	var after []byte
	for {
		batch, next, err := s.iterateBatch(ctx, after)
		if err != nil {
			return err
		}
		for _, rec := range batch {
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("boltsession: iterate: %w", err)
			}
			if err := fn(rec); err != nil {
				return err
			}
		}
		if next == nil {
			return nil
		}
		after = next
	}
}

// iterateBatch reads up to iterateChunk live records with IDs after the
// given one (from the start when nil) and returns the last ID read, or nil
// at the end of the bucket.
func (s *BoltStore) iterateBatch(ctx context.Context, after []byte) ([]*Record, []byte, error) {
	if err := s.enter(ctx, "iterate"); err != nil {
		return nil, nil, err
	}
	defer s.mu.RUnlock()
	now := s.now()
	var (
		out  []*Record
		last []byte
	)
	err := s.view("iterate", func(tx *bbolt.Tx) error {
		c := tx.Bucket(bucketSessions).Cursor()
		var k, v []byte
		if after == nil {
			k, v = c.First()
		} else {
			k, v = c.Seek(after)
			if k != nil && bytes.Equal(k, after) {
				k, v = c.Next()
			}
		}
		order := keyOrder{last: after}
		for read := 0; k != nil; k, v = c.Next() {
			if read == iterateChunk {
				last = bytes.Clone(last) // resume after the last key read
				return nil
			}
			if err := order.next(k); err != nil {
				return err
			}
			read++
			last = k
			rec, err := s.decodeRecord(k, "", v)
			if err != nil {
				s.corrupt.Add(1)
				continue
			}
			if now.Before(rec.Expires) {
				out = append(out, rec)
			}
		}
		last = nil // end of bucket
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("boltsession: iterate: %w", err)
	}
	return out, last, nil
}

// WriteTo writes a consistent copy of the whole file to w while the store
// keeps serving, and returns the bytes written. The copy opens with Open.
//
// The snapshot is first written to a temporary file beside the session file
// (mode 0600, removed afterwards; it needs as much free space as the file),
// then copied to w. So a slow w (a download, a pipe) never holds bbolt's read
// transaction open: while one is open, a commit that must grow the file
// waits for it, and every save would stall behind the reader.
func (s *BoltStore) WriteTo(w io.Writer) (int64, error) {
	spool, err := s.snapshot()
	if err != nil {
		return 0, err
	}
	defer os.Remove(spool.Name())
	defer spool.Close()
	if _, err := spool.Seek(0, io.SeekStart); err != nil {
		return 0, wrapIf("backup", err)
	}
	n, err := io.Copy(w, spool)
	return n, wrapIf("backup", err)
}

// snapshot writes the file as one read transaction sees it to a new
// temporary file beside it, and returns that file, open.
func (s *BoltStore) snapshot() (*os.File, error) {
	if err := s.enter(context.Background(), "backup"); err != nil {
		return nil, err
	}
	defer s.mu.RUnlock()
	f, err := os.CreateTemp(filepath.Dir(s.path), filepath.Base(s.path)+".backup-*")
	if err != nil {
		return nil, wrapIf("backup", err)
	}
	// The copy holds every session: unlinked at once (where the system
	// allows it), it has no name that a killed process could leave behind,
	// and its space is freed when the descriptor closes.
	_ = os.Remove(f.Name())
	err = s.view("backup", func(tx *bbolt.Tx) error {
		_, err := tx.WriteTo(f)
		return err
	})
	if err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, wrapIf("backup", err)
	}
	return f, nil
}
