package express

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/boltsession/boltsession"
	"github.com/boltsession/boltsession/express/internal/kruptein"
	"github.com/boltsession/boltsession/internal/dirimport"
	"github.com/boltsession/boltsession/internal/jsonvalue"
	"github.com/boltsession/boltsession/migrate"
)

// ImportOptions configures ImportFileStore. The zero value imports
// a directory written with session-file-store's defaults.
type ImportOptions struct {
	// TTL is session-file-store's `ttl` option: the idle lifetime of a
	// session whose cookie has no originalMaxAge (a browser-session
	// cookie). Zero means session-file-store's default, 3600 seconds. Set it
	// to what the Node app configured.
	TTL time.Duration

	// FileExtension is session-file-store's `fileExtension` option; files
	// not ending in it are ignored. Empty means ".json".
	FileExtension string

	// OwnerField names the field that identifies the session's user, as
	// a dotted path into the session object: "passport.user" for an app
	// that signs in with passport, "user.id" for one that keeps a user
	// object. A string or integer found there becomes the record's Owner,
	// so Manager.Owned and Manager.DestroyOwner find the imported
	// sessions; a session without it gets no owner. Empty means none.
	OwnerField string

	// Secret is session-file-store's `secret` option. With it, every file
	// is decrypted as session-file-store 1.5 does (kruptein 2.x envelopes:
	// AES-256-GCM by default, the key derived from the secret and each
	// file's salt with scrypt, an HMAC over the ciphertext); a file that
	// does not decrypt is skipped with migrate.ReasonCorrupt. Decrypting
	// costs what it costs Node: a key derivation per file (scrypt: tens of
	// milliseconds and 16 MiB). Empty: files are read as plain JSON, and
	// encrypted ones are skipped with migrate.ReasonEncrypted.
	Secret string

	// Crypto is session-file-store's `crypto` option, as the JSON of the
	// object the Node app passed, when it passed one; nil means none (the
	// defaults: aes-256-gcm, sha512, scrypt). Give it exactly as the app
	// has it: session-file-store merges it into its defaults shallowly, so
	// an object without "use_scrypt": true makes kruptein derive keys with
	// PBKDF2, and this option reproduces that.
	Crypto json.RawMessage

	// DryRun parses and counts everything but writes nothing.
	DryRun bool

	// MaxFileSize is the largest session file read; larger ones are skipped
	// with migrate.ReasonTooLarge. Zero means 1 MiB.
	MaxFileSize int64

	// Now is the clock expiry is judged by; nil means time.Now.
	Now func() time.Time
}

