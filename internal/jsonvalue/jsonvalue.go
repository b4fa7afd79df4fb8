// Package jsonvalue is the one mapping between session values as Node's
// express-session keeps them (JSON) and as boltsession keeps them (each value
// msgpack-encoded on its own). The importer of session-file-store
// directories, the connect-redis mode of the redisstore module and the
// operator CLI all use it, so a value reads the same whichever way it came.
//
// # JSON to msgpack (ToMsgpack, Decode)
//
//   - a number whose value is an integer within JavaScript's safe range
//     ±(2^53−1) becomes an int64, whatever its spelling (JavaScript has one
//     number type: 3, 3.0 and 3e0 are the same number, -0 is 0); any other
//     number becomes a float64 (fractions, and integral values beyond the
//     safe range, such as 2^60 or 1e21, which JavaScript holds as doubles);
//     a number too large for a float64 is an error (JSON.stringify never
//     writes one);
//   - a string, true, false and null become the msgpack str, bool and nil;
//   - an object becomes a map with string keys, encoded with its keys
//     sorted (so the bytes are the same on every run; the order JSON had is
//     not kept), and an array becomes an array. A key that occurs twice
//     keeps its last value, as JSON.parse does.
//
// Decode, the direction a store shared with Node reads with, also turns an
// object that is exactly {"$msgpack": "<standard base64>"} back into the
// msgpack bytes it holds (see Encode); ToMsgpack, the importer's, does not.
//
// # msgpack to JSON (Encode)
//
// Encode writes what JSON can hold as the JSON that JSON.parse reads back
// to the same value: nil, booleans, UTF-8 strings, integers within
// JavaScript's safe range ±(2^53−1), finite float64s (in JavaScript's own
// spelling, so a Node app that saves the session again writes the same
// text), arrays, and maps whose keys are distinct UTF-8 strings. Everything
// else cannot round-trip through a JavaScript object, and is written, node
// by node, as {"$msgpack": "<standard base64 of that node's msgpack
// bytes>"}, which Decode turns back into the same bytes:
//
//   - binary (msgpack bin, a Go []byte) and extensions, among them
//     time.Time (extension -1): a Node app sees the tag object instead;
//   - integers beyond ±(2^53−1): a JavaScript number would round them, so
//     a Node save would change the value silently;
//   - float32 (Go decodes a float64 into a float32 only through an
//     integer), NaN and ±Inf (JSON has none);
//   - strings that are not valid UTF-8, and maps with a key that is not a
//     UTF-8 string or that occurs twice (the whole map is tagged);
//   - bytes that are not exactly one well-formed msgpack value (the whole
//     value is tagged, so it is kept byte for byte).
//
// A value that went JSON → msgpack → JSON is the same value, not always
// the same bytes: a Go value read back is the same value in the canonical
// encoding of this mapping (integers as int64, float64s that are integral
// as int64, maps with sorted keys). msgpack decodes such a value into the
// Go types it came from (an int64 into an int, uint8 or float64; a map into
// a struct), except a float64 with a fraction into an integer type.
//
// Readable is a third, one-way rendering for people and scripts (the CLI's
// show and export): it keeps every value, says in plain JSON what JSON
// cannot hold, and is not read back.
package jsonvalue

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"

	"github.com/vmihailenco/msgpack/v5"
)

// ToMsgpack re-encodes one JSON value as msgpack with the mapping of the
// package doc, without recognising tag objects: what session-file-store's
// importer uses. raw must hold exactly one JSON value.
func ToMsgpack(raw []byte) ([]byte, error) {
	return toMsgpack(raw, false)
}

// Decode re-encodes one JSON value as msgpack with the mapping of the
// package doc, turning tag objects ({"$msgpack": "<base64>"}) back into the
// bytes they hold: the inverse of Encode. raw must hold exactly one JSON
// value. A tag nested inside an array or object must hold exactly one
// well-formed msgpack value, else it is an ordinary object; at the top it
// may hold any bytes.
func Decode(raw []byte) ([]byte, error) {
	return toMsgpack(raw, true)
}

func toMsgpack(raw []byte, tags bool) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if rest := bytes.TrimSpace(raw[dec.InputOffset():]); len(rest) > 0 {
		return nil, fmt.Errorf("%d bytes of trailing data after the JSON value", len(rest))
	}
	if tags {
		if b, ok := tagBytes(v, false); ok {
			return b, nil
		}
	}
	v, err := msgpackValue(v, tags)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	enc := msgpack.NewEncoder(&buf)
	enc.SetSortMapKeys(true)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// msgpackValue turns the json.Number leaves of a value decoded with
// UseNumber into int64 or float64 and, with tags, tag objects into their
// msgpack bytes.
func msgpackValue(v any, tags bool) (any, error) {
	switch v := v.(type) {
	case json.Number:
		n, _, err := Number(v)
		return n, err
	case map[string]any:
		if tags {
			if b, ok := tagBytes(v, true); ok {
				return msgpack.RawMessage(b), nil
			}
		}
		for k, e := range v {
			c, err := msgpackValue(e, tags)
			if err != nil {
				return nil, err
			}
			v[k] = c
		}
		return v, nil
	case []any:
		for i, e := range v {
			c, err := msgpackValue(e, tags)
			if err != nil {
				return nil, err
			}
			v[i] = c
		}
		return v, nil
	default:
		return v, nil
	}
}

// Number converts a JSON number: an integral value within JavaScript's
// safe range ±(2^53−1) becomes int64 (JavaScript has one number type, so 3
// and 3.0 are the same number), anything else float64: fractions, and
// integral values beyond the safe range, which JavaScript holds as doubles
// (JSON.stringify(2**60) is "1152921504606846976", a double) and which
// Encode writes as numbers only for a float64 (an int64 there is tagged).
// isInt reports an int64. A number too large for a float64 is an error:
// JSON.stringify never writes one.
func Number(n json.Number) (v any, isInt bool, err error) {
	if i, err := strconv.ParseInt(string(n), 10, 64); err == nil && i >= -maxSafeInteger && i <= maxSafeInteger {
		return i, true, nil
	}
	f, err := strconv.ParseFloat(string(n), 64)
	if err != nil {
		return nil, false, fmt.Errorf("number %s: %w", n, err)
	}
	if f == math.Trunc(f) && f >= -maxSafeInteger && f <= maxSafeInteger {
		return int64(f), true, nil
	}
	return f, false, nil
}
