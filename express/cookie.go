package express

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/boltsession/boltsession"
)

// errExpressCookie is wrapped by every Cookie decode failure, so the
// log line says which codec refused the cookie.
var errExpressCookie = errors.New("boltsession: invalid express-session cookie")

// maxCookieValue is the longest cookie value Decode looks at: what a
// browser keeps of one cookie (the Manager refuses longer ones too).
const maxCookieValue = 4096

// Cookie returns a boltsession.CookieCodec that reads and writes the signed
// cookies of express-session 1.x, so a Manager configured with it (as
// Options.Codec), the same secrets and the same cookie name
// (express-session's default is "connect.sid") accepts the cookies a Node
// app issued, and the other way round.
//
// The value is "s:" + ID + "." + the standard base64 (no padding) of
// HMAC-SHA256(secret, ID), percent-encoded as JavaScript's
// encodeURIComponent does. This is what the cookie-signature package
// produces. The cookie name is not part of the signature.
//
// The first secret signs; Decode tries every secret in order (key rotation:
// put the new secret first and keep the old ones after it), comparing in
// constant time. Decode splits the signed value at its last dot, as
// cookie-signature does, so IDs may contain dots. Values longer than 4096
// bytes are refused before any work is done.
//
// Empty secrets are dropped (express-session treats an empty secret as
// missing); with no secret left, Cookie returns an error.
//
// The Manager takes the ID Decode returns as it is: express-session's IDs are
// 32-character uid-safe strings, not the 43-character IDs of GenID.
func Cookie(secrets ...string) (boltsession.CookieCodec, error) {
	c := &expressCodec{}
	for _, s := range secrets {
		if s != "" {
			c.secrets = append(c.secrets, []byte(s))
		}
	}
	if len(c.secrets) == 0 {
		return nil, errors.New("boltsession: express.Cookie was given no (non-empty) secret: it would refuse every cookie")
	}
	return c, nil
}

type expressCodec struct {
	secrets [][]byte
}

// expressSignature is cookie-signature's MAC: base64 (standard alphabet,
// padding stripped) of HMAC-SHA256 keyed with the secret over the ID.
func expressSignature(secret []byte, id string) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(id))
	return base64.RawStdEncoding.EncodeToString(mac.Sum(nil))
}

// Encode implements boltsession.CookieCodec.
func (c *expressCodec) Encode(name, id string) (string, error) {
	if len(c.secrets) == 0 {
		return "", errors.New("boltsession: express.Cookie has no secret to sign with")
	}
	if id == "" {
		return "", errors.New("boltsession: express.Cookie cannot sign an empty session ID")
	}
	if !utf8.ValidString(id) {
		// encodeURIComponent throws on strings it cannot encode as UTF-8.
		return "", errors.New("boltsession: express.Cookie session ID is not valid UTF-8")
	}
	v := encodeURIComponent("s:" + id + "." + expressSignature(c.secrets[0], id))
	if len(v) > maxCookieValue {
		return "", fmt.Errorf("boltsession: express-session cookie value is %d bytes, more than %d", len(v), maxCookieValue)
	}
	return v, nil
}

// Decode implements boltsession.CookieCodec.
func (c *expressCodec) Decode(name, value string) (string, error) {
	if len(value) > maxCookieValue {
		return "", fmt.Errorf("%w: value is %d bytes, more than %d", errExpressCookie, len(value), maxCookieValue)
	}
	if len(c.secrets) == 0 {
		return "", fmt.Errorf("%w: the codec has no secret", errExpressCookie)
	}
	raw := decodeCookieValue(value)
	signed, ok := strings.CutPrefix(raw, "s:")
	if !ok {
		return "", fmt.Errorf("%w: not signed (no \"s:\" prefix)", errExpressCookie)
	}
	dot := strings.LastIndexByte(signed, '.')
	if dot < 0 {
		return "", fmt.Errorf("%w: no signature", errExpressCookie)
	}
	id, sig := signed[:dot], signed[dot+1:]
	if id == "" {
		// express-session treats an empty ID as no session at all.
		return "", fmt.Errorf("%w: empty session ID", errExpressCookie)
	}
	for _, secret := range c.secrets {
		if hmac.Equal([]byte(sig), []byte(expressSignature(secret, id))) {
			return id, nil
		}
	}
	return "", fmt.Errorf("%w: signature does not match any secret", errExpressCookie)
}

// decodeCookieValue undoes the percent-encoding the way the cookie package
// (used by express-session) does: strip surrounding double quotes, decode
// only a value that contains '%', and keep the value as it is when it does
// not decode (decodeURIComponent throws on bad escapes and on bytes that are
// not UTF-8; cookie.parse then falls back to the raw value).
func decodeCookieValue(v string) string {
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		v = v[1 : len(v)-1]
	}
	if !strings.Contains(v, "%") {
		return v
	}
	d, err := url.PathUnescape(v)
	if err != nil || !utf8.ValidString(d) {
		return v
	}
	return d
}

// encodeURIComponent percent-encodes s exactly as JavaScript's
// encodeURIComponent does for valid UTF-8: every byte except
// A-Z a-z 0-9 - _ . ! ~ * ' ( ) becomes %XX with upper-case hex.
func encodeURIComponent(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if uriUnreserved(ch) {
			b.WriteByte(ch)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[ch>>4])
		b.WriteByte(hex[ch&0x0f])
	}
	return b.String()
}

func uriUnreserved(ch byte) bool {
	switch {
	case 'a' <= ch && ch <= 'z', 'A' <= ch && ch <= 'Z', '0' <= ch && ch <= '9':
		return true
	}
	return strings.IndexByte("-_.!~*'()", ch) >= 0
}
