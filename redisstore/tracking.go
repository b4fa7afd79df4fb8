package redisstore

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// The tracking connection of the cache (Options.Cache). It is a RESP3
// connection of the store's own, dialled with the client's dialer (so TLS
// and Sentinel's choice of master apply) and credentials, that turns on
// CLIENT TRACKING in broadcast mode for the keys under Prefix+"{": Redis
// then sends it an invalidation for every write to such a key, by any
// client, and the tracker drops that key from the cache the moment the
// push arrives. Broadcast mode needs no tracking on the connections that
// read (they are the application's go-redis pool) and keeps no per-key
// state in Redis; its cost is an invalidation per write of any session,
// cached here or not (a few dozen bytes).
//
// Freshness is proven by pings, never assumed. Redis sends the
// invalidations of the writes of one pass of its event loop at the end
// of that pass, after the replies to commands of the same pass, so a PONG
// can overtake the invalidation of a write applied just before its PING.
// Pings are therefore sent one at a time, each after the previous PONG:
// PING k is then handled in a later pass than PING k-1, and when PONG k
// has been read, every invalidation of a write Redis applied before it
// handled PING k-1 has been read and applied before it (one connection
// delivers in order). So PONG k confirms the cache fresh as of the
// moment PING k-1 was sent; the CLIENT TRACKING command counts as PING 0.

// trackingName is the client name of the tracking connection (CLIENT
// LIST), so that operators can tell it from the pool's connections.
const trackingName = "boltsession-cache"

type tracker struct {
	c      *cache
	client *redis.Client
	opt    *redis.Options
	prefix string

	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
	// checking is set while a check that the client is still open runs.
	checking atomic.Bool
	closed   atomic.Bool // the client was closed: the cache stays off
	// beforeDial, when set (tests), runs before each dial.
	beforeDial atomic.Pointer[func()]
}

var (
	errTrackerStopped = errors.New("tracker stopped")
	errClientClosed   = errors.New("client closed")
)

func startTracker(client *redis.Client, c *cache, prefix string) *tracker {
	t := &tracker{c: c, client: client, opt: client.Options(), prefix: prefix,
		stop: make(chan struct{}), done: make(chan struct{})}
	go t.loop()
	return t
}

// close stops the tracker and waits for it; the cache is off after it.
func (t *tracker) close() {
	t.closeOnce.Do(func() { close(t.stop) })
	<-t.done
}

// loop keeps a tracking connection up until close: each connection's end
// empties the cache, and the next is dialled after a backoff.
func (t *tracker) loop() {
	defer close(t.done)
	backoff := 10 * time.Millisecond
	for {
		start := time.Now()
		err := t.session()
		t.c.flush(true)
		if errors.Is(err, errTrackerStopped) || errors.Is(err, errClientClosed) {
			return
		}
		if time.Since(start) > time.Second {
			backoff = 10 * time.Millisecond // a connection that lived: start over
		}
		select {
		case <-t.stop:
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, time.Second)
	}
}

