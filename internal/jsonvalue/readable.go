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

// maxDepth bounds the nesting of arrays and maps that Readable and Encode
// follow, so a hostile value cannot exhaust the stack.
const maxDepth = 512

// Readable renders one msgpack-encoded value as JSON, for a person or a
// script to read (not to be read back: see Encode for that). The rendering keeps what JSON can express and says plainly
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
//   - a timestamp (extension -1) becomes an RFC 3339 string in UTC with
//     nanoseconds;
//   - any other extension becomes {"ext": type, "base64": "..."}.
//
// b must hold exactly one value: trailing bytes, a truncated value or an
// unknown type byte give an error saying at which byte offset.
func Readable(b []byte) ([]byte, error) {
	r := msgpackReader{b: b}
	var out bytes.Buffer
	if err := r.value(&out, 0); err != nil {
		return nil, err
	}
	if r.off != len(b) {
		return nil, fmt.Errorf("msgpack: %d trailing bytes after the value at offset %d", len(b)-r.off, r.off)
	}
	return out.Bytes(), nil
}

// Valid reports whether b holds exactly one well-formed msgpack value: nil,
// or an error saying what is wrong at which byte offset.
func Valid(b []byte) error {
	r := msgpackReader{b: b}
	var scratch bytes.Buffer
	if err := r.value(&scratch, 0); err != nil {
		return err
	}
	if r.off != len(b) {
		return fmt.Errorf("msgpack: %d trailing bytes after the value at offset %d", len(b)-r.off, r.off)
	}
	return nil
}

// msgpackReader walks a msgpack value in a byte slice, checking every length
// against what is left, so a corrupt length can neither panic nor make it
// allocate.
type msgpackReader struct {
	b   []byte
	off int
}

func (r *msgpackReader) take(n int) ([]byte, error) {
	if n < 0 || n > len(r.b)-r.off {
		return nil, fmt.Errorf("msgpack: value truncated at offset %d (needs %d more bytes, %d left)", r.off, n, len(r.b)-r.off)
	}
	p := r.b[r.off : r.off+n]
	r.off += n
	return p, nil
}

// uintN reads a big-endian unsigned integer of size bytes (1, 2, 4 or 8).
func (r *msgpackReader) uintN(size int) (uint64, error) {
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
func (r *msgpackReader) length(size int) (int, error) {
	n, err := r.uintN(size)
	if err != nil {
		return 0, err
	}
	if n > uint64(len(r.b)-r.off) {
		return 0, fmt.Errorf("msgpack: length %d at offset %d exceeds the %d bytes left", n, r.off, len(r.b)-r.off)
	}
	return int(n), nil
}

func (r *msgpackReader) value(out *bytes.Buffer, depth int) error {
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
		writeJSONString(out, base64.StdEncoding.EncodeToString(data))
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
		writeFloat(out, float64(math.Float32frombits(uint32(u))), 32)
	case 0xcb:
		u, err := r.uintN(8)
		if err != nil {
			return err
		}
		writeFloat(out, math.Float64frombits(u), 64)
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

func (r *msgpackReader) str(out *bytes.Buffer, n int) error {
	data, err := r.take(n)
	if err != nil {
		return err
	}
	if !utf8.Valid(data) {
		out.WriteString(`{"base64":`)
		writeJSONString(out, base64.StdEncoding.EncodeToString(data))
		out.WriteByte('}')
		return nil
	}
	writeJSONString(out, string(data))
	return nil
}

func (r *msgpackReader) arrayBody(out *bytes.Buffer, n, depth int) error {
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

func (r *msgpackReader) mapBody(out *bytes.Buffer, n, depth int) error {
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
			writeJSONString(out, string(k))
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
func (r *msgpackReader) ext(out *bytes.Buffer, n, start int) error {
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
		t, err := timestamp(data)
		if err != nil {
			return fmt.Errorf("msgpack: timestamp at offset %d: %w", start, err)
		}
		writeJSONString(out, t.UTC().Format(time.RFC3339Nano))
		return nil
	}
	fmt.Fprintf(out, `{"ext":%d,"base64":`, typ)
	writeJSONString(out, base64.StdEncoding.EncodeToString(data))
	out.WriteByte('}')
	return nil
}

// timestamp decodes the data of msgpack's timestamp extension (-1) in its
// 32, 64 and 96-bit forms.
func timestamp(data []byte) (time.Time, error) {
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

func writeFloat(out *bytes.Buffer, f float64, bits int) {
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

// writeJSONString writes s as a JSON string, leaving <, > and & as they are
// (the output is read by people and scripts, not embedded in HTML).
func writeJSONString(out *bytes.Buffer, s string) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	out.Write(bytes.TrimSuffix(b.Bytes(), []byte("\n")))
}
