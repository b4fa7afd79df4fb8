package boltsession

import (
	"errors"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

func sampleRecord() *Record {
	return &Record{
		ID:      "id-1",
		Created: time.Unix(1_900_000_000, 123456789),
		Expires: time.Unix(1_900_086_400, 987654321),
		MaxAge:  30 * 24 * time.Hour,
		Owner:   "user-42",
		Values:  map[string][]byte{"views": {0x07}, "name": []byte("\xa3ada"), "empty": {}},
	}
}

func sameRecord(a, b *Record) bool {
	return a.ID == b.ID && a.Created.Equal(b.Created) && a.Expires.Equal(b.Expires) &&
		a.MaxAge == b.MaxAge && a.Owner == b.Owner && maps.EqualFunc(a.Values, b.Values,
		func(x, y []byte) bool { return string(x) == string(y) })
}

func TestRecordRoundTrips(t *testing.T) {
	for name, rec := range map[string]*Record{
		"full":    sampleRecord(),
		"minimal": {ID: "x", Expires: time.Unix(1, 0), Values: map[string][]byte{}},
		"last year held": {ID: "y", Created: time.Unix(0, 1), Expires: time.Date(2262, 1, 1, 0, 0, 0, 0, time.UTC),
			Values: map[string][]byte{}},
	} {
		raw, err := encodeRecord(rec)
		if err != nil {
			t.Fatalf("%s: encode: %v", name, err)
		}
		got, err := decodeRecord(rec.ID, raw)
		if err != nil {
			t.Fatalf("%s: decode: %v", name, err)
		}
		if !sameRecord(got, rec) {
			t.Fatalf("%s: round trip\n got %+v\nwant %+v", name, got, rec)
		}
	}
}

// TestRecordTimesTheFormatCannotHoldAreRefused: clamping an expiry after
// 2262 would make every request rewrite the record (the stored expiry
// never equals the computed one), so such times are an error.
func TestRecordTimesTheFormatCannotHoldAreRefused(t *testing.T) {
	for name, rec := range map[string]*Record{
		"expiry after 2262": {ID: "y", Expires: time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)},
		"created before 1678": {ID: "y", Created: time.Date(1600, 1, 1, 0, 0, 0, 0, time.UTC),
			Expires: time.Unix(1, 0)},
	} {
		if _, err := encodeRecord(rec); err == nil || !strings.Contains(err.Error(), "2262") {
			t.Errorf("%s: %v, want an error naming the years the format holds", name, err)
		}
	}
}

func TestRecordUsesShortFieldNames(t *testing.T) {
	raw, err := encodeRecord(sampleRecord())
	if err != nil {
		t.Fatal(err)
	}
	if raw[0] != recordTag {
		t.Fatalf("record starts with %#x, want the checksum tag", raw[0])
	}
	var generic map[string]any
	if err := msgpack.Unmarshal(raw[recordHeader:], &generic); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"c", "e", "m", "o", "v"} {
		if _, ok := generic[k]; !ok {
			t.Errorf("field %q missing from %v", k, generic)
		}
	}
	if len(generic) != 5 {
		t.Errorf("record has fields %v", generic)
	}
}

func TestDecodeSkipsUnknownFields(t *testing.T) {
	raw, err := msgpack.Marshal(map[string]any{"e": int64(5e18), "future": []int{1, 2}, "v": map[string][]byte{"k": []byte("v")}})
	if err != nil {
		t.Fatal(err)
	}
	rec, err := decodeRecord("a", raw)
	if err != nil || string(rec.Values["k"]) != "v" {
		t.Fatalf("decode with an unknown field: %+v, %v", rec, err)
	}
}

func TestDecodeRefusesWhatIsNotARecord(t *testing.T) {
	good, err := encodeRecord(sampleRecord())
	if err != nil {
		t.Fatal(err)
	}
	noExpiry, _ := msgpack.Marshal(map[string]any{"c": 1, "v": map[string][]byte{}})
	for name, raw := range map[string][]byte{
		"empty":           nil,
		"not a map":       {0x93, 1, 2, 3},
		"truncated":       good[:len(good)-1],
		"trailing bytes":  append(append([]byte{}, good...), 0xc0),
		"no expiry":       noExpiry,
		"forged map size": {0xdf, 0x7f, 0xff, 0xff, 0xff},
		"expiry a string": {0x81, 0xa1, 'e', 0xa1, 'x'},
		"value not bytes": {0x82, 0xa1, 'e', 0x01, 0xa1, 'v', 0x81, 0xa1, 'k', 0x93, 1, 2, 3},
		"json":            []byte(`{"e":1}`),
	} {
		rec, err := decodeRecord("a", raw)
		if !errors.Is(err, ErrCorrupt) || rec != nil {
			t.Errorf("%s: decode = %+v, %v; want ErrCorrupt", name, rec, err)
		}
	}
}

// FuzzDecodeRecord checks that decoding never panics, that whatever it
// accepts carries the ID it was given and an expiry, and that an accepted
// record survives encode and decode unchanged.
func FuzzDecodeRecord(f *testing.F) {
	good, err := encodeRecord(sampleRecord())
	if err != nil {
		f.Fatal(err)
	}
	f.Add("id-1", good)
	f.Add("x", []byte{0x81, 0xa1, 'e', 0x01})
	f.Fuzz(func(t *testing.T, id string, raw []byte) {
		if id == "" {
			id = "fallback" // store keys are never empty
		}
		rec, err := decodeRecord(id, raw)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) || rec != nil {
				t.Fatalf("decode failed without ErrCorrupt: %+v, %v", rec, err)
			}
			return
		}
		if rec.ID != id || rec.Values == nil {
			t.Fatalf("accepted record has ID %q (want %q), values %v", rec.ID, id, rec.Values)
		}
		idx, err := decodeIndexFields(id, raw)
		if err != nil || idx.Values != nil || !idx.Expires.Equal(rec.Expires) || idx.Owner != rec.Owner {
			t.Fatalf("index decode disagrees with the full decode: %+v, %v", idx, err)
		}
		again, err := encodeRecord(rec)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		back, err := decodeRecord(id, again)
		if err != nil {
			t.Fatalf("decode of a re-encoded record: %v", err)
		}
		if !sameRecord(back, rec) {
			t.Fatalf("round trip changed the record\n got %+v\nwant %+v", back, rec)
		}
	})
}

func TestDecodedValuesDoNotOverlap(t *testing.T) {
	raw, err := encodeRecord(&Record{Expires: time.Unix(1, 0), Values: map[string][]byte{
		"a": []byte("aaaa"), "b": []byte("bbbb"), "c": []byte("cccc"), "e": {}}})
	if err != nil {
		t.Fatal(err)
	}
	rec, err := decodeRecord("x", raw)
	if err != nil {
		t.Fatal(err)
	}
	for k := range rec.Values {
		rec.Values[k] = append(rec.Values[k], "XXXXXXXX"...)
	}
	want := map[string]string{"a": "aaaaXXXXXXXX", "b": "bbbbXXXXXXXX", "c": "ccccXXXXXXXX", "e": "XXXXXXXX"}
	for k, v := range want {
		if string(rec.Values[k]) != v {
			t.Fatalf("value %q = %q after appends, want %q", k, rec.Values[k], v)
		}
	}
}
