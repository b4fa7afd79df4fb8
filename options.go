package boltsession

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"
)

// SecureMode decides the Secure attribute of the session cookie.
type SecureMode int8

const (
	// SecureAuto, the zero value, marks the cookie Secure when the request
	// arrived over TLS, or, with Options.TrustProxy, when the first value
	// of X-Forwarded-Proto is "https".
	SecureAuto SecureMode = iota

	// SecureAlways always marks the cookie Secure. On a request that is
	// not secure (as SecureAuto would judge it) the browser would drop the
	// cookie, so the Manager sends none and saves nothing for that request
	// (a saved session nobody can name is an orphan); it logs this once.
	// SecureAuto behaves the same way on such a request when browsers
	// accept the cookie only with Secure: SameSite=None, Partitioned, or a
	// name starting with "__Secure-" or "__Host-".
	SecureAlways

	// SecureNever never marks the cookie Secure.
	SecureNever
)

// Toggle is an on/off option whose zero value means "the documented
// default", so a zero Options gets the safe choice.
type Toggle int8

const (
	// Unset, the zero value, selects the field's documented default.
	Unset Toggle = iota
	// On turns the option on.
	On
	// Off turns the option off.
	Off
)

// on reports the toggle's value, with def standing in for Unset.
func (t Toggle) on(def bool) bool {
	switch t {
	case On:
		return true
	case Off:
		return false
	}
	return def
}

// CookieOptions are the attributes of the session cookie.
type CookieOptions struct {
	// Path of the cookie; default "/".
	Path string

	// Domain of the cookie; empty (the default) gives a host-only cookie.
	Domain string

	// Secure decides the Secure attribute; default SecureAuto.
	Secure SecureMode

	// HTTPOnly keeps the cookie from scripts; default On.
	HTTPOnly Toggle

	// SameSite attribute; the zero value means http.SameSiteLaxMode.
	// http.SameSiteNoneMode needs a Secure cookie: New refuses it with
	// SecureNever, and with SecureAuto a request over plain HTTP gets no
	// cookie and saves nothing (see SecureAlways). To send no SameSite
	// attribute at all, as express-session does by default, use
	// http.SameSiteDefaultMode.
	SameSite http.SameSite

	// Partitioned adds the Partitioned attribute (CHIPS). Browsers accept
	// it only on Secure cookies, so New refuses it with SecureNever.
	Partitioned bool

	// Persist gives the cookie a Max-Age and Expires that follow the
	// session's expiry; default On. (express-session sends Expires only;
	// browsers give Max-Age precedence, and it does not depend on the
	// client's clock.) Off sends a browser-session cookie (no Max-Age, no
	// Expires), as express-session does without cookie.maxAge, which the
	// browser drops when it closes; the server record still expires after
	// MaxAge of inactivity (express-session's MemoryStore keeps such a
	// session as long as the process runs; session-file-store and
	// connect-redis end it after their ttl of inactivity, so an app coming
	// from them sets MaxAge to that ttl). A session given its own
	// lifetime with Session.SetMaxAge ("remember me") gets a persistent
	// cookie even with Off, as express-session's cookie.maxAge does.
	Persist Toggle
}

