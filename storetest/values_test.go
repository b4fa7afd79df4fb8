package storetest

import (
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

func mp(t *testing.T, v any) string {
	t.Helper()
	b, err := msgpack.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestValuesByMeaningComparesWhatValuesDecodeTo pins down the comparison
// Options.ValuesByMeaning turns on, and that it is off otherwise.
func TestValuesByMeaningComparesWhatValuesDecodeTo(t *testing.T) {
	same := []struct{ a, b string }{
		{"1", mp(t, int64('1'))}, // fixint 49 and int64 49
		{mp(t, uint8(5)), mp(t, int64(5))},
		{mp(t, float32(1.5)), mp(t, 1.5)},
		{"\x82\xa1b\x02\xa1a\x01", "\x82\xa1a\x01\xa1b\x02"}, // key order
		{"ada", "ada"},                                       // not msgpack: bytes
	}
	differ := []struct{ a, b string }{
		{"ada", "adb"},
		{mp(t, 5), mp(t, 6)},
		{mp(t, 1.5), mp(t, 2.5)},
		{"\x01\x02", mp(t, 1)}, // trailing bytes are not the value 1
		{mp(t, "x"), mp(t, []string{"x"})},
	}
	t.Run("on", func(t *testing.T) {
		byMeaning.Store(t, "test")
		defer byMeaning.Delete(t)
		for _, c := range same {
			if !sameValues(t, map[string]string{"k": c.a}, map[string]string{"k": c.b}) {
				t.Errorf("% x and % x differ by meaning", c.a, c.b)
			}
		}
		for _, c := range differ {
			if sameValues(t, map[string]string{"k": c.a}, map[string]string{"k": c.b}) {
				t.Errorf("% x and % x are the same by meaning", c.a, c.b)
			}
		}
		if sameValues(t, map[string]string{"k": "1"}, map[string]string{"j": "1"}) {
			t.Error("different keys compared equal")
		}
	})
	t.Run("off", func(t *testing.T) {
		if sameValues(t, map[string]string{"k": "1"}, map[string]string{"k": mp(t, int64('1'))}) {
			t.Error("values compared by meaning without ValuesByMeaning")
		}
	})
}
