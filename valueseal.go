package boltsession

import (
	"errors"
	"fmt"
)

// ValueSealer seals and opens data with value keys, in the construction
// that BoltOptions.ValueKeys uses for the records of a session file. It is
// exported so that stores of other modules (redisstore's Options.ValueKeys)
// seal with the very same code, keys and key ids: one key configuration
// means the same on every store.
//
// Sealed data is
//
//	0xc2 ‖ key id (4 bytes) ‖ salt (16 bytes) ‖ AES-GCM ciphertext and tag
//
// 37 bytes more than the plain data. The AES key (256 bits) is derived
// with HKDF-SHA-256 from the configured key and the salt, which is random
// for each Seal, so every sealing has a key of its own (and the all-zero
// nonce is never reused with a key). The key id is the first 4 bytes of
// the SHA-256 of the configured key: Open picks the key by it. The
// additional data aad is authenticated, not stored: Open must be given the
// same aad, so a caller binds sealed data to where it belongs (BoltStore
// uses the session's handle) and it cannot be moved elsewhere.
//
// A ValueSealer is safe for concurrent use. The nil *ValueSealer has no
// keys: its Open of sealed data gives an error wrapping ErrKey.
type ValueSealer struct {
	s *sealer
}

// NewValueSealer returns the sealer of keys: each 16, 24 or 32 random
// bytes, no key twice. The first key seals; every key opens (rotation: put
// the new key first and keep the old ones while data sealed with them
// lives). No keys, or a key of another length, is an error.
func NewValueSealer(keys [][]byte) (*ValueSealer, error) {
	if len(keys) == 0 {
		return nil, errors.New("boltsession: NewValueSealer: no value keys given")
	}
	s, err := newSealer(keys)
	if err != nil {
		return nil, err
	}
	return &ValueSealer{s: s}, nil
}

// Seal returns plain sealed with the first key, bound to aad. The result
// is a new slice; plain and aad are not kept.
func (v *ValueSealer) Seal(aad, plain []byte) ([]byte, error) {
	if v == nil {
		return nil, fmt.Errorf("%w: no value keys to seal with", ErrKey)
	}
	return v.s.seal(aad, plain)
}

// Open returns the plain data inside sealed, which must have been sealed
// with aad. Data sealed with a key the sealer was not given (or any
// sealed data, for the nil sealer) gives an error wrapping ErrKey; data
// that is not sealed, is damaged, or was sealed with another aad gives an
// error wrapping ErrCorrupt.
func (v *ValueSealer) Open(aad, sealed []byte) ([]byte, error) {
	if !IsSealed(sealed) {
		return nil, fmt.Errorf("%w: %d bytes that are not sealed data", ErrCorrupt, len(sealed))
	}
	if v == nil {
		return nil, fmt.Errorf("%w: the data is sealed and no value keys were given", ErrKey)
	}
	return v.s.open(aad, sealed)
}

// Current reports whether sealed was sealed with the first key, so that
// sealing it again would change nothing but its salt. Data that is not
// sealed, or sealed with another key, is not current.
func (v *ValueSealer) Current(sealed []byte) bool {
	return v != nil && v.s.current(sealed)
}

// IsSealed reports whether data has the shape of sealed data: the tag
// byte 0xc2 and at least the 37 bytes that sealing adds. It does not
// authenticate it (Open does).
func IsSealed(data []byte) bool {
	return len(data) >= sealHeader+16 && data[0] == sealTag
}
