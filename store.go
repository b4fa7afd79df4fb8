package boltsession

import (
	"context"
	"errors"
	"time"
)

// Errors that callers branch on. Every error this package returns wraps one of
// these (test with errors.Is) or carries its cause with %w.
var (
	// ErrNotFound reports a session that is not in the store: it never
	// existed, was deleted, or is past its expiry. Store.Save of an update
	// (Update.Create false) and Store.Touch return it when the record is gone,
	// and write nothing.
	ErrNotFound = errors.New("boltsession: session not found")

	// ErrNoValue reports a key that the session does not hold. Get and Pop
	// return it; a value that is present but does not decode into the type
	// asked for gives a different error (see ErrType).
	ErrNoValue = errors.New("boltsession: no value for key")

	// ErrType reports a value that is present but does not decode into the
	// type that Get or Pop asked for.
	ErrType = errors.New("boltsession: value does not decode into the requested type")

	// ErrCorrupt reports a stored record that cannot be decoded. Load
	// returns it (wrapped, with the cause); the middleware then starts a
	// fresh session, and the sweeper and iteration skip the record and
	// count it.
	ErrCorrupt = errors.New("boltsession: corrupt session record")

	// ErrClosed reports an operation on a store after Close.
	ErrClosed = errors.New("boltsession: store is closed")

	// ErrLocked reports a database file that another process holds open:
	// bbolt allows one process per file. Open returns it after
	// BoltOptions.Timeout instead of waiting forever.
	ErrLocked = errors.New("boltsession: database file is held by another process")

	// ErrVersion reports a file whose format version this package does not
	// know (written by a newer release), or a bbolt file that is not a
	// session file. Open refuses such a file rather than guess.
	ErrVersion = errors.New("boltsession: unsupported session file format")

	// ErrUnsupported reports an optional operation (see OwnerIndex, Counter,
	// Iterator) that the configured Store does not implement.
	ErrUnsupported = errors.New("boltsession: operation not supported by this store")
)

// Record is one session as a Store keeps it.
//
// A Record returned by a Store is the caller's to keep: it shares no memory
// with the store (BoltStore copies every byte out of its transaction).
type Record struct {
	// ID is the session ID: the value the signed cookie carries.
	ID string

	// Created is when the session was first saved. AbsoluteMaxAge counts
	// from here; Regenerate keeps it, so renewing the ID cannot extend the
	// absolute lifetime.
	Created time.Time

	// Expires is when the record stops being returned by Load, whether or
	// not a sweeper has deleted it yet. It is already capped by any absolute
	// lifetime.
	Expires time.Time

	// MaxAge is a per-session idle lifetime set with Session.SetMaxAge
	// (for example a long one for "remember me"). Zero means the Manager's
	// Options.MaxAge applies.
	MaxAge time.Duration

	// Owner ties the session to a user (Session.SetOwner); empty for none.
	Owner string

	// Values holds each value msgpack-encoded on its own, keyed by the name
	// the application gave it. Owned leaves it nil.
	Values map[string][]byte
}

// Update is one save, expressed as a per-key merge so that two requests on
// one session that change different keys both persist. The same key: the
// last writer wins.
type Update struct {
	// ID names the record to write.
	ID string

	// Create writes a new record (a new or a regenerated session),
	// replacing any record with the same ID. When Create is false the
	// record must exist and be live: otherwise Save returns ErrNotFound and
	// writes nothing, so a request that loaded a session before a logout
	// cannot bring it back by saving after it.
	Create bool

	// Created is the creation time of a new record (Create true); ignored
	// otherwise.
	Created time.Time

	// Clear removes every stored value before Set is applied
	// (Session.Clear).
	Clear bool

	// Set holds the values to write, msgpack-encoded. Keys not named here
	// or in Delete keep whatever the store holds.
	Set map[string][]byte

	// Delete names keys to remove.
	Delete []string

	// Expires is the new expiry. The zero time leaves it unchanged (Create
	// requires it).
	Expires time.Time

	// Owner, when not nil, sets the owner; a pointer to "" removes it.
	Owner *string

	// MaxAge, when not nil, sets the per-session idle lifetime (zero: back
	// to the Manager's default).
	MaxAge *time.Duration
}

// Store keeps session records. BoltStore is the embedded implementation and
// the redisstore module runs the same contract on Redis; the storetest
// package checks any implementation against it.
//
// All methods are safe for concurrent use and honour ctx cancellation.
// A store decides expiry on its own clock: Load never returns a record past
// its Expires.
type Store interface {
	// Load returns the live record with the given ID. A missing or expired
	// record gives ErrNotFound; an undecodable one an error wrapping
	// ErrCorrupt.
	Load(ctx context.Context, id string) (*Record, error)

	// Save applies u atomically: every part of it lands, or none does.
	// Returning nil means the change is durable as far as the store
	// promises (BoltStore: fsynced unless NoSync).
	Save(ctx context.Context, u Update) error

	// Touch moves the expiry of a live record to expires without rewriting
	// its values. A missing or expired record gives ErrNotFound.
	Touch(ctx context.Context, id string, expires time.Time) error

	// Delete removes the record; deleting a missing record is not an error.
	Delete(ctx context.Context, id string) error
}

// OwnerIndex is the optional capability behind Manager.Owned and
// Manager.DestroyOwner: listing and ending every session of one owner
// without scanning the whole store.
type OwnerIndex interface {
	// Owned returns the owner's live sessions, oldest first, with Values
	// left nil.
	Owned(ctx context.Context, owner string) ([]Record, error)

	// DestroyOwner deletes every session of the owner and returns how many
	// live ones it ended.
	DestroyOwner(ctx context.Context, owner string) (int, error)
}

// Counter is the optional capability to count live sessions.
type Counter interface {
	Count(ctx context.Context) (int, error)
}

// Iterator is the optional capability to visit every live session.
type Iterator interface {
	// Iterate calls fn for each live record, in no promised order, until fn
	// returns an error (which Iterate then returns). Corrupt records are
	// skipped.
	Iterate(ctx context.Context, fn func(*Record) error) error
}
