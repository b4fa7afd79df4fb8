package jsonvalue

import (
	"bytes"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

// sameAsOld fails t unless Encode, Readable and Valid give for b exactly
// what the walkers before the merge gave: the same bytes, the same error
// text.
func sameAsOld(t testing.TB, b []byte) {
	t.Helper()
	if got, want := Encode(b), oldEncode(b); !bytes.Equal(got, want) {
		t.Fatalf("Encode(% x) = %s, was %s", b, got, want)
	}
	got, gotErr := Readable(b)
	want, wantErr := oldReadable(b)
	if !bytes.Equal(got, want) || errText(gotErr) != errText(wantErr) {
		t.Fatalf("Readable(% x) = %s, %v; was %s, %v", b, got, gotErr, want, wantErr)
	}
	if got, want := Valid(b), oldValid(b); errText(got) != errText(want) {
		t.Fatalf("Valid(% x) = %v, was %v", b, got, want)
	}
}

func errText(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}

// diffCorpus is every msgpack input the other tests of the package use,
// plus the edges of each decision the lossless walk makes.
func diffCorpus(t testing.TB) [][]byte {
	ts := time.Date(2026, 11, 26, 9, 12, 40, 5, time.UTC)
	type user struct {
		Name  string
		Roles []string
		At    time.Time
	}
	var corpus [][]byte
	for _, v := range []any{
		nil, true, false, int8(-5), uint8(200), 300, -1, 1, 1.5, float32(2), float32(1.5), 2.0, 1e300,
		int64(maxSafeInteger), -int64(maxSafeInteger), int64(maxSafeInteger + 1), -int64(maxSafeInteger + 1),
		uint64(maxSafeInteger), uint64(maxSafeInteger + 1), uint64(math.MaxUint64), int64(math.MinInt64), int64(math.MaxInt64),
		int64(1) << 60, 2.5, 3.0, 0.30000000000000004, 1e21, math.NaN(), math.Inf(1), math.Inf(-1), math.Copysign(0, -1),
		float32(math.NaN()), float32(math.Inf(1)), math.SmallestNonzeroFloat64, math.MaxFloat64,
		"a<b>&\"c\"\\\n\u2028\u2029\x01\b\f\x7f", "ünïcødé", "s", "", TagKey,
		[]byte{0, 1, 2}, []byte{0, 1, 2, 250}, []byte("b"), []byte{}, make([]byte, 300), make([]byte, 70000),
		ts, time.Unix(5, 6), time.Unix(1, 0).UTC(), time.Unix(0, 0), time.Unix(-1, 5), time.Unix(1<<35, 1),
		[]any{1, "x", []any{}, map[string]any{}}, []any{1, ts}, map[string]any{"k": []any{true, nil}},
		map[string]any{"a": map[string]any{"b": 2}}, map[string]any{"k": []byte("hi")},
		user{Name: "ada", Roles: []string{"dev"}, At: ts},
		map[int]string{7: "seven"}, map[int]int{1: 2}, map[string]any{TagKey: "AQ=="},
		map[string]any{TagKey: "AQ==", "b": 1}, map[any]any{true: 1, 1.5: "x", nil: nil},
		map[string]any{"": 1}, make([]any, 20), strings.Repeat("x", 40), strings.Repeat("x", 300),
	} {
		corpus = append(corpus, marshal(t, v))
	}
	for _, s := range []string{
		"", "ada", "\x01\x02", "\xc1", "\x92\x01", "\xa2\xff", "\xa2\xff\xfe", "\x81\xa1\xff\x01",
		"\x82\xa1a\x01\xa1a\x02", "\x82\xa1a\x01\xa1b\x02", "\xd4\x05\x2a", "\xdd\xff\xff\xff\xff",
		"\xcb\x7f\xf8\x00\x00\x00\x00\x00\x01", "\xd6\xff\x00\x00", "\x00\x01\x02\xff",
		"\x81\xc1\x01", "\x81\x01\xc1", "\x81\xa1a\xc1", "\x82\xa1a\xc1\x01\x01", "\x82\x01\x01\xa1a\xc1",
		"\x81\xa1\xff\xc1", "\x82\xa1a\x01\xa1a\xc1", "\x81\xd9\x01\xff\x01", "\x81\xd9\x05a", "\x81\xd9",
		"\x81", "\x81\xa1", "\x81\xa1a", "\xd7\xff\xff\xff\xff\xff\x00\x00\x00\x00", // 64-bit time, bad ns
		"\xc7\x0c\xff\xff\xff\xff\xff\x00\x00\x00\x00\x00\x00\x00\x00", // 96-bit time, bad ns
		"\xc7\x03\xff\x00\x00\x00", "\xd5\xff\x00\x00", "\x91\xd4\xff\x00", "\x81\xa1a\xd4\xff\x00",
		"\x81\xc4\x01a\x01", "\x81\xca\x00\x00\x00\x00\x01", "\x81\xc0\x01", "\x81\x91\x01\x01", "\x81\x80\x01",
		"\x81\xa8$msgpack\x01", "\x82\xa8$msgpack\x01\xa1a\x01", "\x81\xd9\x08$msgpack\x01",
		"\xa1\xe2\x80\xa8", "\x91\xc1", "\x90\x01", "\xde\x00\x01\xa1a\x01", "\xdf\x00\x00\x00\x01\x01\x01",
	} {
		corpus = append(corpus, []byte(s))
	}
	// The nesting limit, reached through arrays and maps, with each kind
	// of node and key at the bottom.
	for _, depth := range []int{510, 511, 512, 513, 514, 600} {
		for _, leaf := range []string{"\x01", "\xc4\x01a", "\xca\x00\x00\x00\x00", "\xd4\x05\x2a", "\xa1\xff",
			"\x80", "\x90", "\x81\xa1a\x01", "\x81\x01\x01", "\x81\xa1\xff\x01", "\x81\xc1\x01", "\xc1", "",
			"\x81\x01\x91\x01", "\x81\x01\x91\x91\x01", "\x82\xa1a\x01\xa1a\x91\x91\x01", "\x82\x01\x01\xa1a\x91\x91\x01"} {
			corpus = append(corpus, []byte(strings.Repeat("\x91", depth)+leaf))
			corpus = append(corpus, []byte(strings.Repeat("\x81\xa1k", depth)+leaf))
			corpus = append(corpus, []byte(strings.Repeat("\x81\x01", depth)+leaf))
			corpus = append(corpus, []byte(strings.Repeat("\x81\xc4\x00", depth)+leaf))
		}
	}
	return corpus
}

// randomValue is a random Go value that msgpack can marshal.
func randomValue(rng *rand.Rand, depth int) any {
	k := rng.IntN(22)
	if depth > 4 && k >= 18 {
		k = rng.IntN(18)
	}
	switch k {
	case 0:
		return nil
	case 1:
		return rng.IntN(2) == 0
	case 2:
		return int8(rng.Uint32())
	case 3:
		return int64(rng.Uint64()) >> rng.IntN(64)
	case 4:
		return rng.Uint64() >> rng.IntN(64)
	case 5:
		return int64(maxSafeInteger) + int64(rng.IntN(5)) - 2
	case 6:
		return -int64(maxSafeInteger) + int64(rng.IntN(5)) - 2
	case 7:
		return math.Float64frombits(rng.Uint64())
	case 8:
		return float32(rng.NormFloat64())
	case 9:
		return []float64{math.NaN(), math.Inf(1), math.Inf(-1), 0, math.Copysign(0, -1), 1e21, 1e-7, 123456789}[rng.IntN(8)]
	case 10:
		return rng.NormFloat64() * math.Pow(10, float64(rng.IntN(40)-20))
	case 11, 12:
		return randomString(rng)
	case 13:
		b := make([]byte, rng.IntN(8))
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	case 14:
		return time.Unix(int64(rng.Uint64())>>rng.IntN(64), int64(rng.IntN(1e9)))
	case 15:
		return float32(math.Float32frombits(rng.Uint32()))
	case 16:
		return uint64(rng.IntN(300))
	case 17:
		return TagKey
	case 18, 19:
		a := make([]any, rng.IntN(5))
		for i := range a {
			a[i] = randomValue(rng, depth+1)
		}
		return a
	case 20:
		m := map[string]any{}
		for range rng.IntN(5) {
			m[randomString(rng)] = randomValue(rng, depth+1)
		}
		return m
	default:
		m := map[any]any{}
		for range rng.IntN(4) {
			m[randomKey(rng)] = randomValue(rng, depth+1)
		}
		return m
	}
}

func randomString(rng *rand.Rand) string {
	pieces := []string{"a", "k", "\"", "\\", "\n", "\b", "\f", "\x01", "\x1f", "\x7f", "<", ">", "&",
		"\u2028", "\u2029", "é", "😀", "\xff", "\xe2\x80", "\xed\xa0\x80", TagKey, " "}
	var b strings.Builder
	for range rng.IntN(6) {
		b.WriteString(pieces[rng.IntN(len(pieces))])
	}
	if rng.IntN(20) == 0 {
		b.WriteString(strings.Repeat("x", 31+rng.IntN(3)))
	}
	return b.String()
}

func randomKey(rng *rand.Rand) any {
	switch rng.IntN(5) {
	case 0:
		return rng.IntN(10)
	case 1:
		return rng.IntN(2) == 0
	case 2:
		return rng.Float64()
	default:
		return randomString(rng)
	}
}

// randomRaw writes a random msgpack value with the encoder's own methods,
// for what marshalling a Go value never writes: duplicate keys, every width
// of integer, extensions of any type.
func randomRaw(rng *rand.Rand, enc *msgpack.Encoder, depth int) {
	k := rng.IntN(14)
	if depth > 4 && k >= 11 {
		k = rng.IntN(11)
	}
	u := rng.Uint64() >> rng.IntN(64)
	switch k {
	case 0:
		_ = enc.EncodeUint8(uint8(u))
	case 1:
		_ = enc.EncodeUint16(uint16(u))
	case 2:
		_ = enc.EncodeUint32(uint32(u))
	case 3:
		_ = enc.EncodeUint64(u)
	case 4:
		_ = enc.EncodeInt8(int8(u))
	case 5:
		_ = enc.EncodeInt16(int16(u))
	case 6:
		_ = enc.EncodeInt32(int32(u))
	case 7:
		_ = enc.EncodeInt64(int64(u) * []int64{1, -1}[rng.IntN(2)])
	case 8:
		n := []int{1, 2, 4, 8, 16, 0, 3, 12, 300}[rng.IntN(9)]
		_ = enc.EncodeExtHeader(int8(rng.IntN(6)-3), n)
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32() >> rng.IntN(32))
		}
		_, _ = enc.Writer().Write(b)
	case 9:
		_ = enc.EncodeString(randomString(rng))
	case 10:
		_ = enc.Encode(randomValue(rng, depth+1))
	case 11:
		n := rng.IntN(4)
		_ = enc.EncodeArrayLen(n)
		for range n {
			randomRaw(rng, enc, depth+1)
		}
	default:
		n := rng.IntN(4)
		_ = enc.EncodeMapLen(n)
		for range n {
			if rng.IntN(3) == 0 {
				randomRaw(rng, enc, depth+1)
			} else {
				_ = enc.EncodeString([]string{"a", "b", TagKey, "\xff", ""}[rng.IntN(5)])
			}
			randomRaw(rng, enc, depth+1)
		}
	}
}

