package boltsession

import (
	"fmt"
	"strings"
	"testing"
	"unsafe"
)

// signedCookie returns a codec of testHashKey with its cache, and the value
// it signs for the ID "the-id" as the cookie "sid".
func signedCookie(t *testing.T) (*secureCookieCodec, string) {
	t.Helper()
	codec, err := SecureCookie(testHashKey)
	if err != nil {
		t.Fatal(err)
	}
	c := codec.(*secureCookieCodec)
	v, err := c.Encode("sid", "the-id")
	if err != nil {
		t.Fatal(err)
	}
	return c, v
}

// TestVerifiedCookieCacheAnswersAsAFullCheck: a value the cache remembers
// is accepted for the name it verified under only; values that differ by
// one byte, never verified, are checked in full and refused; the cache
// holds verified values only, and at most verifiedCookieEntries of them.
func TestVerifiedCookieCacheAnswersAsAFullCheck(t *testing.T) {
	c, v := signedCookie(t)
	for range 2 { // a full check, then the cache
		if id, err := c.Decode("sid", v); err != nil || id != "the-id" {
			t.Fatalf("Decode = %q, %v", id, err)
		}
	}
	if _, ok := c.verified.get("sid", v); !ok {
		t.Fatal("a verified value is not cached")
	}
	if id, err := c.Decode("other", v); err == nil {
		t.Fatalf("a value signed for sid verified as the cookie other: %q", id)
	}
	for i := range v {
		b := []byte(v)
		b[i] ^= 0x01
		if id, err := c.Decode("sid", string(b)); err == nil && id == "the-id" && string(b) != v {
			// base64 can spell one value two ways only in its padding
			// bits, which Decode refuses (zeroPadBits).
			t.Fatalf("byte %d flipped still verifies: %q", i, b)
		}
	}
	if n := c.verified.len(); n != 1 {
		t.Fatalf("%d values cached; only the one that verified should be", n)
	}

	other, err := SecureCookie([]byte("another hash key of thirty-two bytes!!"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.Decode("sid", v); err == nil {
		t.Fatal("a codec with other keys accepted the value")
	}

	for i := range 2 * verifiedCookieEntries {
		v, err := c.Encode("sid", fmt.Sprint("id-", i))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Decode("sid", v); err != nil {
			t.Fatal(err)
		}
	}
	if n := c.verified.len(); n > verifiedCookieEntries {
		t.Fatalf("%d values cached, more than %d", n, verifiedCookieEntries)
	}
}

// TestVerifiedCookieCacheKeepsNoHeader: the cache keeps a copy of the
// value, never the request's Cookie header it was cut from (which can be
// far longer, and would stay alive with it).
func TestVerifiedCookieCacheKeepsNoHeader(t *testing.T) {
	c, v := signedCookie(t)
	header := "sid=" + v + "; " + strings.Repeat("x", 1<<16)
	value := header[len("sid=") : len("sid=")+len(v)]
	if _, err := c.Decode("sid", value); err != nil {
		t.Fatal(err)
	}
	sh := c.verified.shard(v)
	for k := range sh.m {
		if unsafe.StringData(k) == unsafe.StringData(value) {
			t.Fatal("the cache keeps the value inside the request's header")
		}
	}
}

// FuzzVerifiedCookieCacheAgreesWithAFullCheck: a codec with its cache, kept
// across inputs so that values cached under one name are offered under
// others, answers every value as the same codec without a cache does, the
// first time and the second. Inputs come as a raw value, or as an ID the
// fuzzer signs under a name and offers, maybe altered, under another.
func FuzzVerifiedCookieCacheAgreesWithAFullCheck(f *testing.F) {
	cached, err := SecureCookie(testHashKey)
	if err != nil {
		f.Fatal(err)
	}
	full := &secureCookieCodec{pairs: cached.(*secureCookieCodec).pairs} // no cache
	f.Add("sid", "", true, "the-id", "sid", -1)
	f.Add("sid", "", true, "the-id", "other", -1)
	f.Add("sid", "", true, "the-id", "sid", 5)
	f.Add("sid", "not a cookie", false, "", "sid", -1)
	f.Fuzz(func(t *testing.T, name, value string, sign bool, id, askAs string, flip int) {
		if sign {
			if value, err = cached.Encode(name, id); err != nil {
				return // an ID too long to fit a cookie
			}
			if _, err := cached.Decode(name, value); err != nil && id != "" {
				t.Fatalf("the codec refused what it signed: %v", err)
			}
			if flip >= 0 && flip < len(value) {
				b := []byte(value)
				b[flip] ^= 1
				value = string(b)
			}
		}
		wantID, wantErr := full.Decode(askAs, value)
		for range 2 {
			gotID, err := cached.Decode(askAs, value)
			if (err == nil) != (wantErr == nil) || gotID != wantID {
				t.Fatalf("Decode(%q, %q): with the cache %q, %v; a full check %q, %v", askAs, value, gotID, err, wantID, wantErr)
			}
		}
	})
}

// len returns the number of values cached.
func (v *verifiedCookies) len() int {
	n := 0
	for i := range v.shards {
		sh := &v.shards[i]
		sh.mu.Lock()
		n += len(sh.m)
		sh.mu.Unlock()
	}
	return n
}
