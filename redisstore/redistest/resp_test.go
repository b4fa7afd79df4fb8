package redistest

import (
	"bufio"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestReadReplyDecodesEachReplyType(t *testing.T) {
	tests := []struct {
		name, in string
		want     any
		err      error
	}{
		{"simple string", "+OK\r\n", "OK", nil},
		{"error", "-ERR Unknown node x\r\n", nil, replyError("ERR Unknown node x")},
		{"integer", ":-42\r\n", int64(-42), nil},
		{"bulk", "$5\r\na\r\nbc\r\n", "a\r\nbc", nil},
		{"empty bulk", "$0\r\n\r\n", "", nil},
		{"null bulk", "$-1\r\n", nil, nil},
		{"array", "*3\r\n:1\r\n$1\r\nx\r\n*1\r\n+y\r\n", []any{int64(1), "x", []any{"y"}}, nil},
		{"error inside an array", "*2\r\n-ERR no\r\n:2\r\n", []any{replyError("ERR no"), int64(2)}, nil},
		{"bulk without CRLF", "$2\r\nabc\r\n", nil, errProtocol},
		{"bulk too long", "$99999999999\r\n", nil, errProtocol},
		{"negative array", "*-2\r\n", nil, errProtocol},
		{"unknown type", "%1\r\n", nil, errProtocol},
		{"bare LF", "+OK\n", nil, errProtocol},
		{"too deep", strings.Repeat("*1\r\n", maxDepth+1) + ":1\r\n", nil, errProtocol},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := readReply(bufio.NewReader(strings.NewReader(tt.in)), 0)
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("readReply(%q) = %v, %v; want error %v", tt.in, got, err, tt.err)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("readReply(%q) = %#v, %v; want %#v", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestEncodeCommandWritesARESPArray(t *testing.T) {
	got := string(encodeCommand([]string{"CLUSTER", "MEET", ""}))
	if want := "*3\r\n$7\r\nCLUSTER\r\n$4\r\nMEET\r\n$0\r\n\r\n"; got != want {
		t.Fatalf("encodeCommand = %q, want %q", got, want)
	}
}

// FuzzReadReply: no reply, however malformed, makes readReply panic or
// return both a value and an error.
func FuzzReadReply(f *testing.F) {
	for _, s := range []string{"+OK\r\n", "*2\r\n$1\r\na\r\n:3\r\n", "$-1\r\n", "-ERR x\r\n", "*1\r\n*1\r\n*-1\r\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		v, err := readReply(bufio.NewReader(strings.NewReader(in)), 0)
		if err != nil && v != nil {
			t.Fatalf("readReply(%q) = %v and %v", in, v, err)
		}
	})
}

// FuzzParseClusterNodes: any text either parses or is refused, never a
// panic.
func FuzzParseClusterNodes(f *testing.F) {
	f.Add("e7d1 127.0.0.1:30001@31001 myself,master - 0 0 1 connected 0-5460 [5461->-67ed]\n")
	f.Add("a b c d e f g h\n\n")
	f.Fuzz(func(t *testing.T, text string) {
		view, err := parseClusterNodes(text)
		if err == nil && view == nil {
			t.Fatal("nil view without an error")
		}
	})
}
