package redisstore

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/boltsession/boltsession"
	"github.com/boltsession/boltsession/redisstore/redistest"
	"github.com/boltsession/boltsession/storetest"
	"github.com/redis/go-redis/v9"
)

// testValueKey is a value key of the tests: 32 bytes, AES-256.
var testValueKey = bytes.Repeat([]byte{0x5e}, 32)

// TestConformanceWithValueKeys runs the shared Store suite with values
// sealed at rest.
func TestConformanceWithValueKeys(t *testing.T) {
	f := newFixture(t, nil)
	n := 0
	storetest.Run(t, func(t *testing.T) boltsession.Store {
		n++
		return New(f.client, &Options{Prefix: "sealed" + strconv.Itoa(n) + ":", ValueKeys: [][]byte{testValueKey}})
	})
}

// secrets is what the sign-ins of an app put in front of Redis, as the
// test saw it from both sides.
type secrets struct {
	mu      sync.Mutex
	ids     map[string]bool     // every session ID the handlers were given
	cookies map[string]bool     // every cookie value sent or received
	values  map[string][]string // by user: the values the sign-in stored, as text
	owners  []string
	live    []string        // IDs of the sessions left signed in
	ended   map[string]bool // users who signed out
}

func (s *secrets) add(set map[string]bool, v string) {
	s.mu.Lock()
	set[v] = true
	s.mu.Unlock()
}

// recorder is an http.RoundTripper that notes every cookie value a client
// sends or receives.
type recorder struct {
	next http.RoundTripper
	s    *secrets
}

func (r recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	for _, c := range req.Cookies() {
		r.s.add(r.s.cookies, c.Value)
	}
	resp, err := r.next.RoundTrip(req)
	if err == nil {
		for _, c := range resp.Cookies() {
			if c.Value != "" {
				r.s.add(r.s.cookies, c.Value)
			}
		}
	}
	return resp, err
}

// signIns runs n sign-ins through a Manager on store, over real HTTP with
// a cookie jar per user: a first visit (a new session), a sign-in
// (Regenerate, SetOwner, a profile and a CSRF token), another visit (a
// merge), and for every fourth user a logout. Requests are serialized per
// session, so the locks are taken too.
func signIns(t *testing.T, store boltsession.Store, n int) *secrets {
	t.Helper()
	sec := &secrets{ids: map[string]bool{}, cookies: map[string]bool{}, values: map[string][]string{}, ended: map[string]bool{}}
	m, err := boltsession.New(store, boltsession.Options{Keys: [][]byte{bytes.Repeat([]byte{7}, 32)}, Serialize: true})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /", func(w http.ResponseWriter, r *http.Request) {
		s := boltsession.FromContext(r.Context())
		v, _ := boltsession.Get[int](s, "visits")
		if err := s.Set("visits", v+1); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		sec.add(sec.ids, s.ID())
		w.Header().Set("X-Test-Session", s.ID()) // the test app's own channel, for the check
		fmt.Fprint(w, v+1)
	})
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		s := boltsession.FromContext(r.Context())
		user := r.URL.Query().Get("user")
		profile := "profile of " + user + " " + rand.Text()
		csrf := rand.Text()
		err := s.Regenerate()
		if err == nil {
			err = s.SetOwner("owner-" + user)
		}
		if err == nil {
			err = s.Set("profile", profile)
		}
		if err == nil {
			err = s.Set("csrf", csrf)
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		sec.add(sec.ids, s.ID())
		sec.mu.Lock()
		sec.values[user] = []string{profile, csrf}
		sec.owners = append(sec.owners, "owner-"+user)
		sec.mu.Unlock()
	})
	mux.HandleFunc("POST /logout", func(w http.ResponseWriter, r *http.Request) {
		if err := boltsession.FromContext(r.Context()).Destroy(); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	})
	srv := httptest.NewServer(m.Middleware(mux))
	t.Cleanup(srv.Close)

	do := func(c *http.Client, method, path string) (body, id string) {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, nil)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, b)
		}
		return string(b), resp.Header.Get("X-Test-Session")
	}
	for i := range n {
		jar, _ := cookiejar.New(nil)
		c := &http.Client{Jar: jar, Timeout: 10 * time.Second, Transport: recorder{next: http.DefaultTransport, s: sec}}
		user := fmt.Sprintf("%03d", i)
		do(c, "GET", "/")
		do(c, "POST", "/login?user="+user)
		got, id := do(c, "GET", "/")
		if got != "2" {
			t.Fatalf("user %s: second visit counted %q: the sign-in lost the session", user, got)
		}
		if i%4 == 0 {
			do(c, "POST", "/logout")
			sec.ended[user] = true
			continue
		}
		sec.live = append(sec.live, id)
	}
	return sec
}

