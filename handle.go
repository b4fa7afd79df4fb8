package boltsession

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
)

// Handle returns the handle of the session id: its SHA-256, in hex.
//
// Stores key each session by its handle, never by its ID (as Rack's
// session stores do since CVE-2019-16782), and everything that leaves the
// process names a session by it: the session file, its backups and
// exports, the command-line tool's and the admin handler's output, log
// lines. A handle cannot be turned back into the ID the cookie carries, so
// whoever reads a stolen file or backup cannot sign in as its users.
// Operators find and remove a session by its handle; Session.Handle gives
// a request's own.
//
// The hash is not keyed: session IDs are unguessable (256 random bits by
// default), so a file reader can neither reverse a handle nor find an ID
// that has it. An application whose GenID makes guessable IDs should not
// rely on handles to hide them.
func Handle(id string) string {
	k := handleKey(id)
	return hex.EncodeToString(k[:])
}

// handleKey is the handle as the bytes the stores key records by.
func handleKey(id string) [sha256.Size]byte {
	return sha256.Sum256([]byte(id))
}

// parseHandle returns the key of a handle (64 hex characters).
func parseHandle(handle string) ([]byte, error) {
	k, err := hex.DecodeString(handle)
	if err != nil || len(k) != sha256.Size {
		return nil, fmt.Errorf("boltsession: %q is not a session handle (64 hex characters)", handle)
	}
	return k, nil
}

// keyOf is the key of the session id in the store's buckets.
func keyOf(id string) []byte {
	k := handleKey(id)
	return k[:]
}

// handleOf is the handle of a key of the store's buckets.
func handleOf(key []byte) string {
	var buf [2 * sha256.Size]byte // one allocation, the string, where EncodeToString makes two
	return string(hex.AppendEncode(buf[:0], key))
}

// handlePrefix turns a prefix of a handle (hex, any length up to 64) into
// the key to seek to and the test a key must pass to start with it.
func handlePrefix(p string) (seek []byte, match func(key []byte) bool, err error) {
	if len(p) > 2*sha256.Size {
		return nil, nil, fmt.Errorf("boltsession: handle prefix %q is longer than a handle", p)
	}
	whole, err := hex.DecodeString(p[:len(p)&^1])
	if err != nil {
		return nil, nil, fmt.Errorf("boltsession: handle prefix %q is not hex", p)
	}
	if len(p)%2 == 0 {
		return whole, func(k []byte) bool { return bytes.HasPrefix(k, whole) }, nil
	}
	nibble, err := hex.DecodeString(p[len(p)-1:] + "0")
	if err != nil {
		return nil, nil, fmt.Errorf("boltsession: handle prefix %q is not hex", p)
	}
	seek = append(whole, nibble[0])
	return seek, func(k []byte) bool {
		return bytes.HasPrefix(k, whole) && len(k) > len(whole) && k[len(whole)]>>4 == nibble[0]>>4
	}, nil
}
