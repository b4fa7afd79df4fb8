package express

import (
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"time"
)

// The differences between a Go Manager and express-session 1.19 that
// docs/MIGRATING-FROM-EXPRESS.md lists. The differential test
// (differences_test.go) labels every difference it observes with one of
// these, or fails: so the list cannot go stale, in either direction (a
// difference no longer seen fails the coverage check there).
type diffKind string

const (
	// D1: a persistent cookie carries Max-Age beside Expires; express
	// sends Expires only.
	diffMaxAge diffKind = "D1"
	// D2: Destroy sends an expired cookie; express's destroy sends none.
	diffDestroyCookie diffKind = "D2"
	// D3: with a persistent cookie, a request that changes nothing
	// re-sends the cookie when its save moved the stored expiry (a lazy
	// touch, or every request with Resave); express sends it only when
	// the values changed (or with rolling).
	diffResend diffKind = "D3"
	// D4: a request that changes nothing moves the stored expiry only
	// once it would move by more than TouchAfter, so the session can end
	// up to TouchAfter earlier than on express, whose store slides on every
	// request; with Rolling the cookie carries that stored expiry too.
	diffLazyTouch diffKind = "D4"
	// D5: a browser-session cookie (Cookie.Persist Off; express: no
	// cookie.maxAge) still ends after MaxAge idle; express's MemoryStore
	// keeps such a session for ever.
	diffBrowserSession diffKind = "D5"
	// D6: Regenerate keeps the values; express's regenerate starts an
	// empty session.
	diffRegenerate diffKind = "D6"
	// C1: the cookie says SameSite=Lax by default; express sends no
	// SameSite unless cookie.sameSite is set.
	diffSameSite diffKind = "C1"
	// C2: SaveUninitialized defaults to false; express-session 1.x
	// defaults it to true (and resave too, which no client can see).
	diffSaveUninitialized diffKind = "C2"
)

// diffKinds is every kind, in the order of the table.
var diffKinds = []diffKind{diffMaxAge, diffDestroyCookie, diffResend, diffLazyTouch, diffBrowserSession, diffRegenerate, diffSameSite, diffSaveUninitialized}

// diffLegend names each kind for the table the test logs.
var diffLegend = map[diffKind]string{
	diffMaxAge:            "Max-Age beside Expires",
	diffDestroyCookie:     "destroy clears the cookie",
	diffResend:            "cookie re-sent when the stored expiry moved (lazy touch, or Resave)",
	diffLazyTouch:         "stored expiry moves only every TouchAfter: the session can end up to TouchAfter earlier",
	diffBrowserSession:    "a browser-session cookie's session still ends after MaxAge idle (MemoryStore: never)",
	diffRegenerate:        "Regenerate keeps the values",
	diffSameSite:          "SameSite=Lax by default (express: no SameSite)",
	diffSaveUninitialized: "SaveUninitialized defaults to false (express 1.x: true)",
}

// goVariant is how the Go side is configured.
type goVariant int8

const (
	// sameOptions translates the Node app's options and nothing more.
	sameOptions goVariant = iota
	// expressLike adds what restores express's behaviour where an option
	// (or, for Regenerate, a call) can: TouchAfter -1, SameSite omitted,
	// MaxAge as long as the Node store keeps a browser-session cookie's
	// session, express 1.x's defaults, Destroy before Regenerate.
	expressLike
)

func (v goVariant) String() string { return [...]string{"same options", "express-like"}[v] }

// allowed reports whether v may differ from express in kind d: with the
// express-like settings only what no option changes remains.
func (v goVariant) allowed(d diffKind) bool {
	if v == sameOptions {
		return true
	}
	return d == diffMaxAge || d == diffDestroyCookie || d == diffResend
}

// clockSlack absorbs the gap between reading the clock in the test and in
// a server, and the millisecond resolution of Node's clock.
const clockSlack = 5 * time.Millisecond

