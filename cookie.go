package boltsession

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/gorilla/securecookie"
)

// maxCookieValue is the longest cookie value the Manager decodes. Browsers
// keep at most about 4096 bytes a cookie; anything longer did not come from
// us, and is refused before any base64 or HMAC work is spent on it.
const maxCookieValue = 4096

// secureCookieCodec is the default CookieCodec: gorilla/securecookie's
// format with HMAC-SHA256 and optional AES encryption.
type secureCookieCodec struct {
	pairs    []cookieKeys
	verified *verifiedCookies // values that verified, and their IDs (cookiecache.go)
}

// cookieKeys is one key pair of a secureCookieCodec. A pair without a
// block key is read and written by mac (cookiemac.go), which does what
// securecookie does without its per-cookie allocations; a pair with one
// by sc.
type cookieKeys struct {
	mac *macKey
	sc  *securecookie.SecureCookie
}

// SecureCookie returns the default cookie codec, built on
// gorilla/securecookie from key pairs: hash key, block key, hash key, block
// key, ... (a nil block key signs without encrypting, and the last block
// key may be left off). The first pair signs; every pair verifies, which is
// how keys rotate. A hash key must be at least 32 bytes; a block key 16, 24
// or 32 bytes.
//
// The codecs carry no timestamp limit (securecookie's MaxAge(0)): the
// session record in the store is the one authority on expiry, so a
// cookie's age alone never ends a session.
func SecureCookie(keyPairs ...[]byte) (CookieCodec, error) {
	if len(keyPairs) == 0 {
		return nil, errors.New("boltsession: SecureCookie needs at least one hash key")
	}
	c := &secureCookieCodec{verified: newVerifiedCookies()}
	for i := 0; i < len(keyPairs); i += 2 {
		hashKey := keyPairs[i]
		if len(hashKey) < 32 {
			return nil, fmt.Errorf("boltsession: hash key %d is %d bytes; at least 32 are needed", i/2, len(hashKey))
		}
		var blockKey []byte
		if i+1 < len(keyPairs) && len(keyPairs[i+1]) > 0 {
			blockKey = keyPairs[i+1]
			switch len(blockKey) {
			case 16, 24, 32:
			default:
				return nil, fmt.Errorf("boltsession: block key %d is %d bytes; AES needs 16, 24 or 32", i/2, len(blockKey))
			}
		}
		if blockKey == nil {
			c.pairs = append(c.pairs, cookieKeys{mac: newMACKey(hashKey)})
			continue
		}
		sc := securecookie.New(hashKey, blockKey).
			MaxAge(0).
			MaxLength(maxCookieValue).
			SetSerializer(securecookie.NopEncoder{})
		c.pairs = append(c.pairs, cookieKeys{sc: sc})
	}
	return c, nil
}

// Encode signs id with the first key pair.
func (c *secureCookieCodec) Encode(name, id string) (string, error) {
	if k := c.pairs[0]; k.mac != nil {
		return k.mac.encode(name, id)
	}
	v, err := c.pairs[0].sc.Encode(name, []byte(id))
	if err != nil {
		return "", fmt.Errorf("boltsession: encode cookie: %w", err)
	}
	return v, nil
}

// Decode tries every key pair in order. It accepts only the one base64
// spelling of a value: securecookie's decoder also takes CR and LF anywhere
// and any bits in the padding, which would let many strings name one
// cookie, and a cookie should be exactly the bytes the server issued.
func (c *secureCookieCodec) Decode(name, value string) (string, error) {
	if id, ok := c.verified.get(name, value); ok {
		return id, nil
	}
	if strings.ContainsAny(value, "\r\n") || !zeroPadBits(value) {
		return "", errors.New("boltsession: decode cookie: not a cookie this codec issued")
	}
	var err error
	for _, k := range c.pairs {
		var id string
		if k.mac != nil {
			id, err = k.mac.decode(name, value)
		} else {
			id, err = secureCookieDecode(k.sc, name, value)
		}
		if err == nil {
			if id == "" {
				return "", errors.New("boltsession: cookie carries an empty session ID")
			}
			c.verified.add(name, value, id)
			return id, nil
		}
	}
	return "", fmt.Errorf("boltsession: decode cookie: %w", err)
}

// secureCookieDecode decodes value with securecookie.
func secureCookieDecode(sc *securecookie.SecureCookie, name, value string) (string, error) {
	var id []byte
	err := sc.Decode(name, value, &id)
	return string(id), err
}

// zeroPadBits reports whether the bits that padded base64 leaves unused in
// the last character before "=" are zero, as an encoder writes them. A
// decoder ignores them, so without this check four spellings would name one
// cookie. The alphabet and the length are left to securecookie's decoding,
// which runs next: checking here costs no second decode.
func zeroPadBits(v string) bool {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	if len(v) < 4 {
		return true // too short to be a cookie: securecookie refuses it
	}
	var last byte
	var unused int // low bits of the last character that carry no data
	switch {
	case strings.HasSuffix(v, "=="):
		last, unused = v[len(v)-3], 4
	case strings.HasSuffix(v, "="):
		last, unused = v[len(v)-2], 2
	default:
		return true
	}
	i := strings.IndexByte(alphabet, last)
	return i >= 0 && i&(1<<unused-1) == 0
}

