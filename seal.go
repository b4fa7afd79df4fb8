package boltsession

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
)

// Value encryption at rest (BoltOptions.ValueKeys). A sealed record is
//
//	0xc2 ‖ key id (4 bytes) ‖ salt (16 bytes) ‖ AES-GCM(the record)
//
// where the record is its checksummed form (recordTag), the AES-256 key is
// derived with HKDF-SHA-256 from the configured key and the record's own
// random salt, and the session's key (its handle) is the additional data,
// so that a sealed record cannot be moved to another session. A key of its
// own per record makes the all-zero nonce safe and lifts AES-GCM's limit
// of about 2^32 random nonces per key, which a busy store would reach. The
// key id is the first 4 bytes of the SHA-256 of the configured key: it
// picks the key to open a record with, so that keys rotate (the first key
// seals, every key opens).
const (
	sealTag     = 0xc2 // msgpack's false: never the first byte of a record map
	sealKeyID   = 4
	sealSalt    = 16
	sealHeader  = 1 + sealKeyID + sealSalt
	sealKeySize = 32
)

// sealInfo binds the derived keys to this use.
const sealInfo = "boltsession record v1"

// ErrKey reports a sealed record (or file) that the configured
// BoltOptions.ValueKeys cannot open: no key given, or not the key it was
// sealed with. Nothing was written.
var ErrKey = errors.New("boltsession: the session values are encrypted with a key the store was not given")

// sealer seals and opens records with the configured value keys.
type sealer struct {
	sealID   [sealKeyID]byte
	sealWith []byte
	keys     map[[sealKeyID]byte][]byte
}

// newSealer checks the keys (16, 24 or 32 bytes each) and returns their
// sealer; nil for none.
func newSealer(keys [][]byte) (*sealer, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	s := &sealer{keys: make(map[[sealKeyID]byte][]byte, len(keys))}
	for i, k := range keys {
		switch len(k) {
		case 16, 24, 32:
		default:
			return nil, fmt.Errorf("boltsession: ValueKeys[%d] is %d bytes; a value key is 16, 24 or 32 random bytes", i, len(k))
		}
		id := keyID(k)
		if _, dup := s.keys[id]; dup {
			return nil, fmt.Errorf("boltsession: ValueKeys[%d] is given twice", i)
		}
		s.keys[id] = k
		if i == 0 {
			s.sealID, s.sealWith = id, k
		}
	}
	return s, nil
}

func keyID(k []byte) (id [sealKeyID]byte) {
	sum := sha256.Sum256(k)
	copy(id[:], sum[:])
	return id
}

// recordAEAD returns the AES-GCM of the record key derived from k and salt.
func recordAEAD(k, salt []byte) (cipher.AEAD, error) {
	derived, err := hkdf.Key(sha256.New, k, salt, sealInfo, sealKeySize)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(derived)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// seal encrypts the stored form plain of the session under key.
func (s *sealer) seal(key, plain []byte) ([]byte, error) {
	out := make([]byte, sealHeader, sealHeader+len(plain)+16)
	out[0] = sealTag
	copy(out[1:], s.sealID[:])
	salt := out[1+sealKeyID : sealHeader]
	rand.Read(salt) // never fails; the runtime aborts if the system source is broken
	aead, err := recordAEAD(s.sealWith, salt)
	if err != nil {
		return nil, fmt.Errorf("boltsession: seal record: %w", err)
	}
	var nonce [12]byte // the record's key is its own: a fixed nonce is never reused with it
	return aead.Seal(out, nonce[:aead.NonceSize()], plain, key), nil
}

// open returns the stored form inside a sealed record of the session under
// key. s may be nil (no keys configured): a sealed record then gives
// ErrKey.
func (s *sealer) open(key, sealed []byte) ([]byte, error) {
	if len(sealed) < sealHeader+16 {
		return nil, fmt.Errorf("%w: sealed record of %d bytes is shorter than its header", ErrCorrupt, len(sealed))
	}
	var id [sealKeyID]byte
	copy(id[:], sealed[1:])
	if s == nil {
		return nil, fmt.Errorf("%w: the record is sealed and no BoltOptions.ValueKeys were given", ErrKey)
	}
	k, ok := s.keys[id]
	if !ok {
		return nil, fmt.Errorf("%w: the record is sealed with key %x, which is not among ValueKeys", ErrKey, id)
	}
	aead, err := recordAEAD(k, sealed[1+sealKeyID:sealHeader])
	if err != nil {
		return nil, fmt.Errorf("boltsession: open record: %w", err)
	}
	var nonce [12]byte
	plain, err := aead.Open(nil, nonce[:aead.NonceSize()], sealed[sealHeader:], key)
	if err != nil {
		return nil, fmt.Errorf("%w: a sealed record does not authenticate: damaged, or moved from another session", ErrCorrupt)
	}
	return plain, nil
}

// encode returns the stored form of rec, the session under key: sealed
// when the store has value keys.
func (s *BoltStore) encode(key []byte, rec *Record) ([]byte, error) {
	raw, err := encodeRecord(rec)
	if err != nil || s.sealer == nil {
		return raw, err
	}
	return s.sealer.seal(key, raw)
}

// decodeRecord decodes the stored record raw of the session under key;
// id is its ID when the caller knows it ("" when listing).
func (s *BoltStore) decodeRecord(key []byte, id string, raw []byte) (*Record, error) {
	return s.decodeWith(key, id, raw, false)
}

// decodeIndexFields is decodeRecord without the values (see the function
// of that name).
func (s *BoltStore) decodeIndexFields(key, raw []byte) (*Record, error) {
	return s.decodeWith(key, "", raw, true)
}

func (s *BoltStore) decodeWith(key []byte, id string, raw []byte, skipValues bool) (*Record, error) {
	if len(raw) > 0 && raw[0] == sealTag {
		var err error
		// A copy of key: AES-GCM takes it through an interface, and key
		// itself could then not stay on its caller's stack, even for
		// records in clear.
		if raw, err = s.sealer.open(bytes.Clone(key), raw); err != nil {
			return nil, err
		}
	}
	rec, err := decodeWith(id, raw, skipValues)
	if err != nil {
		return nil, err
	}
	rec.Handle = handleOf(key)
	return rec, nil
}

// sealedID reports the key id a stored record is sealed with, if it is.
func sealedID(raw []byte) (uint32, bool) {
	if len(raw) < sealHeader || raw[0] != sealTag {
		return 0, false
	}
	return binary.BigEndian.Uint32(raw[1:]), true
}

// current reports whether the stored record raw is sealed under the key
// that seals (the first of the keys): sealing it again would change
// nothing but its salt.
func (s *sealer) current(raw []byte) bool {
	id, ok := sealedID(raw)
	return ok && id == binary.BigEndian.Uint32(s.sealID[:])
}
