package boltsession

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"unicode"
)

// KeySize is the length of the keys LoadOrCreateKey creates: 64 random
// bytes, one full block of HMAC-SHA256, which SecureCookie signs with.
const KeySize = 64

// MinKeySize is the shortest key LoadOrCreateKey and KeyFromEnv accept: 32
// bytes, the shortest hash key SecureCookie takes.
const MinKeySize = 32

// maxKeySize is the longest key they accept. A longer file is far more
// likely the wrong file (the session database named by mistake) than a
// key, and using it would sign cookies with whatever it holds.
const maxKeySize = 1024

// ErrNoKey is what KeyFromEnv returns, wrapped, when its environment
// variable is unset or empty: the caller may then fall back to a key file.
var ErrNoKey = errors.New("boltsession: no key in the environment")

// LoadOrCreateKey returns the cookie signing key kept in the file at path,
// for Options.Keys. When the file does not exist, it creates it with
// KeySize bytes from crypto/rand and mode 0600. The directory must exist;
// it is not created.
//
// Keeping the key across restarts is what keeps issued cookies valid: with
// a new key, every cookie signed before stops verifying and everyone is
// signed out. Processes that share a store (Redis) must share the key too.
//
// Creation is atomic. The key is written and fsynced under a temporary
// name in the same directory, then hard-linked to path, which fails rather
// than replace a file another process linked first. So a crash never
// leaves a partial key at path, and processes starting at once all return
// the one key that was linked first. (The file system must support hard
// links, as every local Unix file system and NTFS do.)
//
// An existing file is used as it is, raw bytes rather than text, if it is a
// regular file of MinKeySize to 1024 bytes that, except on Windows, grants
// no permission to group or others (mode 0600 or 0400, as OpenSSH demands
// of a private key): anyone who can read the key can forge a cookie for any
// session ID they learn. A file that fails a check is refused, with an
// error saying what to do, and left untouched; a file of another length is
// never replaced by a new key. A secret mounted with a broader mode (a
// Kubernetes Secret's default is 0644) needs its mode narrowed, or can be
// passed through the environment and KeyFromEnv instead.
//
// An error starts with "boltsession:" and names path; no key is returned
// with it, and no key file was left behind by this call.
func LoadOrCreateKey(path string) ([]byte, error) {
	key, err := readKeyFile(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return key, err
	}
	key = make([]byte, KeySize)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("boltsession: key file %s: generate key: %w", path, err)
	}
	err = linkNewKey(path, key)
	if errors.Is(err, fs.ErrExist) {
		// Another process linked its key first: everyone uses that one.
		return readKeyFile(path)
	}
	if err != nil {
		return nil, err
	}
	return key, nil
}

// KeyFromEnv returns the key held, base64-encoded, in the environment
// variable name, for Options.Keys. Either base64 alphabet works, standard
// or URL-safe, with or without padding; spaces and line breaks are
// ignored, so the output of `openssl rand -base64 64` can be used as it is.
// Hex is not accepted: a hex string is valid base64 too, and would be
// decoded as base64 to bytes other than the ones it spells.
//
// An unset or empty variable gives an error wrapping ErrNoKey, so that a
// key file can serve as the fallback (see the example). A variable that is
// set but is not base64, or that decodes to fewer than MinKeySize or more
// than 1024 bytes, is an error that names the variable but never shows its
// value.
func KeyFromEnv(name string) ([]byte, error) {
	text := os.Getenv(name)
	if strings.TrimSpace(text) == "" {
		return nil, fmt.Errorf("%w: %s is not set", ErrNoKey, name)
	}
	key, err := decodeKeyText(text)
	if err != nil {
		return nil, fmt.Errorf("boltsession: environment variable %s: %w", name, err)
	}
	return key, nil
}

// decodeKeyText decodes a key written in base64 (see KeyFromEnv).
func decodeKeyText(text string) ([]byte, error) {
	clean := strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) {
			return -1
		}
		return r
	}, text)
	clean = strings.TrimRight(clean, "=")
	enc := base64.RawStdEncoding
	if strings.ContainsAny(clean, "-_") {
		enc = base64.RawURLEncoding
	}
	key, err := enc.Strict().DecodeString(clean)
	if err != nil {
		// The decoder's error names a position, never the text.
		return nil, fmt.Errorf("not base64 (make a key with `openssl rand -base64 64`): %w", err)
	}
	if err := checkKeyLength(len(key)); err != nil {
		return nil, err
	}
	return key, nil
}

// checkKeyLength refuses a key too short to sign with or too long to be one.
func checkKeyLength(n int) error {
	switch {
	case n < MinKeySize:
		return fmt.Errorf("holds %d bytes; a key needs at least %d", n, MinKeySize)
	case n > maxKeySize:
		return fmt.Errorf("holds more than %d bytes: not a key", maxKeySize)
	}
	return nil
}

// readKeyFile reads and checks an existing key file. A missing file gives
// an error wrapping fs.ErrNotExist.
func readKeyFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("boltsession: key file: %w", err)
	}
	defer f.Close()
	// Stat the open file, not the name: the checks then hold for the bytes
	// read, even if the name is swapped meanwhile.
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("boltsession: key file %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("boltsession: key file %s is not a regular file (%v)", path, fi.Mode().Type())
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 && runtime.GOOS != "windows" {
		return nil, fmt.Errorf("boltsession: key file %s has mode %04o: group or others may read it, and whoever reads the key can forge session cookies (chmod 600 %s)", path, perm, path)
	}
	key, err := io.ReadAll(io.LimitReader(f, maxKeySize+1))
	if err != nil {
		return nil, fmt.Errorf("boltsession: key file %s: %w", path, err)
	}
	if err := checkKeyLength(len(key)); err != nil {
		return nil, fmt.Errorf("boltsession: key file %s %w (to start over, remove it: a new key is then created, and cookies signed with the old one stop verifying)", path, err)
	}
	return key, nil
}

// linkNewKey writes key to a temporary file beside path, fsyncs it and
// hard-links it to path. The link fails with an error wrapping fs.ErrExist
// when path exists, so a key another process created meanwhile is never
// replaced, and path never names a partly written key.
func linkNewKey(path string, key []byte) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*") // mode 0600
	if err != nil {
		return fmt.Errorf("boltsession: create key file %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(key)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("boltsession: write key file %s: %w", path, err)
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		return fmt.Errorf("boltsession: create key file %s: %w", path, err)
	}
	// Make the new name durable: a key that vanished in a crash would sign
	// everyone out. Not every system can sync a directory (Windows cannot);
	// the key is in place either way.
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}
