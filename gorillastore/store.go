// Package gorillastore is a gorilla/sessions Store that keeps sessions in one
// bbolt file through boltsession, as a drop-in replacement for
// sessions.FilesystemStore:
//
//	store := sessions.NewFilesystemStore("./sessions", hashKey, blockKey)
//
// becomes
//
//	store, err := gorillastore.New("./sessions", hashKey, blockKey)
//
// and handlers keep using store.Get, session.Values, AddFlash, Flashes,
// session.Save and sessions.Save unchanged. The cookie is the one
// FilesystemStore writes (the session ID, signed and optionally encrypted
// by securecookie with the same key pairs), and values are serialized with
// gorilla's own gob encoder, so every gob-registered type round-trips as
// before. ImportFilesystemStore carries existing FilesystemStore sessions
// over, so nobody is logged out by the switch.
//
// What it does differently from FilesystemStore, on purpose:
//   - Expired sessions are deleted by boltsession's sweeper; FilesystemStore
//     never deletes a file that is not explicitly saved with MaxAge <= 0.
//   - Options.MaxAge == 0 means a browser-session cookie (no Max-Age; the
//     server keeps the session for BrowserSessionTTL after its last save),
//     as gorilla's Options documents. FilesystemStore deletes the session
//     instead, which makes browser-session cookies impossible.
//     Options.MaxAge < 0 deletes, as before.
//   - There is no 4096-byte limit on what a session holds: only the signed
//     ID travels in the cookie. (FilesystemStore's files inherit
//     securecookie's cookie limit.)
//   - The session ID is a key in the database and never touches a file path.
//   - Concurrent requests are safe without a process-wide lock; writes to
//     the file share fsyncs (group commit).
//   - A cookie whose session has expired or was deleted gives a fresh
//     session and no error (FilesystemStore returns the file's "no such
//     file" or "expired timestamp" error, which the usual
//     `if err != nil { 500 }` turns into an error page), and the fresh
//     session gets a fresh ID instead of reusing the one from the cookie.
//   - A Save of a session that was deleted meanwhile (a logout in a
//     concurrent request) does not bring it back: nothing is written, no
//     cookie is sent, and Save returns an error wrapping
//     boltsession.ErrEnded, so the usual `if err != nil` does not answer as
//     if the change had landed.
//   - Loading does not depend on the request's cancellation: a request
//     whose context is already cancelled or past its deadline (behind a
//     timeout middleware) still gets its session, so the usual
//     `session, _ := store.Get(r, name)` followed by a Save cannot sign the
//     user out by issuing a new session ID.
//   - A session's server-side lifetime is its own Options.MaxAge from its
//     last save (FilesystemStore checks the store-wide MaxAge instead).
package gorillastore

import (
	"context"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/boltsession/boltsession"
	"github.com/gorilla/securecookie"
	"github.com/gorilla/sessions"
	"github.com/vmihailenco/msgpack/v5"
)

// ValuesKey is the key under which a session's gob-encoded Values live in
// the boltsession record (as one msgpack binary value). gorilla's keys are
// arbitrary interface{} values, so the map is kept whole, exactly as
// FilesystemStore keeps it in one file.
const ValuesKey = "gorilla"

// DefaultFileName is the database file New uses when its path is a
// directory (FilesystemStore's path is a directory).
const DefaultFileName = "sessions.db"

// Store is a sessions.Store on boltsession. Create it with New (which opens
// a bbolt file) or NewStore (any boltsession.Store, for example a Redis
// one). Get, New and Save are safe for concurrent use.
type Store struct {
	// Codecs sign (and, with block keys, encrypt) the ID cookie, as in
	// FilesystemStore: the first codec encodes, every codec decodes.
	Codecs []securecookie.Codec

	// Options is the default configuration, copied into every new
	// session: Path "/", MaxAge 30 days, as FilesystemStore sets them.
	Options *sessions.Options

	// BrowserSessionTTL is how long the server keeps a session whose
	// Options.MaxAge is 0 (a browser-session cookie) after its last save.
	// Zero means 24 hours.
	BrowserSessionTTL time.Duration

	// Now is the clock for expiry; nil means time.Now.
	Now func() time.Time

	store boltsession.Store
	bolt  *boltsession.BoltStore // set when New opened it; Close closes it
}

