package boltsession

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"sync"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

// formatVersion is the on-disk format this package writes and the newest it
// reads. Open refuses a file whose meta bucket holds a larger number, so an
// older release never misreads a file a newer one wrote.
//
// Version 2 added the record checksum (recordTag) and the bucket of
// replaced-session markers; version 3 keys sessions by handle, not ID, and
// may seal records (seal.go). Older files are converted at Open
// (upgrade.go); their records move as they are, without a checksum until
// their next write.
const formatVersion = 3

// recordTag starts a checksummed record: the tag, the CRC-32C (Castagnoli)
// of the msgpack body in 4 bytes big-endian, then the body. 0xc1 is the one
// byte msgpack never uses, so a record written before checksums, a bare
// msgpack map, is told apart by its first byte.
const recordTag = 0xc1

// recordHeader is the length of the tag and the checksum.
const recordHeader = 5

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Field names of a stored record. They are one byte each because they are
// repeated in every record; they must never change within a format version.
const (
	fieldCreated = "c"
	fieldExpires = "e"
	fieldMaxAge  = "m"
	fieldOwner   = "o"
	fieldValues  = "v"
)

// encoders are reused across saves: a msgpack.Encoder and its buffer cost
// several allocations to build.
var encoders = sync.Pool{New: func() any {
	e := &recordEncoder{}
	e.enc = msgpack.NewEncoder(&e.buf)
	return e
}}

type recordEncoder struct {
	buf bytes.Buffer
	enc *msgpack.Encoder
}

// encodeRecord returns the stored form of r (its ID is the bucket key, not
// part of the value). The slice is freshly allocated: bbolt keeps a
// reference to a Put value until the transaction commits.
func encodeRecord(r *Record) ([]byte, error) {
	e := encoders.Get().(*recordEncoder)
	defer encoders.Put(e)
	e.buf.Reset()
	e.buf.Write([]byte{recordTag, 0, 0, 0, 0}) // the checksum is filled in last
	enc := e.enc
	if err := checkTime("created", r.Created); err != nil {
		return nil, err
	}
	if err := checkTime("expiry", r.Expires); err != nil {
		return nil, err
	}

	fields := 3 // created, expires, values are always written
	if r.MaxAge != 0 {
		fields++
	}
	if r.Owner != "" {
		fields++
	}
	err := errors.Join(
		enc.EncodeMapLen(fields),
		enc.EncodeString(fieldCreated), enc.EncodeInt(timeToNanos(r.Created)),
		enc.EncodeString(fieldExpires), enc.EncodeInt(timeToNanos(r.Expires)),
	)
	if r.MaxAge != 0 {
		err = errors.Join(err, enc.EncodeString(fieldMaxAge), enc.EncodeInt(int64(r.MaxAge)))
	}
	if r.Owner != "" {
		err = errors.Join(err, enc.EncodeString(fieldOwner), enc.EncodeString(r.Owner))
	}
	err = errors.Join(err, enc.EncodeString(fieldValues), enc.EncodeMapLen(len(r.Values)))
	for k, v := range r.Values {
		err = errors.Join(err, enc.EncodeString(k), enc.EncodeBytes(v))
	}
	if err != nil {
		return nil, fmt.Errorf("boltsession: encode record: %w", err)
	}
	out := bytes.Clone(e.buf.Bytes())
	binary.BigEndian.PutUint32(out[1:recordHeader], crc32.Checksum(out[recordHeader:], castagnoli))
	return out, nil
}

// checkTime refuses a time the record format cannot hold: Unix nanoseconds
// in an int64 reach from 1678 to 2262. A time outside would be clamped,
// and a clamped expiry never equals the one a request computes, so every
// request would rewrite the record.
func checkTime(what string, t time.Time) error {
	if !t.IsZero() && (t.Before(minNanoTime) || t.After(maxNanoTime)) {
		return fmt.Errorf("boltsession: %s %v is outside the years 1678 to 2262 that a session record holds", what, t)
	}
	return nil
}

var decoders = sync.Pool{New: func() any {
	d := &recordDecoder{}
	d.dec = msgpack.NewDecoder(&d.r)
	return d
}}

type recordDecoder struct {
	r   bytes.Reader
	dec *msgpack.Decoder
}

// unmarshalValue decodes one value of a session into v, as msgpack.Unmarshal
// does, with a pooled reader: Unmarshal allocates one per call, and Get
// runs on most requests.
func unmarshalValue(b []byte, v any) error {
	d := decoders.Get().(*recordDecoder)
	d.r.Reset(b)
	d.dec.Reset(&d.r)
	err := d.dec.Decode(v)
	d.r.Reset(nil)
	if err == nil { // see decodeMsgpack: a failed decode may have grown its buffer
		decoders.Put(d)
	}
	return err
}

// decodeRecord parses the stored form of the record with the given ID. The
// result shares no memory with b (msgpack copies every string and byte
// slice it reads), so b may be memory of a bbolt transaction.
//
// Anything that is not a record this package wrote gives an error wrapping
// ErrCorrupt: trailing bytes, a missing expiry, a length larger than the
// input. Unknown fields are skipped.
func decodeRecord(id string, b []byte) (*Record, error) {
	return decodeWith(id, b, false)
}

// decodeIndexFields is decodeRecord without the values (left nil), for the
// sweeper, deletes and Owned, which need only the expiry and owner. The
// values are still checked to be well-formed msgpack.
func decodeIndexFields(id string, b []byte) (*Record, error) {
	return decodeWith(id, b, true)
}

