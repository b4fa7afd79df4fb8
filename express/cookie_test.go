package express

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/boltsession/boltsession"
)

const (
	vectorID     = "jD2mU7rC3w9YbT4k5nQx0aZsV1pLfGhE"
	vectorSecret = "keyboard cat"
	vectorSig    = "b5DmT28huQWPJFBlqpvDxXHIT2yY/hteJQtS8BMn1t8"
	// vectorValue is the Set-Cookie value express-session writes for the vector.
	vectorValue = "s%3AjD2mU7rC3w9YbT4k5nQx0aZsV1pLfGhE.b5DmT28huQWPJFBlqpvDxXHIT2yY%2FhteJQtS8BMn1t8"
)

func TestCookieEncodesTheKnownVector(t *testing.T) {
	if got := expressSignature([]byte(vectorSecret), vectorID); got != vectorSig {
		t.Fatalf("signature = %q, want %q", got, vectorSig)
	}
	v, err := codec(vectorSecret).Encode("connect.sid", vectorID)
	if err != nil {
		t.Fatal(err)
	}
	if v != vectorValue {
		t.Fatalf("Encode = %q, want %q", v, vectorValue)
	}
}

func TestCookieDecodesWhatExpressSessionAccepts(t *testing.T) {
	raw := "s:" + vectorID + "." + vectorSig
	tests := []struct {
		name    string
		secrets []string
		value   string
		want    string // "" = must be refused
	}{
		{"encoded", []string{vectorSecret}, vectorValue, vectorID},
		{"not percent-encoded", []string{vectorSecret}, raw, vectorID},
		{"quoted", []string{vectorSecret}, `"` + vectorValue + `"`, vectorID},
		{"lower-case escapes", []string{vectorSecret}, strings.ReplaceAll(vectorValue, "%2F", "%2f"), vectorID},
		{"old secret second", []string{"new secret", vectorSecret}, vectorValue, vectorID},
		{"empty secrets dropped", []string{"", vectorSecret}, vectorValue, vectorID},
		{"unknown secret", []string{"other"}, vectorValue, ""},
		{"tampered signature", []string{vectorSecret}, raw[:len(raw)-1] + "u", ""},
		{"tampered ID", []string{vectorSecret}, "s:" + "x" + vectorID[1:] + "." + vectorSig, ""},
		{"padded signature", []string{vectorSecret}, raw + "=", ""},
		{"unsigned", []string{vectorSecret}, vectorID, ""},
		{"no prefix", []string{vectorSecret}, vectorID + "." + vectorSig, ""},
		{"no dot", []string{vectorSecret}, "s:" + vectorID + vectorSig, ""},
		{"empty ID", []string{vectorSecret}, "s:." + expressSignature([]byte(vectorSecret), ""), ""},
		{"truncated", []string{vectorSecret}, vectorValue[:40], ""},
		{"empty", []string{vectorSecret}, "", ""},
		{"bad escape is taken raw", []string{vectorSecret}, raw + "%zz", ""},
		{"oversized", []string{vectorSecret}, vectorValue + strings.Repeat("A", 4097-len(vectorValue)), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := codec(tt.secrets...).Decode("connect.sid", tt.value)
			if tt.want == "" {
				if err == nil {
					t.Fatalf("Decode(%q) = %q, want an error", tt.value, got)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("Decode(%q) = %q, %v; want %q", tt.value, got, err, tt.want)
			}
		})
	}
}

func TestCookieSplitsAtTheLastDot(t *testing.T) {
	c := codec("s3cret")
	for _, id := range []string{"a.b", "a.b.c", "ends.with.dot.", "ümlaut id/+?&"} {
		v, err := c.Encode("connect.sid", id)
		if err != nil {
			t.Fatal(err)
		}
		got, err := c.Decode("connect.sid", v)
		if err != nil || got != id {
			t.Errorf("round trip of %q via %q = %q, %v", id, v, got, err)
		}
	}
}