// sessionFacts is what a store holds for one session ID.
type sessionFacts struct {
	id        string
	stored    bool
	never     bool // stored without an expiry (MemoryStore without cookie.maxAge)
	expires   time.Time
	lastWrite int // the step that last moved the expiry or created the record
}

// sideObs is what one request of a step showed on one side.
type sideObs struct {
	side   string
	status int
	sentID string       // the ID the request's cookie named ("" none)
	prev   sessionFacts // of sentID, before the request

	loaded, id    string // the ID the handler found, and the one the request ended with
	before, after map[string]any
	cookies       []*http.Cookie // the Set-Cookie headers for our cookie
	raw           []string       // the same, as sent
	send, recv    time.Time
	peeked        time.Time // when the store had answered what it holds after the request

	now   sessionFacts // of id, after the request
	wrote bool         // the request created the record or moved its expiry
}

func (o *sideObs) resumed() bool { return o.sentID != "" && o.loaded == o.sentID }

func (o *sideObs) cookie() *http.Cookie {
	if len(o.cookies) == 0 {
		return nil
	}
	return o.cookies[0]
}

// deletes reports whether c tells the browser to drop the cookie: Max-Age
// zero or less, or an Expires long past (the Manager sends 1970; express
// never deletes). A live cookie's Expires may lie in the past of the
// test's clock by rounding, so that alone does not count.
func deletes(c *http.Cookie) bool {
	return c.MaxAge < 0 || (!c.Expires.IsZero() && c.Expires.Year() < 2000)
}

// The session the request's cookie named was live at the request for
// certain, or gone for certain; in between (its expiry fell while the
// request ran) either outcome is right.
func (o *sideObs) surelyLive() bool {
	return o.prev.stored && (o.prev.never || o.prev.expires.After(o.recv.Add(clockSlack)))
}

func (o *sideObs) surelyGone() bool {
	return !o.prev.stored || (!o.prev.never && o.prev.expires.Before(o.send.Add(-clockSlack)))
}

func (o *sideObs) expiredDuring() bool {
	return o.sentID != "" && !o.surelyLive() && !o.surelyGone()
}

// peekedLate reports whether the store may have answered what it holds
// after the request so long after the request that what the request
// stored had expired meanwhile (on a machine busy enough to stall a step
// for most of a lifetime).
func (o *sideObs) peekedLate() bool {
	return o.peeked.Sub(o.send) > diffLifetime-diffGuard
}

// selfCheck lists what o shows that is wrong for its own side, whatever
// the other side did: a session resumed after its expiry or lost before
// it, a cookie that names another session than the request ended with,
// a cookie expiry that is not the stored one.
func (o *sideObs) selfCheck(decodeID func(string) string) []string {
	var p []string
	if len(o.cookies) > 1 {
		p = append(p, fmt.Sprintf("%d Set-Cookie headers for the session cookie", len(o.cookies)))
	}
	if o.resumed() && o.surelyGone() {
		p = append(p, "resumed a session that was not stored or had expired")
	}
	if o.sentID != "" && !o.resumed() && o.surelyLive() {
		p = append(p, "started a new session although the cookie named a live one")
	}
	for _, c := range o.cookies {
		if deletes(c) {
			continue
		}
		if id := decodeID(c.Value); id != o.id {
			p = append(p, fmt.Sprintf("the cookie names session %.8s…, the request ended with %.8s…", id, o.id))
		}
		if c.RawExpires != "" && o.now.stored && !o.now.never {
			// Expires is in whole seconds; express-session computes it
			// when the headers go out, its store when it writes, later
			// in the same request.
			if d := c.Expires.Sub(o.now.expires); d > clockSlack || d < -time.Second-o.recv.Sub(o.send)-clockSlack {
				p = append(p, fmt.Sprintf("cookie Expires %s, stored expiry %s", c.Expires.Format(time.RFC3339), o.now.expires.Format(time.RFC3339Nano)))
			}
		}
	}
	return p
}

