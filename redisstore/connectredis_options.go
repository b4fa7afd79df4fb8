package redisstore

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/boltsession/boltsession"
	"github.com/boltsession/boltsession/internal/jsonvalue"
)

// ConnectRedisOptions configures a ConnectRedisStore. Copy each field from
// the Node app's configuration (see the package doc, "Sharing sessions with
// a Node app"). The zero value, or a nil *ConnectRedisOptions, is
// connect-redis's and express-session's defaults.
type ConnectRedisOptions struct {
	// Prefix is connect-redis's prefix option: a session is the string
	// Prefix+ID. Default "sess:" (connect-redis's default). connect-redis
	// also accepts "" (keys are the bare IDs); this store does not, since
	// its SCAN would then match every key of the database. A Prefix may
	// hold braces only as one whole Redis hash tag ("{app}:sess:").
	Prefix string

	// TTL is connect-redis's ttl option: how long Redis keeps a session
	// whose cookie has no expiry (a browser-session cookie, express's
	// cookie.maxAge unset) after each save. The store reads it only for a
	// key that has no TTL at all (connect-redis's disableTTL, or a key set
	// by hand), whose expiry it takes as TTL from now; every save from Go
	// sets the key's TTL from boltsession's own expiry. Default 86400s.
	TTL time.Duration

	// Cookie is the Node app's express-session cookie option: the store
	// writes the cookie member express-session would write for it into
	// every session Go creates, and reads a session's per-session lifetime
	// against Cookie.MaxAge.
	Cookie ExpressCookie

	// ScanCount is the COUNT hint of each SCAN that Count and Iterate
	// issue. Default 100 (connect-redis's scanCount).
	ScanCount int

	// LockTTL is the lifetime of a session lock (LockSession, taken under
	// boltsession.Options.Serialize); see Options.LockTTL. Default 10s.
	LockTTL time.Duration

	// Now is the store's clock for deciding that a session is past its
	// expiry before Redis has deleted it. Default time.Now.
	Now func() time.Time
}

// ExpressCookie is express-session's cookie option, field by field, as the
// Node app passes it to session({cookie: {...}}).
type ExpressCookie struct {
	// MaxAge is cookie.maxAge: a session's idle lifetime and the cookie's
	// lifetime. Zero means unset, express's default: a browser-session
	// cookie, which express-session stores with originalMaxAge and expires
	// null. It must equal the Manager's MaxAge when set; with it unset the
	// Manager's cookie must be a browser-session one
	// (boltsession.CookieOptions.Persist Off) and its MaxAge connect-redis's
	// ttl. A session whose stored originalMaxAge differs from it has a
	// lifetime of its own (Record.MaxAge, Session.SetMaxAge).
	MaxAge time.Duration

	// Path is cookie.path. Empty means "/", express's default.
	Path string

	// Domain is cookie.domain; empty for none (a host-only cookie).
	Domain string

	// HTTPOnly is cookie.httpOnly. Unset means On, express's default.
	HTTPOnly boltsession.Toggle

	// Secure is cookie.secure: On for true, Off for false, Unset for not
	// set (express's default; the member is then left out). For express's
	// "auto", which express decides per request when it creates a session,
	// give what the app's requests are in production (On behind HTTPS).
	Secure boltsession.Toggle

	// SameSite is cookie.sameSite: "lax", "strict" or "none", or empty for
	// not set (express's default; the member is left out). express's true
	// is "strict". For express 1.19's "auto", give what the app's requests
	// are in production ("none" over HTTPS, "lax" otherwise).
	SameSite string

	// Partitioned is cookie.partitioned.
	Partitioned bool

	// Priority is cookie.priority: "low", "medium", "high" or empty.
	Priority string
}

// check refuses options express-session would refuse.
func (c *ExpressCookie) check() error {
	switch strings.ToLower(c.SameSite) {
	case "", "lax", "strict", "none":
	default:
		return fmt.Errorf("boltsession: redisstore: ExpressCookie.SameSite %q is not lax, strict, none or empty", c.SameSite)
	}
	switch strings.ToLower(c.Priority) {
	case "", "low", "medium", "high":
	default:
		return fmt.Errorf("boltsession: redisstore: ExpressCookie.Priority %q is not low, medium, high or empty", c.Priority)
	}
	if c.MaxAge < 0 {
		return fmt.Errorf("boltsession: redisstore: negative ExpressCookie.MaxAge %v", c.MaxAge)
	}
	return nil
}

// originalMaxAge is the member a session with per-session lifetime maxAge
// (zero: the default) stores.
func (c *ExpressCookie) originalMaxAge(maxAge time.Duration) json.RawMessage {
	if maxAge <= 0 {
		maxAge = c.MaxAge
	}
	if maxAge <= 0 {
		return json.RawMessage("null")
	}
	return json.RawMessage(strconv.FormatInt(maxAge.Milliseconds(), 10))
}

// member is the cookie member express-session 1.19 writes for these
// options, in the order of its Cookie's data getter (originalMaxAge,
// partitioned, priority, expires, secure, httpOnly, domain, path,
// sameSite), members it leaves undefined left out. expires is filled in
// when the session is saved.
func (c *ExpressCookie) member() object {
	o := object{{key: "originalMaxAge", raw: c.originalMaxAge(0)}}
	if c.Partitioned {
		o = append(o, member{"partitioned", json.RawMessage("true")})
	}
	if c.Priority != "" {
		o = append(o, member{"priority", jsonString(c.Priority)})
	}
	o = append(o, member{"expires", json.RawMessage("null")})
	switch c.Secure {
	case boltsession.On:
		o = append(o, member{"secure", json.RawMessage("true")})
	case boltsession.Off:
		o = append(o, member{"secure", json.RawMessage("false")})
	}
	httpOnly := "true"
	if c.HTTPOnly == boltsession.Off {
		httpOnly = "false"
	}
	o = append(o, member{"httpOnly", json.RawMessage(httpOnly)})
	if c.Domain != "" {
		o = append(o, member{"domain", jsonString(c.Domain)})
	}
	path := c.Path
	if path == "" {
		path = "/"
	}
	o = append(o, member{"path", jsonString(path)})
	if c.SameSite != "" {
		o = append(o, member{"sameSite", jsonString(c.SameSite)})
	}
	return o
}

// jsonString is s as JSON.stringify writes it.
func jsonString(s string) json.RawMessage {
	var b bytes.Buffer
	jsonvalue.WriteString(&b, s)
	return b.Bytes()
}
