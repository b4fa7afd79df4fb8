package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/boltsession/boltsession"
	"github.com/boltsession/boltsession/internal/jsonvalue"
)

// Limits on an import line's legacy ID and owner: the ones the store
// applies to every save.
const (
	maxIDLen    = 1024
	maxOwnerLen = 1024
)

// exportLine is one session in the export format, one JSON object a line
// (JSON Lines):
//
//	{"handle":"1c0f…","created":"2026-11-26T13:00:00.123456789Z","expires":"…","owner":"user-42","maxage":"720h0m0s","values":{"cart":"kqFhoWI="}}
//
// handle is the session's handle (boltsession.Handle: 64 lower-case hex
// digits), the name the store keeps it by; the file holds no session ID,
// so neither does the export. Times are RFC 3339 with nanoseconds; maxage
// is a Go duration (omitted when the manager's default applies); owner is
// omitted when empty. Each value is the exact msgpack bytes of the value,
// base64-encoded (standard alphabet, padded), so that an import reproduces
// the session byte for byte; `show` renders the same bytes as readable
// JSON.
//
// An import also reads the lines of the previous release's exports, which
// named each session by its ID ("id") instead: the ID is hashed to its
// handle, and only the handle is stored. A line with both must have the
// ID's handle.
type exportLine struct {
	Handle  string            `json:"handle,omitempty"`
	ID      string            `json:"id,omitempty"` // read only: never exported
	Created time.Time         `json:"created"`
	Expires time.Time         `json:"expires"`
	Owner   string            `json:"owner,omitempty"`
	MaxAge  string            `json:"maxage,omitempty"`
	Values  map[string][]byte `json:"values"`
}

// newExportLine renders rec in the export format, named by its handle
// (its ID's, for a record that carries only an ID).
func newExportLine(rec *boltsession.Record) exportLine {
	l := exportLine{
		Handle:  rec.Handle,
		Created: rec.Created.UTC(),
		Expires: rec.Expires.UTC(),
		Owner:   rec.Owner,
		Values:  rec.Values,
	}
	if l.Handle == "" && rec.ID != "" {
		l.Handle = boltsession.Handle(rec.ID)
	}
	if rec.MaxAge != 0 {
		l.MaxAge = rec.MaxAge.String()
	}
	if l.Values == nil {
		l.Values = map[string][]byte{}
	}
	return l
}

