package boltsession

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

// TestParseRecordTakesEveryRecordThePackageWrites pins down that the fast
// parser, not the msgpack fallback, reads the records encodeRecord writes,
// whatever their shape, and reads them as msgpack does.
func TestParseRecordTakesEveryRecordThePackageWrites(t *testing.T) {
	now := time.Unix(1_800_000_000, 123)
	big := bytes.Repeat([]byte("x"), 70_000) // bin32
	mid := bytes.Repeat([]byte("y"), 300)    // bin16
	for name, rec := range map[string]*Record{
		"bare":               {Expires: now},
		"every field":        {Created: now.Add(-time.Hour), Expires: now, MaxAge: 30 * 24 * time.Hour, Owner: "user-42", Values: map[string][]byte{"a": {1}}},
		"negative times":     {Created: time.Unix(-5, 0), Expires: time.Unix(-1, 0)},
		"extreme times":      {Created: maxNanoTime, Expires: minNanoTime.Add(1)},
		"empty and nil":      {Expires: now, Values: map[string][]byte{"empty": {}, "nil": nil}},
		"long values":        {Expires: now, Values: map[string][]byte{"big": big, "mid": mid}},
		"long key and owner": {Expires: now, Owner: strings.Repeat("o", 40), Values: map[string][]byte{strings.Repeat("k", 300): {2}}},
		"app session":        {Created: now, Expires: now, Values: map[string][]byte{"k0": mustMsgpack(t, "value-0000000000"), "count": mustMsgpack(t, 7)}},
		"many values":        {Expires: now, Values: manyValues(t, 40)},
	} {
		t.Run(name, func(t *testing.T) {
			raw, err := encodeRecord(rec)
			if err != nil {
				t.Fatal(err)
			}
			body, err := verifyRecordSum(raw)
			if err != nil {
				t.Fatal(err)
			}
			for _, skip := range []bool{false, true} {
				got, ok := parseRecord("id", body, skip)
				if !ok {
					t.Fatalf("skipValues %v: parseRecord gave up on a record encodeRecord wrote", skip)
				}
				want, err := decodeMsgpack("id", body, skip)
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("skipValues %v:\n parsed %+v\nmsgpack %+v", skip, got, want)
				}
			}
		})
	}
}

// TestParsedValuesShareNothingAndStayInTheirBounds: the values come out of
// one buffer and the keys out of one string, but appending to a value must
// not write into the next, and the record must not share the input.
func TestParsedValuesShareNothingAndStayInTheirBounds(t *testing.T) {
	raw, err := encodeRecord(&Record{Expires: time.Now(), Values: map[string][]byte{"a": []byte("aaaa"), "b": []byte("bbbb"), "c": []byte("cccc")}})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := verifyRecordSum(raw)
	rec, ok := parseRecord("id", body, false)
	if !ok {
		t.Fatal("not parsed")
	}
	clear(body) // the transaction's memory goes away
	for k, v := range rec.Values {
		_ = append(v, "XXXX"...)
		if want := strings.Repeat(k, 4); string(v) != want {
			t.Errorf("%s = %q, want %q", k, v, want)
		}
	}
	for k, v := range rec.Values {
		if string(v) != strings.Repeat(k, 4) {
			t.Errorf("after appends, %s = %q", k, v)
		}
	}
}

// FuzzParseRecordAgreesWithMsgpack: on any input, what the fast parser
// accepts, msgpack accepts too and reads the same; what it does not take
// is left to msgpack (decodeWith falls back).
func FuzzParseRecordAgreesWithMsgpack(f *testing.F) {
	for _, rec := range []*Record{
		sampleRecord(),
		{Expires: time.Unix(1, 0), Values: map[string][]byte{"n": nil, "e": {}}},
		{Created: time.Unix(-1, 0), Expires: time.Unix(1<<32, 0), MaxAge: -1, Owner: "o"},
	} {
		raw, err := encodeRecord(rec)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw[recordHeader:], false)
		f.Add(raw[recordHeader:], true)
	}
	f.Add([]byte{0x81, 0xa1, 'e', 0x01}, false)
	f.Add([]byte{0x82, 0xa1, 'e', 0x01, 0xa1, 'e', 0x02}, false)
	f.Add([]byte{0x82, 0xa1, 'e', 0x01, 0xa1, 'v', 0x81, 0xa1, 'k', 0xc0}, false)
	f.Add([]byte{0x82, 0xa1, 'e', 0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xa1, 'v', 0x80}, true)
	f.Fuzz(func(t *testing.T, body []byte, skip bool) {
		got, ok := parseRecord("id", body, skip)
		want, err := decodeMsgpack("id", body, skip)
		if !ok {
			if got != nil {
				t.Fatalf("gave up but returned %+v", got)
			}
			return
		}
		if err != nil {
			t.Fatalf("parsed %+v, but msgpack refuses it: %v", got, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("\n parsed %+v\nmsgpack %+v", got, want)
		}
	})
}

func mustMsgpack(t *testing.T, v any) []byte {
	t.Helper()
	b, err := msgpack.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func manyValues(t *testing.T, n int) map[string][]byte {
	v := make(map[string][]byte, n)
	for i := range n {
		v[strings.Repeat("k", i+1)] = mustMsgpack(t, i)
	}
	return v
}
