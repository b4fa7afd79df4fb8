package redisstore_test

import (
	"context"
	"log"
	"net/http"
	"os"
	"time"

	"github.com/boltsession/boltsession"
	"github.com/boltsession/boltsession/express"
	"github.com/boltsession/boltsession/redisstore"
	"github.com/redis/go-redis/v9"
)

// Build the store from a Redis URL and hand it to the Manager in place of a
// BoltStore. (Not run by go test: it needs a Redis server.)
func Example() {
	opt, err := redis.ParseURL("redis://127.0.0.1:6379/0") // e.g. os.Getenv("REDIS_URL")
	if err != nil {
		log.Fatal(err)
	}
	opt.ContextTimeoutEnabled = true // a request's deadline bounds its Redis calls
	opt.DialerRetries = 1            // a down Redis fails the request at once
	client := redis.NewClient(opt)
	defer client.Close()

	store := redisstore.New(client, nil) // keys "sess:{<handle>}"

	m, err := boltsession.New(store, boltsession.Options{Keys: [][]byte{[]byte(os.Getenv("SESSION_KEY"))}})
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	log.Fatal(http.ListenAndServe(":8080", m.Middleware(mux)))
}

// On Redis Cluster the store is built the same way: every session's keys
// carry its handle as hash tag, so sessions spread over every master.
// WaitReplicas makes each write wait for a replica's acknowledgement, so
// that a failover cannot lose an acknowledged save or logout.
func ExampleNew_cluster() {
	client := redis.NewClusterClient(&redis.ClusterOptions{
		Addrs:                 []string{"10.0.0.1:6379", "10.0.0.2:6379", "10.0.0.3:6379"},
		ContextTimeoutEnabled: true,
		DialerRetries:         1,
	})
	defer client.Close()
	store := redisstore.New(client, &redisstore.Options{WaitReplicas: 1})
	_ = store
}

// Seal the session values at rest, with the same keys a BoltStore takes.
// To rotate, put the new key first and keep the old one until Reseal has
// sealed every value under the new key. An operator ends a session by the
// handle that Owned, Iterate and the logs show. (Not run by go test: it
// needs a Redis server.)
func ExampleOptions_valueKeys() {
	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
	defer client.Close()
	newKey, oldKey := []byte(os.Getenv("VALUE_KEY")), []byte(os.Getenv("OLD_VALUE_KEY")) // 32 random bytes each
	store := redisstore.New(client, &redisstore.Options{ValueKeys: [][]byte{newKey, oldKey}})

	ctx := context.Background()
	n, err := store.Reseal(ctx) // then drop oldKey from ValueKeys
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("%d values sealed under the new key", n)

	if err := store.DeleteHandle(ctx, "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae"); err != nil {
		log.Fatal(err)
	}
}

// Serve the users of a Node app that keeps its sessions with connect-redis,
// side by side with it: the options are copied from the Node app's
//
//	app.use(session({ secret: 'keyboard cat', resave: false, saveUninitialized: false,
//	  cookie: { maxAge: 86400000, sameSite: 'lax' },
//	  store: new RedisStore({ client }) }))
//
// and the cookie codec is the express module's (github.com/boltsession/boltsession/express).
func ExampleNewConnectRedis() {
	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379", ContextTimeoutEnabled: true, DialerRetries: 1})
	defer client.Close()
	store := redisstore.NewConnectRedis(client, &redisstore.ConnectRedisOptions{
		// Prefix "sess:" and TTL 86400s are connect-redis's defaults.
		Cookie: redisstore.ExpressCookie{MaxAge: 24 * time.Hour, SameSite: "lax"},
	})
	codec, err := express.Cookie("keyboard cat")
	if err != nil {
		log.Fatal(err)
	}
	m, err := boltsession.New(store, boltsession.Options{
		Name:   "connect.sid", // express-session's default cookie name
		Codec:  codec,
		MaxAge: 24 * time.Hour, // cookie.maxAge
		Cookie: boltsession.CookieOptions{SameSite: http.SameSiteLaxMode},
	})
	if err != nil {
		log.Fatal(err)
	}
	log.Fatal(http.ListenAndServe(":8080", m.Middleware(http.NewServeMux())))
}
