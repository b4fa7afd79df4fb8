package jsonvalue

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// TagKey is the one member of the object that stands for msgpack bytes
// JSON cannot hold: {"$msgpack": "<standard base64>"} (see the package doc).
const TagKey = "$msgpack"

// maxSafeInteger is JavaScript's Number.MAX_SAFE_INTEGER, 2^53−1: the
// largest integer up to which every integer is exactly a JavaScript number.
const maxSafeInteger = 1<<53 - 1

// Encode renders one msgpack-encoded value as JSON that Decode turns back
// into the same value (see the package doc: what JSON cannot hold is kept
// in tag objects). It never fails: bytes that are not exactly one
// well-formed msgpack value are tagged whole.
func Encode(b []byte) []byte {
	r := msgpackReader{b: b}
	var out bytes.Buffer
	if err := r.encode(&out, 0); err != nil || r.off != len(b) {
		out.Reset()
		writeTag(&out, b)
	}
	return out.Bytes()
}

// writeTag writes the tag object of raw msgpack bytes.
func writeTag(out *bytes.Buffer, raw []byte) {
	out.WriteString(`{"` + TagKey + `":"`)
	out.WriteString(base64.StdEncoding.EncodeToString(raw))
	out.WriteString(`"}`)
}

// tagBytes returns the bytes a decoded JSON value holds if it is a tag
// object. A nested tag must hold exactly one well-formed msgpack value, or
// it would corrupt the value around it.
func tagBytes(v any, nested bool) ([]byte, bool) {
	m, ok := v.(map[string]any)
	if !ok || len(m) != 1 {
		return nil, false
	}
	s, ok := m[TagKey].(string)
	if !ok {
		return nil, false
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || (nested && Valid(b) != nil) {
		return nil, false
	}
	return b, true
}

// encode writes the value at r.off as JSON, tagging each node JSON cannot
// hold. An error means b is not well-formed msgpack there.
func (r *msgpackReader) encode(out *bytes.Buffer, depth int) error {
	if depth > maxDepth {
		return fmt.Errorf("msgpack: nested deeper than %d at offset %d", maxDepth, r.off)
	}
	start := r.off
	p, err := r.take(1)
	if err != nil {
		return err
	}
	c := p[0]
	switch {
	case c <= 0x7f: // positive fixint
		out.WriteString(strconv.FormatUint(uint64(c), 10))
		return nil
	case c >= 0xe0: // negative fixint
		out.WriteString(strconv.FormatInt(int64(int8(c)), 10))
		return nil
	case c >= 0x80 && c <= 0x8f:
		return r.encodeMap(out, int(c&0x0f), depth, start)
	case c >= 0x90 && c <= 0x9f:
		return r.encodeArray(out, int(c&0x0f), depth)
	case c >= 0xa0 && c <= 0xbf:
		return r.encodeStr(out, int(c&0x1f), start)
	}
	switch c {
	case 0xc0:
		out.WriteString("null")
	case 0xc2:
		out.WriteString("false")
	case 0xc3:
		out.WriteString("true")
	case 0xcb:
		u, err := r.uintN(8)
		if err != nil {
			return err
		}
		f := math.Float64frombits(u)
		if math.IsNaN(f) || math.IsInf(f, 0) {
			writeTag(out, r.b[start:r.off])
			return nil
		}
		out.WriteString(FormatNumber(f))
	case 0xcc, 0xcd, 0xce, 0xcf: // uint 8/16/32/64
		u, err := r.uintN(1 << (c - 0xcc))
		if err != nil {
			return err
		}
		if u > maxSafeInteger {
			writeTag(out, r.b[start:r.off])
			return nil
		}
		out.WriteString(strconv.FormatUint(u, 10))
	case 0xd0, 0xd1, 0xd2, 0xd3: // int 8/16/32/64
		size := 1 << (c - 0xd0)
		u, err := r.uintN(size)
		if err != nil {
			return err
		}
		shift := uint(64 - 8*size) // sign-extend
		n := int64(u<<shift) >> shift
		if n > maxSafeInteger || n < -maxSafeInteger {
			writeTag(out, r.b[start:r.off])
			return nil
		}
		out.WriteString(strconv.FormatInt(n, 10))
	case 0xd9, 0xda, 0xdb: // str 8/16/32
		n, err := r.length(1 << (c - 0xd9))
		if err != nil {
			return err
		}
		return r.encodeStr(out, n, start)
	case 0xdc, 0xdd: // array 16/32
		n, err := r.length(2 << (c - 0xdc))
		if err != nil {
			return err
		}
		return r.encodeArray(out, n, depth)
	case 0xde, 0xdf: // map 16/32
		n, err := r.length(2 << (c - 0xde))
		if err != nil {
			return err
		}
		return r.encodeMap(out, n, depth, start)
	default:
		// bin, ext (time.Time among them), float32, and 0xc1 (never
		// used): walk the node as Readable does, which checks it, and
		// keep its bytes.
		return r.tagFrom(out, start, depth)
	}
	return nil
}

// tagFrom rewinds to start, walks the node there and writes its bytes as a
// tag object.
func (r *msgpackReader) tagFrom(out *bytes.Buffer, start, depth int) error {
	r.off = start
	var scratch bytes.Buffer
	if err := r.value(&scratch, depth); err != nil {
		return err
	}
	writeTag(out, r.b[start:r.off])
	return nil
}

func (r *msgpackReader) encodeStr(out *bytes.Buffer, n, start int) error {
	data, err := r.take(n)
	if err != nil {
		return err
	}
	if !utf8.Valid(data) {
		writeTag(out, r.b[start:r.off])
		return nil
	}
	WriteString(out, string(data))
	return nil
}

func (r *msgpackReader) encodeArray(out *bytes.Buffer, n, depth int) error {
	out.WriteByte('[')
	for i := range n {
		if i > 0 {
			out.WriteByte(',')
		}
		if err := r.encode(out, depth+1); err != nil {
			return err
		}
	}
	out.WriteByte(']')
	return nil
}

// encodeMap writes a map as an object, or tags it whole when a key is not
// a UTF-8 string, occurs twice, or the map would read back as a tag.
func (r *msgpackReader) encodeMap(out *bytes.Buffer, n, depth, start int) error {
	mark := out.Len()
	out.WriteByte('{')
	seen := make(map[string]struct{}, n)
	for i := range n {
		key, ok, err := r.mapKey()
		if err != nil {
			return err
		}
		if _, dup := seen[key]; !ok || dup || (n == 1 && key == TagKey) {
			out.Truncate(mark)
			return r.tagFrom(out, start, depth)
		}
		seen[key] = struct{}{}
		if i > 0 {
			out.WriteByte(',')
		}
		WriteString(out, key)
		out.WriteByte(':')
		if err := r.encode(out, depth+1); err != nil {
			return err
		}
	}
	out.WriteByte('}')
	return nil
}

// mapKey reads a key that is a UTF-8 string; ok is false for any other
// key, which is left unread.
func (r *msgpackReader) mapKey() (key string, ok bool, err error) {
	if r.off >= len(r.b) {
		return "", false, fmt.Errorf("msgpack: value truncated at offset %d (needs 1 more bytes, 0 left)", r.off)
	}
	start := r.off
	c := r.b[r.off]
	var n int
	switch {
	case c >= 0xa0 && c <= 0xbf:
		r.off++
		n = int(c & 0x1f)
	case c >= 0xd9 && c <= 0xdb:
		r.off++
		if n, err = r.length(1 << (c - 0xd9)); err != nil {
			return "", false, err
		}
	default:
		return "", false, nil
	}
	data, err := r.take(n)
	if err != nil {
		return "", false, err
	}
	if !utf8.Valid(data) {
		r.off = start
		return "", false, nil
	}
	return string(data), true, nil
}

// WriteString writes s as a JSON string the way JSON.stringify does for
// valid UTF-8: only the quote, the backslash and control characters are
// escaped (\b \f \n \r \t, others as \u00xx); <, >, &, U+2028 and U+2029
// stay as they are.
func WriteString(out *bytes.Buffer, s string) {
	const hex = "0123456789abcdef"
	out.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '"':
			out.WriteString(`\"`)
		case '\\':
			out.WriteString(`\\`)
		case '\b':
			out.WriteString(`\b`)
		case '\f':
			out.WriteString(`\f`)
		case '\n':
			out.WriteString(`\n`)
		case '\r':
			out.WriteString(`\r`)
		case '\t':
			out.WriteString(`\t`)
		default:
			if c < 0x20 {
				out.WriteString(`\u00`)
				out.WriteByte(hex[c>>4])
				out.WriteByte(hex[c&0x0f])
			} else {
				out.WriteByte(c)
			}
		}
	}
	out.WriteByte('"')
}