func TestCookieSignsWithTheFirstSecret(t *testing.T) {
	rotated := codec("new", "old")
	v, err := rotated.Encode("connect.sid", vectorID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := codec("new").Decode("connect.sid", v); err != nil {
		t.Fatalf("value signed by [new old] does not verify with new: %v", err)
	}
	if _, err := codec("old").Decode("connect.sid", v); err == nil {
		t.Fatal("value signed by [new old] verifies with old")
	}
}

func TestCookieEncodeRefusesWhatItCannotSign(t *testing.T) {
	for name, tc := range map[string]struct {
		c  boltsession.CookieCodec
		id string
	}{
		"no secret":      {&expressCodec{}, vectorID},
		"empty ID":       {codec("x"), ""},
		"invalid UTF-8":  {codec("x"), "a\xffb"},
		"over 4096 long": {codec("x"), strings.Repeat("a", 4096)},
	} {
		if v, err := tc.c.Encode("connect.sid", tc.id); err == nil {
			t.Errorf("%s: Encode = %q, want an error", name, v)
		}
	}
}

func TestCookieDecodeErrorsNameTheCodec(t *testing.T) {
	_, err := codec("x").Decode("connect.sid", "garbage")
	if !errors.Is(err, errExpressCookie) {
		t.Fatalf("err = %v", err)
	}
}

func TestEncodeURIComponentMatchesJavaScript(t *testing.T) {
	// Expected values from node: encodeURIComponent(input).
	tests := map[string]string{
		"s:abc.d+e/f=":     "s%3Aabc.d%2Be%2Ff%3D",
		"-_.!~*'()":        "-_.!~*'()",
		"a b;c,d\"e%f":     "a%20b%3Bc%2Cd%22e%25f",
		"ü€":               "%C3%BC%E2%82%AC",
		"?#[]@$&":          "%3F%23%5B%5D%40%24%26",
		"AZaz09":           "AZaz09",
		"\x00\x7f":         "%00%7F",
		"tab\there\nnewln": "tab%09here%0Anewln",
	}
	for in, want := range tests {
		if got := encodeURIComponent(in); got != want {
			t.Errorf("encodeURIComponent(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestCookieInteroperatesWithCookieSignature signs with Go and
// verifies with the cookie-signature package that express-session (and
// express) run, and the other way round.
func TestCookieInteroperatesWithCookieSignature(t *testing.T) {
	dir := requireNode(t)

	type signReq struct {
		ID     string `json:"id"`
		Secret string `json:"secret"`
	}
	type unsignReq struct {
		Value   string   `json:"value"`
		Secrets []string `json:"secrets"`
	}
	var req struct {
		Sign   []signReq   `json:"sign"`
		Unsign []unsignReq `json:"unsign"`
	}
	var wantUnsign []any // string ID or false

	secrets := []string{vectorSecret, "new secret", "ü-secret with spaces", randomString(t, 48)}
	ids := []string{vectorID, "a.b", "ümlaut/+=?", "with space", randomString(t, 24), randomString(t, 24)}
	for i, id := range ids {
		secret := secrets[i%len(secrets)]
		req.Sign = append(req.Sign, signReq{id, secret})

		goValue, err := codec(secret).Encode("connect.sid", id)
		if err != nil {
			t.Fatal(err)
		}
		// Node must accept Go's value with the right secret, also as an
		// older secret, and refuse it with a wrong one.
		req.Unsign = append(req.Unsign,
			unsignReq{goValue, []string{secret}},
			unsignReq{goValue, []string{"rotated-in", secret}},
			unsignReq{goValue, []string{"wrong"}},
			unsignReq{goValue[:len(goValue)-2], []string{secret}},
		)
		wantUnsign = append(wantUnsign, id, id, false, false)
	}

	in, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("node", filepath.Join(dir, "cookie-signature-check.js"))
	cmd.Dir = dir
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, stderr.Bytes())
	}
	var res map[string]struct {
		Sign   []string `json:"sign"`
		Unsign []any    `json:"unsign"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("node output %q: %v", out, err)
	}
	if len(res) != 2 {
		t.Fatalf("want results for two cookie-signature versions, got %v", res)
	}
	for version, r := range res {
		if len(r.Sign) != len(req.Sign) || len(r.Unsign) != len(req.Unsign) {
			t.Fatalf("%s: short answer %+v", version, r)
		}
		for i, s := range req.Sign {
			goValue, _ := codec(s.Secret).Encode("connect.sid", s.ID)
			if r.Sign[i] != goValue {
				t.Errorf("%s: node wrote %q for %q, Go writes %q", version, r.Sign[i], s.ID, goValue)
			}
			// Go must accept what node wrote, with the secret among others.
			got, err := codec("rotated-in", s.Secret).Decode("connect.sid", r.Sign[i])
			if err != nil || got != s.ID {
				t.Errorf("%s: Go decoded node's %q as %q, %v; want %q", version, r.Sign[i], got, err, s.ID)
			}
			if _, err := codec("wrong").Decode("connect.sid", r.Sign[i]); err == nil {
				t.Errorf("%s: Go accepted node's %q with a wrong secret", version, r.Sign[i])
			}
		}
		for i, want := range wantUnsign {
			if r.Unsign[i] != want {
				t.Errorf("%s: node unsigned %q with %q as %v, want %v", version, req.Unsign[i].Value, req.Unsign[i].Secrets, r.Unsign[i], want)
			}
		}
	}
}

func randomString(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func FuzzCookieDecode(f *testing.F) {
	c := codec(vectorSecret, "second")
	f.Add(vectorValue)
	f.Add("s:" + vectorID + "." + vectorSig)
	f.Add("s:a.b." + expressSignature([]byte("second"), "a.b"))
	f.Add("s%3A%zz.")
	f.Add(`"s:."`)
	f.Fuzz(func(t *testing.T, value string) {
		id, err := c.Decode("connect.sid", value)
		if err != nil {
			return
		}
		if id == "" {
			t.Fatal("accepted an empty ID")
		}
		// Anything accepted must be re-encodable and decode to the same ID.
		v, err := c.Encode("connect.sid", id)
		if err != nil {
			if utf8.ValidString(id) && len(encodeURIComponent("s:"+id+"."+vectorSig)) <= maxCookieValue {
				t.Fatalf("accepted %q but cannot re-encode %q: %v", value, id, err)
			}
			return
		}
		back, err := c.Decode("connect.sid", v)
		if err != nil || back != id {
			t.Fatalf("re-encoded %q as %q, decodes to %q, %v", id, v, back, err)
		}
	})
}

// codec is Cookie for secrets a test knows to be valid.
func codec(secrets ...string) boltsession.CookieCodec {
	c, err := Cookie(secrets...)
	if err != nil {
		panic(err)
	}
	return c
}

func TestCookieNeedsASecret(t *testing.T) {
	for _, secrets := range [][]string{nil, {""}, {"", ""}} {
		if c, err := Cookie(secrets...); err == nil {
			t.Errorf("Cookie(%q) = %v, want an error: it would refuse every cookie", secrets, c)
		}
	}
}
