package main

import (
	"bytes"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/boltsession/boltsession"
	"github.com/boltsession/boltsession/express"
)

func TestCookieIDReadsBoltsessionAndExpressCookies(t *testing.T) {
	const id = "yQ2rVx0c6b8mJpL4sKdHfNgAzE1wT9.u"
	key := bytes.Repeat([]byte{5}, 64)
	codec, err := boltsession.SecureCookie(key)
	if err != nil {
		t.Fatal(err)
	}
	signed, err := codec.Encode("sid", id)
	if err != nil {
		t.Fatal(err)
	}
	exp, err := express.Cookie("keyboard cat")
	if err != nil {
		t.Fatal(err)
	}
	expressValue, err := exp.Encode("connect.sid", id) // percent-encoded, as express-session sends it
	if err != nil {
		t.Fatal(err)
	}
	plain, _ := url.PathUnescape(expressValue)
	for _, c := range []struct {
		name, value string
		codec       boltsession.CookieCodec
	}{
		{"boltsession", signed, codec},
		{"boltsession, quoted, with spaces", ` "` + signed + `" `, codec},
		{"express, percent-encoded, no key", expressValue, nil},
		{"express, as the browser's tools show it", plain, nil},
		{"express, with a key given for other cookies", expressValue, codec},
	} {
		got, err := cookieID(c.value, c.codec, "sid")
		if err != nil || got != id {
			t.Errorf("%s: %q, %v; want the ID", c.name, got, err)
		}
	}

	for _, c := range []struct {
		name, value, cookieName string
		codec                   boltsession.CookieCodec
		want                    string
	}{
		{"boltsession, no key", signed, "sid", nil, "needs the app's signing key"},
		{"boltsession, another name", signed, "other", codec, "does not verify"},
		{"boltsession, tampered", signed[:len(signed)-4] + "AAAA", "sid", codec, "does not verify"},
		{"express without signature", "s:" + "nodot", "sid", nil, "without an ID and signature"},
		{"express with an empty ID", "s:.sig", "sid", nil, "without an ID and signature"},
		{"too long", strings.Repeat("a", 5000), "sid", codec, "not a cookie value"},
	} {
		_, err := cookieID(c.value, c.codec, c.cookieName)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error containing %q", c.name, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), id) {
			t.Errorf("%s: the error shows the session ID: %v", c.name, err)
		}
	}
	if _, err := cookieID(signed, nil, "sid"); !errors.Is(err, errNeedKey) {
		t.Errorf("a boltsession cookie without a key: %v, want errNeedKey", err)
	}
}

func TestRmCookieKeyFileMustExist(t *testing.T) {
	path := standardFile(t)
	missing := filepath.Join(t.TempDir(), "sessions.db.key")
	r := cli(t, "", "rm", path, "--cookie", "--key-file", missing, "MTczMjYxMjM2MHxBa2x6")
	r.expect(t, 1, "--key-file", "no such file")
	r.oneLineError(t)
	if fileExists(missing) {
		t.Fatal("rm --cookie --key-file created the key file")
	}
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// FuzzCookieID checks that no value makes the cookie reader panic, and
// that an express-session cookie it reads gives back the ID it was made
// from.
func FuzzCookieID(f *testing.F) {
	f.Add("s%3AyQ2rVx0c6b8mJpL4sKdHfNgAzE1wT9uB.Qm3abc")
	f.Add("s:a.b.c")
	f.Add(`"s:%E2%82%AC.sig"`)
	f.Add("MTczMjYxMjM2MHxBa2x6")
	f.Add("s%3")
	f.Fuzz(func(t *testing.T, value string) {
		id, err := cookieID(value, nil, "sid")
		if err != nil {
			return
		}
		if id == "" {
			t.Fatal("an empty ID without an error")
		}
		exp, _ := express.Cookie("secret")
		again, err := exp.Encode("sid", id)
		if err != nil {
			return // an ID express cannot sign (not UTF-8)
		}
		if back, err := cookieID(again, nil, "sid"); err != nil || back != id {
			t.Fatalf("express cookie of %q read back as %q, %v", id, back, err)
		}
	})
}
