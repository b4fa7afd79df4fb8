package gorillastore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/boltsession/boltsession"
	"github.com/boltsession/boltsession/internal/dirimport"
	"github.com/boltsession/boltsession/migrate"
	"github.com/gorilla/securecookie"
)

// ImportOptions configures ImportFilesystemStore.
type ImportOptions struct {
	// KeyPairs are the key pairs the FilesystemStore was created with
	// (hash key, block key, ...). Required: a file is signed, and
	// encrypted when there is a block key.
	KeyPairs [][]byte

	// Names are the session (cookie) names the app used with the store:
	// FilesystemStore signs each file together with its session's name,
	// and the file does not record it. Each file is tried with every name.
	// Required.
	Names []string

	// MaxAge is the store's MaxAge in seconds (FilesystemStore.MaxAge,
	// default 30 days): a session expires MaxAge after its file was last
	// written (the file's modification time). Zero means 30 days.
	MaxAge int

	// DryRun verifies and counts everything but writes nothing.
	DryRun bool

	// MaxFileSize is the largest file read; larger ones are skipped with
	// migrate.ReasonTooLarge. Zero means 1 MiB.
	MaxFileSize int64

	// Now is the clock expiry is judged by; nil means time.Now.
	Now func() time.Time
}

// sessionFilePrefix is how FilesystemStore names its files: session_<ID>.
const sessionFilePrefix = "session_"

// ImportFilesystemStore copies the sessions of a gorilla FilesystemStore
// directory (files named session_<ID>) into dst in gorillastore's format, so
// the cookies FilesystemStore issued keep working with a Store built on dst
// with the same key pairs.
//
// Each file is verified with the key pairs and session names given, and its
// values are carried over as the gob bytes FilesystemStore wrote, so the
// importer needs none of the app's types registered. The session keeps its
// ID; it expires MaxAge after the file's modification time, and files
// already past that are counted in Expired and not written. Files that do
// not verify with any key pair and name are skipped with
// migrate.ReasonCorrupt; nothing is written for them. Only regular
// files directly inside dir are read: symbolic links and subdirectories are
// never followed (os.Root guards every open), so nothing outside dir is
// read. Other names (such as New's sessions.db) are ignored.
//
// The import is idempotent (see migrate.Summary). The error is
// non-nil only when the whole import failed: bad options, dir unreadable, a
// store write failed, or ctx was cancelled.
func ImportFilesystemStore(ctx context.Context, dir string, dst boltsession.Store, opts ImportOptions) (migrate.Summary, error) {
	sum := migrate.Summary{DryRun: opts.DryRun}
	if len(opts.KeyPairs) == 0 || len(opts.KeyPairs[0]) == 0 {
		return sum, errors.New("gorillastore: ImportFilesystemStore needs the store's key pairs")
	}
	if len(opts.Names) == 0 {
		return sum, errors.New("gorillastore: ImportFilesystemStore needs the session names the app used")
	}
	if dst == nil && !opts.DryRun {
		return sum, errors.New("gorillastore: ImportFilesystemStore needs a destination store")
	}
	if opts.MaxAge == 0 {
		opts.MaxAge = 86400 * 30
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	res, err := importFiles(ctx, dir, dst, opts, &sum)
	sum.Ignored = res.Ignored
	sum.Skipped = res.Skipped
	if !opts.DryRun {
		sum.Imported = res.Written
	}
	return sum, err
}

// importFiles reads dir and saves every live session file to dst; opts has
// its defaults filled in. It counts expired and dry-run sessions in sum.
func importFiles(ctx context.Context, dir string, dst boltsession.Store, opts ImportOptions, sum *migrate.Summary) (dirimport.Result, error) {
	codecs := fileCodecs(opts.KeyPairs)
	maxAge := time.Duration(opts.MaxAge) * time.Second
	files := dirimport.Dir{
		Path:        dir,
		MaxFileSize: opts.MaxFileSize,
		ErrPrefix:   "gorillastore",
		SessionID:   func(name string) (string, bool) { return strings.CutPrefix(name, sessionFilePrefix) },
	}
	saver := dirimport.Overwriting[boltsession.Update]{
		Store:  dst,
		ID:     func(u boltsession.Update) string { return u.ID },
		Exists: func(err error) bool { return errors.Is(err, boltsession.ErrExists) },
	}
	return dirimport.Import[boltsession.Update](ctx, files, saver, func(f dirimport.File, save func(boltsession.Update) error) (*dirimport.Skip, error) {
		gobValues, err := parseFilesystemSession(f.Data, opts.Names, codecs)
		if err != nil {
			return &dirimport.Skip{Reason: migrate.ReasonCorrupt, Err: err}, nil
		}
		expires := f.ModTime.Add(maxAge)
		if !expires.After(opts.Now()) {
			sum.Expired++
			return nil, nil
		}
		if opts.DryRun {
			sum.Imported++
			return nil, nil
		}
		value, err := wrapGob(gobValues)
		if err != nil {
			return nil, err
		}
		return nil, save(boltsession.Update{
			ID:      f.ID,
			Create:  true,
			Created: f.ModTime,
			Set:     map[string][]byte{ValuesKey: value},
			Expires: expires,
		})
	})
}

// fileCodecs are the store's codecs set up to read files: no timestamp check
// (expiry comes from the modification time), no length limit (apps raise
// FilesystemStore.MaxLength), and no deserialization, so the gob bytes are
// carried over without needing the app's types.
func fileCodecs(keyPairs [][]byte) []securecookie.Codec {
	codecs := securecookie.CodecsFromPairs(keyPairs...)
	for _, c := range codecs {
		if sc, ok := c.(*securecookie.SecureCookie); ok {
			sc.MaxAge(0)
			sc.MaxLength(0)
			sc.SetSerializer(securecookie.NopEncoder{})
		}
	}
	return codecs
}

// parseFilesystemSession verifies (and decrypts) one FilesystemStore file
// with every session name in turn and returns the gob-encoded Values it
// holds.
func parseFilesystemSession(data []byte, names []string, codecs []securecookie.Codec) ([]byte, error) {
	value := strings.TrimSpace(string(data))
	var lastErr error
	for _, name := range names {
		var g []byte
		err := securecookie.DecodeMulti(name, value, &g, codecs...)
		if err == nil {
			return g, nil
		}
		lastErr = err
	}
	return nil, fmt.Errorf("gorillastore: file does not verify with the key pairs and names given: %w", lastErr)
}
