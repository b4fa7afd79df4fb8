// Code copied verbatim from encode.go and readable.go as they were before
// the two msgpack walkers became one, renamed with an "old" prefix, so that
// walker_diff_test.go can show the new walker renders every input the same.
// It goes away once that comparison has passed.

package jsonvalue

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// oldMaxSafeInteger is JavaScript's Number.MAX_SAFE_INTEGER, 2^53−1: the
// largest integer up to which every integer is exactly a JavaScript number.
const oldMaxSafeInteger = 1<<53 - 1

const oldTagKey = "$msgpack"

// oldEncode renders one msgpack-encoded value as JSON that Decode turns back
// into the same value (see the package doc: what JSON cannot hold is kept
// in tag objects). It never fails: bytes that are not exactly one
// well-formed msgpack value are tagged whole.
func oldEncode(b []byte) []byte {
	r := oldReader{b: b}
	var out bytes.Buffer
	if err := r.encode(&out, 0); err != nil || r.off != len(b) {
		out.Reset()
		oldWriteTag(&out, b)
	}
	return out.Bytes()
}

// oldWriteTag writes the tag object of raw msgpack bytes.
func oldWriteTag(out *bytes.Buffer, raw []byte) {
	out.WriteString(`{"` + oldTagKey + `":"`)
	out.WriteString(base64.StdEncoding.EncodeToString(raw))
	out.WriteString(`"}`)
}

