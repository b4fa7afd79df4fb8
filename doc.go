// Package boltsession keeps server-side web sessions for net/http in one
// embedded bbolt file.
//
// A Manager's middleware loads the session named by a signed cookie before
// the handler runs and saves it after, with the options express-session
// users know (cookie name, keys, resave, saveUninitialized, rolling, cookie
// attributes). BoltStore keeps every session in one file, fsyncs every
// acknowledged save and sweeps expired sessions in the background; sessions
// survive a restart with no server to run. The redisstore module runs the
// same Store contract on Redis for apps that outgrow one machine.
//
// # Wiring
//
//	key, err := boltsession.LoadOrCreateKey("sessions.db.key") // or KeyFromEnv
//	store, err := boltsession.Open("sessions.db", nil)
//	defer store.Close()
//	m, err := boltsession.New(store, boltsession.Options{Keys: [][]byte{key}})
//	http.ListenAndServe(addr, m.Middleware(mux))
//
// # In a handler
//
//	s := boltsession.FromContext(r.Context())
//	n, err := boltsession.Get[int](s, "views") // ErrNoValue when missing, ErrType when not an int
//	err = s.Set("views", n+1)
//
// Values are msgpack-encoded one by one, so Get decodes only the key asked
// for, into the caller's type; structs need no registration. Regenerate
// gives the session a new ID (call it at login), Destroy ends it (logout),
// SetOwner ties it to a user for Manager.DestroyOwner ("log out
// everywhere"), SetMaxAge gives it its own lifetime ("remember me").
//
// # Saving
//
// The session is saved at the commit point: the handler's first
// WriteHeader, Write or Flush, or its return. What the request did becomes
// one atomic step of the store (see Update): a create, a per-key merge, a
// touch of the expiry, a replace (Regenerate) or a destroy. So a 2xx means
// the change landed, and two requests that change different keys of one
// session both persist. A change to a session that another request ended
// (ErrEnded) or regenerated (ErrReplaced) meanwhile does not land and goes
// to Options.ErrorHandler instead of a 2xx; a logout is never undone by a
// request that raced it.
//
// # The file
//
// Concurrent saves share one transaction and one fsync (group commit): the
// writer at the front of a queue commits its own save and those queued
// behind it, and a lone save commits at once, with no batching delay. Each
// record carries a checksum; a damaged record or page is an error wrapping
// ErrCorrupt, never a crash of the process that embeds the store, and Open
// refuses a damaged file with the way out. Compact, WriteTo and the
// operator command (cmd/boltsession) maintain the file.
package boltsession
