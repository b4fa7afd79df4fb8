package boltsession

import (
	"encoding/binary"
	"strings"
	"time"
)

// parseRecord decodes the msgpack body of a record (its checksum already
// verified) when it is laid out as encodeRecord writes it: one map of the
// known fields, each once, in their shortest msgpack forms (str and bin
// strings, integer codes, a map of bin values or nil). That is every record
// this package writes, and it takes no reflection, no io.Reader and, for
// the values, three allocations: one string for every key, one buffer for
// every value, and the map; msgpack's decoder allocates each key
// separately. ok is false for anything else, well formed or not, and the
// caller then decodes with msgpack, whose verdict stands: parseRecord never
// accepts what msgpack would refuse, nor reads anything differently (a
// differential fuzz target pins this down).
func parseRecord(id string, b []byte, skipValues bool) (rec *Record, ok bool) {
	p := parser{b: b}
	n := p.mapLen()
	rec = &Record{ID: id}
	var seen [5]bool // created, expires, max age, owner, values
	for range n {
		if p.bad {
			return nil, false
		}
		key := p.str()
		if len(key) != 1 {
			return nil, false
		}
		var f int
		switch key[0] {
		case fieldCreated[0]:
			rec.Created, f = nanosToTime(p.int()), 0
		case fieldExpires[0]:
			rec.Expires, f = nanosToTime(p.int()), 1
		case fieldMaxAge[0]:
			rec.MaxAge, f = time.Duration(p.int()), 2
		case fieldOwner[0]:
			rec.Owner, f = string(p.str()), 3
		case fieldValues[0]:
			f = 4
			if skipValues {
				p.values(nil)
			} else {
				rec.Values = p.values(rec)
			}
		default:
			return nil, false // msgpack skips unknown fields: let it
		}
		if seen[f] {
			return nil, false
		}
		seen[f] = true
	}
	if p.bad || p.off != len(p.b) || !seen[1] {
		return nil, false
	}
	if rec.Values == nil && !skipValues {
		rec.Values = map[string][]byte{}
	}
	return rec, true
}

// parser reads msgpack from b; bad is set at the first thing it does not
// take, and every read after that returns zero values.
type parser struct {
	b   []byte
	off int
	bad bool
}

// next returns the next n bytes.
func (p *parser) next(n int) []byte {
	if p.bad || n < 0 || n > len(p.b)-p.off {
		p.bad = true
		return nil
	}
	s := p.b[p.off : p.off+n]
	p.off += n
	return s
}

func (p *parser) code() byte {
	if s := p.next(1); s != nil {
		return s[0]
	}
	return 0
}

// uint reads a big-endian unsigned integer of size bytes.
func (p *parser) uint(size int) uint64 {
	s := p.next(size)
	switch {
	case s == nil:
		return 0
	case size == 1:
		return uint64(s[0])
	case size == 2:
		return uint64(binary.BigEndian.Uint16(s))
	case size == 4:
		return uint64(binary.BigEndian.Uint32(s))
	}
	return binary.BigEndian.Uint64(s)
}

// mapLen reads a fixmap, map16 or map32 header.
func (p *parser) mapLen() int {
	switch c := p.code(); {
	case c >= 0x80 && c <= 0x8f:
		return int(c & 0x0f)
	case c == 0xde:
		return int(p.uint(2))
	case c == 0xdf:
		return int(p.uint(4))
	}
	p.bad = true
	return 0
}

// str reads a fixstr, str8, str16 or str32, or the bin forms, which
// msgpack's DecodeString takes as well; the bytes are b's.
func (p *parser) str() []byte {
	n, isNil := p.binLen()
	if isNil {
		p.bad = true // msgpack reads nil as "": not a form we write
	}
	return p.next(n)
}

// binLen reads the header of a string or binary value: its length, or
// isNil for msgpack's nil.
func (p *parser) binLen() (n int, isNil bool) {
	switch c := p.code(); {
	case c >= 0xa0 && c <= 0xbf:
		return int(c & 0x1f), false
	case c == 0xc4 || c == 0xd9:
		return int(p.uint(1)), false
	case c == 0xc5 || c == 0xda:
		return int(p.uint(2)), false
	case c == 0xc6 || c == 0xdb:
		return int(p.uint(4)), false
	case c == 0xc0:
		return 0, true
	}
	p.bad = true
	return 0, false
}

// int reads an integer in any of msgpack's integer forms, as
// DecodeInt64 does (a uint64 above the int64 range wraps).
func (p *parser) int() int64 {
	switch c := p.code(); {
	case c <= 0x7f || c >= 0xe0:
		return int64(int8(c))
	case c == 0xcc:
		return int64(p.uint(1))
	case c == 0xcd:
		return int64(p.uint(2))
	case c == 0xce:
		return int64(p.uint(4))
	case c == 0xcf, c == 0xd3:
		return int64(p.uint(8))
	case c == 0xd0:
		return int64(int8(p.uint(1)))
	case c == 0xd1:
		return int64(int16(p.uint(2)))
	case c == 0xd2:
		return int64(int32(p.uint(4)))
	}
	p.bad = true
	return 0
}

// values reads the value map. With rec nil it only checks it; otherwise
// it returns the map, its keys cut from one string and its values from
// one buffer, each value capped at its own length (appending to one never
// writes into the next), so the map shares nothing with b.
func (p *parser) values(rec *Record) map[string][]byte {
	n := p.mapLen()
	start := p.off
	var keyBytes, valueBytes int
	for range n {
		keyBytes += len(p.str())
		size, isNil := p.binLen()
		if !isNil {
			p.next(size)
			valueBytes += size
		}
		if p.bad {
			return nil
		}
	}
	if rec == nil {
		return nil
	}
	end := p.off
	p.off = start
	var keys strings.Builder
	keys.Grow(keyBytes)
	buf := make([]byte, valueBytes)
	values := make(map[string][]byte, n)
	for range n {
		k := p.str()
		at := keys.Len()
		keys.Write(k)
		size, isNil := p.binLen()
		v := p.next(size)
		if isNil {
			v = nil
		} else {
			v = buf[:copy(buf, v):size]
			buf = buf[size:]
		}
		values[keys.String()[at:at+len(k)]] = v
	}
	p.off = end
	return values
}