// TestNoSessionIDCookieOrSealedValueInRedisAfter100SignIns signs 100
// users in and reads back everything Redis holds, in every form a thief
// could take it: every key with its fields, members and values (SCAN plus
// a read by type), the RDB file of a SAVE and the append-only file, both
// written uncompressed. None of the session IDs the handlers were given,
// nor any cookie value the browsers sent or received, is in any of them;
// with ValueKeys none of the values is either. Values in clear and owners
// (kept in clear by design) are found, which shows the search sees what
// is there. With NoLegacy the store does not even send an ID to Redis:
// MONITOR sees every command, and none names one.
func TestNoSessionIDCookieOrSealedValueInRedisAfter100SignIns(t *testing.T) {
	for _, c := range []struct {
		name    string
		opts    Options
		monitor bool
	}{
		{"values in clear", Options{}, false},
		{"ValueKeys", Options{ValueKeys: [][]byte{testValueKey}}, false},
		{"ValueKeys and NoLegacy, every command watched", Options{ValueKeys: [][]byte{testValueKey}, NoLegacy: true}, true},
		// The cache reads and saves on a connection of its own: MONITOR
		// sees its commands too.
		{"ValueKeys, NoLegacy and Cache, every command watched", Options{ValueKeys: [][]byte{testValueKey}, NoLegacy: true, Cache: &CacheOptions{}}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			srv := redistest.Start(t, "--appendonly", "yes", "--appendfsync", "always", "--rdbcompression", "no")
			client := redis.NewClient(&redis.Options{Addr: srv.Addr})
			t.Cleanup(func() { client.Close() })
			var commands func() []string
			if c.monitor {
				commands = monitor(t, srv.Addr)
			}
			store := New(client, &c.opts)
			if c.opts.Cache != nil {
				t.Cleanup(func() { store.Close() })
				awaitFresh(t, store)
			}
			sec := signIns(t, store, 100)
			if len(sec.ids) < 200 || len(sec.cookies) < 200 || len(sec.live) != 75 {
				t.Fatalf("the sign-ins made %d IDs, %d cookie values, %d live sessions", len(sec.ids), len(sec.cookies), len(sec.live))
			}

			dump := dumpRedis(t, client)
			where := map[string][]byte{"the keys and their contents": dump}
			for name, b := range persistedFiles(t, client) {
				where[name] = b
			}
			if c.monitor {
				// MONITOR replies after the commands it saw: a PING marks
				// the end of the sign-ins' commands.
				client.Ping(context.Background())
				where["the commands sent (MONITOR)"] = []byte(strings.Join(commands(), "\n"))
			}
			for name, b := range where {
				for id := range sec.ids {
					if bytes.Contains(b, []byte(id)) {
						t.Fatalf("%s hold the session ID %s", name, id)
					}
				}
				for v := range sec.cookies {
					if bytes.Contains(b, []byte(v)) {
						t.Fatalf("%s hold the cookie value %s", name, v)
					}
				}
				for user, vs := range sec.values {
					for _, v := range vs {
						found := bytes.Contains(b, []byte(v))
						switch {
						case found && c.opts.ValueKeys != nil:
							t.Fatalf("%s hold the value %q in clear, with ValueKeys", name, v)
						case !found && c.opts.ValueKeys == nil && !sec.ended[user] && holdsData(name):
							// The control: what is in clear is found.
							t.Fatalf("%s do not hold the value %q written in clear: the search misses what is there", name, v)
						}
					}
				}
			}
			// What is there to be found: the owners (in clear, by design),
			// and the handles of the sessions left signed in.
			for _, o := range sec.owners {
				if sec.ended[strings.TrimPrefix(o, "owner-")] {
					continue
				}
				if !bytes.Contains(dump, []byte(o)) {
					t.Fatalf("owner %s not in the dump: the dump misses the owner index", o)
				}
			}
			for _, id := range sec.live {
				if !bytes.Contains(dump, []byte(boltsession.Handle(id))) {
					t.Fatalf("the live session %s is not in the dump under its handle", boltsession.Handle(id))
				}
				if _, err := New(client, &c.opts).Load(context.Background(), id); err != nil {
					t.Fatalf("a signed-in session does not load: %v", err)
				}
			}
			t.Logf("%d IDs, %d cookie values, %d values of %d users: in %d bytes of keys and contents and %d files or streams more",
				len(sec.ids), len(sec.cookies), 2*len(sec.values), len(sec.values), len(dump), len(where)-1)
		})
	}
}

