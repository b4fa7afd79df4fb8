package main

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/boltsession/boltsession"
)

// abcHandle is the handle of the session ID "abc".
const abcHandle = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"

const validLine = `{"handle":"` + abcHandle + `","created":"2026-11-26T09:12:40.123456789Z","expires":"2026-11-27T09:12:40Z","owner":"user-42","maxage":"720h0m0s","values":{"views":"EQ==","name":"pFpvw6s="}}`

func TestParseLineReadsAnExportLine(t *testing.T) {
	rec, err := parseLine([]byte(validLine))
	if err != nil {
		t.Fatal(err)
	}
	if rec.Handle != abcHandle || rec.ID != "" || rec.Owner != "user-42" || rec.MaxAge != 720*time.Hour ||
		!rec.Created.Equal(time.Date(2026, 11, 26, 9, 12, 40, 123456789, time.UTC)) ||
		string(rec.Values["views"]) != "\x11" || string(rec.Values["name"]) != "\xa4Zo\xc3\xab" {
		t.Fatalf("parseLine = %+v", rec)
	}
}

// An export of the release before handles named sessions by ID: the
// import takes the ID, which Restore hashes to its handle.
func TestParseLineReadsTheIDOfAnOlderExport(t *testing.T) {
	for _, line := range []string{
		`{"id":"abc","created":"2026-01-01T00:00:00Z","expires":"2026-01-02T00:00:00Z","values":{}}`,
		`{"id":"abc","handle":"` + strings.ToUpper(abcHandle) + `","created":"2026-01-01T00:00:00Z","expires":"2026-01-02T00:00:00Z","values":{}}`,
	} {
		rec, err := parseLine([]byte(line))
		if err != nil || rec.ID != "abc" || (rec.Handle != "" && rec.Handle != abcHandle) {
			t.Fatalf("parseLine(%s) = %+v, %v", line, rec, err)
		}
		out, err := json.Marshal(newExportLine(&rec))
		if err != nil || strings.Contains(string(out), `"id"`) || !strings.Contains(string(out), `"handle":"`+abcHandle+`"`) {
			t.Fatalf("exported again as %s, %v; want the handle and no ID", out, err)
		}
	}
}