// session runs one tracking connection until it fails or the tracker
// stops, and says why it ended.
func (t *tracker) session() error {
	if t.closed.Load() {
		return errClientClosed
	}
	if f := t.beforeDial.Load(); f != nil {
		(*f)()
	}
	timeout := max(t.opt.DialTimeout, time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	conn, err := t.opt.Dialer(ctx, t.opt.Network, t.opt.Addr)
	if err != nil {
		return err
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	defer conn.Close()
	rd := bufio.NewReaderSize(conn, 16<<10)

	user, pass, err := t.credentials(ctx)
	if err != nil {
		return err
	}
	hello := []string{"HELLO", "3"}
	if pass != "" {
		if user == "" {
			user = "default"
		}
		hello = append(hello, "AUTH", user, pass)
	}
	hello = append(hello, "SETNAME", trackingName)
	req := appendCommand(nil, hello...)
	req = appendCommand(req, "CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", t.prefix)
	_ = conn.SetDeadline(time.Now().Add(timeout))
	ping0 := t.c.now()
	if _, err := conn.Write(req); err != nil {
		return err
	}
	v, err := readRESP(rd)
	if err != nil {
		return err
	}
	if e := v.errorText(); e != "" {
		return fmt.Errorf("HELLO 3 (the cache needs Redis 6 or later): %s", e)
	}
	if v, err = readRESP(rd); err != nil {
		return err
	}
	if v.kind != '+' || v.str != "OK" {
		return fmt.Errorf("CLIENT TRACKING: %s", v.errorText())
	}
	_ = conn.SetDeadline(time.Time{})
	t.c.activate()

	pongs := make(chan struct{}, 1)
	errc := make(chan error, 1)
	wg.Go(func() { errc <- t.read(rd, pongs) })

	interval := t.c.opts.MaxStale / 4
	pongTimeout := t.opt.ReadTimeout
	if pongTimeout <= 0 {
		pongTimeout = 3 * time.Second
	}
	pongTimeout = max(pongTimeout, t.c.opts.MaxStale)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	ping := appendCommand(nil, "PING")
	prev, sent, outstanding := ping0, int64(0), false
	send := func() error {
		sent, outstanding = t.c.now(), true
		_ = conn.SetWriteDeadline(time.Now().Add(pongTimeout))
		_, err := conn.Write(ping)
		return err
	}
	if err := send(); err != nil {
		return err
	}
	lastCheck := time.Now()
	for {
		select {
		case <-t.stop:
			return errTrackerStopped
		case err := <-errc:
			return err
		case <-pongs:
			if !outstanding {
				return fmt.Errorf("%w: a reply that no command asked for", errRESP)
			}
			t.c.confirm(prev)
			prev, outstanding = sent, false
		case <-tick.C:
			if t.closed.Load() {
				return errClientClosed
			}
			if time.Since(lastCheck) >= time.Second {
				lastCheck = time.Now()
				t.checkClient()
			}
			if outstanding {
				if time.Duration(t.c.now()-sent) > pongTimeout {
					return fmt.Errorf("no PONG within %v", pongTimeout)
				}
				continue
			}
			if err := send(); err != nil {
				return err
			}
		}
	}
}

// read applies the pushes of the tracking connection to the cache and
// passes each reply (a PONG) on, until the connection fails.
func (t *tracker) read(rd *bufio.Reader, pongs chan<- struct{}) error {
	for {
		v, err := readRESP(rd)
		if err != nil {
			return err
		}
		if keys, all, ok := v.invalidation(); ok {
			if all {
				t.c.flush(false)
				continue
			}
			for _, k := range keys {
				t.c.invalidate(k)
			}
			continue
		}
		if v.kind == '>' {
			continue // a push of another kind
		}
		if e := v.errorText(); e != "" {
			return fmt.Errorf("PING: %s", e)
		}
		select {
		case pongs <- struct{}{}:
		default:
			return fmt.Errorf("%w: a reply that no command asked for", errRESP)
		}
	}
}

// credentials returns what the client authenticates with.
func (t *tracker) credentials(ctx context.Context) (user, pass string, err error) {
	switch {
	case t.opt.CredentialsProviderContext != nil:
		return t.opt.CredentialsProviderContext(ctx)
	case t.opt.CredentialsProvider != nil:
		user, pass = t.opt.CredentialsProvider()
		return user, pass, nil
	}
	return t.opt.Username, t.opt.Password, nil
}

// checkClient finds out, in the background, whether the application
// closed the client: the store then stops serving from the cache, as every
// method must fail with ErrClosed.
func (t *tracker) checkClient() {
	if !t.checking.CompareAndSwap(false, true) {
		return
	}
	go func() {
		defer t.checking.Store(false)
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if err := t.client.Ping(ctx).Err(); errors.Is(err, redis.ErrClosed) {
			t.closed.Store(true)
			t.c.flush(true)
		}
	}()
}
