// Package boltsession keeps server-side web sessions for net/http in one
// embedded bbolt file.
//
// A Manager's middleware loads the session named by a signed cookie before
// the handler runs and saves it after, with the options express-session
// users know (cookie name, keys, resave, saveUninitialized, rolling, cookie
// attributes). Values are msgpack-encoded one by one, so Get[T] decodes only
// the key asked for, into the caller's type. LoadOrCreateKey keeps the
// cookie signing key in a file (KeyFromEnv reads one from the environment),
// so issued cookies stay valid across restarts. BoltStore keeps every session
// in one file, fsyncs every acknowledged save and sweeps expired sessions in
// the background; sessions survive a restart with no server to run.
// Concurrent saves share one transaction and one fsync (group commit): the
// writer at the front of a queue commits its own save and those queued
// behind it, and a lone save commits at once, with no batching delay. The
// redisstore module runs the same Store contract on Redis for apps that
// outgrow one machine.
package boltsession
