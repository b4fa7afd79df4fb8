package jsonvalue

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

func marshal(t testing.TB, v any) []byte {
	t.Helper()
	b, err := msgpack.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// tag is the tag object of b.
func tag(b []byte) string {
	var out bytes.Buffer
	writeTag(&out, b)
	return out.String()
}

func TestEncodeWritesWhatJSONHoldsAndTagsTheRest(t *testing.T) {
	ts := time.Date(2026, 11, 26, 9, 12, 40, 5, time.UTC)
	type user struct {
		Name  string
		Roles []string
		At    time.Time
	}
	for _, c := range []struct {
		in   any
		want string
	}{
		{nil, `null`},
		{true, `true`},
		{int8(-5), `-5`},
		{uint8(200), `200`},
		{300, `300`},
		{int64(maxSafeInteger), `9007199254740991`},
		{-int64(maxSafeInteger), `-9007199254740991`},
		{2.5, `2.5`},
		{3.0, `3`},
		{0.30000000000000004, `0.30000000000000004`},
		{1e21, `1e+21`},
		{"a<b>&\"c\"\\\n\u2028\x01", `"a<b>&\"c\"\\\n` + "\u2028" + `\u0001"`},
		{"ünïcødé", `"ünïcødé"`},
		{[]any{1, "x", []any{}, map[string]any{}}, `[1,"x",[],{}]`},
		{map[string]any{"k": []any{true, nil}}, `{"k":[true,null]}`},
		// What JSON cannot hold is tagged node by node.
		{int64(maxSafeInteger + 1), tag(marshal(t, int64(maxSafeInteger+1)))},
		{uint64(math.MaxUint64), tag(marshal(t, uint64(math.MaxUint64)))},
		{float32(1.5), tag(marshal(t, float32(1.5)))},
		{math.NaN(), tag(marshal(t, math.NaN()))},
		{math.Inf(-1), tag(marshal(t, math.Inf(-1)))},
		{[]byte{0, 1, 2}, tag([]byte{0xc4, 3, 0, 1, 2})},
		{ts, tag(marshal(t, ts))},
		{[]any{1, ts}, `[1,` + tag(marshal(t, ts)) + `]`},
		{user{Name: "ada", Roles: []string{"dev"}, At: ts},
			`{"Name":"ada","Roles":["dev"],"At":` + tag(marshal(t, ts)) + `}`},
		{map[int]string{7: "seven"}, tag(marshal(t, map[int]string{7: "seven"}))},
		// A map that would read back as a tag is tagged itself.
		{map[string]any{TagKey: "AQ=="}, tag(marshal(t, map[string]any{TagKey: "AQ=="}))},
		// Only the map that JSON cannot hold is tagged, not the ones around it.
		{map[string]any{"a": map[int]int{1: 2}}, `{"a":` + tag(marshal(t, map[int]int{1: 2})) + `}`},
	} {
		if got := string(Encode(marshal(t, c.in))); got != c.want {
			t.Errorf("Encode(%#v) = %s, want %s", c.in, got, c.want)
		}
	}
	// Bytes that are not one msgpack value are kept whole.
	for _, raw := range []string{"", "ada", "\x01\x02", "\xc1", "\x92\x01", "\xa2\xff"} {
		if got, want := string(Encode([]byte(raw))), tag([]byte(raw)); got != want {
			t.Errorf("Encode(%q) = %s, want %s", raw, got, want)
		}
	}
	// A node that is tagged is still checked: a timestamp with 2^30−1
	// nanoseconds makes the whole value malformed, alone or after a key
	// that tags its map.
	const badTime = "\xd7\xff\xff\xff\xff\xff\x00\x00\x00\x00"
	for _, raw := range []string{"\x91" + badTime, "\x91\x82\x01\x01\xa1a" + badTime, "\x91\x82\xa1a\x01\xa1a" + badTime} {
		if got, want := string(Encode([]byte(raw))), tag([]byte(raw)); got != want {
			t.Errorf("Encode(%q) = %s, want %s", raw, got, want)
		}
	}
	// The 16-bit forms of arrays and maps.
	if got, want := string(Encode([]byte("\xde\x00\x01\xa1a\xdc\x00\x01\xc2"))), `{"a":[false]}`; got != want {
		t.Errorf("map16 and array16: %s, want %s", got, want)
	}
	// Invalid UTF-8 in a string or a key.
	if got, want := string(Encode([]byte("\xa2\xff\xfe"))), tag([]byte("\xa2\xff\xfe")); got != want {
		t.Errorf("invalid UTF-8 string: %s, want %s", got, want)
	}
	badKey := []byte("\x81\xa1\xff\x01")
	if got, want := string(Encode(badKey)), tag(badKey); got != want {
		t.Errorf("invalid UTF-8 key: %s, want %s", got, want)
	}
	dupKey := []byte("\x82\xa1a\x01\xa1a\x02")
	if got, want := string(Encode(dupKey)), tag(dupKey); got != want {
		t.Errorf("duplicate key: %s, want %s", got, want)
	}
}

// TestDecodeUndoesEncode pins down the round trip a store shared with Node
// relies on: the same value back, in the canonical encoding, and tagged
// nodes byte for byte.
func TestDecodeUndoesEncode(t *testing.T) {
	ts := time.Date(2026, 11, 26, 9, 12, 40, 5, time.UTC)
	type inner struct {
		B []byte
		T time.Time
	}
	type rec struct {
		Name  string
		Age   int
		Score float64
		Tags  []string
		Big   int64
		In    inner
		F32   float32
		M     map[string]int
		Ptr   *string
	}
	want := rec{Name: "ada", Age: 36, Score: 1.25, Tags: []string{"x", "y"}, Big: 1 << 60,
		In: inner{B: []byte{0, 255}, T: ts}, F32: 0.5, M: map[string]int{"b": 2, "a": 1}}
	back, err := Decode(Encode(marshal(t, want)))
	if err != nil {
		t.Fatal(err)
	}
	var got rec
	if err := msgpack.Unmarshal(back, &got); err != nil {
		t.Fatal(err)
	}
	if !got.In.T.Equal(ts) {
		t.Fatalf("time %v, want %v", got.In.T, ts)
	}
	got.In.T = want.In.T
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("round trip: %+v, want %+v", got, want)
	}

	// Typed reads that a Go app does on what came back.
	for _, c := range []struct {
		in    any
		check func([]byte) error
	}{
		{5, decodesTo(5)},
		{uint8(5), decodesTo(uint8(5))},
		{3.0, decodesTo(3.0)},
		{2.5, decodesTo(2.5)},
		{float32(0.1), decodesTo(float32(0.1))},
		{"s", decodesTo("s")},
		{[]int{1, 2}, decodesTo([]int{1, 2})},
		{map[string]any{"a": []any{int64(1), "b"}}, decodesTo(map[string]any{"a": []any{int64(1), "b"}})},
		{[]byte("raw"), decodesTo([]byte("raw"))},
		{ts, decodesTo(ts)},
	} {
		b, err := Decode(Encode(marshal(t, c.in)))
		if err != nil {
			t.Errorf("%#v: %v", c.in, err)
			continue
		}
		if err := c.check(b); err != nil {
			t.Errorf("%#v: %v", c.in, err)
		}
	}
	// Whole values that are not msgpack come back byte for byte.
	for _, raw := range []string{"", "ada", "\x00\x01\x02\xff"} {
		if b, err := Decode(Encode([]byte(raw))); err != nil || string(b) != raw {
			t.Errorf("%q came back as %q, %v", raw, b, err)
		}
	}
}

