package jsonvalue

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

func TestReadableRendersEveryType(t *testing.T) {
	ts := time.Date(2026, 11, 26, 9, 12, 40, 5, time.UTC)
	for _, c := range []struct {
		in   any
		want string
	}{
		{nil, `null`},
		{true, `true`},
		{int8(-5), `-5`},
		{int64(-9223372036854775808), `-9223372036854775808`},
		{uint64(18446744073709551615), `18446744073709551615`},
		{300, `300`},
		{float32(1.5), `1.5`},
		{2.0, `2.0`},
		{1e300, `1e+300`},
		{"a<b>&\"c\"", `"a<b>&\"c\""`},
		{[]byte{0, 1, 2, 250}, `"AAEC+g=="`},
		{[]any{1, "x", []any{}}, `[1,"x",[]]`},
		{map[string]any{"k": []byte("hi")}, `{"k":"aGk="}`},
		{map[int]string{7: "seven"}, `{"7":"seven"}`},
		{ts, `"2026-11-26T09:12:40.000000005Z"`},
		{time.Unix(1, 0).UTC(), `"1970-01-01T00:00:01Z"`},
	} {
		b, err := msgpack.Marshal(c.in)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Readable(b)
		if err != nil || string(got) != c.want {
			t.Errorf("%#v: %s, %v; want %s", c.in, got, err, c.want)
		}
	}
	for raw, want := range map[string]string{
		"\xa2\xff\xfe":                         `{"base64":"//4="}`,         // str that is not UTF-8
		"\xd4\x05\x2a":                         `{"ext":5,"base64":"Kg=="}`, // fixext 1 of type 5
		"\xcb\x7f\xf8\x00\x00\x00\x00\x00\x01": `"NaN"`,
		"\x82\xa1a\x01\xa1b\x02":               `{"a":1,"b":2}`,
		"\xa3\xe2\x80\xa8":                     `"\u2028"`,

		// A key that is not a string is its JSON text inside a string.
		"\x81\xc4\x01\x01\x01": `{"AQ==":1}`,
		"\x81\x91\x01\x01":     `{"[1]":1}`,
		"\x81\xc3\x02":         `{"true":2}`,
		"\x81\xa1\xff\x01":     `{"{\"base64\":\"/w==\"}":1}`,
	} {
		got, err := Readable([]byte(raw))
		if err != nil || string(got) != want {
			t.Errorf("% x: %s, %v; want %s", raw, got, err, want)
		}
	}
	for raw, want := range map[string]string{
		"":                                   "truncated at offset 0",
		"\xc1":                               "invalid type byte 0xc1 at offset 0",
		"\x92\x01":                           "truncated at offset 2",
		"\xdd\xff\xff\xff\xff":               "exceeds the 0 bytes left",
		"\x01\x02":                           "1 trailing bytes",
		"\xd6\xff\x00\x00":                   "truncated",
		strings.Repeat("\x91", 600) + "\x01": "nested deeper than 512",

		"\xd5\xff\x00\x00":                         "timestamp at offset 0: 2 data bytes, want 4, 8 or 12",
		"\xd7\xff\xff\xff\xff\xff\x00\x00\x00\x00": "timestamp at offset 0: nanoseconds 1073741823 out of range",
	} {
		if _, err := Readable([]byte(raw)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("% .20x: %v, want an error containing %q", raw, err, want)
		}
	}
}

// FuzzReadable checks that the renderer never panics and that what it
// renders is valid JSON.
func FuzzReadable(f *testing.F) {
	for _, v := range []any{nil, 1, -1, 1.5, "s", []byte("b"), []any{1, "x"}, map[string]any{"a": map[string]any{"b": 2}}, time.Unix(5, 6)} {
		b, _ := msgpack.Marshal(v)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		out, err := Readable(b)
		if err == nil && !json.Valid(out) {
			t.Fatalf("% x rendered as invalid JSON %s", b, out)
		}
	})
}
