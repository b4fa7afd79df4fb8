package redisstore

import (
	"fmt"

	"github.com/boltsession/boltsession"
)

// Values in the per-session layout. Each value field v:<key> holds the
// value in one of two forms, told apart by its first byte:
//
//	0x00 ‖ the value as the application encoded it   (in clear)
//	0xc2 ‖ key id ‖ salt ‖ AES-GCM of the value      (sealed, Options.ValueKeys)
//
// The sealed form is boltsession.ValueSealer's, the construction of
// BoltOptions.ValueKeys, with the session's handle (64 hex characters)
// followed by the field name as additional data: a sealed value opens only
// in the field and the session it was written to, so whoever can write to
// Redis cannot move a value to another key or another session. Each field
// is sealed on its own, so a per-key merge stays a blind HSET of the
// fields it changes. A value written in clear stays readable, and is
// sealed when it is next written.
//
// The legacy layout keeps values as the earlier releases wrote them: the
// bytes alone, never sealed (a store with ValueKeys moves a legacy session
// to the per-session layout before writing values to it). The tag of the
// clear form is what lets the two forms share the per-session layout:
// application bytes may start with 0xc2 (msgpack's false).
const (
	valueClear  = 0x00
	valueSealed = 0xc2 // the first byte of every boltsession.ValueSealer output
)

// valueAAD is the additional data of the value field of the session h.
func valueAAD(h handle, field string) []byte {
	aad := make([]byte, 0, len(h)+len(field))
	aad = append(aad, h...)
	return append(aad, field...)
}

// encodeValue returns the stored form of the value v of field (valuePrefix
// and the key) in the session h: sealed when the store has ValueKeys, else
// tagged as clear.
func (s *Store) encodeValue(h handle, field string, v []byte) ([]byte, error) {
	if s.sealer == nil {
		out := make([]byte, 1+len(v))
		out[0] = valueClear
		copy(out[1:], v)
		return out, nil
	}
	sealed, err := s.sealer.Seal(valueAAD(h, field), v)
	if err != nil {
		return nil, fmt.Errorf("boltsession: redisstore: seal value: %w", err)
	}
	return sealed, nil
}

// decodeValue returns the value that the stored form of field holds in
// the session h. A sealed value the store has no key for gives an error
// wrapping boltsession.ErrKey; an unknown form, a damaged value, or one
// moved from another field or session, an error wrapping
// boltsession.ErrCorrupt.
func (s *Store) decodeValue(h handle, field, stored string) ([]byte, error) {
	if stored == "" {
		return nil, fmt.Errorf("%w: field %q is empty", boltsession.ErrCorrupt, field)
	}
	switch stored[0] {
	case valueClear:
		return []byte(stored[1:]), nil
	case valueSealed:
		if s.sealer == nil {
			return nil, fmt.Errorf("%w: field %q is sealed and the store has no Options.ValueKeys", boltsession.ErrKey, field)
		}
		v, err := s.sealer.Open(valueAAD(h, field), []byte(stored))
		if err != nil {
			return nil, fmt.Errorf("field %q: %w", field, err)
		}
		return v, nil
	}
	return nil, fmt.Errorf("%w: field %q starts with 0x%02x, which is no stored form of a value", boltsession.ErrCorrupt, field, stored[0])
}

// encodeValues returns the fields and stored forms of values in the
// session h as the scripts take them: field, form, field, form, ...
func (s *Store) encodeValues(h handle, values map[string][]byte) ([]any, error) {
	out := make([]any, 0, 2*len(values))
	for k, v := range values {
		field := valuePrefix + k
		stored, err := s.encodeValue(h, field, v)
		if err != nil {
			return nil, err
		}
		out = append(out, field, stored)
	}
	return out, nil
}