// parseLine reads one export line back into a record, checking everything an
// import relies on: known fields only, a handle (or a legacy ID), both
// times, a non-negative maxage, an owner without NUL (the owner index
// separates owner and handle with one), and every value one well-formed
// msgpack value. The error says which field or byte is wrong, never
// showing an ID; the caller adds the line number.
func parseLine(line []byte) (boltsession.Record, error) {
	var l exportLine
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&l); err != nil {
		return boltsession.Record{}, describeJSONError(line, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return boltsession.Record{}, fmt.Errorf("unexpected data after the JSON object at byte %d", dec.InputOffset()+1)
	}
	switch {
	case l.Handle == "" && l.ID == "":
		return boltsession.Record{}, errors.New(`field "handle": missing or empty (nor is there the "id" of an older export)`)
	case l.Handle != "" && (len(l.Handle) != handleLen || !isHex(l.Handle)):
		return boltsession.Record{}, fmt.Errorf(`field "handle": not a session handle (%d hex digits)`, handleLen)
	case len(l.ID) > maxIDLen:
		return boltsession.Record{}, fmt.Errorf(`field "id": %d bytes, at most %d allowed`, len(l.ID), maxIDLen)
	case l.Handle != "" && l.ID != "" && boltsession.Handle(l.ID) != strings.ToLower(l.Handle):
		return boltsession.Record{}, errors.New(`field "id": the ID's handle is not the line's "handle"`)
	case l.Created.IsZero():
		return boltsession.Record{}, errors.New(`field "created": missing`)
	case l.Expires.IsZero():
		return boltsession.Record{}, errors.New(`field "expires": missing`)
	case !storable(l.Created):
		return boltsession.Record{}, fmt.Errorf(`field "created": %s is outside the years the store keeps (%d to %d)`, l.Created.Format(time.RFC3339), firstYear, lastYear)
	case !storable(l.Expires):
		return boltsession.Record{}, fmt.Errorf(`field "expires": %s is outside the years the store keeps (%d to %d)`, l.Expires.Format(time.RFC3339), firstYear, lastYear)
	case l.Expires.Before(l.Created):
		return boltsession.Record{}, errors.New(`field "expires": before "created"`)
	case len(l.Owner) > maxOwnerLen:
		return boltsession.Record{}, fmt.Errorf(`field "owner": %d bytes, at most %d allowed`, len(l.Owner), maxOwnerLen)
	case strings.IndexByte(l.Owner, 0) >= 0:
		return boltsession.Record{}, errors.New(`field "owner": contains a NUL byte`)
	case !utf8.ValidString(l.Owner):
		return boltsession.Record{}, errors.New(`field "owner": not valid UTF-8`)
	}
	rec := boltsession.Record{
		Handle:  strings.ToLower(l.Handle),
		ID:      l.ID,
		Created: l.Created,
		Expires: l.Expires,
		Owner:   l.Owner,
		Values:  l.Values,
	}
	if l.MaxAge != "" {
		d, err := time.ParseDuration(l.MaxAge)
		if err != nil || d < 0 {
			return boltsession.Record{}, fmt.Errorf(`field "maxage": %q is not a non-negative Go duration such as "720h0m0s"`, l.MaxAge)
		}
		rec.MaxAge = d
	}
	if rec.Values == nil {
		rec.Values = map[string][]byte{}
	}
	for k, v := range rec.Values {
		if v == nil {
			return boltsession.Record{}, fmt.Errorf(`field "values": key %q: null, want base64 of a msgpack value`, k)
		}
		if err := jsonvalue.Valid(v); err != nil {
			return boltsession.Record{}, fmt.Errorf(`field "values": key %q: %w`, k, err)
		}
	}
	return rec, nil
}

// describeJSONError turns encoding/json's errors into "where: what". A
// field whose own decoding failed (a time that does not parse) is found by
// decoding the fields one by one, since encoding/json does not name it.
func describeJSONError(line []byte, err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	var b64 base64.CorruptInputError
	switch {
	case errors.As(err, &b64):
		return fmt.Errorf(`field "values": a value is not base64 (%v)`, err)
	case errors.As(err, &syn):
		return fmt.Errorf("byte %d: %v", syn.Offset, syn)
	case errors.As(err, &typ):
		if typ.Field != "" {
			return fmt.Errorf("field %q: %s where %s was expected", typ.Field, typ.Value, typ.Type)
		}
		return fmt.Errorf("%s where a JSON object was expected", typ.Value)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return errors.New("incomplete JSON object")
	}
	if field, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return fmt.Errorf("field %s: unknown (an export line has handle, created, expires, owner, maxage, values; an older one id instead of handle)", field)
	}
	var fields map[string]json.RawMessage
	if json.Unmarshal(line, &fields) == nil {
		targets := map[string]any{"created": new(time.Time), "expires": new(time.Time)}
		for name, target := range targets {
			if raw, ok := fields[name]; ok {
				if ferr := json.Unmarshal(raw, target); ferr != nil {
					return fmt.Errorf("field %q: %v", name, ferr)
				}
			}
		}
	}
	return err
}

// The store keeps times as Unix nanoseconds, which reach from 1677 to 2262;
// a time outside those whole years would not come back from an export as it
// went in, so an import refuses it.
const (
	firstYear = 1678
	lastYear  = 2261
)

func storable(t time.Time) bool {
	y := t.UTC().Year()
	return y >= firstYear && y <= lastYear
}
