package redisstore

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/boltsession/boltsession"
	"github.com/redis/go-redis/v9"
)

// The tracking connection of the cache (Options.Cache). It is a RESP3
// connection of the store's own, dialled with the client's dialer (so TLS
// and Sentinel's choice of master apply) and credentials, with CLIENT
// TRACKING ON NOLOOP. It carries, pipelined, every read that fills the
// cache (HGETALL of a session) and the process's saves (the save script,
// which returns the hash it left), and Redis pushes on it an invalidation
// for each key it read that any other connection changes afterwards.
//
// One connection for both is what makes the cache exact. Redis sends an
// invalidation while it applies the write, so the replies and the pushes
// on the connection come in the order Redis executed the commands: when
// the reply of a read is read, every invalidation read after it is of a
// write applied after the read, and drops what the read returned. With
// NOLOOP the process's own saves on this connection are not echoed back
// (Redis 7 applies NOLOOP to the writes of a script by its caller), so
// the state a save returns stays cached until someone else changes it.
// Writes that the store sends through the client (a delete, a replace,
// an owner's index) are echoed as any other connection's, and dropped
// from the cache by the store itself as soon as they return.
//
// Default tracking (not BCAST) sends invalidations only for keys this
// connection read, and Redis keeps a table of those keys (bounded by its
// tracking-table-max-keys; past it Redis invalidates the oldest, which
// the cache drops). Broadcast mode was measured and rejected: it sends an
// invalidation of every write of every session to every process, and it
// batches them at the end of Redis's event-loop pass, so that the state a
// save returns cannot be told apart from a write another client made in
// the same pass.
//
// Freshness is proven by pings, never assumed. Pings are sent one at a
// time, each after the previous PONG, and PONG k confirms the cache fresh
// as of the moment PING k-1 was sent: every invalidation of a write Redis
// applied before it handled PING k-1 was sent before PONG k-1, and has
// been read and applied. (PING k alone would do for invalidations sent at
// once; the earlier ping also covers any that Redis batches until the end
// of its pass.) The CLIENT TRACKING command counts as PING 0.

// trackingName is the client name of the tracking connection (CLIENT
// LIST), so that operators can tell it from the pool's connections.
const trackingName = "boltsession-cache"

type tracker struct {
	c      *cache
	client *redis.Client
	opt    *redis.Options

	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
	// checking is set while a check that the client is still open runs.
	checking atomic.Bool
	closed   atomic.Bool // the client was closed: the cache stays off
	// beforeDial, when set (tests), runs before each dial.
	beforeDial atomic.Pointer[func()]
	// cur is the live tracking connection; nil while there is none.
	cur atomic.Pointer[trackedConn]
}

var (
	errTrackerStopped = errors.New("tracker stopped")
	errClientClosed   = errors.New("client closed")
)

