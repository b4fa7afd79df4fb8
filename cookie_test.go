package boltsession

import (
	"net/http"
	"strings"
	"testing"
)

func TestCookieValueFindsOurCookieAmongOthers(t *testing.T) {
	cases := []struct {
		name    string
		headers []string
		value   string
		found   bool
	}{
		{"none", nil, "", false},
		{"only", []string{"sid=abc"}, "abc", true},
		{"among others", []string{"a=1; sid=abc; b=2"}, "abc", true},
		{"prefix name is not ours", []string{"sidx=1; xsid=2"}, "", false},
		{"first wins", []string{"sid=one; sid=two"}, "one", true},
		{"second header", []string{"a=1", "sid=abc"}, "abc", true},
		{"quoted", []string{`sid="abc"`}, "abc", true},
		{"no spaces", []string{"a=1;sid=abc"}, "abc", true},
		{"empty value", []string{"sid="}, "", true},
		{"flag without value", []string{"sid; a=1"}, "", false},
		{"carriage return is not a cookie byte", []string{"sid=ab\rc"}, "", false},
		{"bytes a cookie cannot hold are skipped, as net/http does", []string{"sid=a\\b; sid=\"x y\"; sid=ok"}, "x y", true},
		{"non-ASCII is skipped", []string{"sid=caf\u00e9; sid=abc"}, "abc", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			for _, line := range tc.headers {
				h.Add("Cookie", line)
			}
			v, ok := cookieValue(h, "sid")
			if v != tc.value || ok != tc.found {
				t.Errorf("cookieValue = %q, %v; want %q, %v", v, ok, tc.value, tc.found)
			}
		})
	}
}

func TestEmptyCookieValueStartsNewSession(t *testing.T) {
	e := newEnv(t, Options{})
	if r := e.rawRequest("/incr", `""`); r.status != 200 || r.body != "1" {
		t.Errorf("got %d %q", r.status, r.body)
	}
}

// TestSecureCookieAcceptsOnlyTheSpellingItIssued pins down that a cookie
// value is accepted byte for byte: base64 decoding alone would also take the
// value with a CR or LF inserted, or with other bits in the last character
// before the padding, so many strings would name one session.
func TestSecureCookieAcceptsOnlyTheSpellingItIssued(t *testing.T) {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	codec, err := SecureCookie(testHashKey, testBlockKey)
	if err != nil {
		t.Fatal(err)
	}
	// The padding depends on the length: one of three consecutive ID
	// lengths gives a value that ends in "=".
	var id, v string
	for n := 0; n < 3 && !strings.HasSuffix(v, "="); n++ {
		id = "some-session-id" + strings.Repeat("x", n)
		if v, err = codec.Encode("sid", id); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := codec.Decode("sid", v); err != nil || got != id {
		t.Fatalf("Decode(issued) = %q, %v", got, err)
	}
	data := strings.TrimRight(v, "=")
	last := strings.IndexByte(alphabet, data[len(data)-1])
	other := alphabet[last^1] // the same data bits, one padding bit flipped
	for name, variant := range map[string]string{
		"CR inside":          v[:10] + "\r" + v[10:],
		"LF inside":          v[:10] + "\n" + v[10:],
		"other padding bits": data[:len(data)-1] + string(other) + v[len(data):],
	} {
		if got, err := codec.Decode("sid", variant); err == nil {
			t.Errorf("%s: Decode(%q) = %q, want an error", name, variant, got)
		}
	}
}