// FormatNumber spells a finite float64 as JavaScript's Number.prototype.toString
// (and so JSON.stringify) does: the shortest digits that read back to f,
// positional between 1e-7 and 1e21, exponential ("1e+21", "1.5e-7")
// outside; -0 is "0".
func FormatNumber(f float64) string {
	if f == 0 {
		return "0"
	}
	sign := ""
	if f < 0 {
		sign, f = "-", -f
	}
	// d.ddde±x: the shortest digits and the decimal exponent.
	e := strconv.FormatFloat(f, 'e', -1, 64)
	mant, exp, _ := strings.Cut(e, "e")
	digits := strings.Replace(mant, ".", "", 1)
	x, _ := strconv.Atoi(exp)
	k, n := len(digits), x+1 // f = 0.digits × 10^n
	switch {
	case k <= n && n <= 21:
		return sign + digits + strings.Repeat("0", n-k)
	case 0 < n && n <= 21:
		return sign + digits[:n] + "." + digits[n:]
	case -6 < n && n <= 0:
		return sign + "0." + strings.Repeat("0", -n) + digits
	}
	es := "+"
	if n-1 < 0 {
		es = "-"
	}
	m := digits[:1]
	if k > 1 {
		m += "." + digits[1:]
	}
	return sign + m + "e" + es + strconv.Itoa(abs(n-1))
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}