// ImportFileStore copies the sessions of a session-file-store directory (the
// `path` of Node's session-file-store 1.x, files named <session ID>.json) into
// dst, so that users of an express-session app keep their sessions when the
// app moves to Go with Cookie and the same secret.
//
// Each file becomes the record with the same ID. Its expiry is computed as
// session-file-store computes it: __lastAccess + cookie.originalMaxAge, or +
// TTL when the cookie has no originalMaxAge; files already expired are
// counted in Expired and not written. A file without __lastAccess (not one
// that session-file-store wrote) counts from its modification time. The
// record's Created is the last access (the file keeps no creation time), and
// its per-session MaxAge is left zero so the Manager's MaxAge applies from the
// first request on.
//
// Every top-level field except "cookie" and "__lastAccess" becomes a value
// under the same key, msgpack-encoded from its JSON (the mapping that the
// redisstore module's connect-redis store reads Node's sessions with too):
//   - a number that is an integer (as JSON.stringify writes every integral
//     number) becomes an int64, any other a float64, so Get[int], Get[int64]
//     and Get[float64] read them;
//   - a string, a boolean and null become the same msgpack value (Get[string],
//     Get[bool]; null reads as the zero value);
//   - an object becomes a map with string keys (keys sorted, so the bytes are
//     the same on every run) and an array a list: Get[map[string]any] and
//     Get[[]any] read them, and so does Get[T] for a struct whose fields carry
//     msgpack tags naming the JSON keys (`msgpack:"email"`), or whose field
//     names equal the keys exactly. msgpack matches names case-sensitively, so
//     a field Email without a tag does not receive the key "email".
//
// Files written with session-file-store's `secret` option are decrypted with
// ImportOptions.Secret (see there); without it they are skipped with
// migrate.ReasonEncrypted. Files that do not parse are skipped with
// migrate.ReasonCorrupt and nothing is written for them. Only regular files
// directly inside dir are read: symbolic links and subdirectories are never
// followed (os.Root guards every open), so nothing outside dir is read.
//
// The import is idempotent (see migrate.Summary). The error is non-nil only
// when the whole import failed: bad options, dir unreadable, the first
// encrypted file refusing the secret (an error wrapping ErrWrongSecret:
// nothing is imported, rather than every file being reported corrupt), a
// store write failed, or ctx was cancelled; the summary then counts what was
// done before.
func ImportFileStore(ctx context.Context, dir string, dst boltsession.Store, opts ImportOptions) (migrate.Summary, error) {
	ttl := opts.TTL
	if ttl == 0 {
		ttl = 3600 * time.Second
	}
	ext := opts.FileExtension
	if ext == "" {
		ext = ".json"
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	sum := migrate.Summary{DryRun: opts.DryRun}
	if dst == nil && !opts.DryRun {
		return sum, errors.New("boltsession: ImportFileStore needs a destination store")
	}
	var cipher *kruptein.Cipher
	if opts.Secret != "" {
		kopts, err := kruptein.ParseCryptoOption(opts.Crypto)
		if err == nil {
			cipher, err = kruptein.New(opts.Secret, kopts)
		}
		if err != nil {
			return sum, fmt.Errorf("boltsession: ImportFileStore: session-file-store's crypto option: %w", err)
		}
	} else if opts.Crypto != nil {
		return sum, errors.New("boltsession: ImportFileStore: a crypto option without a secret")
	}
	decrypted := 0 // files read sequentially: Read calls importFile in turn

	files := dirimport.Dir{
		Path:        dir,
		MaxFileSize: opts.MaxFileSize,
		ErrPrefix:   "boltsession",
		SessionID:   func(name string) (string, bool) { return strings.CutSuffix(name, ext) },
	}
	res, err := dirimport.Import[boltsession.Update](ctx, files, importSaver(dst), func(f dirimport.File, save func(boltsession.Update) error) (*dirimport.Skip, error) {
		data := f.Data
		if cipher != nil {
			plain, err := cipher.DecryptSessionFile(data)
			switch {
			case errors.Is(err, kruptein.ErrWrongSecret) && decrypted == 0:
				// Every file would say the same: one clear error, not a
				// directory of "corrupt" files.
				return nil, fmt.Errorf("%w: %s: %w", ErrWrongSecret, f.Name, err)
			case err != nil:
				return &dirimport.Skip{Reason: migrate.ReasonCorrupt, Err: fmt.Errorf("%w: %w", boltsession.ErrCorrupt, err)}, nil
			}
			decrypted++
			data = plain
		}
		s, err := parseFileStoreSession(data, ttl, f.ModTime)
		if err != nil {
			reason := migrate.ReasonCorrupt
			if errors.Is(err, errEncryptedFileStore) {
				reason = migrate.ReasonEncrypted
			}
			return &dirimport.Skip{Reason: reason, Err: err}, nil
		}
		if !s.expires.After(now()) {
			sum.Expired++
			return nil, nil
		}
		owner := fileStoreOwner(data, opts.OwnerField)
		// Refused here, as corrupt input (and in a dry run too), rather
		// than by the store, where it would stop the whole import.
		if err := checkOwner(owner); err != nil {
			return &dirimport.Skip{Reason: migrate.ReasonCorrupt, Err: fmt.Errorf("%w: %s: %w", boltsession.ErrCorrupt, opts.OwnerField, err)}, nil
		}
		if opts.DryRun {
			sum.Imported++
			return nil, nil
		}
		u := boltsession.Update{
			ID:      f.ID,
			Create:  true,
			Created: s.lastAccess,
			Set:     s.values,
			Expires: s.expires,
		}
		if owner != "" {
			u.Owner = &owner
		}
		return nil, save(u)
	})
	sum.Ignored = res.Ignored
	sum.Skipped = res.Skipped
	if !opts.DryRun {
		sum.Imported = res.Written
	}
	return sum, err
}

// ErrWrongSecret reports an import whose first encrypted file does not
// verify with ImportOptions.Secret (and Crypto): the secret, or the crypto
// option, is not the Node app's. Nothing is imported.
var ErrWrongSecret = errors.New("boltsession: the session files do not verify with this secret and crypto option (session-file-store's secret and crypto options of the Node app)")

// errEncryptedFileStore marks a file written with session-file-store's
// `secret` option (kruptein's JSON: hmac, ct, iv, salt, at, aad).
var errEncryptedFileStore = errors.New("boltsession: session file is encrypted (session-file-store secret option); give the importer the Node app's secret")

// fileStoreSession is one parsed session-file-store file.
type fileStoreSession struct {
	lastAccess time.Time
	expires    time.Time
	values     map[string][]byte
}

// parseFileStoreSession parses one session file. modTime stands in for a
// missing __lastAccess. Errors wrap boltsession.ErrCorrupt, or errEncryptedFileStore.
func parseFileStoreSession(data []byte, ttl time.Duration, modTime time.Time) (*fileStoreSession, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		return nil, fmt.Errorf("%w: %w", boltsession.ErrCorrupt, err)
	}
	if top == nil {
		return nil, fmt.Errorf("%w: null instead of a session object", boltsession.ErrCorrupt)
	}
	_, hasCT := top["ct"]
	_, hasHMAC := top["hmac"]
	_, hasLast := top["__lastAccess"]
	if hasCT && hasHMAC && !hasLast {
		return nil, errEncryptedFileStore
	}

	s := &fileStoreSession{lastAccess: modTime, values: make(map[string][]byte, len(top))}
	if raw, ok := top["__lastAccess"]; ok {
		ms, err := jsonInteger(raw)
		if err != nil {
			return nil, fmt.Errorf("%w: __lastAccess: %w", boltsession.ErrCorrupt, err)
		}
		s.lastAccess = time.UnixMilli(ms)
	}

	// session-file-store: cookie.originalMaxAge when truthy, else ttl.
	maxAge := ttl
	if raw, ok := top["cookie"]; ok && !isJSONNull(raw) {
		var cookie map[string]json.RawMessage
		if err := json.Unmarshal(raw, &cookie); err != nil {
			return nil, fmt.Errorf("%w: cookie: %w", boltsession.ErrCorrupt, err)
		}
		if raw, ok := cookie["originalMaxAge"]; ok && !isJSONNull(raw) {
			// A number of milliseconds; an app may compute a fraction.
			n, err := jsonNumberLiteral(raw)
			if err != nil {
				return nil, fmt.Errorf("%w: cookie.originalMaxAge: %w", boltsession.ErrCorrupt, err)
			}
			ms, err := strconv.ParseFloat(string(n), 64)
			if err != nil || math.Abs(ms) >= float64(math.MaxInt64/int64(time.Millisecond)) {
				return nil, fmt.Errorf("%w: cookie.originalMaxAge %s out of range", boltsession.ErrCorrupt, n)
			}
			if ms != 0 {
				maxAge = time.Duration(ms * float64(time.Millisecond))
			}
		}

	}
	s.expires = s.lastAccess.Add(maxAge)

	for key, raw := range top {
		if key == "cookie" || key == "__lastAccess" {
			continue
		}
		b, err := jsonvalue.ToMsgpack(raw)
		if err != nil {
			return nil, fmt.Errorf("%w: field %q: %w", boltsession.ErrCorrupt, key, err)
		}
		s.values[key] = b
	}
	return s, nil
}