// holdsData tells the places that hold the dataset (the keys read back,
// the RDB of the SAVE, the commands of the append-only file) from those
// that do not (the AOF manifest, its base written when the server started
// empty): the control that values in clear are found applies to the first.
func holdsData(place string) bool {
	return place == "the keys and their contents" || place == "dump.rdb" || strings.HasSuffix(place, ".incr.aof")
}

// dumpRedis returns every key of the server with everything it holds,
// read by type: hash fields and values, set and sorted set members (with
// scores), list elements and string values.
func dumpRedis(t *testing.T, client *redis.Client) []byte {
	t.Helper()
	ctx := context.Background()
	var out bytes.Buffer
	iter := client.Scan(ctx, 0, "*", 100).Iterator()
	n := 0
	for iter.Next(ctx) {
		k := iter.Val()
		n++
		fmt.Fprintf(&out, "key %s\n", k)
		typ, err := client.Type(ctx, k).Result()
		if err != nil {
			t.Fatal(err)
		}
		switch typ {
		case "hash":
			h, _ := client.HGetAll(ctx, k).Result()
			for f, v := range h {
				fmt.Fprintf(&out, "  %s = %s\n", f, v)
			}
		case "set":
			ms, _ := client.SMembers(ctx, k).Result()
			fmt.Fprintf(&out, "  %s\n", strings.Join(ms, " "))
		case "zset":
			zs, _ := client.ZRangeWithScores(ctx, k, 0, -1).Result()
			for _, z := range zs {
				fmt.Fprintf(&out, "  %v %v\n", z.Member, z.Score)
			}
		case "list":
			ls, _ := client.LRange(ctx, k, 0, -1).Result()
			fmt.Fprintf(&out, "  %s\n", strings.Join(ls, " "))
		case "string":
			v, _ := client.Get(ctx, k).Result()
			fmt.Fprintf(&out, "  %s\n", v)
		case "none":
		default:
			t.Fatalf("key %s of type %s, which the dump cannot read", k, typ)
		}
	}
	if err := iter.Err(); err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Fatal("Redis is empty")
	}
	return out.Bytes()
}

// persistedFiles saves the dataset and returns every file in the server's
// directory by name: the RDB of the SAVE and the append-only files (the
// server runs with compression off, so what they hold is searchable).
func persistedFiles(t *testing.T, client *redis.Client) map[string][]byte {
	t.Helper()
	ctx := context.Background()
	if err := client.Save(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	dir, err := client.ConfigGet(ctx, "dir").Result()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	err = filepath.WalkDir(dir["dir"], func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasSuffix(path, ".log") {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		out[filepath.Base(path)] = b
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var rdb, aof bool
	for name := range out {
		rdb = rdb || strings.HasSuffix(name, ".rdb")
		aof = aof || strings.Contains(name, ".aof")
	}
	if !rdb || !aof {
		t.Fatalf("the server wrote %d files, no RDB or no AOF among them", len(out))
	}
	return out
}
