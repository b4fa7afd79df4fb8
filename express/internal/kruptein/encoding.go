package kruptein

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strconv"
	"unicode/utf8"
)

// encoding is one of Node's Buffer encodings, the ones kruptein's
// `encodeas` can name and this package supports. Node's strings are
// UTF-16; here they are Go strings holding the same characters, which is
// what encoding/json produces from the JSON that Node writes.
type encoding int

const (
	encBinary encoding = iota // Node's "binary"/"latin1": one character per byte
	encHex
	encBase64
	encBase64URL
)

// encode is Node's buf.toString(e).
func (e encoding) encode(b []byte) string {
	switch e {
	case encHex:
		return hex.EncodeToString(b)
	case encBase64:
		return base64.StdEncoding.EncodeToString(b)
	case encBase64URL:
		return base64.RawURLEncoding.EncodeToString(b)
	default:
		r := make([]rune, len(b))
		for i, c := range b {
			r[i] = rune(c)
		}
		return string(r)
	}
}

var errNotLatin1 = errors.New("a character above U+00FF in a binary-encoded string")

// decode is Node's Buffer.from(s, e) for the strings Node itself writes.
// Node's decoders also accept what no encoder produces (it keeps the low
// byte of a character above U+00FF, stops hex at the first bad digit,
// skips stray base64 characters); such a string can only come from a
// damaged file, and is refused.
func (e encoding) decode(s string) ([]byte, error) {
	switch e {
	case encHex:
		return hex.DecodeString(s)
	case encBase64:
		return base64.StdEncoding.Strict().DecodeString(s)
	case encBase64URL:
		return base64.RawURLEncoding.Strict().DecodeString(s)
	default:
		b := make([]byte, 0, len(s))
		for i := 0; i < len(s); {
			r, n := utf8.DecodeRuneInString(s[i:])
			if r > 0xff || (r == utf8.RuneError && n == 1) {
				return nil, errNotLatin1
			}
			b = append(b, byte(r))
			i += n
		}
		return b, nil
	}
}

// appendJSONString appends s as JSON.stringify writes a string: only '"',
// '\\' and the control characters below U+0020 are escaped (\b, \t, \n,
// \f, \r short, the rest as \u00xx in lower case); everything else,
// U+007F to U+00FF included, is written as it is. s must be valid UTF-8.
func appendJSONString(dst []byte, s string) []byte {
	const hexDigits = "0123456789abcdef"
	dst = append(dst, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c == '\b':
			dst = append(dst, '\\', 'b')
		case c == '\t':
			dst = append(dst, '\\', 't')
		case c == '\n':
			dst = append(dst, '\\', 'n')
		case c == '\f':
			dst = append(dst, '\\', 'f')
		case c == '\r':
			dst = append(dst, '\\', 'r')
		case c < 0x20:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		default:
			dst = append(dst, c)
		}
	}
	return append(dst, '"')
}

// appendJSONBuffer appends b as JSON.stringify writes a Node Buffer:
// {"type":"Buffer","data":[1,2,3]}.
func appendJSONBuffer(dst []byte, b []byte) []byte {
	dst = append(dst, `{"type":"Buffer","data":[`...)
	for i, c := range b {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = strconv.AppendUint(dst, uint64(c), 10)
	}
	return append(dst, "]}"...)
}