// mutate damages b the way a corrupt file or a fuzzer would.
func mutate(rng *rand.Rand, b []byte) []byte {
	b = bytes.Clone(b)
	for range 1 + rng.IntN(3) {
		switch rng.IntN(5) {
		case 0:
			if len(b) > 0 {
				b = b[:rng.IntN(len(b))]
			}
		case 1:
			if len(b) > 0 {
				b[rng.IntN(len(b))] = byte(rng.Uint32())
			}
		case 2:
			if len(b) > 0 {
				b[rng.IntN(len(b))] ^= 1 << rng.IntN(8)
			}
		case 3:
			i := rng.IntN(len(b) + 1)
			b = append(b[:i], append([]byte{byte(rng.Uint32())}, b[i:]...)...)
		default:
			b = append(b, byte(rng.Uint32()))
		}
	}
	return b
}

// TestWalkerRendersAsTheTwoWalkersDid compares the merged walker with
// copies of the two it replaced, on the corpus and on random values, random
// encodings, damaged encodings and random bytes.
func TestWalkerRendersAsTheTwoWalkersDid(t *testing.T) {
	n := 0
	for _, b := range diffCorpus(t) {
		sameAsOld(t, b)
		n++
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		b := marshal(t, randomValue(rng, 0))
		sameAsOld(t, b)
		sameAsOld(t, mutate(rng, b))

		var buf bytes.Buffer
		randomRaw(rng, msgpack.NewEncoder(&buf), 0)
		sameAsOld(t, buf.Bytes())
		sameAsOld(t, mutate(rng, buf.Bytes()))

		r := make([]byte, rng.IntN(24))
		for i := range r {
			r[i] = byte(rng.Uint32())
		}
		sameAsOld(t, r)
		n += 5
	}
	t.Logf("%d inputs compared", n)
}

// FuzzWalkerRendersAsTheTwoWalkersDid is the comparison above for the
// fuzzer's inputs.
func FuzzWalkerRendersAsTheTwoWalkersDid(f *testing.F) {
	for _, b := range diffCorpus(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		sameAsOld(t, b)
	})
}
