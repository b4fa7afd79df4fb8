package main

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"unicode/utf8"

	"github.com/boltsession/boltsession"
)

// maxCookieValue is the longest cookie value rm looks at: what a browser
// keeps of one cookie.
const maxCookieValue = 4096

// errNeedKey reports a cookie that only the app's signing key can read.
var errNeedKey = errors.New("a boltsession cookie needs the app's signing key to be read: give it with --key-file PATH or --key-env NAME")

// cookieKeyFlags are rm's flags for reading cookie values.
type cookieKeyFlags struct {
	file, env, name string
}

// codec returns the cookie codec of the app's signing key, or nil when no
// key was given (express-session cookies need none).
func (f *cookieKeyFlags) codec() (boltsession.CookieCodec, error) {
	var key []byte
	var err error
	switch {
	case f.file != "" && f.env != "":
		return nil, usagef("give the signing key with --key-file or --key-env, not both")
	case f.file != "":
		// LoadOrCreateKey would create a missing file; a command that
		// reads cookies must never make up a key.
		if _, serr := os.Stat(f.file); serr != nil {
			return nil, fmt.Errorf("--key-file: %w", serr)
		}
		key, err = boltsession.LoadOrCreateKey(f.file)
	case f.env != "":
		key, err = boltsession.KeyFromEnv(f.env)
	default:
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return boltsession.SecureCookie(key)
}

// cookieID returns the session ID that a session cookie's value carries.
//
// An express-session cookie ("s:" ID "." signature, percent-encoded or
// not, as express.Cookie and express-session write it) carries its ID
// readably: the ID is taken as it is, without the secret and without
// checking the signature. rm needs no proof to delete the session that a
// cookie names: whoever holds the cookie holds the session anyway.
//
// Any other value is taken for a boltsession cookie (boltsession.SecureCookie,
// the Manager's default): only the app's signing key reads it, and it must
// verify with that key under the cookie's name (name). codec is nil when
// no key was given.
func cookieID(value string, codec boltsession.CookieCodec, name string) (string, error) {
	value = strings.TrimSpace(value)
	if len(value) > maxCookieValue {
		return "", fmt.Errorf("longer than %d bytes: not a cookie value", maxCookieValue)
	}
	if len(value) >= 2 && value[0] == '"' && value[len(value)-1] == '"' {
		value = value[1 : len(value)-1]
	}
	if id, ok, err := expressCookieID(value); ok || err != nil {
		return id, err
	}
	if codec == nil {
		return "", errNeedKey
	}
	id, err := codec.Decode(name, value)
	if err != nil {
		return "", fmt.Errorf("does not verify with the signing key given under the cookie name %q (a cookie of another app, another key, or another name: --cookie-name)", name)
	}
	return id, nil
}

// expressCookieID reads an express-session cookie value: ok is false for
// a value that is not one (no "s:" prefix once percent-decoded).
func expressCookieID(value string) (id string, ok bool, err error) {
	raw := value
	if strings.Contains(raw, "%") {
		// As the cookie package of express does: decode, and keep the
		// value as it is if it does not decode.
		if d, err := url.PathUnescape(raw); err == nil && utf8.ValidString(d) {
			raw = d
		}
	}
	signed, ok := strings.CutPrefix(raw, "s:")
	if !ok {
		return "", false, nil
	}
	dot := strings.LastIndexByte(signed, '.')
	if dot <= 0 {
		return "", true, errors.New(`an express-session cookie ("s:…") without an ID and signature`)
	}
	return signed[:dot], true, nil
}