// New opens (or creates) the session database at path and returns a Store
// whose cookies are signed with keyPairs, as for
// sessions.NewFilesystemStore: hash key, block key, hash key, block key, ...
// (a nil block key signs without encrypting). At least one hash key is
// required; New refuses to start without one, since unsigned IDs would let
// a client pick any session. A hash key should be 32 or 64 random bytes; a
// block key 16, 24 or 32.
//
// path is FilesystemStore's directory or a database file:
//   - An existing directory holds the database as DefaultFileName, so the
//     path given to NewFilesystemStore can be kept as it is.
//   - An existing file, or a new name with an extension (sessions.db), is
//     the database file itself.
//   - A path that does not exist and has no extension (./sessions, the
//     usual FilesystemStore directory) is refused: it names a directory
//     that is missing, and creating a file of that name would take the
//     place the directory should have. Create the directory first.
//   - A path whose parent directory does not exist is refused too.
//   - An empty path is an error (FilesystemStore falls back to the
//     system's temporary directory, which does not keep sessions across
//     reboots).
//
// A refused path gives an error wrapping fs.ErrNotExist and creates
// nothing. The Store owns the BoltStore: call Close when done.
//
// With block keys, the session values are encrypted at rest, as
// FilesystemStore encrypts the files it writes: each block key gives a
// value key (HKDF-SHA-256 of the block key), the first seals and every one
// opens (boltsession.BoltOptions.ValueKeys), so the database file and its
// backups hold no value in clear, and key rotation works as for the
// cookies. Sessions never stored their IDs (see boltsession.Handle). A
// database written with block keys then refuses to open without them.
func New(path string, keyPairs ...[]byte) (*Store, error) {
	if path == "" {
		return nil, errors.New("gorillastore: New needs a database path")
	}
	if len(keyPairs) == 0 || len(keyPairs[0]) == 0 {
		return nil, errors.New("gorillastore: New needs the key pairs to sign cookies with (hash key, block key, ...), as NewFilesystemStore does")
	}
	path, err := databasePath(path)
	if err != nil {
		return nil, err
	}
	valueKeys, err := valueKeysOf(keyPairs)
	if err != nil {
		return nil, err
	}
	bs, err := boltsession.Open(path, &boltsession.BoltOptions{ValueKeys: valueKeys})
	if err != nil {
		return nil, err
	}
	s := NewStore(bs, keyPairs...)
	s.bolt = bs
	return s, nil
}

// valueKeyInfo binds the value keys derived from block keys to this use.
const valueKeyInfo = "gorillastore session values at rest"

