package boltsession

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/gorilla/securecookie"
)

// referenceCodec is securecookie configured as SecureCookie configures a
// pair without a block key: the format macKey must match byte for byte.
func referenceCodec(hashKey []byte) *securecookie.SecureCookie {
	return securecookie.New(hashKey, nil).MaxAge(0).MaxLength(maxCookieValue).SetSerializer(securecookie.NopEncoder{})
}

// TestMACKeyInteroperatesWithSecurecookie pins down that the signed-only
// codec reads what securecookie issues and issues what securecookie reads,
// under the same key only: cookies issued before this codec existed keep
// verifying, and a rollback to securecookie keeps the new ones.
func TestMACKeyInteroperatesWithSecurecookie(t *testing.T) {
	other := bytes.Repeat([]byte("o"), 32)
	ours, ref := newMACKey(testHashKey), referenceCodec(testHashKey)
	oursOther, refOther := newMACKey(other), referenceCodec(other)
	for _, tc := range []struct{ name, id string }{
		{"sid", benchID},
		{"sid", "a"},
		{"__Host-session", "id|with|separators"},
		{"s", strings.Repeat("x", 1024)},
		{"sid", "\x00\xff binary"},
	} {
		mine, err := ours.encode(tc.name, tc.id)
		if err != nil {
			t.Fatalf("encode %q: %v", tc.id, err)
		}
		var got []byte
		if err := ref.Decode(tc.name, mine, &got); err != nil || string(got) != tc.id {
			t.Errorf("securecookie reads our %q as %q, %v", tc.id, got, err)
		}
		theirs, err := ref.Encode(tc.name, []byte(tc.id))
		if err != nil {
			t.Fatal(err)
		}
		if id, err := ours.decode(tc.name, theirs); err != nil || id != tc.id {
			t.Errorf("we read securecookie's %q as %q, %v", tc.id, id, err)
		}
		if id, err := oursOther.decode(tc.name, mine); err == nil {
			t.Errorf("another key verifies our cookie for %q (%q)", tc.id, id)
		}
		if err := refOther.Decode(tc.name, mine, &got); err == nil {
			t.Errorf("securecookie with another key verifies our cookie for %q", tc.id)
		}
		if id, err := ours.decode(tc.name+"x", mine); err == nil {
			t.Errorf("a cookie of another name verifies (%q)", id)
		}
	}
}

// FuzzMACKeyDecodeAgreesWithSecurecookie checks the signed-only decoder
// against securecookie on any input: both accept with the same ID, or both
// refuse. Inputs come as a raw cookie value, and as the parts of a value
// that the fuzzer signs with the key (so that the paths after the MAC
// check, the timestamp and the inner base64, are explored too).
func FuzzMACKeyDecodeAgreesWithSecurecookie(f *testing.F) {
	ref := referenceCodec(testHashKey)
	valid, _ := ref.Encode("sid", []byte(benchID))
	f.Add("sid", valid, false, "", "", "")
	f.Add("sid", valid[:len(valid)-4], false, "", "", "")
	f.Add("sid", "", true, "1700000000", base64.URLEncoding.EncodeToString([]byte("id")), "")
	f.Add("sid", "", true, "+17", "aWQ=", "")
	f.Add("sid", "", true, "-1", "aW\r\nQ=", "")
	f.Add("sid", "", true, "1x", "aWQ=", "")
	f.Add("sid", "", true, "1", "", "")
	f.Add("sid", "", true, "99999999999999999999", "aWQ=", "")
	f.Add("x|y", "", true, "1", "aWQ=", "|extra")
	ours := newMACKey(testHashKey)
	f.Fuzz(func(t *testing.T, name, value string, sign bool, ts, inner, tail string) {
		if sign {
			signed := ts + "|" + inner
			mac := hmac.New(sha256.New, testHashKey)
			mac.Write([]byte(name + "|" + signed))
			value = base64.URLEncoding.EncodeToString(append([]byte(signed+"|"), mac.Sum(nil)...))
			if tail != "" {
				value += tail
			}
		}
		var want []byte
		wantErr := ref.Decode(name, value, &want)
		got, err := ours.decode(name, value)
		if (err == nil) != (wantErr == nil) {
			t.Fatalf("decode(%q, %q): ours %q, %v; securecookie %q, %v", name, value, got, err, want, wantErr)
		}
		if err == nil && got != string(want) {
			t.Fatalf("decode(%q, %q): ours %q, securecookie %q", name, value, got, want)
		}
	})
}