// newID is the default Options.GenID: 256 random bits, base64url.
func newID(*http.Request) string {
	var b [32]byte
	rand.Read(b[:]) // never fails; the runtime aborts if the system source is broken
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// logID names a session in logs and errors without revealing its ID, which
// is a bearer credential: the first 12 characters of its handle (see
// Handle), which the command-line tool and the admin handler accept.
func logID(id string) string {
	k := handleKey(id)
	return hex.EncodeToString(k[:6])
}

// readCookie returns the session ID that r's cookie carries, or "" when
// there is none or it does not verify. hadCookie reports whether a cookie
// of that name was present at all.
func (m *Manager) readCookie(r *http.Request) (id string, hadCookie bool) {
	value, ok := cookieValue(r.Header, m.cfg.Name)
	if !ok {
		return "", false
	}
	if len(value) > maxCookieValue {
		m.log.Debug("boltsession: oversized session cookie ignored", "bytes", len(value))
		return "", true
	}
	id, err := m.cfg.Codec.Decode(m.cfg.Name, value)
	if err != nil {
		m.log.Debug("boltsession: session cookie does not verify; starting a new session", "error", err)
		return "", true
	}
	return id, true
}

// cookieValue returns the value of the first cookie called name in the
// Cookie headers. It scans in place instead of using Request.Cookie, which
// parses and allocates every cookie of the request. Like net/http, it skips
// a value holding bytes that RFC 6265 does not allow in a cookie: the codecs
// would not all refuse them (base64 decoding ignores CR and LF, so a signed
// value with one inserted would still verify).
func cookieValue(h http.Header, name string) (string, bool) {
	for _, line := range h["Cookie"] {
		for line != "" {
			var part string
			part, line, _ = strings.Cut(line, ";")
			k, v, found := strings.Cut(strings.TrimSpace(part), "=")
			if !found || k != name {
				continue
			}
			if len(v) > 1 && v[0] == '"' && v[len(v)-1] == '"' {
				v = v[1 : len(v)-1]
			}
			if !validCookieValue(v) {
				continue
			}
			return v, true
		}
	}
	return "", false
}

// validCookieValue reports whether every byte of v is a cookie-octet as
// net/http accepts it (printable ASCII but for '"', ';' and '\\').
func validCookieValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if b := v[i]; b < 0x20 || b >= 0x7f || b == '"' || b == ';' || b == '\\' {
			return false
		}
	}
	return true
}

// requestSecure reports whether r reached us over TLS or, with TrustProxy,
// whether the first proxy said it did.
func (m *Manager) requestSecure(r *http.Request) bool {
	if r.TLS != nil {
		return true
	}
	if !m.cfg.TrustProxy {
		return false
	}
	xfp := r.Header.Get("X-Forwarded-Proto")
	if i := strings.IndexByte(xfp, ','); i >= 0 {
		xfp = xfp[:i]
	}
	return strings.EqualFold(strings.TrimSpace(xfp), "https")
}

// cookieSecure decides the Secure attribute for r.
func (m *Manager) cookieSecure(r *http.Request) bool {
	switch m.cfg.Cookie.Secure {
	case SecureAlways:
		return true
	case SecureNever:
		return false
	}
	return m.requestSecure(r)
}

// sessionCookie builds the cookie that names id until expires (used for
// Max-Age when the cookie persists; see Session.persistent).
func (m *Manager) sessionCookie(r *http.Request, value string, expires time.Time, persist bool) *http.Cookie {
	c := &http.Cookie{
		Name:        m.cfg.Name,
		Value:       value,
		Path:        m.cfg.Cookie.Path,
		Domain:      m.cfg.Cookie.Domain,
		Secure:      m.cookieSecure(r),
		HttpOnly:    m.cfg.httpOnly,
		SameSite:    m.cfg.Cookie.SameSite,
		Partitioned: m.cfg.Cookie.Partitioned,
	}
	if persist {
		secs := int(expires.Sub(m.cfg.Now()).Round(time.Second) / time.Second)
		if secs < 1 {
			secs = 1
		}
		c.MaxAge = secs
		c.Expires = expires.UTC()
	}
	return c
}

// expiredCookie builds the cookie that tells the browser to drop ours. A
// browser drops a cookie only when name, path and domain match, so it has
// every attribute of sessionCookie's.
func (m *Manager) expiredCookie(r *http.Request) *http.Cookie {
	c := m.sessionCookie(r, "", time.Time{}, false)
	c.MaxAge = -1
	c.Expires = time.Unix(0, 0)
	return c
}