func decodesTo[T any](want T) func([]byte) error {
	return func(b []byte) error {
		var got T
		if err := msgpack.Unmarshal(b, &got); err != nil {
			return err
		}
		if tw, ok := any(want).(time.Time); ok {
			if !any(got).(time.Time).Equal(tw) {
				return errorf("got %v, want %v", got, want)
			}
			return nil
		}
		if !reflect.DeepEqual(got, want) {
			return errorf("got %#v, want %#v", got, want)
		}
		return nil
	}
}

func TestDecodeMapsJSONAsTheImporterDoes(t *testing.T) {
	for _, c := range []struct{ json, want string }{
		{`3.0`, `3`},
		{`-0`, `0`},
		{`1e3`, `1000`},
		{`9007199254740993`, `9.007199254740992e+15`}, // beyond the safe range: a double, as JSON.parse reads it
		{`1152921504606846976`, `1.152921504606847e+18`},
		{`-9007199254740991`, `-9007199254740991`},
		{`{"b":1,"a":2}`, `{"a":2,"b":1}`},
		{`{"a":1,"a":2}`, `{"a":2}`},
		{`[1,"a",null,true,{"x":[]}]`, `[1,"a",null,true,{"x":[]}]`},
	} {
		b, err := Decode([]byte(c.json))
		if err != nil {
			t.Errorf("%s: %v", c.json, err)
			continue
		}
		same, err := ToMsgpack([]byte(c.json))
		if err != nil || !bytes.Equal(b, same) {
			t.Errorf("%s: Decode and ToMsgpack differ: % x, % x (%v)", c.json, b, same, err)
		}
		if got, _ := Readable(b); string(got) != c.want {
			t.Errorf("%s read as %s, want %s", c.json, got, c.want)
		}
	}
	for _, bad := range []string{``, `{`, `1e400`, `1 2`, `"a" x`} {
		if _, err := Decode([]byte(bad)); err == nil {
			t.Errorf("Decode(%q) accepted", bad)
		}
	}
	// A tag the importer's direction leaves as an object; a nested one
	// that holds no msgpack value is an ordinary object in both.
	one := `{"$msgpack":"AQ=="}`
	if b, _ := ToMsgpack([]byte(one)); !strings.Contains(string(b), TagKey) {
		t.Errorf("ToMsgpack recognised a tag: % x", b)
	}
	if b, _ := Decode([]byte(one)); string(b) != "\x01" {
		t.Errorf("Decode of a top-level tag: % x", b)
	}
	if b, _ := Decode([]byte(`[{"$msgpack":"YWRh"}]`)); !strings.Contains(string(b), TagKey) {
		t.Errorf("a nested tag holding no msgpack value was taken as bytes: % x", b)
	}
	if b, _ := Decode([]byte(`{"$msgpack":"%%"}`)); !strings.Contains(string(b), TagKey) {
		t.Errorf("a tag that is not base64 was taken as bytes: % x", b)
	}
}

