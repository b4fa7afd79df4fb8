package jsonvalue

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"
	"strings"
)

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
	if err := r.whole(&out); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// Valid reports whether b holds exactly one well-formed msgpack value: nil,
// or an error saying what is wrong at which byte offset.
func Valid(b []byte) error {
	_, err := Readable(b)
	return err
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
