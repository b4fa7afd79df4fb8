package reliability_test

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/cryptotest"
	"time"

	"github.com/boltsession/boltsession"
)

// countingCodec wraps a codec and counts Decode calls, to see whether a
// cookie reached decoding at all.
type countingCodec struct {
	boltsession.CookieCodec
	decodes      atomic.Int64
	longestInput atomic.Int64
}

func (c *countingCodec) Decode(name, value string) (string, error) {
	c.decodes.Add(1)
	if n := int64(len(value)); n > c.longestInput.Load() {
		c.longestInput.Store(n)
	}
	return c.CookieCodec.Decode(name, value)
}

func TestOversizedCookieIsRejectedBeforeDecoding(t *testing.T) {
	codec := &countingCodec{}
	r := newRig(t, rigConfig{noSync: true, options: func(o *boltsession.Options) {
		inner, err := boltsession.SecureCookie(o.Keys...)
		if err != nil {
			t.Fatal(err)
		}
		codec.CookieCodec = inner
		o.Codec = codec
	}})
	cookie, _ := r.login("alice")

	// A cookie of ordinary size is decoded: the counter works.
	before := codec.decodes.Load()
	r.must(http.MethodGet, "/get", cookie)
	if codec.decodes.Load() == before {
		t.Fatal("a normal session cookie was never decoded")
	}

	for _, size := range []int{4097, 5000, 64 << 10} {
		before := codec.decodes.Load()
		huge := "sid=" + strings.Repeat("A", size)
		rep := r.must(http.MethodGet, "/get", huge)
		if codec.decodes.Load() != before {
			t.Errorf("%d-byte cookie reached the codec (longest input %d bytes)", size, codec.longestInput.Load())
		}
		if !rep.isNew {
			t.Errorf("%d-byte cookie: the request did not get a fresh session: %q", size, rep.body)
		}
	}
	// A huge cookie next to a valid one must not hide or replace the valid
	// one's session either way: the valid one still works on its own.
	if rep := r.must(http.MethodGet, "/get", cookie); rep.isNew {
		t.Errorf("valid session lost after oversized cookies: %q", rep.body)
	}
}

func TestSessionIDsAre256BitsFromCryptoRand(t *testing.T) {
	const n = 512
	issue := func(n int) []string {
		r := newRig(t, rigConfig{noSync: true, options: func(o *boltsession.Options) {
			o.Keys = [][]byte{[]byte("0123456789abcdef0123456789abcdef")}
		}})
		var ids []string
		for range n {
			rep := r.must(http.MethodPost, "/incr", "")
			id, err := r.codec.Decode(rep.cookie.Name, rep.cookie.Value)
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, id)
		}
		return ids
	}

	ids := issue(n)
	seen := map[string]bool{}
	var ones [256]int
	totalOnes := 0
	for _, id := range ids {
		if seen[id] {
			t.Fatalf("ID issued twice")
		}
		seen[id] = true
		raw, err := base64.RawURLEncoding.DecodeString(id)
		if err != nil || len(raw) != 32 {
			t.Fatalf("ID is not 32 bytes of unpadded URL base64 (len %d): %v", len(id), err)
		}
		for bit := range 256 {
			if raw[bit/8]&(1<<(bit%8)) != 0 {
				ones[bit]++
				totalOnes++
			}
		}
	}
	// Each bit is set in about half the IDs: 512 samples give sigma 11.3,
	// so 256±80 is seven sigma for every one of the 256 positions. A
	// constant, a counter or a timestamp in any byte fails this.
	for bit, c := range ones {
		if c < n/2-80 || c > n/2+80 {
			t.Errorf("bit %d set in %d of %d IDs", bit, c, n)
		}
	}
	if frac := float64(totalOnes) / (n * 256); frac < 0.49 || frac > 0.51 {
		t.Errorf("fraction of one bits %.4f", frac)
	}

	// The IDs come from crypto/rand: with its global source made
	// deterministic, two fresh servers issue the same sequence. Anything
	// mixed in besides crypto/rand (time, a counter, math/rand) breaks this.
	cryptotest.SetGlobalRandom(t, 7)
	first := issue(20)
	cryptotest.SetGlobalRandom(t, 7)
	second := issue(20)
	for i := range first {
		if first[i] != second[i] {
			t.Fatalf("ID %d differs under the same crypto/rand stream: IDs are not (only) from crypto/rand", i)
		}
	}
}

