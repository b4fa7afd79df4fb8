package express

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/boltsession/boltsession"
)

// settingsClient talks to a Go app made by diffGoApp on an injected clock:
// the settings docs/MIGRATING-FROM-EXPRESS.md gives to get express-session's
// behaviour, checked without Node (the differential test checks them
// against the real express-session).
type settingsClient struct {
	t      *testing.T
	srv    *httptest.Server
	now    time.Time
	cookie string
}

func newSettingsClient(t *testing.T, opts boltsession.Options, v goVariant) *settingsClient {
	t.Helper()
	c := &settingsClient{t: t, now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	clock := func() time.Time { return c.now }
	store, err := boltsession.Open(filepath.Join(t.TempDir(), "sessions.db"), &boltsession.BoltOptions{Now: clock, SweepInterval: -1, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	opts.Name, opts.Codec, opts.Now = "connect.sid", codec(diffSecret), clock
	m, err := boltsession.New(store, opts)
	if err != nil {
		t.Fatal(err)
	}
	c.srv = httptest.NewServer(m.Middleware(diffGoApp(v)))
	t.Cleanup(c.srv.Close)
	return c
}

type settingsReply struct {
	Loaded, ID    string
	Before, After map[string]any
	SetCookie     *http.Cookie // nil: none
	Raw           string
}

// do sends op after advancing the clock by wait, and keeps the cookie the
// answer sets.
func (c *settingsClient) do(wait time.Duration, op string) settingsReply {
	c.t.Helper()
	c.now = c.now.Add(wait)
	req, _ := http.NewRequest("POST", c.srv.URL+"/diff/"+op+"?n=1", nil)
	if c.cookie != "" {
		req.Header.Set("Cookie", "connect.sid="+c.cookie)
	}
	res, err := c.srv.Client().Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer res.Body.Close()
	var r settingsReply
	if err := json.NewDecoder(res.Body).Decode(&r); err != nil || res.StatusCode != http.StatusOK {
		c.t.Fatalf("%s: %s, %v", op, res.Status, err)
	}
	if lines := res.Header.Values("Set-Cookie"); len(lines) > 0 {
		r.Raw = lines[0]
		if r.SetCookie, err = http.ParseSetCookie(lines[0]); err != nil {
			c.t.Fatal(err)
		}
		c.cookie = r.SetCookie.Value
		if deletes(r.SetCookie) {
			c.cookie = ""
		}
	}
	return r
}

func TestSameSiteDefaultModeSendsNoSameSiteAttributeAsExpressSessionDoes(t *testing.T) {
	for _, tt := range []struct {
		sameSite http.SameSite
		want     string // the SameSite attribute, "" for none
	}{
		{0, "SameSite=Lax"},
		{http.SameSiteDefaultMode, ""},
		{http.SameSiteStrictMode, "SameSite=Strict"},
	} {
		c := newSettingsClient(t, boltsession.Options{Cookie: boltsession.CookieOptions{SameSite: tt.sameSite}}, sameOptions)
		r := c.do(0, "modify")
		var got string
		for _, attr := range strings.Split(r.Raw, ";") {
			if a := strings.TrimSpace(attr); strings.HasPrefix(strings.ToLower(a), "samesite") {
				got = a
			}
		}
		if got != tt.want {
			t.Errorf("SameSite %v: cookie %q, want attribute %q", tt.sameSite, r.Raw, tt.want)
		}
	}
}

// With Rolling, the cookie carries the stored expiry, which a lazy touch
// moves only every TouchAfter; express-session's rolling cookie carries
// now + maxAge. A negative TouchAfter gives express's.
func TestRollingCookieCarriesNowPlusMaxAgeOnlyWithNegativeTouchAfter(t *testing.T) {
	const maxAge = time.Hour
	for _, tt := range []struct {
		touchAfter time.Duration
		moved      bool // the read 5 minutes on moves the expiry
	}{
		{0, false}, // default: a tenth, 6 minutes
		{-1, true},
	} {
		c := newSettingsClient(t, boltsession.Options{MaxAge: maxAge, Rolling: true, TouchAfter: tt.touchAfter}, sameOptions)
		c.do(0, "modify")
		created := c.now
		r := c.do(5*time.Minute, "read")
		if r.SetCookie == nil {
			t.Fatalf("TouchAfter %v: Rolling sent no cookie", tt.touchAfter)
		}
		want := created.Add(maxAge)
		if tt.moved {
			want = c.now.Add(maxAge)
		}
		if !r.SetCookie.Expires.Equal(want) {
			t.Errorf("TouchAfter %v: cookie Expires %v, want %v", tt.touchAfter, r.SetCookie.Expires, want)
		}
	}
}

// A browser-session cookie (Persist Off, express's cookie.maxAge unset)
// still ends after MaxAge idle; express's MemoryStore keeps it, and a long
// MaxAge does too.
func TestBrowserSessionCookieEndsAfterMaxAgeUnlessMaxAgeIsLong(t *testing.T) {
	for _, tt := range []struct {
		maxAge time.Duration
		idle   time.Duration
		kept   bool
	}{
		{0, 25 * time.Hour, false}, // the default 24h
		{boltsession.MaxLifetime, 365 * 24 * time.Hour, true},
	} {
		c := newSettingsClient(t, boltsession.Options{MaxAge: tt.maxAge, Cookie: boltsession.CookieOptions{Persist: boltsession.Off}}, sameOptions)
		first := c.do(0, "modify")
		if first.SetCookie == nil || first.SetCookie.MaxAge != 0 || first.SetCookie.RawExpires != "" {
			t.Fatalf("MaxAge %v: want a browser-session cookie, got %q", tt.maxAge, first.Raw)
		}
		r := c.do(tt.idle, "read")
		if kept := r.Loaded == first.ID && len(r.Before) == 1; kept != tt.kept {
			t.Errorf("MaxAge %v, idle %v: session kept %v, want %v", tt.maxAge, tt.idle, kept, tt.kept)
		}
	}
}

// Regenerate keeps the values; express's regenerate starts an empty
// session, which Destroy then Regenerate gives (what diffGoApp does for
// expressLike).
func TestDestroyThenRegenerateStartsAnEmptySessionAsExpressRegenerateDoes(t *testing.T) {
	for _, v := range []goVariant{sameOptions, expressLike} {
		c := newSettingsClient(t, boltsession.Options{}, v)
		c.do(0, "modify")
		old := c.cookie
		r := c.do(time.Second, "regenerate")
		if r.SetCookie == nil || r.ID == r.Loaded || decodeDiffCookie(r.SetCookie.Value) != r.ID {
			t.Fatalf("%v: regenerate answered %+v", v, r)
		}
		want := map[string]any{"steps": []any{float64(1)}}
		if v == expressLike {
			want = map[string]any{}
		}
		if !reflect.DeepEqual(r.After, want) {
			t.Errorf("%v: values after regenerate %v, want %v", v, r.After, want)
		}
		c.cookie = old
		if again := c.do(0, "read"); again.Loaded == r.Loaded {
			t.Errorf("%v: the old session survived its regeneration", v)
		}
	}
}