// fileStoreOwner returns the string or integer at the dotted path field of
// a session file that parses, or "".
func fileStoreOwner(data []byte, field string) string {
	if field == "" {
		return ""
	}
	raw := json.RawMessage(data)
	for _, name := range strings.Split(field, ".") {
		var obj map[string]json.RawMessage
		if json.Unmarshal(raw, &obj) != nil {
			return ""
		}
		var ok bool
		if raw, ok = obj[name]; !ok {
			return ""
		}
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	if n, err := jsonInteger(raw); err == nil {
		return strconv.FormatInt(n, 10)
	}
	return ""
}

func isJSONNull(raw json.RawMessage) bool {
	return string(bytes.TrimSpace(raw)) == "null"
}

// jsonInteger reads a JSON number that holds an integer (JSON.stringify
// writes Date.now() and millisecond ages without a fraction).
func jsonInteger(raw json.RawMessage) (int64, error) {
	n, err := jsonNumberLiteral(raw)
	if err != nil {
		return 0, err
	}
	v, isInt, err := jsonvalue.Number(n)
	if err != nil {
		return 0, err
	}
	if !isInt {
		return 0, fmt.Errorf("not an integer: %s", n)
	}
	return v.(int64), nil
}

// jsonNumberLiteral reads a JSON number. A string holding digits is not one
// (json.Number would accept it; JavaScript would concatenate it).
func jsonNumberLiteral(raw json.RawMessage) (json.Number, error) {
	var n json.Number
	if t := bytes.TrimSpace(raw); len(t) == 0 || t[0] == '"' || json.Unmarshal(t, &n) != nil {
		return "", fmt.Errorf("not a number: %s", truncateForError(raw))
	}
	return n, nil
}

func truncateForError(raw []byte) string {
	if len(raw) > 40 {
		return string(raw[:40]) + "..."
	}
	return string(raw)
}

// importSaver is what the importer writes through: the file's copy of a
// session replaces a record with its ID (see migrate.Summary).
func importSaver(dst boltsession.Store) dirimport.Overwriting[boltsession.Update] {
	return dirimport.Overwriting[boltsession.Update]{
		Store:  dst,
		ID:     func(u boltsession.Update) string { return u.ID },
		Exists: func(err error) bool { return errors.Is(err, boltsession.ErrExists) },
	}
}

// maxOwnerLen is the longest owner BoltStore keeps (and so the longest this
// importer passes on).
const maxOwnerLen = 1024

// checkOwner refuses an owner a store cannot hold: longer than maxOwnerLen
// or holding a NUL byte (BoltStore's owner index separator). It is checked
// here, so that such a file is skipped, rather than by the store, where the
// failed save would stop the whole import.
func checkOwner(owner string) error {
	if len(owner) > maxOwnerLen {
		return fmt.Errorf("owner longer than %d bytes", maxOwnerLen)
	}
	if strings.IndexByte(owner, 0) >= 0 {
		return errors.New("owner contains a NUL byte")
	}
	return nil
}