func TestRequestCannotChooseItsSessionID(t *testing.T) {
	r := newRig(t, rigConfig{noSync: true})
	ctx := context.Background()

	// 1. A made-up, unsigned ID in the cookie.
	chosen := "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	rep := r.must(http.MethodPost, "/incr", "sid="+chosen)
	if !rep.isNew {
		t.Fatalf("unsigned cookie was accepted: %q", rep.body)
	}
	assertIssuedIDIsNot(t, r, rep, chosen)
	if _, err := r.store.Load(ctx, chosen); !errors.Is(err, boltsession.ErrNotFound) {
		t.Fatalf("a record exists under the ID the client chose: %v", err)
	}

	// 2. A correctly signed cookie for an ID the store does not hold (an
	// attacker's planted cookie, or one left from a destroyed session):
	// the server must not start a session under that ID.
	planted, err := r.codec.Encode("sid", chosen)
	if err != nil {
		t.Fatal(err)
	}
	rep = r.must(http.MethodPost, "/incr", "sid="+planted)
	if !rep.isNew {
		t.Fatalf("signed cookie for an unknown ID was treated as a session: %q", rep.body)
	}
	assertIssuedIDIsNot(t, r, rep, chosen)
	if _, err := r.store.Load(ctx, chosen); !errors.Is(err, boltsession.ErrNotFound) {
		t.Fatalf("the planted ID was adopted: %v", err)
	}

	// 3. The same after a logout: the old cookie does not revive its ID.
	cookie, id := r.login("bob")
	r.must(http.MethodPost, "/logout", cookie)
	rep = r.must(http.MethodPost, "/incr", cookie)
	assertIssuedIDIsNot(t, r, rep, id)
	if _, err := r.store.Load(ctx, id); !errors.Is(err, boltsession.ErrNotFound) {
		t.Fatalf("a logged-out ID came back: %v", err)
	}
}

func assertIssuedIDIsNot(t *testing.T, r *rig, rep reply, id string) {
	t.Helper()
	if rep.cookie == nil {
		t.Fatalf("no new session cookie issued")
	}
	got, err := r.codec.Decode(rep.cookie.Name, rep.cookie.Value)
	if err != nil {
		t.Fatal(err)
	}
	if got == id {
		t.Fatalf("the server issued the ID the client chose")
	}
}

// TestLogoutCannotBeUndoneByRacingWrites is the hammer of issue item 5: a
// logout and writes on the same session race; whatever the interleaving, the
// session stays gone. The same for signing a user out everywhere.
func TestLogoutCannotBeUndoneByRacingWrites(t *testing.T) {
	r := newRig(t, rigConfig{noSync: true})
	ctx := context.Background()
	const rounds, writers, writesEach = 100, 6, 3

	race := func(cookies []string, logout func() error) {
		var wg sync.WaitGroup
		start := make(chan struct{})
		for w := range writers {
			cookie := cookies[w%len(cookies)]
			// Some writers change a value, others renew the ID: a
			// regeneration creates a record, which must not outlive
			// the logout either.
			path := "/incr"
			if w%2 == 1 {
				path = "/regen"
			}
			wg.Go(func() {
				<-start
				for range writesEach {
					// 409: the logout won and the change did not land.
					rep, err := r.do(nil, http.MethodPost, path, cookie, nil)
					if err != nil || (rep.status != http.StatusOK && rep.status != http.StatusConflict) {
						t.Errorf("write: %v %d %s", err, rep.status, rep.body)
						return
					}
				}
			})
		}
		wg.Go(func() {
			<-start
			if err := logout(); err != nil {
				t.Error(err)
			}
		})
		close(start)
		wg.Wait()
	}

	for round := range rounds {
		// Destroy (logout of this browser).
		cookie, id := r.login("carol")
		race([]string{cookie}, func() error {
			rep, err := r.do(nil, http.MethodPost, "/logout", cookie, nil)
			if err == nil && rep.status != http.StatusOK {
				err = errors.New(rep.body)
			}
			return err
		})
		if _, err := r.store.Load(ctx, id); !errors.Is(err, boltsession.ErrNotFound) {
			t.Fatalf("round %d: destroyed session came back (%v)", round, err)
		}
		if owned, err := r.m.Owned(ctx, "carol"); err != nil || len(owned) != 0 {
			// A regeneration that completed before the logout loaded
			// its session is a legitimate survivor: the logout carried
			// a cookie already replaced. Clear such before the next
			// round; only the owner race below is strict.
			r.m.DestroyOwner(ctx, "carol")
		}

		// DestroyOwner (logout everywhere) against writes on three of the
		// owner's sessions.
		var cookies, ids []string
		for range 3 {
			c, id := r.login("dave")
			cookies, ids = append(cookies, c), append(ids, id)
		}
		race(cookies, func() error {
			_, err := r.m.DestroyOwner(ctx, "dave")
			return err
		})
		for _, id := range ids {
			if _, err := r.store.Load(ctx, id); !errors.Is(err, boltsession.ErrNotFound) {
				t.Fatalf("round %d: session ended by DestroyOwner came back (%v)", round, err)
			}
		}
		if owned, err := r.m.Owned(ctx, "dave"); err != nil || len(owned) != 0 {
			t.Fatalf("round %d: owner still has %d sessions after DestroyOwner (%v)", round, len(owned), err)
		}
		if t.Failed() {
			return
		}
	}
}

