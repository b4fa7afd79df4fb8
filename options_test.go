package boltsession

import (
	"bytes"
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestNewRefusesOptionsThatCannotWork(t *testing.T) {
	bs := openBolt(t)
	cases := map[string]Options{
		"no keys":              {},
		"short hash key":       {Keys: [][]byte{bytes.Repeat([]byte("k"), 31)}},
		"bad block key":        {Keys: [][]byte{testHashKey, []byte("seventeen bytes!!")}},
		"short old hash key":   {Keys: [][]byte{testHashKey, nil, []byte("old")}},
		"negative MaxAge":      {Keys: [][]byte{testHashKey}, MaxAge: -time.Second},
		"negative absolute":    {Keys: [][]byte{testHashKey}, AbsoluteMaxAge: -time.Second},
		"bad cookie name":      {Keys: [][]byte{testHashKey}, Name: "bad name;"},
		"bad cookie path":      {Keys: [][]byte{testHashKey}, Cookie: CookieOptions{Path: "/a;b"}},
		"unknown secure mode":  {Keys: [][]byte{testHashKey}, Cookie: CookieOptions{Secure: 7}},
		"Partitioned unsafe":   {Keys: [][]byte{testHashKey}, Cookie: CookieOptions{Secure: SecureNever, Partitioned: true}},
		"SameSite None unsafe": {Keys: [][]byte{testHashKey}, Cookie: CookieOptions{Secure: SecureNever, SameSite: http.SameSiteNoneMode}},
	}
	for name, opts := range cases {
		t.Run(name, func(t *testing.T) {
			m, err := New(bs, opts)
			if err == nil {
				t.Fatalf("New accepted it: %+v", m.cfg)
			}
			if !strings.HasPrefix(err.Error(), "boltsession: ") {
				t.Errorf("error %q lacks the package prefix", err)
			}
		})
	}
	if _, err := New(nil, Options{Keys: [][]byte{testHashKey}}); err == nil {
		t.Error("New accepted a nil store")
	}
}

func TestNewFillsDefaults(t *testing.T) {
	m, err := New(openBolt(t), Options{Keys: [][]byte{testHashKey}})
	if err != nil {
		t.Fatal(err)
	}
	c := m.cfg
	if c.Name != "sid" || c.MaxAge != 24*time.Hour || c.TouchAfter != 144*time.Minute ||
		c.Cookie.Path != "/" || c.Cookie.SameSite != http.SameSiteLaxMode || !c.httpOnly || !c.persist ||
		c.Cookie.Secure != SecureAuto || c.Rolling || c.Resave || c.SaveUninitialized {
		t.Errorf("defaults: %+v", c)
	}
}

func TestDefaultGenIDIs256RandomBits(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		id := newID(nil)
		b, err := base64.RawURLEncoding.DecodeString(id)
		if err != nil || len(b) != 32 || len(id) != 43 {
			t.Fatalf("ID %q: %d bytes, %v", id, len(b), err)
		}
		if seen[id] {
			t.Fatal("repeated ID")
		}
		seen[id] = true
	}
}

func TestCustomCodecReplacesKeys(t *testing.T) {
	e := newEnv(t, Options{Codec: reverseCodec{}})
	e.mustGet(nil, "/incr")
	id := e.mustGet(nil, "/id")
	if v := e.jarCookie(nil); v != reverse(id) {
		t.Errorf("cookie %q is not the custom codec's", v)
	}
	if got := e.mustGet(nil, "/incr"); got != "2" {
		t.Errorf("count %s", got)
	}
}

// reverseCodec is a toy codec that proves Options.Codec is what the
// Manager uses (never use one like it: it signs nothing).
type reverseCodec struct{}

func (reverseCodec) Encode(name, id string) (string, error)    { return reverse(id), nil }
func (reverseCodec) Decode(name, value string) (string, error) { return reverse(value), nil }

func reverse(s string) string {
	b := []byte(s)
	for i, j := 0, len(b)-1; i < j; i, j = i+1, j-1 {
		b[i], b[j] = b[j], b[i]
	}
	return string(b)
}

func TestSecureCookieRoundTripAndEncryption(t *testing.T) {
	c, err := SecureCookie(testHashKey, testBlockKey)
	if err != nil {
		t.Fatal(err)
	}
	v, err := c.Encode("sid", "the-id")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(v, "the-id") {
		t.Error("ID readable in an encrypted cookie")
	}
	if id, err := c.Decode("sid", v); err != nil || id != "the-id" {
		t.Errorf("Decode = %q, %v", id, err)
	}
	if _, err := c.Decode("other", v); err == nil {
		t.Error("a cookie decoded under another name")
	}
}
