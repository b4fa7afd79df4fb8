package redisstore

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"time"

	"github.com/boltsession/boltsession"
	"github.com/boltsession/boltsession/internal/jsonvalue"
)

// The value connect-redis keeps at Prefix+ID is JSON.stringify of
// express-session's req.session: an object whose member "cookie" is the
// cookie's data and whose every other member is one session value. The
// store reads and rewrites it member by member, keeping the text of every
// member it does not change (and so what Node wrote) as it was.

// Members of the session object that are not session values.
const (
	cookieMember = "cookie"
	// metaMember keeps what boltsession knows of a session and express
	// does not: creation time and owner. express-session copies every
	// member of the stored object onto req.session and writes them all
	// back, so it survives Node's saves, as session-file-store's
	// __lastAccess does.
	metaMember = "__boltsession"
)

// reservedNames are the value names express-session cannot hold: its own
// members, and every name req.session already has (Session's methods, its
// id and req properties, Object.prototype's members), which
// express-session skips when it loads a session, so that the next Node
// save would drop the value.
var reservedNames = map[string]bool{
	cookieMember: true, metaMember: true,
	"id": true, "req": true, "touch": true, "resetMaxAge": true, "save": true, "reload": true,
	"destroy": true, "regenerate": true,
	"constructor": true, "hasOwnProperty": true, "isPrototypeOf": true, "propertyIsEnumerable": true,
	"toLocaleString": true, "toString": true, "valueOf": true, "__proto__": true,
	"__defineGetter__": true, "__defineSetter__": true, "__lookupGetter__": true, "__lookupSetter__": true,
}

// ErrReservedKey reports a Save of a value whose name express-session
// uses itself ("cookie", "id", "save", "__proto__", ... and this package's
// "__boltsession"): a Node app could not read it, and its next save would
// drop it. ConnectRedisStore refuses such a Save whole; nothing is
// written.
var ErrReservedKey = errors.New("boltsession: redisstore: express-session cannot hold a session value of this name")

// member is one member of a JSON object, its value as written.
type member struct {
	key string
	raw json.RawMessage
}

// object is a JSON object as an ordered list of members.
type object []member

// parseObject reads a JSON object, keeping each member's text and the
// members' order. A key given twice keeps its first place and its last
// value, as JSON.parse does.
func parseObject(data []byte) (object, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, fmt.Errorf("not a JSON object")
	}
	var o object
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		key, _ := tok.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, err
		}
		o.set(key, raw)
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return nil, err
	}
	if rest := bytes.TrimSpace(data[dec.InputOffset():]); len(rest) > 0 {
		return nil, fmt.Errorf("%d bytes after the session object", len(rest))
	}
	return o, nil
}

func (o object) get(key string) (json.RawMessage, bool) {
	for _, m := range o {
		if m.key == key {
			return m.raw, true
		}
	}
	return nil, false
}

// set replaces the member key in place, or appends it.
func (o *object) set(key string, raw json.RawMessage) {
	for i := range *o {
		if (*o)[i].key == key {
			(*o)[i].raw = raw
			return
		}
	}
	*o = append(*o, member{key: key, raw: raw})
}

func (o *object) remove(key string) {
	*o = slices.DeleteFunc(*o, func(m member) bool { return m.key == key })
}

// render writes the object as JSON.stringify would: keys escaped as it
// escapes them, no spaces.
func (o object) render() []byte {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, m := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		jsonvalue.WriteString(&b, m.key)
		b.WriteByte(':')
		b.Write(m.raw)
	}
	b.WriteByte('}')
	return b.Bytes()
}

// session is one parsed connect-redis value.
type session struct {
	obj    object
	cookie object
	meta   sessionMeta
	// hasMeta reports a __boltsession member (absent in a session that
	// only Node has written).
	hasMeta bool
}

// sessionMeta is the __boltsession member.
type sessionMeta struct {
	Created int64  `json:"created"`         // Unix ms
	Owner   string `json:"owner,omitempty"` // absent: none
}

// parseSession reads a stored value. Errors wrap boltsession.ErrCorrupt:
// express-session could not load the value either (connect-redis's get
// fails on text that is not JSON, express-session on an object without a
// cookie).
func parseSession(data []byte) (*session, error) {
	obj, err := parseObject(data)
	if err != nil {
		return nil, fmt.Errorf("%w: not an express-session object: %w", boltsession.ErrCorrupt, err)
	}
	s := &session{obj: obj}
	raw, ok := obj.get(cookieMember)
	if !ok {
		return nil, fmt.Errorf("%w: session object without a cookie member", boltsession.ErrCorrupt)
	}
	if s.cookie, err = parseObject(raw); err != nil {
		return nil, fmt.Errorf("%w: cookie member: %w", boltsession.ErrCorrupt, err)
	}
	if raw, ok := obj.get(metaMember); ok {
		// A damaged member (a Node handler wrote over it) is read as
		// absent: it holds nothing a session cannot do without.
		s.hasMeta = json.Unmarshal(raw, &s.meta) == nil
	}
	return s, nil
}

