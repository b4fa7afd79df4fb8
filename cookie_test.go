package boltsession

import (
	"net/http"
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