// TestSessionIDsNeverAppearInLogs issues sessions through every path that
// logs something (new, write, tampered cookie, expiry, regenerate, logout,
// logout everywhere, a logout racing a write, a corrupt record, a failing
// store) and then searches everything the Manager and the store logged for
// each ID and each cookie value handed out.
func TestSessionIDsNeverAppearInLogs(t *testing.T) {
	r := newRig(t, rigConfig{noSync: true})
	ctx := context.Background()

	for range 20 {
		r.must(http.MethodPost, "/incr", "")
	}
	cookie, _ := r.login("erin")
	r.must(http.MethodPost, "/incr", cookie)
	r.must(http.MethodGet, "/get", cookie+"x") // tampered
	r.must(http.MethodGet, "/get", cookie[:len(cookie)-5])
	rep := r.must(http.MethodPost, "/regen", cookie)
	cookie = rep.cookie.Name + "=" + rep.cookie.Value
	r.must(http.MethodPost, "/logout", cookie)
	r.must(http.MethodPost, "/incr", cookie) // stale cookie after logout

	cookie, _ = r.login("erin")
	r.login("erin")
	r.must(http.MethodPost, "/logout-all", cookie)

	// A write racing a logout (the save finds the record gone).
	for range 10 {
		c, _ := r.login("frank")
		var wg sync.WaitGroup
		wg.Go(func() { r.do(nil, http.MethodPost, "/incr", c, nil) })
		wg.Go(func() { r.do(nil, http.MethodPost, "/logout", c, nil) })
		wg.Wait()
	}

	// Expiry: the injected clock jumps past MaxAge and a sweep runs.
	cookie, _ = r.login("gina")
	r.clock.Advance(48 * time.Hour)
	r.must(http.MethodGet, "/get", cookie)
	if _, err := r.store.Sweep(ctx); err != nil {
		t.Fatal(err)
	}

	// A corrupt record.
	cookie, id := r.login("hank")
	corruptRecord(t, r, id, []byte{0xc1, 0xff, 0x00})
	r.must(http.MethodGet, "/get", cookie)
	r.store.Sweep(ctx)

	// A store that fails: every save and load now errors.
	cookie, _ = r.login("ivan")
	r.store.Close()
	r.do(nil, http.MethodPost, "/incr", cookie, nil)
	r.do(nil, http.MethodPost, "/incr", "", nil)

	logs := r.logs.String()
	// 20 anonymous writes and 16 logins issue at least one ID each; the
	// write-versus-logout races add a varying number on top.
	if r.issued.len() < 36 {
		t.Fatalf("only %d IDs issued; the scenarios did not run", r.issued.len())
	}
	if len(logs) == 0 {
		t.Fatal("nothing was logged; the capture is not wired")
	}
	for _, secret := range r.issued.secrets() {
		if strings.Contains(logs, secret) {
			t.Fatalf("a session ID or cookie value appears in the logs:\n%s", logs)
		}
	}
	t.Logf("%d IDs checked against %d bytes of logs", r.issued.len(), len(logs))
}