// encode writes the value at r.off as JSON, tagging each node JSON cannot
// hold. An error means b is not well-formed msgpack there.
func (r *oldReader) encode(out *bytes.Buffer, depth int) error {
	if depth > oldMaxDepth {
		return fmt.Errorf("msgpack: nested deeper than %d at offset %d", oldMaxDepth, r.off)
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
			oldWriteTag(out, r.b[start:r.off])
			return nil
		}
		out.WriteString(oldFormatNumber(f))
	case 0xcc, 0xcd, 0xce, 0xcf: // uint 8/16/32/64
		u, err := r.uintN(1 << (c - 0xcc))
		if err != nil {
			return err
		}
		if u > oldMaxSafeInteger {
			oldWriteTag(out, r.b[start:r.off])
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
		if n > oldMaxSafeInteger || n < -oldMaxSafeInteger {
			oldWriteTag(out, r.b[start:r.off])
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
		// used): walk the node as oldReadable does, which checks it, and
		// keep its bytes.
		return r.tagFrom(out, start, depth)
	}
	return nil
}

// tagFrom rewinds to start, walks the node there and writes its bytes as a
// tag object.
func (r *oldReader) tagFrom(out *bytes.Buffer, start, depth int) error {
	r.off = start
	var scratch bytes.Buffer
	if err := r.value(&scratch, depth); err != nil {
		return err
	}
	oldWriteTag(out, r.b[start:r.off])
	return nil
}

func (r *oldReader) encodeStr(out *bytes.Buffer, n, start int) error {
	data, err := r.take(n)
	if err != nil {
		return err
	}
	if !utf8.Valid(data) {
		oldWriteTag(out, r.b[start:r.off])
		return nil
	}
	oldWriteString(out, string(data))
	return nil
}

func (r *oldReader) encodeArray(out *bytes.Buffer, n, depth int) error {
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
func (r *oldReader) encodeMap(out *bytes.Buffer, n, depth, start int) error {
	mark := out.Len()
	out.WriteByte('{')
	seen := make(map[string]struct{}, n)
	for i := range n {
		key, ok, err := r.mapKey()
		if err != nil {
			return err
		}
		if _, dup := seen[key]; !ok || dup || (n == 1 && key == oldTagKey) {
			out.Truncate(mark)
			return r.tagFrom(out, start, depth)
		}
		seen[key] = struct{}{}
		if i > 0 {
			out.WriteByte(',')
		}
		oldWriteString(out, key)
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
func (r *oldReader) mapKey() (key string, ok bool, err error) {
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

// oldWriteString writes s as a JSON string the way JSON.stringify does for
// valid UTF-8: only the quote, the backslash and control characters are
// escaped (\b \f \n \r \t, others as \u00xx); <, >, &, U+2028 and U+2029
// stay as they are.
func oldWriteString(out *bytes.Buffer, s string) {
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

// oldFormatNumber spells a finite float64 as JavaScript's Number.prototype.toString
// (and so JSON.stringify) does: the shortest digits that read back to f,
// positional between 1e-7 and 1e21, exponential ("1e+21", "1.5e-7")
// outside; -0 is "0".
func oldFormatNumber(f float64) string {
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
	return sign + m + "e" + es + strconv.Itoa(oldAbs(n-1))
}

func oldAbs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

// oldMaxDepth bounds the nesting of arrays and maps that oldReadable and oldEncode
// follow, so a hostile value cannot exhaust the stack.
const oldMaxDepth = 512

// oldReadable renders one msgpack-encoded value as JSON, for a person or a
// script to read (not to be read back: see oldEncode for that). The rendering keeps what JSON can express and says plainly
// what it cannot:
//
//   - integers keep every digit (uint64 and int64 alike, no float rounding);
//   - floats keep their shortest exact form; NaN and ±Inf become the strings
//     "NaN", "+Inf", "-Inf";
//   - maps keep the order they were encoded in; a non-string key is written
//     as its JSON text inside a string (1 → "1");
//   - binary (bin 8/16/32) becomes a base64 (standard, padded) string;
//   - a string that is not valid UTF-8 becomes {"base64": "..."} rather than
//     losing bytes to U+FFFD;
//   - a oldTimestamp (extension -1) becomes an RFC 3339 string in UTC with
//     nanoseconds;
//   - any other extension becomes {"ext": type, "base64": "..."}.
//
// b must hold exactly one value: trailing bytes, a truncated value or an
// unknown type byte give an error saying at which byte offset.
func oldReadable(b []byte) ([]byte, error) {
	r := oldReader{b: b}
	var out bytes.Buffer
	if err := r.value(&out, 0); err != nil {
		return nil, err
	}
	if r.off != len(b) {
		return nil, fmt.Errorf("msgpack: %d trailing bytes after the value at offset %d", len(b)-r.off, r.off)
	}
	return out.Bytes(), nil
}

// oldValid reports whether b holds exactly one well-formed msgpack value: nil,
// or an error saying what is wrong at which byte offset.
func oldValid(b []byte) error {
	r := oldReader{b: b}
	var scratch bytes.Buffer
	if err := r.value(&scratch, 0); err != nil {
		return err
	}
	if r.off != len(b) {
		return fmt.Errorf("msgpack: %d trailing bytes after the value at offset %d", len(b)-r.off, r.off)
	}
	return nil
}

// oldReader walks a msgpack value in a byte slice, checking every length
// against what is left, so a corrupt length can neither panic nor make it
// allocate.
type oldReader struct {
	b   []byte
	off int
}

func (r *oldReader) take(n int) ([]byte, error) {
	if n < 0 || n > len(r.b)-r.off {
		return nil, fmt.Errorf("msgpack: value truncated at offset %d (needs %d more bytes, %d left)", r.off, n, len(r.b)-r.off)
	}
	p := r.b[r.off : r.off+n]
	r.off += n
	return p, nil
}

// uintN reads a big-endian unsigned integer of size bytes (1, 2, 4 or 8).
func (r *oldReader) uintN(size int) (uint64, error) {
	p, err := r.take(size)
	if err != nil {
		return 0, err
	}
	switch size {
	case 1:
		return uint64(p[0]), nil
	case 2:
		return uint64(binary.BigEndian.Uint16(p)), nil
	case 4:
		return uint64(binary.BigEndian.Uint32(p)), nil
	default:
		return binary.BigEndian.Uint64(p), nil
	}
}

// length reads a size-byte length and checks it against the bytes left
// (every element takes at least one byte), so that it fits an int.
func (r *oldReader) length(size int) (int, error) {
	n, err := r.uintN(size)
	if err != nil {
		return 0, err
	}
	if n > uint64(len(r.b)-r.off) {
		return 0, fmt.Errorf("msgpack: length %d at offset %d exceeds the %d bytes left", n, r.off, len(r.b)-r.off)
	}
	return int(n), nil
}

func (r *oldReader) value(out *bytes.Buffer, depth int) error {
	if depth > oldMaxDepth {
		return fmt.Errorf("msgpack: nested deeper than %d at offset %d", oldMaxDepth, r.off)
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
		return r.mapBody(out, int(c&0x0f), depth)
	case c >= 0x90 && c <= 0x9f:
		return r.arrayBody(out, int(c&0x0f), depth)
	case c >= 0xa0 && c <= 0xbf:
		return r.str(out, int(c&0x1f))
	}
	switch c {
	case 0xc0:
		out.WriteString("null")
	case 0xc2:
		out.WriteString("false")
	case 0xc3:
		out.WriteString("true")
	case 0xc4, 0xc5, 0xc6: // bin 8/16/32
		n, err := r.length(1 << (c - 0xc4))
		if err != nil {
			return err
		}
		data, err := r.take(n)
		if err != nil {
			return err
		}
		oldWriteJSONString(out, base64.StdEncoding.EncodeToString(data))
	case 0xc7, 0xc8, 0xc9: // ext 8/16/32
		n, err := r.length(1 << (c - 0xc7))
		if err != nil {
			return err
		}
		return r.ext(out, n, start)
	case 0xca:
		u, err := r.uintN(4)
		if err != nil {
			return err
		}
		oldWriteFloat(out, float64(math.Float32frombits(uint32(u))), 32)
	case 0xcb:
		u, err := r.uintN(8)
		if err != nil {
			return err
		}
		oldWriteFloat(out, math.Float64frombits(u), 64)
	case 0xcc, 0xcd, 0xce, 0xcf: // uint 8/16/32/64
		u, err := r.uintN(1 << (c - 0xcc))
		if err != nil {
			return err
		}
		out.WriteString(strconv.FormatUint(u, 10))
	case 0xd0, 0xd1, 0xd2, 0xd3: // int 8/16/32/64
		size := 1 << (c - 0xd0)
		u, err := r.uintN(size)
		if err != nil {
			return err
		}
		shift := uint(64 - 8*size) // sign-extend
		out.WriteString(strconv.FormatInt(int64(u<<shift)>>shift, 10))
	case 0xd4, 0xd5, 0xd6, 0xd7, 0xd8: // fixext 1/2/4/8/16
		return r.ext(out, 1<<(c-0xd4), start)
	case 0xd9, 0xda, 0xdb: // str 8/16/32
		n, err := r.length(1 << (c - 0xd9))
		if err != nil {
			return err
		}
		return r.str(out, n)
	case 0xdc, 0xdd: // array 16/32
		n, err := r.length(2 << (c - 0xdc))
		if err != nil {
			return err
		}
		return r.arrayBody(out, n, depth)
	case 0xde, 0xdf: // map 16/32
		n, err := r.length(2 << (c - 0xde))
		if err != nil {
			return err
		}
		return r.mapBody(out, n, depth)
	default: // 0xc1 is never used
		return fmt.Errorf("msgpack: invalid type byte 0x%02x at offset %d", c, start)
	}
	return nil
}

func (r *oldReader) str(out *bytes.Buffer, n int) error {
	data, err := r.take(n)
	if err != nil {
		return err
	}
	if !utf8.Valid(data) {
		out.WriteString(`{"base64":`)
		oldWriteJSONString(out, base64.StdEncoding.EncodeToString(data))
		out.WriteByte('}')
		return nil
	}
	oldWriteJSONString(out, string(data))
	return nil
}

func (r *oldReader) arrayBody(out *bytes.Buffer, n, depth int) error {
	out.WriteByte('[')
	for i := range n {
		if i > 0 {
			out.WriteByte(',')
		}
		if err := r.value(out, depth+1); err != nil {
			return err
		}
	}
	out.WriteByte(']')
	return nil
}

func (r *oldReader) mapBody(out *bytes.Buffer, n, depth int) error {
	out.WriteByte('{')
	for i := range n {
		if i > 0 {
			out.WriteByte(',')
		}
		// A string key is written as itself; any other key as its JSON text.
		var key bytes.Buffer
		if err := r.value(&key, depth+1); err != nil {
			return err
		}
		if k := key.Bytes(); len(k) > 0 && k[0] == '"' {
			out.Write(k)
		} else {
			oldWriteJSONString(out, string(k))
		}
		out.WriteByte(':')
		if err := r.value(out, depth+1); err != nil {
			return err
		}
	}
	out.WriteByte('}')
	return nil
}

// ext reads an extension's type byte and n data bytes; start is the offset
// of the value's first byte, for messages.
func (r *oldReader) ext(out *bytes.Buffer, n, start int) error {
	tb, err := r.take(1)
	if err != nil {
		return err
	}
	typ := int8(tb[0])
	data, err := r.take(n)
	if err != nil {
		return err
	}
	if typ == -1 {
		t, err := oldTimestamp(data)
		if err != nil {
			return fmt.Errorf("msgpack: timestamp at offset %d: %w", start, err)
		}
		oldWriteJSONString(out, t.UTC().Format(time.RFC3339Nano))
		return nil
	}
	fmt.Fprintf(out, `{"ext":%d,"base64":`, typ)
	oldWriteJSONString(out, base64.StdEncoding.EncodeToString(data))
	out.WriteByte('}')
	return nil
}

// oldTimestamp decodes the data of msgpack's oldTimestamp extension (-1) in its
// 32, 64 and 96-bit forms.
func oldTimestamp(data []byte) (time.Time, error) {
	switch len(data) {
	case 4:
		return time.Unix(int64(binary.BigEndian.Uint32(data)), 0), nil
	case 8:
		v := binary.BigEndian.Uint64(data)
		nsec := int64(v >> 34)
		if nsec > 999_999_999 {
			return time.Time{}, fmt.Errorf("nanoseconds %d out of range", nsec)
		}
		return time.Unix(int64(v&(1<<34-1)), nsec), nil
	case 12:
		nsec := int64(binary.BigEndian.Uint32(data))
		if nsec > 999_999_999 {
			return time.Time{}, fmt.Errorf("nanoseconds %d out of range", nsec)
		}
		return time.Unix(int64(binary.BigEndian.Uint64(data[4:])), nsec), nil
	default:
		return time.Time{}, fmt.Errorf("%d data bytes, want 4, 8 or 12", len(data))
	}
}

func oldWriteFloat(out *bytes.Buffer, f float64, bits int) {
	switch {
	case math.IsNaN(f):
		out.WriteString(`"NaN"`)
	case math.IsInf(f, 1):
		out.WriteString(`"+Inf"`)
	case math.IsInf(f, -1):
		out.WriteString(`"-Inf"`)
	default:
		s := strconv.FormatFloat(f, 'g', -1, bits)
		out.WriteString(s)
		if !strings.ContainsAny(s, ".e") {
			out.WriteString(".0") // keep a float recognisable as one
		}
	}
}

// oldWriteJSONString writes s as a JSON string, leaving <, > and & as they are
// (the output is read by people and scripts, not embedded in HTML).
func oldWriteJSONString(out *bytes.Buffer, s string) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	out.Write(bytes.TrimSuffix(b.Bytes(), []byte("\n")))
}