// Options configure a Manager. The zero value of every field selects the
// default documented on it; only Keys (or Codec) is required.
type Options struct {
	// Name of the session cookie; default "sid". A name starting with
	// "__Secure-" or "__Host-" gets the rules browsers apply to it: New
	// refuses it with SecureNever, and a "__Host-" one also with a Domain
	// or a Path other than "/"; with SecureAuto a request over plain HTTP
	// gets no cookie (see SecureAlways).
	Name string

	// Keys are securecookie key pairs: hash key, block key, hash key,
	// block key, ... A block key may be nil (sign only, no encryption) and
	// may be left off after the last hash key. The first pair signs new
	// cookies; every pair verifies, so a key is rotated by putting the new
	// pair first and keeping the old one after it until its cookies are
	// gone. A hash key must be at least 32 bytes, a block key 16, 24 or 32
	// bytes (AES-128/192/256). Required unless Codec is set.
	Keys [][]byte

	// Codec turns session IDs into cookie values and back. When set it is
	// used instead of Keys (for example an express-session compatible
	// codec); default SecureCookie(Keys...).
	Codec CookieCodec

	// MaxAge is the idle timeout: a session not used for this long
	// expires. Every save and touch slides it. Default 24h.
	MaxAge time.Duration

	// AbsoluteMaxAge caps a session's life from its creation, however
	// active it is; the cookie's Max-Age never reaches past it. It is also
	// checked when a session loads, so lowering it ends older sessions at
	// their next request. Zero (the default) means no cap.
	AbsoluteMaxAge time.Duration

	// TouchAfter is the lazy-touch threshold: a request that changes
	// nothing extends the stored expiry only when that would move it by
	// more than TouchAfter, so read-mostly traffic writes almost nothing;
	// an idle session then ends up to TouchAfter earlier than on
	// express-session, whose stores slide the expiry on every request.
	// Zero means a tenth of the session's idle lifetime: MaxAge/10, or a
	// tenth of what Session.SetMaxAge gave it. A value not shorter than a
	// session's idle lifetime could never slide it (the session would
	// expire however active), so for that session it is lowered to a tenth
	// of the lifetime too. A negative value touches on every request, as
	// express-session does.
	TouchAfter time.Duration

	// Rolling sends the cookie on every response to a request that carried
	// a stored session (express-session's rolling). Default false: the
	// cookie goes out when the session is created or regenerated, or when
	// its expiry moved and the cookie persists (express-session without
	// rolling sends it only when the values changed, so its cookie can
	// expire while the stored session lives on). The cookie always carries
	// the expiry the store holds, which lazy touching moves only every
	// TouchAfter, so a session can end up to TouchAfter earlier than with
	// express-session's rolling, whose cookie carries now + maxAge; a
	// negative TouchAfter slides it on every request, as express does.
	Rolling bool

	// Resave writes every value of an existing session back on every
	// request even when nothing changed, as express-session's resave does
	// to its store. Unlike express-session's resave, which never sends a
	// cookie, each such write moves the session's expiry, so a persistent
	// cookie (Cookie.Persist, the default) goes out on every response too.
	// Default false, which writes only the keys that changed and otherwise
	// touches lazily. Resave undoes concurrent deletions of other keys by
	// design; leave it off. (express-session 1.x defaults resave to true,
	// which its README says only a store without touch needs; every
	// boltsession Store touches.)
	Resave bool

	// SaveUninitialized saves a new session that the handler did not
	// modify, and sends its cookie (express-session's saveUninitialized).
	// Default false, so cookieless visitors and bots create no records;
	// express-session 1.x defaults it to true.
	SaveUninitialized bool

	// Cookie holds the cookie's attributes.
	Cookie CookieOptions

	// TrustProxy believes the first value of X-Forwarded-Proto when
	// SecureAuto decides whether a request is secure. Set it only behind a
	// proxy that sets or strips that header.
	TrustProxy bool

	// GenID makes new session IDs. Default: 32 bytes from crypto/rand,
	// base64url without padding (43 characters). An ID must be
	// unguessable; an empty result fails the request.
	GenID func(*http.Request) string

	// Serialize makes the requests that carry the same session run one at
	// a time: each takes the session's lock before the session is loaded
	// and releases it after the last save, when the handler has returned.
	// A read-modify-write of one key (a counter, a cart) by concurrent
	// requests then loses no update, which per-key merging alone cannot
	// promise. Requests without a valid session cookie take no lock.
	//
	// Default false. The lock lives in this process, and also in the
	// store when the store is a SessionLocker (the redisstore module's
	// Store is: several processes on one Redis then serialize each
	// other); with any other store shared by several processes, requests
	// on different processes are not serialized against each other. A
	// handler that holds its request open (a long poll, a stream) holds
	// the lock as long; other requests on that session wait for
	// LockTimeout and then fail with ErrBusy, as does a request that a
	// handler sends to its own server with the same session cookie.
	Serialize bool

	// LockTimeout bounds the wait for the session lock under Serialize.
	// Past it the request fails with an error wrapping ErrBusy, which goes
	// to ErrorHandler; the default ErrorHandler answers 503 Service
	// Unavailable with Retry-After: 1. Zero means DefaultLockTimeout (5s);
	// a negative value is refused by New.
	LockTimeout time.Duration

	// ErrorHandler answers a request whose session could not be loaded or
	// saved. It is called before the response has started, with the
	// headers the handler had set removed, except for a save after the
	// commit point (changes made after the handler started writing), where
	// the response is already on its way and what ErrorHandler writes is
	// discarded.
	//
	// Errors to branch on (errors.Is): ErrEnded (the session was logged
	// out, destroyed by DestroyOwner, or expired while the request ran) and
	// ErrReplaced (another request regenerated it): the request's changes
	// did not land; an app may redirect to its login page, answer 409, or
	// retry the request, which then runs on the session its cookie now
	// names. ErrBusy: Serialize's lock wait timed out.
	//
	// Default: 409 Conflict for ErrEnded and ErrReplaced, 503 with
	// Retry-After: 1 for ErrBusy, 500 for anything else; each is logged.
	ErrorHandler func(http.ResponseWriter, *http.Request, error)

	// Logger receives the Manager's log lines; default slog.Default().
	// Session IDs never appear in them: a session is named by a short
	// SHA-256 prefix of its ID.
	Logger *slog.Logger

	// Now is the clock; default time.Now. Tests inject one (and give the
	// store the same one).
	Now func() time.Time
}