// valueKeysOf derives the value keys of the block keys among keyPairs (hash
// key, block key, ...), in order; none without block keys.
func valueKeysOf(keyPairs [][]byte) ([][]byte, error) {
	var keys [][]byte
	for i := 1; i < len(keyPairs); i += 2 {
		if len(keyPairs[i]) == 0 {
			continue
		}
		k, err := hkdf.Key(sha256.New, keyPairs[i], nil, valueKeyInfo, 32)
		if err != nil {
			return nil, fmt.Errorf("gorillastore: derive a value key: %w", err)
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// databasePath returns the database file New opens for path (see New), or
// why path cannot be one.
func databasePath(path string) (string, error) {
	fi, err := os.Stat(path)
	switch {
	case err == nil && fi.IsDir():
		return filepath.Join(path, DefaultFileName), nil
	case err == nil:
		return path, nil
	case !errors.Is(err, fs.ErrNotExist):
		return "", fmt.Errorf("gorillastore: %w", err)
	}
	if filepath.Ext(path) == "" || os.IsPathSeparator(path[len(path)-1]) {
		return "", fmt.Errorf("gorillastore: directory %s does not exist; create it first (New keeps the database in it as %s), or name a database file such as %s.db: %w",
			path, DefaultFileName, filepath.Clean(path), err)
	}
	dir := filepath.Dir(path)
	if _, derr := os.Stat(dir); derr != nil {
		return "", fmt.Errorf("gorillastore: directory %s of the database %s is missing; create it first: %w", dir, path, derr)
	}
	return path, nil
}

// NewStore returns a Store that keeps sessions in st (which the caller
// closes) and signs cookies with keyPairs, as New does.
func NewStore(st boltsession.Store, keyPairs ...[]byte) *Store {
	s := &Store{
		Codecs: securecookie.CodecsFromPairs(keyPairs...),
		Options: &sessions.Options{
			Path:   "/",
			MaxAge: 86400 * 30,
		},
		store: st,
	}
	s.MaxAge(s.Options.MaxAge)
	return s
}

// Close closes the database if New opened it; a Store from NewStore leaves
// its store to the caller and Close does nothing.
func (s *Store) Close() error {
	if s.bolt != nil {
		return s.bolt.Close()
	}
	return nil
}

// Backend returns the boltsession.Store the sessions are kept in (for
// stats, backups and the operator CLI).
func (s *Store) Backend() boltsession.Store { return s.store }

// MaxAge sets the default Options.MaxAge and the maximum age of the signed
// cookie (securecookie's timestamp check), as FilesystemStore.MaxAge does.
// Call it before serving requests.
func (s *Store) MaxAge(age int) {
	s.Options.MaxAge = age
	for _, c := range s.Codecs {
		if sc, ok := c.(*securecookie.SecureCookie); ok {
			sc.MaxAge(age)
		}
	}
}

// MaxLength limits the length of the encoded cookie, as
// FilesystemStore.MaxLength does for cookies. It does not limit what a
// session holds: the values never leave the server.
func (s *Store) MaxLength(l int) {
	for _, c := range s.Codecs {
		if sc, ok := c.(*securecookie.SecureCookie); ok {
			sc.MaxLength(l)
		}
	}
}

// Get returns the session for name, through the request's registry so that
// sessions.Save(r, w) saves it: see sessions.Registry.
func (s *Store) Get(r *http.Request, name string) (*sessions.Session, error) {
	return sessions.GetRegistry(r).Get(s, name)
}

// New returns the session that r's cookie names, without adding it to the
// registry. With no cookie, or a cookie whose session expired or was
// deleted, it returns a new session (IsNew true) and no error. A cookie that
// does not verify or a stored session that does not decode gives a new
// session together with the error, as gorilla's stores do.
func (s *Store) New(r *http.Request, name string) (*sessions.Session, error) {
	session := sessions.NewSession(s, name)
	opts := *s.Options
	session.Options = &opts
	session.IsNew = true
	c, err := r.Cookie(name)
	if err != nil {
		return session, nil
	}
	var id string
	if err := securecookie.DecodeMulti(name, c.Value, &id, s.Codecs...); err != nil {
		return session, err
	}
	rec, err := s.store.Load(context.WithoutCancel(r.Context()), id)
	switch {
	case errors.Is(err, boltsession.ErrNotFound):
		return session, nil
	case err != nil:
		return session, fmt.Errorf("gorillastore: loading session: %w", err)
	}
	if err := decodeValues(rec.Values[ValuesKey], &session.Values); err != nil {
		session.Values = make(map[any]any)
		return session, fmt.Errorf("gorillastore: decoding session values: %w", err)
	}
	session.ID = id
	session.IsNew = false
	return session, nil
}

// Save writes the session and sets its cookie. Options.MaxAge < 0 deletes
// the session and expires the cookie; 0 keeps it server-side for
// BrowserSessionTTL and sends a browser-session cookie; > 0 keeps it for
// that many seconds and sends a cookie with that Max-Age. Each save starts
// the lifetime afresh.
//
// A session that was loaded from the store but has been deleted since (a
// concurrent logout) is not written again and gets no cookie; Save returns
// an error wrapping boltsession.ErrEnded (and boltsession.ErrNotFound).
func (s *Store) Save(r *http.Request, w http.ResponseWriter, session *sessions.Session) error {
	ctx := context.WithoutCancel(r.Context()) // a client hanging up must not cancel a logout halfway
	if session.Options.MaxAge < 0 {
		if session.ID != "" {
			if err := s.store.Delete(ctx, session.ID); err != nil {
				return fmt.Errorf("gorillastore: deleting session: %w", err)
			}
		}
		http.SetCookie(w, sessions.NewCookie(session.Name(), "", session.Options))
		return nil
	}

	value, err := encodeValues(session.Values)
	if err != nil {
		return err
	}
	now := s.now()
	ttl := time.Duration(session.Options.MaxAge) * time.Second
	if session.Options.MaxAge == 0 {
		ttl = s.BrowserSessionTTL
		if ttl <= 0 {
			ttl = 24 * time.Hour
		}
	}
	u := boltsession.Update{
		ID:      session.ID,
		Set:     map[string][]byte{ValuesKey: value},
		Expires: now.Add(ttl),
	}
	drawn := false // the ID is ours to draw again if it is in use
	if session.IsNew || session.ID == "" {
		if u.ID == "" {
			u.ID, drawn = newID(), true
		}
		u.Create = true
		u.Created = now
	}
	err = s.store.Save(ctx, u)
	for tries := 1; drawn && errors.Is(err, boltsession.ErrExists) && tries < 3; tries++ {
		u.ID = newID() // a create never overwrites another user's session
		err = s.store.Save(ctx, u)
	}
	if err != nil {
		if !u.Create && (errors.Is(err, boltsession.ErrNotFound) || errors.Is(err, boltsession.ErrReplaced)) {
			return fmt.Errorf("gorillastore: saving session: %w (%w)", boltsession.ErrEnded, err)
		}
		return fmt.Errorf("gorillastore: saving session: %w", err)
	}
	session.ID = u.ID
	encoded, err := securecookie.EncodeMulti(session.Name(), session.ID, s.Codecs...)
	if err != nil {
		return err
	}
	http.SetCookie(w, sessions.NewCookie(session.Name(), encoded, session.Options))
	return nil
}

func (s *Store) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

var base32RawStd = base32.StdEncoding.WithPadding(base32.NoPadding)

// newID makes a session ID the way FilesystemStore does: 32 random bytes,
// base32 without padding (52 characters).
func newID() string {
	return base32RawStd.EncodeToString(securecookie.GenerateRandomKey(32))
}

// encodeValues serializes Values with gorilla's gob encoder (what
// FilesystemStore writes, before signing) and wraps the bytes as one msgpack
// binary value, so tools that read boltsession values see a binary blob.
func encodeValues(values map[any]any) ([]byte, error) {
	g, err := securecookie.GobEncoder{}.Serialize(values)
	if err != nil {
		return nil, fmt.Errorf("gorillastore: encoding session values (is every type gob-registered?): %w", err)
	}
	return wrapGob(g)
}

func wrapGob(g []byte) ([]byte, error) {
	b, err := msgpack.Marshal(g)
	if err != nil {
		return nil, fmt.Errorf("gorillastore: encoding session values: %w", err)
	}
	return b, nil
}

func decodeValues(b []byte, into *map[any]any) error {
	if b == nil {
		return nil // a record without values: an empty session
	}
	var g []byte
	if err := msgpack.Unmarshal(b, &g); err != nil {
		return err
	}
	return securecookie.GobEncoder{}.Deserialize(g, into)
}
