package redisstore

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/boltsession/boltsession"
)

// Field names inside a session hash. Reserved fields start with "m:" and
// user values with "v:", so no key an application chooses can overwrite a
// reserved field: the value named "m:owner" is stored in the field
// "v:m:owner".
const (
	fieldCreated = "m:created" // Unix nanoseconds, decimal
	fieldExpires = "m:expires" // Unix nanoseconds, decimal; Redis's PEXPIREAT matches it
	fieldMaxAge  = "m:maxage"  // nanoseconds, decimal; absent for zero
	fieldOwner   = "m:owner"   // absent for no owner
	fieldNext    = "m:next"    // only in the marker of a replaced session: the handle of the one that replaced it (legacy layout: its ID)
	fieldPending = "m:pending" // only in a pending record: "r:"+replaced handle, or "m" for a move
	fieldMoved   = "m:moved"   // only in a legacy record that MoveLegacy froze
	fieldOCover  = "m:ocover"  // owner index coverage in Unix ms (per-session layout)
	valuePrefix  = "v:"

	// pendingMove tags the pending record of a move from the legacy layout.
	pendingMove = "m"
)

// nanos returns t as decimal Unix nanoseconds, clamped at zero: a time
// before 1970 is as expired as 1970 itself.
func nanos(t time.Time) string {
	n := t.UnixNano()
	if n < 0 {
		n = 0
	}
	return strconv.FormatInt(n, 10)
}

// millis returns t in Unix milliseconds rounded down for PEXPIREAT. Redis
// deletes a key once its clock is past that millisecond, which is never
// before t; Load's own check covers the sub-millisecond gap.
func millis(t time.Time) string {
	n := t.UnixNano()
	if n < 0 {
		n = 0
	}
	return strconv.FormatInt(n/int64(time.Millisecond), 10)
}

// parseNanos decodes a stored time field.
func parseNanos(field, s string) (time.Time, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: field %s: %q is not a time", boltsession.ErrCorrupt, field, s)
	}
	return time.Unix(0, n), nil
}

// parseMaxAge decodes the optional m:maxage field ("" for absent).
func parseMaxAge(s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: field %s: %q is not a duration", boltsession.ErrCorrupt, fieldMaxAge, s)
	}
	return time.Duration(n), nil
}

// hashFields turns a session hash that a script returned, as HGETALL
// gives it (field, value, field, value, ...), into the map HGetAll gives.
func hashFields(reply any) map[string]string {
	flat, _ := reply.([]any)
	fields := make(map[string]string, len(flat)/2)
	for i := 0; i+1 < len(flat); i += 2 {
		k, _ := flat[i].(string)
		v, _ := flat[i+1].(string)
		fields[k] = v
	}
	return fields
}

// decodeMeta builds a Record of the session h, without its values, from
// its hash as HGETALL returns it. Fields this version does not know are
// ignored, so a newer writer's extra metadata does not make a record
// unreadable. The Record's ID is left empty: the hash does not hold it.
func decodeMeta(h handle, fields map[string]string) (*boltsession.Record, error) {
	created, ok := fields[fieldCreated]
	if !ok {
		return nil, fmt.Errorf("%w: no %s field", boltsession.ErrCorrupt, fieldCreated)
	}
	expires, ok := fields[fieldExpires]
	if !ok {
		return nil, fmt.Errorf("%w: no %s field", boltsession.ErrCorrupt, fieldExpires)
	}
	r := &boltsession.Record{Handle: string(h), Owner: fields[fieldOwner]}
	var err error
	if r.Created, err = parseNanos(fieldCreated, created); err != nil {
		return nil, err
	}
	if r.Expires, err = parseNanos(fieldExpires, expires); err != nil {
		return nil, err
	}
	if r.MaxAge, err = parseMaxAge(fields[fieldMaxAge]); err != nil {
		return nil, err
	}
	return r, nil
}

// decodeValues fills in r.Values from the session's hash: as stored in
// the legacy layout, or in either form of the per-session one (see
// values.go).
func (s *Store) decodeValues(r *boltsession.Record, fields map[string]string, legacy bool) error {
	r.Values = make(map[string][]byte)
	for f, v := range fields {
		k, ok := strings.CutPrefix(f, valuePrefix)
		if !ok {
			continue
		}
		if legacy {
			r.Values[k] = []byte(v)
			continue
		}
		val, err := s.decodeValue(handle(r.Handle), f, v)
		if err != nil {
			return err
		}
		r.Values[k] = val
	}
	return nil
}

// decodeRecord builds the whole Record of the session h from its hash.
func (s *Store) decodeRecord(h handle, fields map[string]string, legacy bool) (*boltsession.Record, error) {
	r, err := decodeMeta(h, fields)
	if err != nil {
		return nil, err
	}
	if err := s.decodeValues(r, fields, legacy); err != nil {
		return nil, err
	}
	return r, nil
}
