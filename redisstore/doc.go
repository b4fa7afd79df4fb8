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
// # Layout
//
// Each session is one hash, Prefix+ID (default "sess:ID"):
//
//	m:created  creation time, Unix nanoseconds
//	m:expires  expiry time, Unix nanoseconds
//	m:maxage   per-session idle lifetime in nanoseconds (absent: the Manager's)
//	m:owner    owner (absent: none)
//	v:<key>    the msgpack-encoded value the application stored under <key>
//
// Reserved fields start with "m:" and values with "v:", so no key an
// application picks can collide with a reserved field. The hash carries a
// PEXPIREAT at m:expires, so Redis deletes expired sessions itself and no
// sweeper runs. Load, Touch, an update's Save, Owned, Count and Iterate also
// treat a record whose m:expires has passed by the store's clock
// (Options.Now) as missing, so the answer never depends on when Redis gets
// round to the deletion.
//
// An owner's sessions are indexed in the set Prefix+"owner:"+owner, whose
// members are session IDs. The set lives at least as long as its longest
// lived session (its expiry follows theirs) and is cleaned of members that
// are no longer live sessions of that owner by Owned and DestroyOwner. To
// keep the kinds of key apart, session IDs may not start with "owner:" or
// "lock:" (the Manager's default IDs are base64url and never contain ':').
//
// # Serialized requests across processes
//
// Store implements boltsession.SessionLocker: under
// boltsession.Options.Serialize, a request on a session also takes the
// string key Prefix+"lock:"+ID, set with SET NX PX to a random token for
// Options.LockTTL (default 10s) and released by a script that deletes it
// only while it still holds that token. Requests on one session then run one
// at a time across every process on this Redis, not only within one. A
// process that dies holding a lock blocks that session until LockTTL has
// passed; a request that runs longer than LockTTL loses its exclusivity.
//
// # Atomicity
//
// Save, Touch, Delete, Owned and DestroyOwner each run as one Lua script
// (EVALSHA, falling back to EVAL after a Redis restart empties the script
// cache). A save's must-exist check, per-key merge (HSET and HDEL of single
// fields), metadata, PEXPIREAT and owner-index change land together or not
// at all, and two saves of one session that change different keys both
// persist. Load is one HGETALL.
//
// # Redis Cluster
//
// A save that sets an owner touches a session hash and an owner set, and
// Owned and DestroyOwner read the sessions an owner set names, from inside
// one script. Redis Cluster runs a script on one node and refuses it when
// it reaches a key that node does not serve; only keys in one hash slot are
// sure to be served together, also while slots move. A session cannot be
// tagged by its owner, because Load finds it by ID alone. So on Cluster
// (and on a go-redis Ring) every key of a Store carries the same hash tag,
// and all sessions of that Store live in one slot, on one master and its
// replicas: the Prefix default becomes "{sess}:" for a *redis.ClusterClient
// or *redis.Ring, and a Prefix without a hash tag makes every method fail
// with an error that says so. Cluster then gives failover, not write
// scaling; one Redis master serves tens of thousands of session operations
// a second. Because the scripts derive the owner and session keys they
// touch from stored data rather than from their KEYS arguments, proxies
// that insist on declared keys are not supported. Count and Iterate scan
// every master.
//
// # Durability and failures
//
// A nil error from Save means Redis applied the change in memory. Whether
// it survives a crash of Redis is set by the server's persistence
// (appendonly yes with appendfsync always or everysec, RDB snapshots) and
// replication, not by this package. When Redis is unreachable every method
// returns an error (wrapped, with the go-redis cause) within the client's
// timeouts; the boltsession middleware turns it into a 500 through its
// ErrorHandler. The client reconnects on its own, so service resumes when
// Redis is back. go-redis bounds a call by the request's context deadline
// only with redis.Options.ContextTimeoutEnabled set, and by default dials a
// dead server five times with backoff before giving up; for a web app set
//
//	opt.ContextTimeoutEnabled = true // a request's deadline bounds its store calls
//	opt.DialerRetries = 1            // a down Redis fails a request at once
//
// (ReadTimeout defaults to 3s, DialTimeout to 5s.)
//
// Count and Iterate walk the keyspace with SCAN (MATCH Prefix*, TYPE hash,
// COUNT Options.ScanCount), never KEYS. SCAN TYPE needs Redis 6.0 or later.
package redisstore