// stepVerdict is the classification of one step for one Go variant.
type stepVerdict struct {
	kinds    []diffKind
	ended    diffKind // the session survived on one side only: the kind that explains it
	problems []string // differences no kind explains, and wrong behaviour of either side
	diverged bool     // the sides hold different sessions now: start both over
	timing   bool     // a session's expiry fell inside its request: not compared
}

func (r *stepVerdict) add(d diffKind) {
	if !slices.Contains(r.kinds, d) {
		r.kinds = append(r.kinds, d)
	}
}

func (r *stepVerdict) bad(format string, args ...any) {
	r.problems = append(r.problems, fmt.Sprintf(format, args...))
}

// classify compares one step's request on the Go side (g) and on Node (e)
// and labels every difference, or reports it as a problem. touchAfter is
// the Go side's effective lazy-touch threshold (0: every request).
func classify(c diffCombo, v goVariant, touchAfter time.Duration, k stepKind, g, e *sideObs, decodeID func(string) string) stepVerdict {
	var r stepVerdict
	for _, o := range []*sideObs{g, e} {
		for _, p := range o.selfCheck(decodeID) {
			r.bad("%s: %s", o.side, p)
		}
	}
	if g.status != e.status || g.status != http.StatusOK {
		r.bad("status %d on Go, %d on Node", g.status, e.status)
		r.diverged = true
		return r
	}
	if g.expiredDuring() || e.expiredDuring() || g.peekedLate() || e.peekedLate() {
		r.timing, r.diverged = true, true
		return r
	}
	if g.resumed() != e.resumed() && g.prev.stored && e.prev.stored && g.prev.lastWrite == e.prev.lastWrite {
		// Both sessions got their expiry from the same step: they differ
		// only by when the requests of that step ran, and this step fell
		// in between.
		r.timing, r.diverged = true, true
		return r
	}
	r.session(c, touchAfter, k, g, e)
	if r.ended == "" && !r.diverged || slices.Contains(r.kinds, diffRegenerate) || slices.Contains(r.kinds, diffSaveUninitialized) {
		r.cookies(c, v, k, g, e)
	}
	for _, d := range r.kinds {
		if !v.allowed(d) {
			r.bad("%s (%s) remains with the express-like settings", d, diffLegend[d])
		}
	}
	return r
}

// session compares whether the session survived, its values, and what the
// store holds after the request.
func (r *stepVerdict) session(c diffCombo, touchAfter time.Duration, k stepKind, g, e *sideObs) {
	gRes, eRes := g.resumed(), e.resumed()
	if gRes != eRes {
		r.diverged = true
		switch {
		case !gRes && g.prev.stored && e.prev.never:
			// Go's idle MaxAge ended a session that express's
			// MemoryStore keeps for ever.
			r.ended = diffBrowserSession
		case !gRes && g.prev.stored && e.prev.stored && g.prev.lastWrite < e.prev.lastWrite && e.prev.expires.After(g.prev.expires):
			// Go skipped a touch that express made (selfCheck made sure
			// Go's session had expired). How far the expiries were
			// apart was checked at the step that skipped it.
			r.ended = diffLazyTouch
		default:
			r.bad("the session survived on one side only: Go resumed=%v (stored %v, expiry %s, last moved at step %d), Node resumed=%v (stored %v, expiry %s, last moved at step %d)",
				gRes, g.prev.stored, fmtTime(g.prev.expires), g.prev.lastWrite, eRes, e.prev.stored, fmtTime(e.prev.expires), e.prev.lastWrite)
			return
		}
		r.add(r.ended)
		return
	}
	if !reflect.DeepEqual(g.before, e.before) {
		r.bad("values before the request: Go %v, Node %v", g.before, e.before)
		r.diverged = true
		return
	}
	if !reflect.DeepEqual(g.after, e.after) {
		if k == stepRegenerate && len(e.after) == 0 && len(g.before) > 0 && reflect.DeepEqual(g.after, g.before) {
			r.add(diffRegenerate)
		} else {
			r.bad("values after the request: Go %v, Node %v", g.after, e.after)
		}
		r.diverged = true
	}
	if g.now.stored != e.now.stored {
		r.diverged = true
		if c.defaults && !gRes && k.unmodified() && e.now.stored && !g.now.stored {
			r.add(diffSaveUninitialized)
		} else {
			r.bad("stored after the request: Go %v, Node %v", g.now.stored, e.now.stored)
		}
		return
	}
	if !g.now.stored {
		return
	}
	switch {
	case g.now.never && e.now.never:
	case e.now.never:
		r.add(diffBrowserSession)
	case g.now.never:
		r.bad("the Go session never expires; Node's expires at %s", fmtTime(e.now.expires))
	default:
		// Both stores move the expiry to "now + lifetime" when they
		// write; the requests ran one after the other, Go's first.
		d := e.now.expires.Sub(g.now.expires)
		lo, hi := e.send.Sub(g.recv)-clockSlack, e.recv.Sub(g.send)+clockSlack
		switch {
		case d >= lo && d <= hi:
		case !g.wrote && e.wrote && d > 0 && d <= touchAfter+hi:
			r.add(diffLazyTouch)
		default:
			r.bad("stored expiry: Go %s (moved: %v), Node %s (moved: %v), %v apart", fmtTime(g.now.expires), g.wrote, fmtTime(e.now.expires), e.wrote, d)
		}
	}
}

