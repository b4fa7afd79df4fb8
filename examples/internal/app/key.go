package app

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// KeySize is the length of the signing key that LoadOrCreateKey keeps: 64
// bytes, the size of an HMAC-SHA512 block, which is what securecookie signs
// with by default.
const KeySize = 64

// LoadOrCreateKey returns the signing key kept in the file at path, creating
// the file with KeySize random bytes and mode 0600 when it does not exist.
//
// Reusing the file across restarts is what keeps existing cookies valid: a
// new key would make every cookie issued before unverifiable, and so log
// everyone out. The file is written under a temporary name and linked into
// place, so a crash never leaves a short key behind and two processes
// starting at once agree on one key. A file of another length is refused
// rather than used, since it is not one this program wrote.
func LoadOrCreateKey(path string) ([]byte, error) {
	key, err := readKey(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return key, err
	}
	key = make([]byte, KeySize)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("boltsession: generate key: %w", err)
	}
	if err := writeKeyOnce(path, key); err != nil {
		if errors.Is(err, fs.ErrExist) {
			// Another process created it first: use its key.
			return readKey(path)
		}
		return nil, err
	}
	return key, nil
}

func readKey(path string) ([]byte, error) {
	key, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("boltsession: read key file: %w", err)
	}
	if len(key) != KeySize {
		return nil, fmt.Errorf("boltsession: key file %s holds %d bytes, want %d "+
			"(remove it to make a new key; cookies signed with the old one stop working)",
			path, len(key), KeySize)
	}
	return key, nil
}

// writeKeyOnce writes key to a temporary file beside path and hard-links it
// to path, which fails with fs.ErrExist instead of replacing a key that
// another process wrote meanwhile.
func writeKeyOnce(path string, key []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".key-*")
	if err != nil {
		return fmt.Errorf("boltsession: create key file: %w", err)
	}
	defer os.Remove(tmp.Name())
	// CreateTemp already uses 0600; Chmod states it for umasks that differ.
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("boltsession: create key file: %w", err)
	}
	if _, err := tmp.Write(key); err != nil {
		tmp.Close()
		return fmt.Errorf("boltsession: write key file: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("boltsession: write key file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("boltsession: write key file: %w", err)
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		return fmt.Errorf("boltsession: create key file: %w", err)
	}
	return nil
}
