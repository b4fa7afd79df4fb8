// Package redisstore keeps boltsession sessions in Redis, for apps that run
// on several machines behind a load balancer. It implements the same
// boltsession.Store contract as the embedded BoltStore, plus the
// OwnerIndex, Counter and Iterator capabilities, so moving from one node to
// many changes only how the store is built:
//
//	opt, err := redis.ParseURL("redis://127.0.0.1:6379/0")
//	if err != nil { ... }
//	store := redisstore.New(redis.NewClient(opt), nil)
//	m, err := boltsession.New(store, boltsession.Options{Keys: keys})
//
// New takes a single server or Sentinel (*redis.Client), a
// *redis.ClusterClient or a *redis.Ring, with one layout for all of them.
//
// # Layout
//
// Redis never holds a session ID. Each session is keyed by its handle,
// boltsession.Handle(ID): the hex SHA-256 of the ID, which cannot be
// turned back into the ID the cookie carries (see "What Redis holds"
// below). Each session is one hash, Prefix+"{"+handle+"}" (default
// "sess:{<64 hex digits>}"):
//
//	m:created  creation time, Unix nanoseconds
//	m:expires  expiry time, Unix nanoseconds
//	m:maxage   per-session idle lifetime in nanoseconds (absent: the Manager's)
//	m:owner    owner (absent: none)
//	m:ocover   until when (Unix ms) the owner's index vouches for the session
//	v:<key>    the value the application stored under <key>: 0x00 and its
//	           msgpack bytes, or sealed (Options.ValueKeys; see "Values at rest")
//
// Reserved fields start with "m:" and values with "v:", so no key an
// application picks can collide with a reserved field. The hash carries a
// PEXPIREAT at m:expires, so Redis deletes expired sessions itself and no
// sweeper runs. Load, Touch, an update's Save, Owned, Count and Iterate also
// treat a record whose m:expires has passed by the store's clock
// (Options.Now) as missing, so the answer never depends on when Redis gets
// round to the deletion.
//
// The same key holds, for a while, two other shapes: the marker of a
// replaced session ({m:next: the new session's handle, m:owner}, kept
// until boltsession.ReplacedGrace or the session's own expiry) and the
// pending record of a replace in flight ({m:pending: "r:" and the old
// session's handle, m:owner}, never loadable, gone after a minute).
//
// The braces are a Redis hash tag: every key of one session (its hash, its
// lock Prefix+"{"+handle+"}:lock") hashes by the handle alone. On Redis
// Cluster each session therefore lives in a slot of its own choosing and
// sessions spread evenly over every master (3,000 sessions on 3 masters:
// 34.4%, 33.7%, 31.9% in the test run), while all keys of one session
// share one slot so that each step on it is one script. A go-redis Ring
// places keys by the same tag. On a single server the tag costs nothing.
// Session IDs may not be empty, contain a brace, or start with "owner:" or
// "lock:", since the legacy layout (see below) is keyed by ID (the
// Manager's IDs are base64url and never do).
//
// An owner's sessions are indexed in the sorted set Prefix+"{owner:"+owner+"}",
// a key of its own whose members are the sessions' handles: an owner's
// sessions may sit on every master.
//
// # What Redis holds
//
// Whoever reads Redis (a dump, an RDB or AOF file, a backup, a replica,
// MONITOR, a support engineer with redis-cli) finds no session ID and no
// cookie value: keys, owner index members, markers and pending records
// name sessions by handle, and the per-session locks are keyed by handle
// too. A handle cannot be used as a cookie: the middleware hashes the ID
// it reads from the cookie, so presenting a handle names another (empty)
// session, and a handle cannot be turned back into its ID (session IDs
// are 256 random bits). Operators name sessions by handle as well: Owned
// and Iterate return records with Handle set and ID empty, and
// DeleteHandle ends a session by its handle.
//
// What stays in clear, and why:
//   - owner names (m:owner and the index keys Prefix{owner:<owner>}): the
//     owner index must find a user's sessions by the owner alone;
//   - value names (the field names v:<key>): each value is a field of its
//     own, so that two requests changing different keys both persist;
//   - times (creation, expiry, MaxAge, owner coverage): the scripts compare
//     them and Redis expires sessions by them;
//   - the length of each value (sealing adds 37 bytes and does not pad);
//   - the values themselves, unless Options.ValueKeys is set.
//
// So a reader of Redis learns which users have sessions, since when and
// until when, and (without ValueKeys) what the sessions hold, but cannot
// sign in as anyone. Write access to Redis is not defended against: whoever
// can write Redis can end sessions, and with the cookie signing key could
// plant one.
//
// Exceptions, for the upgrade from the legacy layout (see "Sessions written
// by earlier releases"): sessions still in that layout are keyed by ID
// until MoveLegacy moves them; CreateLegacy writes new sessions there;
// and until NoLegacy is set, a lookup of an unknown ID in the legacy layout
// names the ID in the command (never stored, but MONITOR and SLOWLOG show
// it). ConnectRedisStore is the other exception: the Node app reads its
// keys, so they stay connect-redis's Prefix+ID.
//
// # Values at rest
//
// With Options.ValueKeys each value field is sealed on its own with
// boltsession.ValueSealer, the construction behind
// boltsession.BoltOptions.ValueKeys (the same keys work for both stores):
// AES-256-GCM under a key derived with HKDF-SHA-256 from the configured
// key and a random salt per value, stored as 0xc2, the key id (4 bytes of
// the SHA-256 of the key), the salt and the ciphertext: 37 bytes more than
// the value. The additional data is the session's handle followed by the
// field name, so a sealed value opens only in the field and the session it
// was written to: moving it to another key or session gives
// boltsession.ErrCorrupt. A merge seals just the fields it writes and
// stays one blind HSET; a regenerate writes every value anew, sealed for
// the new session. The first key seals, every key opens. Values in clear
// (written before ValueKeys was set, and those of sessions still in the
// legacy layout) stay readable; each is sealed when it is next written
// (MoveLegacy seals what it moves), and Store.Reseal seals
// every value not sealed with the first key, while the application
// serves: run it after turning ValueKeys on, and after putting a new key
// first, before dropping the old one. A value sealed with a key the store
// was not given gives an error wrapping boltsession.ErrKey (Load, Iterate).
//
// Cost, measured on one 2-core machine shared with other work, one run of
// go test -run '^$' -bench '^Benchmark(Load|Save)$' -benchmem -count 10
// with benchstat -col /values: a Load of a session of three small values
// takes 61µs sealed against 39µs in clear (+56%), a Save that merges one
// value 62µs against 56µs (no difference at p < 0.05 in that run): a key
// derivation and AES-GCM per value read or written, about 7µs each on
// that machine, and 37 bytes more per value in Redis. A session with many
// values pays per value on every Load.
//
// # What is atomic
//
// Every lifecycle step of one session is one Lua script on that session's
// slot: a create (only if the ID is not in use), a per-key merge (HSET and
// HDEL of single fields, only if the session is live), a touch and a
// delete. Their checks and writes land together or not at all, and two
// saves of one session that change different keys both persist. Each
// script names in KEYS every key it touches, all in one slot, so it runs on
// one master and works through proxies that route by declared keys; the
// tests run every script with Redis 7's "#!lua" flag, which makes Redis
// refuse any access outside that slot. Load is one HGETALL.
//
// # What is ordered
//
// Two things span slots, and are done as single-slot steps in an order
// that keeps the guarantees instead of as one transaction.
//
// Replace across slots (Session.Regenerate): the handles of the old
// session S and the new one N hash to different slots, usually on
// different masters. The store follows
// the protocol written on boltsession.Update.Replaces: it claims N in its
// owner's index, creates N as a pending record (create-if-absent,
// unloadable), then in S's slot turns S into the marker "replaced by N" and
// reads S's record, only if S is live (this is the instant the replace
// takes effect: a merge into S before it is carried to N, one after it
// gets ErrReplaced), then in N's slot writes that record with the
// request's changes and makes N live, only if the pending record is still
// there. A logout of S that wins the race makes the mark fail (nothing is
// created) or, after the mark, follows the marker and deletes the pending
// N, so the activation fails: N is never usable. A crash between steps
// leaves an index member with no session, an unloadable pending record
// that expires, or a marker whose successor is pending (the user signs in
// again), never a live session that a logout of S cannot reach. A replace
// costs four to five round trips instead of one.
//
// Owner index: a member's score is its coverage, the time until which the
// index vouches for that session. Every step that makes a session an
// owner's, or moves its expiry past its recorded coverage (m:ocover), first
// claims the member in the owner's index (adding it, or raising its score
// to a coverage as far past the new expiry as that expiry is from now, so
// a session kept alive claims again about once per lifetime, not on every
// touch), and only then runs the session's own script, which refuses to
// write unless a claim covers the expiry it sets. So an owner's live
// session is always a member of the index: a crash or an error between the
// two steps leaves a member without its session, never the reverse.
// Members are removed only OwnerIndexMargin (5 minutes) after their
// coverage ended, when no step covered by them can keep a session alive;
// members that no longer name a live session of the owner are skipped by
// Owned and DestroyOwner until then. The index lives OwnerIndexMargin past
// its highest score. Coverage is compared on the application's clock and
// Redis expires the index on its own: keep clocks within that margin.
//
// Owned reads the index, then every member's session in one pipeline (one
// round trip per master). DestroyOwner reads the index, ends each member
// that is the owner's in one script on that member's slot (following
// markers to replacements), and reads the index again after any pass that
// ended a session, up to four reads; every session made the owner's by a
// save that returned before its last read is ended, one whose save returns
// later may survive, as if it came after (see DestroyOwner). It is not
// atomic across sessions.
//
// # Sessions written by earlier releases
//
// Releases before the per-session layout kept every session of a Store in
// one hash slot: the hash LegacyPrefix+ID, owner sets
// LegacyPrefix+"owner:"+owner and locks LegacyPrefix+"lock:"+ID, where
// LegacyPrefix defaults to what those releases used ("sess:" on a single
// server, "{sess}:" on Cluster and Ring). Such sessions stay readable and
// writable where they are, with those releases' own scripts, until they
// expire, so an upgrade logs nobody out: Load, Save, Touch and Delete look
// there when the per-session layout has no key for the ID, Owned and
// DestroyOwner consult both indexes, Count and Iterate scan both prefixes
// (listing legacy sessions by handle like the others), and a create checks
// that neither layout uses its ID. A regenerate of a legacy session moves
// it to the per-session layout first and replaces it there, so the new ID
// is never written; with ValueKeys, so does a merge into one (the legacy
// layout never holds sealed values). For a rolling deploy from such a
// release, set Options.CreateLegacy in a first rollout (new sessions are
// created where the old processes look, keyed by ID as those processes
// need, and a regenerate of a legacy session stays there) and unset it in
// a second; CreateLegacy cannot be combined with ValueKeys.
// Store.MoveLegacy moves every legacy session to the per-session layout,
// from its ID to its handle, while the application serves; after it no
// session ID is left in Redis (markers of replaced legacy sessions expire
// within boltsession.ReplacedGrace). NoLegacy then stops the lookups (a
// round trip saved on each create and on each Load of an unknown ID, and
// no ID in any command).
//
// # Serialized requests across processes
//
// Store implements boltsession.SessionLocker: under
// boltsession.Options.Serialize, a request on a session also takes the
// string key Prefix+"{"+handle+"}:lock", set with SET NX PX to a random token
// for Options.LockTTL (default 10s) and released by a script that deletes
// it only while it still holds that token. Requests on one session then run
// one at a time across every process on this Redis, not only within one. A
// process that dies holding a lock blocks that session until LockTTL has
// passed; a request that runs longer than LockTTL loses its exclusivity.
//
// # Durability and failures
//
// A nil error from Save means Redis applied the change in memory. Whether
// it survives a crash of Redis is set by the server's persistence
// (appendonly yes with appendfsync always or everysec, RDB snapshots) and
// replication, not by this package. Replication is asynchronous: when a
// master fails and its replica takes over, the writes it had not yet
// passed on are lost. That can be an acknowledged save, but also a logout
// (the session is back), a regenerate's mark (the old ID works again beside
// the new one) or a claim in an owner's index.
//
// Options.WaitReplicas closes that gap as far as Redis can: each write is
// followed, on the same connection, by WAIT for that many replicas, and a
// write they did not all confirm within Options.WaitTimeout returns an
// error wrapping ErrNotReplicated (it did land on the master; the
// middleware answers 500). go-redis would send a keyless WAIT to a node and
// connection of its own choosing, where it waits for nothing, so the store
// sends each write with its WAIT as one pipeline through the client of the
// master that serves the key. Cost, measured on one 2-core machine with a
// replica per master (see the README): one master-to-replica round trip
// per write step, on a LAN a few hundred microseconds; while a replica is
// down or lagging every write waits WaitTimeout and fails, so a master
// whose only replica took over after a failover refuses writes until a
// replica is back. WAIT does not make Redis strongly consistent: a
// failover may still elect a replica that missed a write, and a master cut
// off from the others accepts writes until cluster-node-timeout.
//
// When Redis is unreachable, or a Cluster reports CLUSTERDOWN during a
// failover, every method returns an error (wrapped, with the go-redis
// cause) within the client's timeouts; the boltsession middleware turns it
// into a 500 through its ErrorHandler, never into a fresh or another
// session. After an error on the way to a cluster node the store asks the
// ClusterClient to reload its slot map (go-redis does so by itself only on
// MOVED), so service resumes soon after a replica takes over. go-redis
// bounds a call by the request's context deadline only with
// redis.Options.ContextTimeoutEnabled set, and by default dials a dead
// server five times with backoff before giving up; for a web app set
//
//	opt.ContextTimeoutEnabled = true // a request's deadline bounds its store calls
//	opt.DialerRetries = 1            // a down Redis fails a request at once
//
// (ReadTimeout defaults to 3s, DialTimeout to 5s.)
//
// Count and Iterate walk the keyspace with SCAN (MATCH Prefix*, TYPE hash,
// COUNT Options.ScanCount), never KEYS, on every master. SCAN TYPE needs
// Redis 6.0 or later.
//
// # Client-side cache
//
// Options.Cache keeps the sessions Load reads in the application's memory
// and has Redis invalidate them (RESP3 CLIENT TRACKING) when any server
// changes them, so that a request of a session nobody changed reads no
// Redis at all, and a request that saves pays one round trip (the save,
// whose reply refills the cache) instead of two:
//
//	store := redisstore.New(client, &redisstore.Options{Cache: &redisstore.CacheOptions{}})
//	defer store.Close() // before client.Close
//
// The bound: a Load served from memory returns the session as Redis held
// it no earlier than CacheOptions.MaxStale (default 100ms) before the
// Load. A logout, regenerate, DestroyOwner, expiry or save on another
// server is normally seen after one network hop (Redis sends the
// invalidation before it answers the writer), and always within
// MaxStale, which the store enforces by sequential pings on the tracking
// connection instead of trusting the network: while it cannot show that
// every invalidation sent up to MaxStale ago is applied, Load reads Redis.
// The process's own writes are seen at once. When the tracking connection
// drops (a restart, a failover, CLIENT KILL, a network error), the whole
// cache is emptied and Load reads Redis until a new connection is up;
// FLUSHALL and FLUSHDB empty it too.
//
// The cache needs a *redis.Client (one server, or Sentinel) and Redis 6
// or later (7 for the process's own saves to stay cached: earlier servers
// echo them back as invalidations). On a *redis.ClusterClient or a
// *redis.Ring every method returns an error: one tracking connection per
// master, and slots that move between them, are not built. With
// Options.WaitReplicas the saves go through the client with their WAIT,
// so that a save drops the session from the cache and the next Load reads
// it from Redis again. Values sealed with Options.ValueKeys
// are kept opened in memory, as Load returns them.
//
// It costs one connection and one goroutine per Store, a ping every
// MaxStale/4 (40 a second at the default), memory up to CacheOptions.MaxEntries and
// MaxBytes, and in Redis one tracking-table entry per cached session.
// Leave it off when one request per session is all a process sees (no
// repeated reads), or when no lag at all is acceptable for another
// server's writes. Store.CacheStats reports hits, misses and flushes.
//
// # Sharing sessions with a Node app (connect-redis)
//
// ConnectRedisStore (NewConnectRedis) reads and writes connect-redis 10's
// format instead of the layout above, so that a Node app (express-session
// 1.x with connect-redis and node-redis) and a Go app (a Manager with the
// express module's Cookie codec, the same secret and the same cookie name)
// serve the same users from the same Redis during a gradual rollout, with
// no logouts: a user signed in on either side is signed in on the other, a
// value either side changes is what the other reads next, and a logout on
// either side ends the session on both. It is a type of its own rather
// than an option of New because it offers a different set of capabilities
// (no owner index), which the Manager discovers by type assertion.
//
// Format. A session is the string Prefix+ID (default "sess:<ID>"), holding
// JSON.stringify of express-session's req.session: the member "cookie" is
// the cookie's data as express-session writes it (originalMaxAge, expires,
// secure, httpOnly, domain, path, sameSite, ...), kept as Node wrote it,
// and every other member is one session value. A session created from Go
// gets the cookie member express-session would write for
// ConnectRedisOptions.Cookie. The member "__boltsession" holds what express
// keeps nowhere: the creation time (AbsoluteMaxAge counts from it) and the
// owner; a Node app sees it in req.session and should leave it alone (it
// survives Node's saves). Values map between JSON and msgpack as
// express.ImportFileStore maps them: an integral number is an int64, any
// other a float64; strings, booleans and null as themselves; an object a
// map (keys sorted), an array a list. What JSON cannot hold (binary,
// time.Time and other extensions, integers beyond ±(2^53−1) that a
// JavaScript number would round, float32, NaN, non-UTF-8 strings, maps
// with non-string keys) is written, node by node, as {"$msgpack":
// "<base64>"}, which reads back byte for byte; a Node app sees that object.
// A value comes back as the same value, not always the same bytes (an int
// as an int64, a struct as a map with sorted keys), which Get decodes into
// the type it was set from. Value names express-session uses itself
// ("cookie", "id", "save", "__proto__", ...) are refused (ErrReservedKey).
//
// Expiry is the key's own TTL, as connect-redis keeps it. A save sets it
// (PXAT) to the session's expiry, which is the TTL connect-redis computes
// from cookie.expires, to the millisecond instead of rounded up to the
// second; an expiry not in the future deletes the key, as connect-redis's
// set does. A touch is connect-redis's: the TTL alone (PEXPIREAT), the
// stored cookie.expires left as the last full save wrote it, so Load reads
// the expiry from the key (PEXPIRETIME, which needs Redis 7.0 or later).
//
// What holds. A create is create-if-absent. A merge from Go is a
// read-modify-write of the JSON: it reads the value, applies the request's
// changes member by member (every other member keeps the text it had) and
// writes it with a compare-and-set script that lands only on the value it
// read; when a save of either side came in between, it reads and merges
// again, so no save of either side that completed before it is lost. A
// merge in Lua with cjson was rejected: cjson re-encodes every member,
// rounding numbers to 14 digits (0.30000000000000004 becomes 0.3,
// 9007199254740993 becomes 9.007199254741e+15), turning [] into {} and
// dropping the members' order. WATCH/MULTI/EXEC gives the same guarantee in
// three round trips on a connection of its own; measured (go test -run '^$'
// -bench ConnectRedisMerge -benchmem ./redisstore, one 2-core machine): one
// writer 195µs for the compare-and-set against 173µs, four writers on one
// session 494µs against 788µs, four writers on their own sessions 105µs
// against 216µs. Replace (Regenerate) follows the ordered protocol of
// boltsession.Update.Replaces: the new ID is first a pending record, the
// empty string, which connect-redis's get reads as no session; then the
// old key is deleted and its marker written at
// "{"+Prefix+ID+"}:replaced-by:"+Prefix+ID, a key in the old session's hash
// slot that does not start with Prefix, so Node never reads it and its
// all, length and clear never see it; then the new ID gets the value. A
// merge or touch of the old ID from Go gives ErrReplaced, its Delete
// follows the marker, its Load gives ErrNotFound, and Node serves the old
// ID's cookie a fresh session. Count and Iterate SCAN Prefix* (TYPE
// string) as connect-redis's length and all do.
//
// What does not hold, by the nature of the format:
//   - Node's writes are unconditional: connect-redis's set is a SET of the
//     whole object, so a Node request that loaded the session before a Go
//     save overwrites that save when it saves (as two Node requests do to
//     each other), and one that loaded it before a logout or a regenerate
//     brings it back. Only the Go side's steps are atomic and ordered.
//   - Node's regenerate is destroy plus a new, empty session with no
//     marker: a Go request that loaded the old ID fails with ErrEnded, and
//     a Go logout of the old ID does not reach the new one. Go's
//     Regenerate keeps the values; on Node the old ID's cookie reads as no
//     session.
//   - Session IDs stay in Redis: the keys are Prefix+ID, which the Node
//     app reads (see "What Redis holds" for the layout of New, which keeps
//     none), and values are JSON in clear (no ValueKeys). Records carry
//     Handle as well as ID, Iterate's included.
//   - No owner index: Node's saves would not maintain it, so
//     ConnectRedisStore does not implement boltsession.OwnerIndex and
//     Manager.Owned and DestroyOwner give boltsession.ErrUnsupported. The
//     owner set with SetOwner is kept (in __boltsession) and read back.
//   - AbsoluteMaxAge is enforced by the Go side only, from the creation
//     time Go recorded; for a session only Node has written, from its last
//     full save, until a Go save records it.
//   - Serialize (LockSession, a key beside the marker) orders the Go app's
//     requests only; Node takes no lock.
//   - Values compare by meaning, not bytes (see above); storetest runs with
//     Options.ValuesByMeaning and reports it.
//   - A value Node cannot load (not JSON, no cookie member) is
//     boltsession.ErrCorrupt for Go too: the Manager starts a fresh session
//     and leaves the key as it is.
//
// # Rolling out from Node + connect-redis
//
// Side by side, then Node off. Copy from the Node app:
//
//	session({ name, secret, cookie: {maxAge, path, domain, httpOnly, secure, sameSite}, resave, rolling, saveUninitialized })
//	new RedisStore({ client, prefix, ttl })
//
// into
//
//	codec, _ := express.Cookie(secret)            // every secret of the array, first one first
//	store := redisstore.NewConnectRedis(client, &redisstore.ConnectRedisOptions{
//		Prefix: prefix,                         // omit for "sess:"
//		TTL:    ttl * time.Second,              // omit for 86400
//		Cookie: redisstore.ExpressCookie{MaxAge: maxAge * time.Millisecond, Path: path, Domain: domain,
//			HTTPOnly: httpOnly, Secure: secure, SameSite: sameSite},
//	})
//	m, _ := boltsession.New(store, boltsession.Options{
//		Name: name, Codec: codec,               // express's default name is "connect.sid"
//		MaxAge: maxAge * time.Millisecond,      // with cookie.maxAge unset: ttl, and Cookie.Persist Off
//		Cookie: boltsession.CookieOptions{Path: path, Domain: domain, SameSite: ..., Secure: ..., HTTPOnly: ...},
//		Rolling: rolling, SaveUninitialized: saveUninitialized,
//	})
//
// with the same Redis client settings (URL, database, a node-redis client
// prefix goes in front of Prefix). Before switching traffic: the Go app
// loads a session the Node app just wrote (sign in on Node, then request
// the Go app with that cookie); the cookie options match (express keeps
// each session's cookie attributes in the session and sends those, so a
// mismatch shows on every response of the other side); Redis is 7.0 or
// later; no Node handler writes a value named __boltsession or one of the
// names ErrReservedKey lists; values a Go handler sets are types JSON holds
// if Node reads them (a time.Time reaches Node as a {"$msgpack": ...}
// object: store an ISO string instead). Then send a share of the requests
// to Go, raise it, and turn Node off; sessions stay in this format, and
// the Go app keeps them as long as they live. What differs while both
// serve: the Go side sends Max-Age beside Expires and clears the cookie on
// logout; its touches are lazy (TouchAfter), so a session's TTL moves less
// often than with Node's touch on every request; AbsoluteMaxAge and the
// owner index are as told above.
package redisstore
