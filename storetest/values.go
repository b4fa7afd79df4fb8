package storetest

import (
	"bytes"
	"maps"
	"sync"
	"testing"

	"github.com/boltsession/boltsession/internal/jsonvalue"
	"github.com/vmihailenco/msgpack/v5"
)

// byMeaning holds, for each running subtest of a store that keeps values
// by meaning (Options.ValuesByMeaning), the reason it gave.
var byMeaning sync.Map // *testing.T → string

// sameValues compares a record's values with the expected ones: byte for
// byte, or by meaning for a subtest of a store that keeps values so.
func sameValues(t *testing.T, got, want map[string]string) bool {
	if maps.Equal(got, want) {
		return true
	}
	if _, ok := byMeaning.Load(t); !ok || len(got) != len(want) {
		return false
	}
	for k, w := range want {
		g, ok := got[k]
		if !ok || canonical([]byte(g)) != canonical([]byte(w)) {
			return false
		}
	}
	return true
}

// canonical returns one encoding of the msgpack value b holds: integers as
// int64 (uint64 beyond it), float32 as float64, maps with sorted keys. Bytes
// that are not exactly one msgpack value are returned as they are, marked
// so they never equal an encoding.
func canonical(b []byte) string {
	if jsonvalue.Valid(b) != nil {
		return "raw:" + string(b)
	}
	dec := msgpack.NewDecoder(bytes.NewReader(b))
	dec.UseLooseInterfaceDecoding(true)
	v, err := dec.DecodeInterfaceLoose()
	if err != nil {
		return "raw:" + string(b)
	}
	var out bytes.Buffer
	enc := msgpack.NewEncoder(&out)
	enc.SetSortMapKeys(true)
	if err := enc.Encode(normalize(v)); err != nil {
		return "raw:" + string(b)
	}
	return "msgpack:" + out.String()
}

// normalize gives every number of a loosely decoded value one Go type.
func normalize(v any) any {
	switch v := v.(type) {
	case uint64:
		if v <= 1<<63-1 {
			return int64(v)
		}
		return v
	case []any:
		for i := range v {
			v[i] = normalize(v[i])
		}
		return v
	case map[string]any:
		for k := range v {
			v[k] = normalize(v[k])
		}
		return v
	case map[any]any:
		for k := range v {
			v[k] = normalize(v[k])
		}
		return v
	}
	return v
}
