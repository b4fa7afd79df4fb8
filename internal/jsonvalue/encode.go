package jsonvalue

import (
	"bytes"
	"encoding/base64"
	"strconv"
	"strings"
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
	r := msgpackReader{b: b, lossless: true}
	var out bytes.Buffer
	if err := r.whole(&out); err != nil {
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