func TestFormatNumberSpellsAsJavaScript(t *testing.T) {
	// The right-hand sides are what node prints for String(x).
	for f, want := range map[float64]string{
		0: "0", math.Copysign(0, -1): "0", 1: "1", -1: "-1", 100: "100", 0.1: "0.1",
		1.5: "1.5", 123456789012345680000: "123456789012345680000", 1e21: "1e+21",
		1.5e21: "1.5e+21", 0.000001: "0.000001", 1e-7: "1e-7", 1.5e-7: "1.5e-7",
		-2.5e-8: "-2.5e-8", 5e-324: "5e-324", math.MaxFloat64: "1.7976931348623157e+308",
		0.30000000000000004: "0.30000000000000004", 12.5: "12.5", 1234.5678: "1234.5678",
	} {
		if got := FormatNumber(f); got != want {
			t.Errorf("FormatNumber(%v) = %s, want %s", f, got, want)
		}
	}
}

// FuzzEncode checks that Encode never panics, always writes valid JSON,
// and that Decode gives back bytes that render as the input does: the
// same value.
func FuzzEncode(f *testing.F) {
	for _, v := range []any{nil, 1, -1, 1.5, float32(2), "s", []byte("b"), []any{1, "x"},
		map[string]any{"a": map[string]any{"b": 2}}, time.Unix(5, 6), int64(1) << 60, map[int]int{1: 2}} {
		b, _ := msgpack.Marshal(v)
		f.Add(b)
	}
	f.Add([]byte("ada"))
	f.Fuzz(func(t *testing.T, b []byte) {
		j := Encode(b)
		if !json.Valid(j) {
			t.Fatalf("% x encoded as invalid JSON %s", b, j)
		}
		back, err := Decode(j)
		if err != nil {
			t.Fatalf("% x: Decode(%s): %v", b, j, err)
		}
		if Valid(b) != nil {
			if !bytes.Equal(back, b) {
				t.Fatalf("% x (not msgpack) came back as % x", b, back)
			}
			return
		}
		if again := Encode(back); !bytes.Equal(canonicalJSON(t, again), canonicalJSON(t, j)) {
			t.Fatalf("% x: %s, then %s", b, j, again)
		}
	})
}

// canonicalJSON re-marshals JSON with sorted keys, for comparing values.
func canonicalJSON(t *testing.T, j []byte) []byte {
	dec := json.NewDecoder(bytes.NewReader(j))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatal(err)
	}
	out, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// FuzzDecode checks that Decode never panics on JSON from outside and that
// whatever it accepts is one well-formed msgpack value, or a top-level tag.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{`{"a":[1,2.5,"x",null,true]}`, `{"$msgpack":"AQ=="}`, `[{"$msgpack":"kQE="}]`, `1e400`, `-0`, `"\ud800"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, j []byte) {
		b, err := Decode(j)
		if err != nil {
			return
		}
		if _, top := tagBytes(mustJSON(j), false); top {
			return
		}
		if err := Valid(b); err != nil {
			t.Fatalf("%s decoded to invalid msgpack % x: %v", j, b, err)
		}
	})
}

func mustJSON(j []byte) any {
	var v any
	_ = json.Unmarshal(j, &v)
	return v
}

func errorf(format string, args ...any) error { return fmt.Errorf(format, args...) }