func startTracker(client *redis.Client, c *cache) *tracker {
	t := &tracker{c: c, client: client, opt: client.Options(),
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
	rd := bufio.NewReaderSize(conn, 32<<10)

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
	req = appendCommand(req, "CLIENT", "TRACKING", "ON", "NOLOOP")
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

	pongTimeout := t.opt.ReadTimeout
	if pongTimeout <= 0 {
		pongTimeout = 3 * time.Second
	}
	pongTimeout = max(pongTimeout, t.c.opts.MaxStale)
	tc := &trackedConn{conn: conn, writeTimeout: pongTimeout}
	errc := make(chan error, 1)
	wg.Go(func() {
		err := t.read(rd, tc)
		tc.fail(err)
		errc <- err
	})
	t.c.activate()
	t.cur.Store(tc)
	defer t.cur.Store(nil)

	tick := time.NewTicker(t.c.opts.MaxStale / 4)
	defer tick.Stop()
	prev := ping0
	var ping *trackedReq
	send := func() error {
		ping = &trackedReq{kind: reqPing, done: make(chan struct{}), sent: t.c.now()}
		return tc.send(ping, pingCommand)
	}
	if err := send(); err != nil {
		return err
	}
	lastCheck := time.Now()
	for {
		var pong <-chan struct{}
		if ping != nil {
			pong = ping.done
		}
		select {
		case <-t.stop:
			return errTrackerStopped
		case err := <-errc:
			return err
		case <-pong:
			if ping.err != nil {
				return ping.err
			}
			if ping.reply.kind == '-' {
				return fmt.Errorf("PING: %s", ping.reply.str)
			}
			t.c.confirm(prev)
			prev, ping = ping.sent, nil
		case <-tick.C:
			if t.closed.Load() {
				return errClientClosed
			}
			if time.Since(lastCheck) >= time.Second {
				lastCheck = time.Now()
				t.checkClient()
			}
			if ping != nil {
				if time.Duration(t.c.now()-ping.sent) > pongTimeout {
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

var pingCommand = appendCommand(nil, "PING")

// read applies the pushes of the tracking connection to the cache and
// hands each reply to the request it answers, in the order they were
// sent, until the connection fails.
func (t *tracker) read(rd *bufio.Reader, tc *trackedConn) error {
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
		r := tc.pop()
		if r == nil {
			return fmt.Errorf("%w: a reply that no command asked for", errRESP)
		}
		switch r.kind {
		case reqSave:
			// A save of this process: drop what the cache holds of the
			// session (it predates the save, and so may a fill not yet
			// ended), then keep what the save returned.
			t.c.invalidate(r.key)
			if len(v.elems) == 2 && v.elems[0].kind == ':' && v.elems[0].str == strconv.Itoa(codeOK) {
				r.register(t.c)
			}
		case reqRead:
			if v.errorText() == "" {
				r.register(t.c)
			}
		}
		r.finish(v, nil)
	}
}

// A trackedConn is the live tracking connection, which also carries the
// cache's reads, the saves of this process (runTracked) and the pings,
// pipelined: replies come back in the order of the commands.
type trackedConn struct {
	conn         net.Conn
	writeTimeout time.Duration

	mu      sync.Mutex // guards what follows, and orders the queue as the bytes
	queue   []*trackedReq
	buf     []byte // commands queued while a write is under way
	spare   []byte
	writing bool
	failed  error
	qmu     sync.Mutex // guards queue against the reader's pops
}

// A trackedReq is one command sent on the tracking connection.
type trackedReq struct {
	kind  reqKind
	key   string // the session key a read or a save names
	sent  int64  // when a ping was sent (cache time)
	since uint64 // cache.mark of the key when the command was sent
	done  chan struct{}

	reply respValue
	err   error

	// tok and filling are set by the reader before it closes done, and
	// read by the requester only after done is closed: the channel
	// orders them, no lock is needed.
	tok     fillToken // the fill of the reply's record, when filling
	filling bool
}

type reqKind int

const (
	reqPing reqKind = iota
	reqRead
	reqSave
)

// register registers the fill of what the reply carries, when the reader
// reads it: from then on every invalidation of the key voids it. The
// requester decodes the reply and ends the fill (Store.endTracked).
func (r *trackedReq) register(c *cache) {
	r.tok, r.filling = c.beginFill(r.key, r.since)
}

func (r *trackedReq) finish(v respValue, err error) {
	r.reply, r.err = v, err
	close(r.done)
}

// send queues r and its command cmd. Commands sent while another
// goroutine writes are written together after it, by that goroutine, in
// one system call: under load the connection carries batches. An error
// means the command was not sent.
func (tc *trackedConn) send(r *trackedReq, cmd []byte) error {
	tc.mu.Lock()
	if tc.failed != nil {
		tc.mu.Unlock()
		return tc.failed
	}
	tc.qmu.Lock()
	tc.queue = append(tc.queue, r)
	tc.qmu.Unlock()
	tc.buf = append(tc.buf, cmd...)
	if tc.writing {
		tc.mu.Unlock()
		return nil
	}
	tc.writing = true
	for len(tc.buf) > 0 && tc.failed == nil {
		b := tc.buf
		tc.buf = tc.spare[:0]
		tc.mu.Unlock()
		_ = tc.conn.SetWriteDeadline(time.Now().Add(tc.writeTimeout))
		_, err := tc.conn.Write(b)
		tc.mu.Lock()
		tc.spare = b
		if err != nil {
			// The reader fails the queued requests, this one included,
			// once the closed connection stops it.
			tc.failed = err
			tc.conn.Close()
		}
	}
	tc.writing = false
	tc.mu.Unlock()
	return nil
}

// pop returns the oldest request not yet answered.
func (tc *trackedConn) pop() *trackedReq {
	tc.qmu.Lock()
	defer tc.qmu.Unlock()
	if len(tc.queue) == 0 {
		return nil
	}
	r := tc.queue[0]
	tc.queue[0] = nil
	tc.queue = tc.queue[1:]
	return r
}

// fail ends the connection's life: no more sends, and every request still
// waiting for a reply gets err (whether its command ran is unknown).
func (tc *trackedConn) fail(err error) {
	tc.mu.Lock()
	if tc.failed == nil {
		tc.failed = err
	}
	tc.mu.Unlock()
	tc.conn.Close()
	for r := tc.pop(); r != nil; r = tc.pop() {
		r.finish(respValue{}, fmt.Errorf("tracking connection: %w", err))
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

// tracked sends the command args, a read or a save of the session key, on
// the live tracking connection and waits for its reply. It returns nil
// and a nil error, having sent nothing, when there is no live connection.
// An error, always with a nil request, means the reply did not come: the
// context ended, or the connection failed (a save may or may not have
// landed). The caller ends a request it got with endTracked.
func (s *Store) tracked(ctx context.Context, kind reqKind, key string, args []string) (*trackedReq, error) {
	tc := s.tracker.cur.Load()
	if tc == nil {
		return nil, nil
	}
	r := &trackedReq{kind: kind, key: key, since: s.cache.mark(key), done: make(chan struct{})}
	if err := tc.send(r, appendCommand(nil, args...)); err != nil {
		return nil, nil
	}
	select {
	case <-r.done:
		if r.err != nil {
			return nil, r.err // the reply never came: nothing to read, no fill
		}
		return r, nil
	case <-ctx.Done():
		// The reply may still come and register a fill: end it then.
		go func() {
			<-r.done
			s.endTracked(r, nil)
		}()
		return nil, ctx.Err()
	}
}

// endTracked ends the fill the reply of r registered, keeping rec (nil:
// nothing to keep). Call it once r.done is closed.
func (s *Store) endTracked(r *trackedReq, rec *boltsession.Record) {
	if r.filling {
		r.filling = false
		s.cache.endFill(r.tok, rec)
	}
}

// hashOf returns the fields of a session hash as a read on the tracking
// connection returns it (a RESP3 map, or an array of fields and values).
func hashOf(v respValue) map[string]string {
	h := make(map[string]string, len(v.elems)/2)
	for i := 0; i+1 < len(v.elems); i += 2 {
		h[v.elems[i].str] = v.elems[i+1].str
	}
	return h
}