// verifyRecordSum checks the checksum of a stored record and returns its
// msgpack body. A record without the tag (written before format version 2)
// is returned whole, unchecked.
func verifyRecordSum(b []byte) ([]byte, error) {
	if len(b) == 0 || b[0] != recordTag {
		return b, nil
	}
	if len(b) < recordHeader {
		return nil, fmt.Errorf("%w: record of %d bytes is shorter than its checksum", ErrCorrupt, len(b))
	}
	if crc32.Checksum(b[recordHeader:], castagnoli) != binary.BigEndian.Uint32(b[1:recordHeader]) {
		return nil, fmt.Errorf("%w: record checksum mismatch: its bytes were damaged on disk", ErrCorrupt)
	}
	return b[recordHeader:], nil
}

func decodeWith(id string, b []byte, skipValues bool) (*Record, error) {
	b, err := verifyRecordSum(b)
	if err != nil {
		return nil, err
	}
	if rec, ok := parseRecord(id, b, skipValues); ok {
		return rec, nil
	}
	return decodeMsgpack(id, b, skipValues)
}

// decodeMsgpack decodes a record body with msgpack's decoder: any record
// parseRecord does not take (see there), and the verdict on what is not a
// record at all.
func decodeMsgpack(id string, b []byte, skipValues bool) (*Record, error) {
	d := decoders.Get().(*recordDecoder)
	d.r.Reset(b)
	d.dec.Reset(&d.r)
	rec, err := d.decode(id, skipValues)
	d.r.Reset(nil)
	if err != nil {
		// Not back to the pool: msgpack's decoder keeps the buffer it grew
		// for a length the input claimed, up to 1 MiB past what it could
		// read, and forged lengths would grow a pooled one without bound.
		return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	decoders.Put(d)
	return rec, nil
}

func (d *recordDecoder) decode(id string, skipValues bool) (*Record, error) {
	dec := d.dec
	n, err := dec.DecodeMapLen()
	if err != nil {
		return nil, err
	}
	// Each entry takes at least two bytes; a larger count is garbage, and
	// checking it keeps a forged header from making us allocate.
	if n < 0 || n*2 > d.r.Len() {
		return nil, errors.New("record header does not match its length")
	}
	rec := &Record{ID: id}
	var haveExpires bool
	for range n {
		key, err := dec.DecodeString()
		if err != nil {
			return nil, err
		}
		switch key {
		case fieldCreated:
			ns, err := dec.DecodeInt64()
			if err != nil {
				return nil, fmt.Errorf("created: %w", err)
			}
			rec.Created = nanosToTime(ns)
		case fieldExpires:
			ns, err := dec.DecodeInt64()
			if err != nil {
				return nil, fmt.Errorf("expires: %w", err)
			}
			rec.Expires = nanosToTime(ns)
			haveExpires = true
		case fieldMaxAge:
			ns, err := dec.DecodeInt64()
			if err != nil {
				return nil, fmt.Errorf("max age: %w", err)
			}
			rec.MaxAge = time.Duration(ns)
		case fieldOwner:
			if rec.Owner, err = dec.DecodeString(); err != nil {
				return nil, fmt.Errorf("owner: %w", err)
			}
		case fieldValues:
			if skipValues {
				if err := dec.Skip(); err != nil {
					return nil, fmt.Errorf("values: %w", err)
				}
				continue
			}
			if rec.Values, err = d.decodeValues(); err != nil {
				return nil, fmt.Errorf("values: %w", err)
			}
		default:
			if err := dec.Skip(); err != nil {
				return nil, err
			}
		}
	}
	if !haveExpires {
		return nil, errors.New("record has no expiry")
	}
	if d.r.Len() != 0 {
		return nil, fmt.Errorf("%d bytes after the record", d.r.Len())
	}
	if rec.Values == nil && !skipValues {
		rec.Values = map[string][]byte{}
	}
	return rec, nil
}

func (d *recordDecoder) decodeValues() (map[string][]byte, error) {
	n, err := d.dec.DecodeMapLen()
	if err != nil {
		return nil, err
	}
	if n < 0 || n*2 > d.r.Len() {
		return nil, errors.New("value map header does not match its length")
	}
	values := make(map[string][]byte, n)
	// All values share one allocation, sized by what is left of the input
	// (an upper bound). Each is capped at its own length, so appending to
	// one never writes into the next.
	var buf []byte
	for range n {
		k, err := d.dec.DecodeString()
		if err != nil {
			return nil, err
		}
		size, err := d.dec.DecodeBytesLen()
		if err != nil {
			return nil, fmt.Errorf("key %q: %w", k, err)
		}
		if size < 0 { // msgpack nil
			values[k] = nil
			continue
		}
		if size > d.r.Len() {
			return nil, fmt.Errorf("key %q: value longer than the record", k)
		}
		if buf == nil {
			buf = make([]byte, 0, d.r.Len())
		}
		start := len(buf)
		buf = buf[:start+size]
		if _, err := io.ReadFull(&d.r, buf[start:]); err != nil {
			return nil, fmt.Errorf("key %q: %w", k, err)
		}
		values[k] = buf[start : start+size : start+size]
	}
	return values, nil
}

// timeToNanos stores a time as Unix nanoseconds, clamped to what an int64
// holds (years 1678 to 2262); the zero time is 0.
func timeToNanos(t time.Time) int64 {
	switch {
	case t.IsZero():
		return 0
	case t.Before(minNanoTime):
		return math.MinInt64
	case t.After(maxNanoTime):
		return math.MaxInt64
	}
	return t.UnixNano()
}

func nanosToTime(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns)
}

var (
	minNanoTime = time.Unix(0, math.MinInt64)
	maxNanoTime = time.Unix(0, math.MaxInt64)
)