// originalMaxAge returns the cookie's originalMaxAge: express's per-session
// idle lifetime, absent for a browser-session cookie.
func (s *session) originalMaxAge() (time.Duration, bool) {
	raw, ok := s.cookie.get("originalMaxAge")
	if !ok {
		return 0, false
	}
	var ms float64
	if json.Unmarshal(raw, &ms) != nil || ms <= 0 || ms >= float64(math.MaxInt64/int64(time.Millisecond)) {
		return 0, false
	}
	return time.Duration(ms * float64(time.Millisecond)), true
}

// cookieExpires returns the cookie's expires: when the session's cookie
// expires as of the last full save.
func (s *session) cookieExpires() (time.Time, bool) {
	raw, ok := s.cookie.get("expires")
	if !ok {
		return time.Time{}, false
	}
	var str string
	if json.Unmarshal(raw, &str) != nil {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, str)
	return t, err == nil
}

// created returns the session's creation time: the one boltsession
// recorded, or, for a session only Node has written (express keeps none),
// the time of its last full save (cookie.expires − originalMaxAge), or now.
func (s *session) created(now time.Time) time.Time {
	if s.hasMeta && s.meta.Created > 0 {
		return time.UnixMilli(s.meta.Created)
	}
	exp, okExp := s.cookieExpires()
	age, okAge := s.originalMaxAge()
	if okExp && okAge && exp.Add(-age).Before(now) {
		return exp.Add(-age)
	}
	return now
}

// record builds the Record of a session whose key expires at expires. It
// carries the ID as well as the handle, on every path (Iterate included):
// the connect-redis format keys sessions by ID, which the store cannot
// change (the Node app reads those keys), so the ID is no secret from
// whoever lists the store.
func (s *session) record(id string, expires time.Time, defaultMaxAge time.Duration, now time.Time) (*boltsession.Record, error) {
	r := &boltsession.Record{ID: id, Handle: boltsession.Handle(id), Expires: expires, Created: s.created(now),
		Values: make(map[string][]byte, len(s.obj))}
	if age, ok := s.originalMaxAge(); ok && age.Milliseconds() != defaultMaxAge.Milliseconds() {
		r.MaxAge = age
	}
	if s.hasMeta {
		r.Owner = s.meta.Owner
	}
	for _, m := range s.obj {
		if m.key == cookieMember || m.key == metaMember {
			continue
		}
		v, err := jsonvalue.Decode(m.raw)
		if err != nil {
			return nil, fmt.Errorf("%w: value %q: %w", boltsession.ErrCorrupt, m.key, err)
		}
		r.Values[m.key] = v
	}
	return r, nil
}

// checkNames refuses an update that sets a value express-session cannot
// hold.
func checkNames(u boltsession.Update) error {
	for k := range u.Set {
		if reservedNames[k] {
			return fmt.Errorf("%w: %q", ErrReservedKey, k)
		}
	}
	return nil
}

// apply applies the merge part of u to the session (Clear, Set, Delete,
// Owner, MaxAge, Expires), as express-session would have written the
// result: values as members, the cookie's originalMaxAge and expires
// following the lifetime and expiry. current is the session's expiry
// before u; created is what to record as its creation time if it has
// none recorded yet.
func (s *session) apply(u boltsession.Update, cookie *ExpressCookie, current, created time.Time) {
	if u.Clear {
		s.obj = slices.DeleteFunc(s.obj, func(m member) bool { return m.key != cookieMember && m.key != metaMember })
	}
	for _, k := range slices.Sorted(maps.Keys(u.Set)) {
		s.obj.set(k, jsonvalue.Encode(u.Set[k]))
	}
	for _, k := range u.Delete {
		if !reservedNames[k] {
			s.obj.remove(k)
		}
	}
	if u.MaxAge != nil {
		s.cookie.set("originalMaxAge", cookie.originalMaxAge(*u.MaxAge))
	}
	expires := current
	if !u.Expires.IsZero() {
		expires = u.Expires
	}
	if u.MaxAge != nil || !u.Expires.IsZero() {
		if _, persistent := s.originalMaxAge(); persistent {
			s.cookie.set("expires", isoTime(expires))
		} else {
			s.cookie.set("expires", json.RawMessage("null"))
		}
	}
	s.obj.set(cookieMember, s.cookie.render())

	if !s.hasMeta || s.meta.Created <= 0 {
		s.meta.Created = created.UnixMilli()
		s.hasMeta = true
	}
	if u.Owner != nil {
		s.meta.Owner = *u.Owner
	}
	meta, _ := json.Marshal(s.meta) // two plain fields: never fails
	s.obj.set(metaMember, meta)
}

// newSession is the session express-session would make for a new
// boltsession session: the cookie member its cookie options give, no
// values yet.
func newSession(cookie *ExpressCookie) *session {
	return &session{cookie: cookie.member(), obj: object{{key: cookieMember}}}
}

// isoTime is t as Date.prototype.toJSON writes it: UTC, milliseconds.
func isoTime(t time.Time) json.RawMessage {
	return jsonString(t.UTC().Format("2006-01-02T15:04:05.000Z"))
}