func TestParseLineSaysWhatIsWrong(t *testing.T) {
	for _, c := range []struct{ line, want string }{
		{`{"id":"a"`, "incomplete JSON object"},
		{`not json`, "byte 2: invalid character"},
		{`[1,2]`, "where a JSON object was expected"},
		{`{"id":"a","created":"2026-01-01T00:00:00Z","expires":"2026-01-02T00:00:00Z","values":{}} {}`, "unexpected data after the JSON object"},
		{`{"id":"a","created":"2026-01-01T00:00:00Z","expires":"2026-01-02T00:00:00Z","color":"red"}`, `field "color": unknown (an export line has handle,`},
		{`{"created":"2026-01-01T00:00:00Z","expires":"2026-01-02T00:00:00Z"}`, `field "handle": missing`},
		{`{"handle":"` + abcHandle[:63] + `","created":"2026-01-01T00:00:00Z","expires":"2026-01-02T00:00:00Z"}`, `field "handle": not a session handle (64 hex digits)`},
		{`{"handle":"` + abcHandle[:63] + `g","created":"2026-01-01T00:00:00Z","expires":"2026-01-02T00:00:00Z"}`, `field "handle": not a session handle`},
		{`{"handle":"` + abcHandle + `","id":"abd","created":"2026-01-01T00:00:00Z","expires":"2026-01-02T00:00:00Z"}`, `field "id": the ID's handle is not the line's "handle"`},
		{`{"handle":7,"created":"2026-01-01T00:00:00Z","expires":"2026-01-02T00:00:00Z"}`, `field "handle": number where string was expected`},
		{`{"id":"` + strings.Repeat("x", 1025) + `","created":"2026-01-01T00:00:00Z","expires":"2026-01-02T00:00:00Z"}`, `field "id": 1025 bytes`},
		{`{"id":"a","expires":"2026-01-02T00:00:00Z"}`, `field "created": missing`},
		{`{"id":"a","created":"2026-01-01T00:00:00Z"}`, `field "expires": missing`},
		{`{"id":"a","created":"2026-01-01T00:00:00Z","expires":"tomorrow"}`, `field "expires": parsing time`},
		{`{"id":"a","created":"2026-01-03T00:00:00Z","expires":"2026-01-02T00:00:00Z"}`, `field "expires": before "created"`},
		{`{"id":"a","created":"0000-01-01T00:00:00+01:00","expires":"2026-01-02T00:00:00Z"}`, `field "created": 0000-01-01T00:00:00+01:00 is outside the years the store keeps`},
		{`{"id":"a","created":"2026-01-01T00:00:00Z","expires":"2300-01-02T00:00:00Z"}`, `field "expires": 2300-01-02T00:00:00Z is outside the years the store keeps`},
		{`{"id":7,"created":"2026-01-01T00:00:00Z","expires":"2026-01-02T00:00:00Z"}`, `field "id": number where string was expected`},
		{`{"id":"a","created":"2026-01-01T00:00:00Z","expires":"2026-01-02T00:00:00Z","owner":"a\u0000b"}`, `field "owner": contains a NUL byte`},
		{`{"id":"a","created":"2026-01-01T00:00:00Z","expires":"2026-01-02T00:00:00Z","maxage":"soon"}`, `field "maxage"`},
		{`{"id":"a","created":"2026-01-01T00:00:00Z","expires":"2026-01-02T00:00:00Z","maxage":"-1h"}`, `field "maxage"`},
		{`{"id":"a","created":"2026-01-01T00:00:00Z","expires":"2026-01-02T00:00:00Z","values":{"k":"!!"}}`, `field "values"`},
		{`{"id":"a","created":"2026-01-01T00:00:00Z","expires":"2026-01-02T00:00:00Z","values":{"k":null}}`, `key "k": null`},
		{`{"id":"a","created":"2026-01-01T00:00:00Z","expires":"2026-01-02T00:00:00Z","values":{"k":"kQ=="}}`, `key "k": msgpack: value truncated`},
		{`{"id":"a","created":"2026-01-01T00:00:00Z","expires":"2026-01-02T00:00:00Z","values":{"k":"AQI="}}`, `key "k": msgpack: 1 trailing bytes`},
	} {
		_, err := parseLine([]byte(c.line))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("parseLine(%.60s…) = %v, want an error containing %q", c.line, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), "\n") {
			t.Errorf("multi-line error %q", err)
		}
	}
}

// FuzzParseLine checks that no line makes the import parser panic, and that
// every line it accepts survives a round trip through the export format,
// which names the session by its handle (a legacy line's ID's).
func FuzzParseLine(f *testing.F) {
	f.Add([]byte(validLine))
	f.Add([]byte(`{"id":"a","created":"2026-01-01T00:00:00Z","expires":"2026-01-02T00:00:00Z","values":{}}`))
	f.Add([]byte(`{"handle":"` + abcHandle + `","created":"2026-01-01T00:00:00Z","expires":"2026-01-02T00:00:00Z","values":{"k":"xwX/AAAAAAAAAA=="}}`))
	f.Add([]byte(`{"handle":"` + abcHandle + `","id":"abc","created":"2026-01-01T00:00:00Z","expires":"2026-01-02T00:00:00Z"}`))
	f.Add([]byte(`{"handle":"ba78`))
	f.Fuzz(func(t *testing.T, line []byte) {
		rec, err := parseLine(line)
		if err != nil {
			return
		}
		handle := rec.Handle
		if rec.ID != "" {
			handle = boltsession.Handle(rec.ID)
			if rec.Handle != "" && rec.Handle != handle {
				t.Fatalf("accepted a line whose ID's handle is not its handle: %s", line)
			}
		}
		again, err := json.Marshal(newExportLine(&rec))
		if err != nil {
			t.Fatalf("accepted line does not export: %v", err)
		}
		back, err := parseLine(again)
		if err != nil {
			t.Fatalf("exported line %s does not parse: %v", again, err)
		}
		if back.Handle != handle || back.ID != "" || back.Owner != rec.Owner || back.MaxAge != rec.MaxAge ||
			!back.Created.Equal(rec.Created) || !back.Expires.Equal(rec.Expires) || !reflect.DeepEqual(back.Values, rec.Values) {
			t.Fatalf("round trip changed the record:\n%+v\n%+v", rec, back)
		}
	})
}