// cookies compares the Set-Cookie headers.
func (r *stepVerdict) cookies(c diffCombo, v goVariant, k stepKind, g, e *sideObs) {
	gc, ec := g.cookie(), e.cookie()
	switch {
	case gc != nil && ec == nil:
		switch {
		case k == stepLogout && deletes(gc) && g.sentID != "":
			r.add(diffDestroyCookie)
		case k == stepRead && g.resumed() && e.resumed() && !c.rolling && gc.MaxAge > 0 && g.wrote:
			r.add(diffResend)
		default:
			r.bad("Go sent a cookie, Node none: %s", g.raw[0])
		}
	case gc == nil && ec != nil:
		if !slices.Contains(r.kinds, diffSaveUninitialized) {
			r.bad("Node sent a cookie, Go none: %s", e.raw[0])
		}
	}
	// express-session as the Node app configures it: Path=/, HttpOnly,
	// no Secure over plain HTTP, no SameSite, Expires exactly when
	// cookie.maxAge is set, never Max-Age.
	if ec != nil {
		if ec.Path != "/" || !ec.HttpOnly || ec.Secure || ec.SameSite != 0 || ec.MaxAge != 0 || (ec.RawExpires != "") != c.maxAge {
			r.bad("Node's cookie is not what its options say: %s", e.raw[0])
		}
	}
	if gc == nil {
		return
	}
	if gc.Path != "/" || !gc.HttpOnly || gc.Secure {
		r.bad("Go's cookie attributes: %s", g.raw[0])
	}
	switch {
	case gc.SameSite == 0:
	case gc.SameSite == http.SameSiteLaxMode && v == sameOptions:
		r.add(diffSameSite)
	default:
		r.bad("Go's cookie has SameSite: %s", g.raw[0])
	}
	if deletes(gc) {
		return
	}
	if (gc.RawExpires != "") != c.maxAge || (gc.MaxAge > 0) != c.maxAge {
		r.bad("Go's cookie expiry does not follow cookie.maxAge (set: %v): %s", c.maxAge, g.raw[0])
		return
	}
	if gc.MaxAge > 0 {
		r.add(diffMaxAge)
		if d := g.recv.Add(time.Duration(gc.MaxAge) * time.Second).Sub(gc.Expires); d < -1500*time.Millisecond || d > 1500*time.Millisecond {
			r.bad("Go's Max-Age and Expires disagree by %v: %s", d, g.raw[0])
		}
	}
	if ec != nil && ec.RawExpires != "" {
		// Both write whole seconds; the requests were milliseconds apart.
		if d := ec.Expires.Sub(gc.Expires); d < -time.Second || d > time.Second {
			r.bad("cookie Expires: Go %s, Node %s", g.raw[0], e.raw[0])
		}
	}
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Format("15:04:05.000")
}
