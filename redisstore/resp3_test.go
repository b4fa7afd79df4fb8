package redisstore

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
)

func readAll(t testing.TB, in string) ([]respValue, error) {
	t.Helper()
	rd := bufio.NewReaderSize(strings.NewReader(in), 64)
	var out []respValue
	for {
		v, err := readRESP(rd)
		if err != nil {
			return out, err
		}
		out = append(out, v)
	}
}

// TestReadRESPReadsWhatTheTrackingConnectionMeets reads the replies and
// pushes the tracking connection gets: HELLO's map, OK, PONG, errors,
// invalidations of keys and of everything, attributes, and a save's
// reply with the hash it left.
func TestReadRESPReadsWhatTheTrackingConnectionMeets(t *testing.T) {
	in := "%2\r\n$6\r\nserver\r\n$5\r\nredis\r\n$5\r\nproto\r\n:3\r\n" +
		"+OK\r\n" +
		"+PONG\r\n" +
		"-NOSCRIPT No matching script\r\n" +
		">2\r\n$10\r\ninvalidate\r\n*2\r\n$5\r\nsess:\r\n$1\r\nk\r\n" +
		">2\r\n$10\r\ninvalidate\r\n_\r\n" +
		"|1\r\n+ttl\r\n:3\r\n+attributed\r\n" +
		"*2\r\n:1\r\n*4\r\n$9\r\nm:created\r\n$1\r\n1\r\n$3\r\nv:a\r\n$3\r\n\x00\r\n\r\n" +
		"#t\r\n,1.5\r\n(123\r\n=7\r\ntxt:abc\r\n~1\r\n$0\r\n\r\n$-1\r\n"
	vs, err := readAll(t, in)
	if !errors.Is(err, io.EOF) {
		t.Fatalf("read: %v after %d values", err, len(vs))
	}
	if len(vs) != 14 {
		t.Fatalf("read %d values, want 14: %+v", len(vs), vs)
	}
	if vs[0].kind != '%' || len(vs[0].elems) != 4 || vs[0].elems[3].str != "3" {
		t.Errorf("HELLO map: %+v", vs[0])
	}
	if vs[1].str != "OK" || vs[2].str != "PONG" {
		t.Errorf("simple strings: %+v %+v", vs[1], vs[2])
	}
	if vs[3].errorText() != "NOSCRIPT No matching script" {
		t.Errorf("error: %+v", vs[3])
	}
	if keys, all, ok := vs[4].invalidation(); !ok || all || !slices.Equal(keys, []string{"sess:", "k"}) {
		t.Errorf("invalidation: %v %v %v", keys, all, ok)
	}
	if _, all, ok := vs[5].invalidation(); !ok || !all {
		t.Errorf("invalidation of everything: %v %v", all, ok)
	}
	if vs[6].str != "attributed" {
		t.Errorf("attribute not skipped: %+v", vs[6])
	}
	if h := hashOf(vs[7].elems[1]); h["m:created"] != "1" || h["v:a"] != "\x00\r\n" {
		t.Errorf("save reply: %q", h)
	}
	if !vs[13].null {
		t.Errorf("RESP2 null: %+v", vs[13])
	}
	if _, _, ok := vs[2].invalidation(); ok {
		t.Error("PONG read as an invalidation")
	}
}

// TestReadRESPRefusesWhatIsNotRESP3 gives the reader damaged streams: each
// is an error, never a panic or a huge allocation.
func TestReadRESPRefusesWhatIsNotRESP3(t *testing.T) {
	for _, in := range []string{
		"?\r\n",
		"+OK\n",
		"$5\r\nab\r\n",
		"$3\r\nabcXY",
		"$99999999999\r\n",
		"*-2\r\n",
		"*2000000000\r\n",
		"%600000\r\n",
		"\r\n",
		strings.Repeat("*1\r\n", 20) + ":1\r\n",
		"+" + strings.Repeat("x", 200) + "\r\n",
	} {
		rd := bufio.NewReaderSize(strings.NewReader(in), 64)
		if v, err := readRESP(rd); err == nil {
			t.Errorf("%q read as %+v", in, v)
		}
	}
}

func TestAppendCommandWritesBulkStrings(t *testing.T) {
	got := appendCommand(nil, "HGETALL", "sess:{a}", "")
	want := "*3\r\n$7\r\nHGETALL\r\n$8\r\nsess:{a}\r\n$0\r\n\r\n"
	if string(got) != want {
		t.Fatalf("%q, want %q", got, want)
	}
	vs, err := readAll(t, string(got))
	if len(vs) != 1 || err == nil || len(vs[0].elems) != 3 || vs[0].elems[1].str != "sess:{a}" {
		t.Fatalf("read back: %+v, %v", vs, err)
	}
}

// FuzzReadRESP feeds the reader of the tracking connection arbitrary
// bytes: it returns values or an error, and never panics.
func FuzzReadRESP(f *testing.F) {
	for _, s := range []string{
		"+OK\r\n", ">2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\nk\r\n", "%1\r\n+a\r\n:1\r\n",
		"*2\r\n:1\r\n*2\r\n$1\r\na\r\n$1\r\nb\r\n", "|1\r\n+a\r\n+b\r\n+c\r\n", "_\r\n", "$-1\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		rd := bufio.NewReaderSize(bytes.NewReader(in), 64)
		for range 100 {
			v, err := readRESP(rd)
			if err != nil {
				return
			}
			v.invalidation()
			v.errorText()
			hashOf(v)
		}
	})
}
