package boltsession

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"strconv"
	"sync"
	"time"

	"github.com/gorilla/securecookie"
)

// macKey reads and writes securecookie's signed format for one key pair
// that has no block key, byte for byte as securecookie does, so a cookie
// issued by either verifies with the other:
//
//	base64url( timestamp "|" base64url(ID) "|" HMAC-SHA256(name "|" timestamp "|" base64url(ID)) )
//
// securecookie builds a new HMAC, and with it two SHA-256 states, for every
// cookie it checks or issues, and allocates each intermediate step: about a
// dozen allocations, a third of the middleware's read path. Here the HMAC
// state and the buffers are pooled, and a check allocates only the ID it
// returns. Pairs with a block key (AES) stay with securecookie.
type macKey struct {
	pool sync.Pool // of *macScratch
}

// macScratch is the reusable state of one check or issue.
type macScratch struct {
	mac hash.Hash
	in  []byte // the cookie value (base64), then the value being built
	dec []byte // the value decoded
	msg []byte // what the MAC covers
	id  []byte // the ID decoded
	sum [sha256.Size]byte
}

func newMACKey(hashKey []byte) *macKey {
	key := bytes.Clone(hashKey)
	return &macKey{pool: sync.Pool{New: func() any {
		return &macScratch{mac: hmac.New(sha256.New, key)}
	}}}
}

// sign returns the MAC of msg; it is valid until the scratch is reused.
func (x *macScratch) sign(msg []byte) []byte {
	x.mac.Reset()
	x.mac.Write(msg)
	return x.mac.Sum(x.sum[:0])
}

var errCookieBase64 = errors.New("boltsession: decode cookie: not base64")

// decode returns the ID a value of the cookie called name carries, with
// securecookie's verdicts: the whole value must be base64url of at most
// 4096 characters (MaxLength), hold two
// separators, carry the MAC of name and what precedes the second
// separator, and a timestamp that parses as an int64 (its age is not
// checked: SecureCookie's codecs have no MaxAge); the ID is base64url too.
func (k *macKey) decode(name, value string) (string, error) {
	if len(value) > maxCookieValue {
		return "", fmt.Errorf("boltsession: decode cookie: value of %d bytes is longer than %d", len(value), maxCookieValue)
	}
	x := k.pool.Get().(*macScratch)
	defer k.pool.Put(x)
	x.in = append(x.in[:0], value...)
	x.dec = grow(x.dec, base64.URLEncoding.DecodedLen(len(x.in)))
	n, err := base64.URLEncoding.Decode(x.dec, x.in)
	if err != nil {
		return "", errCookieBase64
	}
	b := x.dec[:n]
	i := bytes.IndexByte(b, '|')
	if i < 0 {
		return "", securecookie.ErrMacInvalid
	}
	j := bytes.IndexByte(b[i+1:], '|')
	if j < 0 {
		return "", securecookie.ErrMacInvalid
	}
	j += i + 1
	x.msg = append(append(append(x.msg[:0], name...), '|'), b[:j]...)
	if !hmac.Equal(x.sign(x.msg), b[j+1:]) {
		return "", securecookie.ErrMacInvalid
	}
	if _, err := strconv.ParseInt(string(b[:i]), 10, 64); err != nil {
		return "", errors.New("boltsession: decode cookie: invalid timestamp")
	}
	x.id = grow(x.id, base64.URLEncoding.DecodedLen(j-i-1))
	n, err = base64.URLEncoding.Decode(x.id, b[i+1:j])
	if err != nil {
		return "", errCookieBase64
	}
	return string(x.id[:n]), nil
}

// encode returns the value of the cookie called name that carries id,
// timestamped now, as securecookie's Encode would.
func (k *macKey) encode(name, id string) (string, error) {
	x := k.pool.Get().(*macScratch)
	defer k.pool.Put(x)
	x.id = append(x.id[:0], id...)
	m := append(x.msg[:0], name...)
	m = append(m, '|')
	m = strconv.AppendInt(m, time.Now().UTC().Unix(), 10)
	m = append(m, '|')
	m = base64.URLEncoding.AppendEncode(m, x.id)
	mac := x.sign(m)
	m = append(append(m, '|'), mac...)
	x.msg = m
	x.in = base64.URLEncoding.AppendEncode(x.in[:0], m[len(name)+1:]) // the name is signed, not sent
	if len(x.in) > maxCookieValue {
		return "", fmt.Errorf("boltsession: encode cookie: the value would be %d bytes, more than %d", len(x.in), maxCookieValue)
	}
	return string(x.in), nil
}

// grow returns b with length n, reallocated only when too small.
func grow(b []byte, n int) []byte {
	if cap(b) < n {
		return make([]byte, n)
	}
	return b[:n]
}
