package boltsession

import (
	"context"
	"errors"
	"time"
)

// Errors that callers branch on (test with errors.Is). Errors of this
// package that are not about one of these carry their cause with %w.
var (
	// ErrNotFound reports a session that is not in the store: it never
	// existed, was deleted, or is past its expiry. Store.Save of a merge
	// (Update.Create false) and Store.Touch return it when the record is
	// gone, and write nothing.
	ErrNotFound = errors.New("boltsession: session not found")

	// ErrReplaced reports a session that another request regenerated (see
	// Update.Replaces) after this one loaded it: its ID no longer names a
	// session, and what was written to it in the meantime went to the new
	// ID. Store.Save of a merge or a replace and Store.Touch return it for
	// such an ID, and write nothing. The middleware hands it to
	// Options.ErrorHandler when the request had changed the session, since
	// the change did not land.
	ErrReplaced = errors.New("boltsession: session was replaced by a regenerated one in another request")

	// ErrEnded reports a session that was destroyed (a logout, DestroyOwner)
	// or expired after the request loaded it, so the request's changes did
	// not land. The middleware hands it, together with ErrNotFound, to
	// Options.ErrorHandler; the default handler answers 409 Conflict.
	ErrEnded = errors.New("boltsession: session ended (destroyed or expired) while the request ran")

	// ErrExists reports a create (Update.Create) whose ID already names a
	// live session, or a replaced one whose marker is still kept: a create
	// never overwrites. Nothing is written. The middleware draws a new ID
	// and retries.
	ErrExists = errors.New("boltsession: a session with this ID already exists")

	// ErrDestroyed is returned by a Session's changes (Set, Delete, Clear,
	// SetOwner, SetMaxAge, Touch) after Destroy in the same request: the
	// change could not be saved. Regenerate starts a new, empty session
	// that accepts changes again (a "you are logged out" flash).
	ErrDestroyed = errors.New("boltsession: session was destroyed in this request; Regenerate starts a new one")

	// ErrNoSession is returned by a Session method called on nil: the
	// request did not go through a Manager's middleware, so FromContext
	// found no session.
	ErrNoSession = errors.New("boltsession: no session in the request context: wrap the handler with Manager.Middleware")

	// ErrNoValue reports a key that the session does not hold. Get and Pop
	// return it; a value that is present but does not decode into the type
	// asked for gives a different error (see ErrType).
	ErrNoValue = errors.New("boltsession: no value for key")

	// ErrType reports a value that is present but does not decode into the
	// type that Get or Pop asked for.
	ErrType = errors.New("boltsession: value does not decode into the requested type")

	// ErrCorrupt reports damaged data: a stored record that does not
	// decode or fails its checksum, or a session file that cannot be read
	// safely. For a record, Load returns it (wrapped, with the cause); the
	// middleware then starts a fresh session, and the sweeper and
	// iteration skip the record and count it. For a file, Open returns it
	// with the way out (restore a backup, salvage, or start fresh), and a
	// damaged page met later fails that operation with it instead of
	// crashing the process.
	ErrCorrupt = errors.New("boltsession: corrupt session data")

	// ErrTooLarge reports a save whose record would be larger than the
	// store allows (BoltOptions.MaxRecordSize); nothing was written.
	ErrTooLarge = errors.New("boltsession: session record too large")

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

// ReplacedGrace is how long a store keeps the marker of a replaced session
// (see Update.Replaces), at most until that session's own expiry. Within it
// a request that loaded the session before it was replaced is told so: its
// merge fails with ErrReplaced, and its Delete (a logout) follows the
// marker and ends the replacement too. After it, the merge fails with
// ErrNotFound, which is still never acknowledged as saved, and a Delete of
// the old ID no longer reaches the new one. An hour covers any request that
// a server lets run.
const ReplacedGrace = time.Hour

// Record is one session as a Store keeps it.
//
// A Record returned by a Store is the caller's to keep: it shares no memory
// with the store (BoltStore copies every byte out of its transaction, or out
// of its read cache); nor does it keep the byte slices of an Update.Set it
// saved, which the caller may reuse once Save returns.
type Record struct {
	// ID is the session ID: the value the signed cookie carries. Stores
	// keep handles, not IDs (see Handle), so the records that Owned,
	// Iterate and BoltStore.Scan list have an empty ID and name the
	// session by Handle.
	ID string

	// Handle is the session's handle, Handle(ID): what the store keys it
	// by, and what operators see.
	Handle string

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

// Update is one lifecycle step of a session, applied atomically: a create,
// a per-key merge, or a replace (regenerate). Store.Touch and Store.Delete
// are the other two steps.
//
// A merge changes only the keys it names, so that two requests on one
// session that change different keys both persist; the same key: the last
// writer wins. None of the steps ever brings back a session that is gone:
// only a create (of an ID not in use) or a replace of a live session makes
// a record, so a request that loaded a session before a logout cannot undo
// the logout, whether it writes or regenerates.
type Update struct {
	// ID names the record to write: the session's ID for a merge, the new
	// ID for a create or a replace.
	ID string

	// Create makes a new record under ID, only if ID is not in use: a live
	// record, or the marker of a replaced one, gives ErrExists and nothing
	// is written (an expired record is overwritten). When Create is false
	// the step is a merge into the live record ID: a missing or expired
	// record gives ErrNotFound, a replaced one ErrReplaced, and nothing is
	// written.
	Create bool

	// Replaces, with Create, makes the step a replace (Session.Regenerate):
	// the new record ID starts as a copy of the live record Replaces
	// (values, owner, MaxAge, Created), Clear, Set, Delete, Owner, MaxAge
	// and Expires are applied to it as a merge would, and Replaces is
	// removed, all in one atomic step that happens only if Replaces is
	// live. Otherwise it gives ErrNotFound (Replaces was destroyed or
	// expired: a logout won the race) or ErrReplaced (another request
	// regenerated it first), and nothing is written. Created is ignored.
	//
	// In place of the removed record the store keeps a marker "replaced by
	// ID" until ReplacedGrace has passed or Replaces would have expired,
	// whichever is first, so that:
	//   - a merge or a touch of Replaces gives ErrReplaced (a request that
	//     loaded it before the replace learns its change did not land);
	//   - Delete(Replaces) ends ID as well, following markers from one
	//     replace to the next (a logout that loaded the session before the
	//     replace still logs the user out);
	//   - Load(Replaces) gives ErrNotFound (the old ID never leads to the
	//     new session: that would undo the regeneration's protection
	//     against session fixation).
	//
	// A store on several shards need not replace in one transaction. It
	// keeps the guarantees by ordering single-shard atomic steps:
	//  1. write ID as a pending record: Load does not return it, and it
	//     is indexed under the owner the request saw, so DestroyOwner
	//     removes it too;
	//  2. in Replaces' own atomic step, only if it is live, turn it into
	//     the marker "replaced by ID" and read its record; if it is not
	//     live, delete the pending record and return the error;
	//  3. in ID's own atomic step, only if the pending record is still
	//     there, write the record of step 2 with the update applied and
	//     make it live; if a Delete that followed the marker, or
	//     DestroyOwner, removed the pending record meanwhile, the logout
	//     won: return ErrNotFound.
	//
	// A crash between steps leaves a pending record (never loadable; it
	// expires) or a marker whose successor is pending (the user signs in
	// again): never a live session that a logout of Replaces cannot reach.
	Replaces string

	// Created is the creation time of a new record (Create true, Replaces
	// empty); ignored otherwise. Zero means the store's clock now.
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
// package checks any implementation against it, including every
// interleaving of the lifecycle steps on one session.
//
// Each lifecycle step is one atomic operation: Save (create, merge,
// replace), Touch and Delete. All methods are safe for concurrent use and
// honour ctx cancellation: an error means the step did not happen (nothing
// was written), unless the error says otherwise. A store decides expiry on
// its own clock: Load never returns a record past its Expires.
type Store interface {
	// Load returns the live record with the given ID. A missing, expired
	// or replaced record gives ErrNotFound; an undecodable one an error
	// wrapping ErrCorrupt.
	Load(ctx context.Context, id string) (*Record, error)

	// Save applies u atomically: every part of it lands, or none does (see
	// Update for the errors that say why not). Returning nil means the
	// change is durable as far as the store promises (BoltStore: fsynced
	// unless NoSync).
	Save(ctx context.Context, u Update) error

	// Touch moves the expiry of a live record to expires without rewriting
	// its values. A missing or expired record gives ErrNotFound, a replaced
	// one ErrReplaced.
	Touch(ctx context.Context, id string, expires time.Time) error

	// Delete ends the session id: it removes the record and its index
	// entries, and if id was replaced (see Update.Replaces) while its
	// marker is kept, it ends the replacement too, transitively. Deleting a
	// missing record is not an error.
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
