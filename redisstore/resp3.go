package redisstore

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// The tracking connection of the cache (see tracking.go) speaks RESP3 on a
// connection of its own, outside go-redis: it must read invalidation pushes
// the moment they arrive, which go-redis only does when a command runs on
// the connection. It sends a handful of commands and reads their replies
// and the server's pushes with the reader below, which knows every RESP3
// type but keeps only what the tracker looks at.

// A respValue is one RESP3 value. Aggregates (array, set, push, map with
// keys and values alternating) keep their elements; scalars their text.
type respValue struct {
	kind  byte // the type byte: '+', '-', ':', '$', '*', '>', '%', '~', '_', '#', ',', '(', '!', '='
	str   string
	elems []respValue
	null  bool
}

// Bounds on what the reader accepts from the server: a reply beyond them
// is an error and the connection is dropped, never an allocation the size
// a damaged or hostile stream asks for.
const (
	respMaxBulk  = 64 << 20 // one string
	respMaxElems = 1 << 20  // elements of one aggregate
	respMaxDepth = 8        // nesting
)

var errRESP = errors.New("malformed RESP3 reply")

// readRESP reads one value from r, skipping attributes ('|'), which carry
// metadata for the value that follows.
func readRESP(r *bufio.Reader) (respValue, error) { return readRESPDepth(r, 0) }

func readRESPDepth(r *bufio.Reader, depth int) (respValue, error) {
	if depth > respMaxDepth {
		return respValue{}, fmt.Errorf("%w: nested deeper than %d", errRESP, respMaxDepth)
	}
	line, err := readLine(r)
	if err != nil {
		return respValue{}, err
	}
	if len(line) == 0 {
		return respValue{}, fmt.Errorf("%w: empty line", errRESP)
	}
	v := respValue{kind: line[0]}
	body := string(line[1:])
	switch v.kind {
	case '+', '-', ':', ',', '(', '#':
		v.str = body
	case '_':
		v.null = true
	case '$', '!', '=':
		n, err := respLen(body, respMaxBulk)
		if err != nil {
			return respValue{}, err
		}
		if n < 0 {
			v.null = true // RESP2 null bulk string
			return v, nil
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return respValue{}, err
		}
		if buf[n] != '\r' || buf[n+1] != '\n' {
			return respValue{}, fmt.Errorf("%w: string not followed by CRLF", errRESP)
		}
		v.str = string(buf[:n])
	case '*', '>', '~', '%', '|':
		n, err := respLen(body, respMaxElems)
		if err != nil {
			return respValue{}, err
		}
		if n < 0 {
			v.null = true // RESP2 null array
			return v, nil
		}
		if v.kind == '%' || v.kind == '|' {
			if n > respMaxElems/2 {
				return respValue{}, fmt.Errorf("%w: map of %d pairs", errRESP, n)
			}
			n *= 2
		}
		v.elems = make([]respValue, 0, min(n, 1024))
		for range n {
			e, err := readRESPDepth(r, depth+1)
			if err != nil {
				return respValue{}, err
			}
			v.elems = append(v.elems, e)
		}
		if v.kind == '|' {
			return readRESPDepth(r, depth) // the attributed value itself
		}
	default:
		return respValue{}, fmt.Errorf("%w: unknown type byte %q", errRESP, v.kind)
	}
	return v, nil
}

// respLen parses the length of a string or an aggregate: -1 (a RESP2
// null) or 0 to limit.
func respLen(s string, limit int) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < -1 || n > limit {
		return 0, fmt.Errorf("%w: length %q", errRESP, s)
	}
	return n, nil
}

// readLine reads one CRLF-terminated line, without the CRLF. A line longer
// than the reader's buffer is an error: no header of a RESP3 value is.
func readLine(r *bufio.Reader) ([]byte, error) {
	line, err := r.ReadSlice('\n')
	if err != nil {
		if errors.Is(err, bufio.ErrBufferFull) {
			return nil, fmt.Errorf("%w: line too long", errRESP)
		}
		return nil, err
	}
	if len(line) < 2 || line[len(line)-2] != '\r' {
		return nil, fmt.Errorf("%w: line not ended by CRLF", errRESP)
	}
	return line[:len(line)-2], nil
}

// appendCommand appends a command in the form Redis reads: an array of
// bulk strings.
func appendCommand(b []byte, args ...string) []byte {
	b = append(b, '*')
	b = strconv.AppendInt(b, int64(len(args)), 10)
	b = append(b, '\r', '\n')
	for _, a := range args {
		b = append(b, '$')
		b = strconv.AppendInt(b, int64(len(a)), 10)
		b = append(b, '\r', '\n')
		b = append(b, a...)
		b = append(b, '\r', '\n')
	}
	return b
}

// errorText returns the message of an error reply, or "" for any other.
func (v respValue) errorText() string {
	if v.kind == '-' || v.kind == '!' {
		return v.str
	}
	return ""
}

// invalidation reports whether v is the push of an invalidation and, if
// so, the keys it names; all is true for a null list, which Redis sends
// when it flushed a database (FLUSHALL, FLUSHDB) and every key is invalid.
func (v respValue) invalidation() (keys []string, all, ok bool) {
	if v.kind != '>' || len(v.elems) != 2 || v.elems[0].str != "invalidate" {
		return nil, false, false
	}
	list := v.elems[1]
	if list.null {
		return nil, true, true
	}
	keys = make([]string, 0, len(list.elems))
	for _, k := range list.elems {
		keys = append(keys, k.str)
	}
	return keys, false, true
}