// MaxLifetime is the longest MaxAge, AbsoluteMaxAge or Session.SetMaxAge
// a Manager accepts: a session record holds expiries up to the year 2262.
const MaxLifetime = 100 * 365 * 24 * time.Hour

// config is Options with every default filled in.
type config struct {
	Options
	touchAlways bool
	touchAuto   bool // TouchAfter was zero: a tenth of each session's lifetime
	httpOnly    bool
	persist     bool
	secureOnly  bool // browsers take the cookie only with Secure: no cookie over plain HTTP
}

// newConfig fills in the defaults of o and rejects what cannot work.
func newConfig(o Options) (*config, error) {
	c := &config{Options: o}
	if c.Name == "" {
		c.Name = "sid"
	}
	if c.Codec == nil {
		if len(c.Keys) == 0 {
			return nil, errors.New("boltsession: Options.Keys (or Options.Codec) is required")
		}
		codec, err := SecureCookie(c.Keys...)
		if err != nil {
			return nil, err
		}
		c.Codec = codec
	}
	switch {
	case c.MaxAge == 0:
		c.MaxAge = 24 * time.Hour
	case c.MaxAge < 0:
		return nil, fmt.Errorf("boltsession: negative MaxAge %v", c.MaxAge)
	}
	switch {
	case c.LockTimeout == 0:
		c.LockTimeout = DefaultLockTimeout
	case c.LockTimeout < 0:
		return nil, fmt.Errorf("boltsession: negative LockTimeout %v", c.LockTimeout)
	}
	if c.AbsoluteMaxAge < 0 {
		return nil, fmt.Errorf("boltsession: negative AbsoluteMaxAge %v", c.AbsoluteMaxAge)
	}
	for name, d := range map[string]time.Duration{"MaxAge": c.MaxAge, "AbsoluteMaxAge": c.AbsoluteMaxAge, "TouchAfter": c.TouchAfter} {
		if d > MaxLifetime {
			return nil, fmt.Errorf("boltsession: %s %v is longer than MaxLifetime (100 years): stores keep expiries only up to the year 2262", name, d)
		}
	}
	switch {
	case c.TouchAfter == 0:
		c.TouchAfter = c.MaxAge / 10
		c.touchAuto = true
	case c.TouchAfter < 0:
		c.touchAlways = true
		c.TouchAfter = 0
	}
	if c.Cookie.Path == "" {
		c.Cookie.Path = "/"
	}
	if c.Cookie.SameSite == 0 {
		c.Cookie.SameSite = http.SameSiteLaxMode
	}
	if c.Cookie.Secure < SecureAuto || c.Cookie.Secure > SecureNever {
		return nil, fmt.Errorf("boltsession: unknown Cookie.Secure mode %d", c.Cookie.Secure)
	}
	if c.Cookie.SameSite == http.SameSiteNoneMode && c.Cookie.Secure == SecureNever {
		return nil, errors.New("boltsession: SameSite=None needs a Secure cookie; browsers drop it with SecureNever")
	}
	if c.Cookie.Partitioned && c.Cookie.Secure == SecureNever {
		return nil, errors.New("boltsession: a Partitioned cookie must be Secure; browsers drop it with SecureNever")
	}
	if err := (&http.Cookie{Name: c.Name, Value: "v", Path: c.Cookie.Path, Domain: c.Cookie.Domain}).Valid(); err != nil {
		return nil, fmt.Errorf("boltsession: invalid cookie options: %w", err)
	}
	// Cookie name prefixes (RFC 6265bis §4.1.3): browsers refuse a
	// "__Secure-" cookie without Secure, and a "__Host-" one also unless
	// its Path is "/" and it has no Domain.
	prefixed := strings.HasPrefix(c.Name, "__Secure-") || strings.HasPrefix(c.Name, "__Host-")
	if prefixed && c.Cookie.Secure == SecureNever {
		return nil, fmt.Errorf("boltsession: cookie name %q needs a Secure cookie; browsers drop it with SecureNever", c.Name)
	}
	if strings.HasPrefix(c.Name, "__Host-") && (c.Cookie.Path != "/" || c.Cookie.Domain != "") {
		return nil, fmt.Errorf("boltsession: cookie name %q needs Cookie.Path \"/\" and no Cookie.Domain; browsers drop it otherwise", c.Name)
	}
	c.secureOnly = c.Cookie.Secure == SecureAlways || c.Cookie.SameSite == http.SameSiteNoneMode ||
		c.Cookie.Partitioned || prefixed
	c.httpOnly = c.Cookie.HTTPOnly.on(true)
	c.persist = c.Cookie.Persist.on(true)
	if c.GenID == nil {
		c.GenID = newID
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c, nil
}
