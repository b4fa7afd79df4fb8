package jsonvalue

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"math"
	"strconv"
	"time"
	"unicode/utf8"
)

// maxDepth bounds the nesting of arrays and maps that Readable and Encode
// follow, so a hostile value cannot exhaust the stack.
const maxDepth = 512

// msgpackReader walks a msgpack value in a byte slice and writes it as
// JSON, checking every length against what is left, so a corrupt length can
// neither panic nor make it allocate. Both renderings share the walk, so a
// value is well-formed for Encode exactly when it is for Readable; they
// differ only in what they write for what JSON cannot hold.
type msgpackReader struct {
	b   []byte
	off int
	// lossless selects Encode's rendering, which tags each node JSON
	// cannot hold; the zero value selects Readable's.
	lossless bool
}

// whole writes the one value r.b must hold, with nothing after it. An
// error says what is wrong at which byte offset; what out holds then is of
// no use.
func (r *msgpackReader) whole(out *bytes.Buffer) error {
	if err := r.value(out, 0); err != nil {
		return err
	}
	if r.off != len(r.b) {
		return fmt.Errorf("msgpack: %d trailing bytes after the value at offset %d", len(r.b)-r.off, r.off)
	}
	return nil
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

// tag writes the node from start to r.off, read whole, as a tag object.
func (r *msgpackReader) tag(out *bytes.Buffer, start int) {
	writeTag(out, r.b[start:r.off])
}

// value writes the value at r.off as JSON. An error means r.b is not
// well-formed msgpack there.
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
		return r.mapBody(out, int(c&0x0f), depth, start)
	case c >= 0x90 && c <= 0x9f:
		return r.arrayBody(out, int(c&0x0f), depth)
	case c >= 0xa0 && c <= 0xbf:
		return r.str(out, int(c&0x1f), start)
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
		if r.lossless {
			r.tag(out, start)
		} else {
			writeJSONString(out, base64.StdEncoding.EncodeToString(data))
		}
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
		// Encode tags a float32: Go decodes a JSON number into one only
		// through an integer.
		if r.lossless {
			r.tag(out, start)
		} else {
			writeFloat(out, float64(math.Float32frombits(uint32(u))), 32)
		}
	case 0xcb:
		u, err := r.uintN(8)
		if err != nil {
			return err
		}
		switch f := math.Float64frombits(u); {
		case !r.lossless:
			writeFloat(out, f, 64)
		case math.IsNaN(f) || math.IsInf(f, 0):
			r.tag(out, start)
		default:
			out.WriteString(FormatNumber(f))
		}
	case 0xcc, 0xcd, 0xce, 0xcf: // uint 8/16/32/64
		u, err := r.uintN(1 << (c - 0xcc))
		if err != nil {
			return err
		}
		if r.lossless && u > maxSafeInteger {
			r.tag(out, start)
		} else {
			out.WriteString(strconv.FormatUint(u, 10))
		}
	case 0xd0, 0xd1, 0xd2, 0xd3: // int 8/16/32/64
		size := 1 << (c - 0xd0)
		u, err := r.uintN(size)
		if err != nil {
			return err
		}
		shift := uint(64 - 8*size) // sign-extend
		n := int64(u<<shift) >> shift
		if r.lossless && (n > maxSafeInteger || n < -maxSafeInteger) {
			r.tag(out, start)
		} else {
			out.WriteString(strconv.FormatInt(n, 10))
		}
	case 0xd4, 0xd5, 0xd6, 0xd7, 0xd8: // fixext 1/2/4/8/16
		return r.ext(out, 1<<(c-0xd4), start)
	case 0xd9, 0xda, 0xdb: // str 8/16/32
		n, err := r.length(1 << (c - 0xd9))
		if err != nil {
			return err
		}
		return r.str(out, n, start)
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
		return r.mapBody(out, n, depth, start)
	default: // 0xc1 is never used
		return fmt.Errorf("msgpack: invalid type byte 0x%02x at offset %d", c, start)
	}
	return nil
}

// str reads n bytes of a string whose node began at start.
func (r *msgpackReader) str(out *bytes.Buffer, n, start int) error {
	data, err := r.take(n)
	if err != nil {
		return err
	}
	switch valid := utf8.Valid(data); {
	case valid && r.lossless:
		WriteString(out, string(data))
	case valid:
		writeJSONString(out, string(data))
	case r.lossless:
		r.tag(out, start)
	default:
		// Rather than losing bytes to U+FFFD.
		out.WriteString(`{"base64":`)
		writeJSONString(out, base64.StdEncoding.EncodeToString(data))
		out.WriteByte('}')
	}
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

// mapBody writes the n entries of a map whose node began at start as an
// object. Readable writes a key that is not a string as its JSON text
// inside a string. Encode tags the map whole when a key is not a UTF-8
// string (its rendering is then not a JSON string), occurs twice, or the
// map would read back as a tag.
func (r *msgpackReader) mapBody(out *bytes.Buffer, n, depth, start int) error {
	mark := out.Len()
	out.WriteByte('{')
	var seen map[string]struct{}
	if r.lossless {
		seen = make(map[string]struct{}, n)
	}
	for i := range n {
		if i > 0 {
			out.WriteByte(',')
		}
		from := out.Len()
		if err := r.value(out, depth+1); err != nil {
			return err
		}
		key := out.Bytes()[from:]
		isString := len(key) > 0 && key[0] == '"'
		if r.lossless {
			// The JSON text of a key stands for the key: WriteString
			// escapes one way only.
			if _, dup := seen[string(key)]; !isString || dup || (n == 1 && string(key) == `"`+TagKey+`"`) {
				out.Truncate(mark)
				return r.tagMap(out, 2*(n-i)-1, depth, start)
			}
			seen[string(key)] = struct{}{}
		} else if !isString {
			text := string(key)
			out.Truncate(from)
			writeJSONString(out, text)
		}
		out.WriteByte(':')
		if err := r.value(out, depth+1); err != nil {
			return err
		}
	}
	out.WriteByte('}')
	return nil
}

// tagMap writes the map that began at start as a tag object. Its entries
// up to r.off are checked already; it walks the left keys and values that
// remain only to check them, so no byte is walked twice however deep such
// maps nest.
func (r *msgpackReader) tagMap(out *bytes.Buffer, left, depth, start int) error {
	var scratch bytes.Buffer
	for range left {
		if err := r.value(&scratch, depth+1); err != nil {
			return err
		}
	}
	r.tag(out, start)
	return nil
}

// ext reads an extension's type byte and n data bytes; start is the offset
// of the value's first byte. Encode tags every extension, time.Time (-1)
// among them, once it has checked a timestamp.
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
	var t time.Time
	if typ == -1 {
		if t, err = timestamp(data); err != nil {
			return fmt.Errorf("msgpack: timestamp at offset %d: %w", start, err)
		}
	}
	switch {
	case r.lossless:
		r.tag(out, start)
	case typ == -1:
		writeJSONString(out, t.UTC().Format(time.RFC3339Nano))
	default:
		fmt.Fprintf(out, `{"ext":%d,"base64":`, typ)
		writeJSONString(out, base64.StdEncoding.EncodeToString(data))
		out.WriteByte('}')
	}
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
