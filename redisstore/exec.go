package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"

	"github.com/boltsession/boltsession"
	"github.com/redis/go-redis/v9"
)

// ErrNotReplicated reports a write that the master applied but that fewer
// replicas than Options.WaitReplicas acknowledged within
// Options.WaitTimeout. The write did land, on the master; if that master
// fails before its replicas catch up, a failover can lose it. The
// middleware answers such a save with its ErrorHandler (500 by default),
// so the user is never told it is safe.
var ErrNotReplicated = errors.New("boltsession: redisstore: write not confirmed by enough replicas")

// A call is one script to run with its keys and arguments; run fills in
// its reply.
type call struct {
	sc   *redis.Script
	keys []string
	args []any

	reply []any
	err   error
	// redirect and asking send the call to the node a MOVED or ASK reply
	// named (runWaiting only).
	redirect string
	asking   bool
}

func newCall(sc *redis.Script, keys []string, args ...any) *call {
	return &call{sc: sc, keys: keys, args: args}
}

// code returns the outcome code of a script reply (see scripts.go).
func (c *call) code() int64 {
	if len(c.reply) == 0 {
		return codeAbsent
	}
	n, _ := c.reply[0].(int64)
	return n
}

// int returns element i of the reply as an integer (0 for nil).
func (c *call) int(i int) int64 {
	if i >= len(c.reply) {
		return 0
	}
	n, _ := c.reply[i].(int64)
	return n
}

// str returns element i of the reply as a string ("" for nil).
func (c *call) str(i int) string {
	if i >= len(c.reply) {
		return ""
	}
	s, _ := c.reply[i].(string)
	return s
}

// run runs the calls, in one round trip per node when there are several
// (Cluster pipelines send each node its share at once; commands for one
// node keep their order). With Options.WaitReplicas, each node's share is
// followed by WAIT on the same connection. It returns the first error on
// the way to Redis; each call's own reply error is left in call.err.
func (s *Store) run(ctx context.Context, calls ...*call) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.cache != nil {
		// Every write of the store is a script that names its keys: drop
		// them from this process's cache once it is done (a Load that
		// raced it may have kept the state before it), so that the
		// process reads its own writes without waiting for Redis's
		// invalidation. Until then a Load may return the state before the
		// write, which nobody has been told is gone. A save sent on the
		// tracking connection is dropped and kept anew when its reply is
		// read.
		if len(calls) == 1 && calls[0].sc == s.scripts.saveRead && s.opts.WaitReplicas == 0 {
			if sent, err := s.runTracked(ctx, calls[0]); sent {
				return err
			}
		}
		defer s.invalidateCalls(calls)
	}
	if s.opts.WaitReplicas > 0 {
		return s.runWaiting(ctx, calls)
	}
	if len(calls) == 1 {
		c := calls[0]
		res, err := c.sc.Run(ctx, s.client, c.keys, c.args...).Result()
		if err != nil && !isReply(err) {
			s.noteFailure(ctx, err)
			return err
		}
		c.setReply(res, err)
		return nil
	}
	return s.pipelined(ctx, s.client, calls, false)
}

// runTracked sends a save on the cache's tracking connection (see
// tracking.go) and keeps the session as the save returns it, so that the
// process's next Load of it is a hit. It reports false, having sent
// nothing, when there is no live tracking connection: the caller sends
// the save through the client instead.
func (s *Store) runTracked(ctx context.Context, c *call) (bool, error) {
	args := make([]string, 0, 4+len(c.keys)+len(c.args))
	args = append(args, "EVALSHA", c.sc.Hash(), strconv.Itoa(len(c.keys)))
	args = append(args, c.keys...)
	for _, a := range c.args {
		switch v := a.(type) {
		case string:
			args = append(args, v)
		case []byte:
			args = append(args, string(v))
		case int:
			args = append(args, strconv.Itoa(v))
		case int64:
			args = append(args, strconv.FormatInt(v, 10))
		default:
			return false, nil
		}
	}
	for attempt := 0; ; attempt++ {
		r, err := s.tracked(ctx, reqSave, c.keys[0], args)
		switch {
		case r == nil && err == nil:
			return false, nil
		case err != nil:
			return true, err // the save may or may not have landed
		}
		if e := r.reply.errorText(); e != "" {
			err := respError(e)
			if attempt == 0 && redis.HasErrorPrefix(err, "NOSCRIPT") {
				args[0], args[1] = "EVAL", s.scripts.sources[c.sc]
				continue
			}
			c.setReply(nil, err)
			return true, nil
		}
		c.setReply(respToAny(r.reply), nil)
		var rec *boltsession.Record
		if h, ok := s.handleOfSessionKey(c.keys[0]); ok {
			rec = s.savedRecord(h, c)
		}
		s.endTracked(r, rec)
		return true, nil
	}
}

// savedRecord decodes the session hash a save returned, or nil.
func (s *Store) savedRecord(h handle, c *call) *boltsession.Record {
	if c.code() != codeOK || len(c.reply) != 2 {
		return nil
	}
	r, err := s.decodeLive(h, hashFields(c.reply[1]), false)
	if err != nil {
		return nil
	}
	return r
}

// respError is an error reply read on the tracking connection; like
// go-redis's own, it is a redis.Error.
type respError string

func (e respError) Error() string { return string(e) }
func (respError) RedisError()     {}

// respToAny turns a reply read on the tracking connection into what
// go-redis's script calls return: int64, string, []any, nil.
func respToAny(v respValue) any {
	switch v.kind {
	case ':':
		n, _ := strconv.ParseInt(v.str, 10, 64)
		return n
	case '*', '~', '>', '%':
		if v.null {
			return nil
		}
		out := make([]any, len(v.elems))
		for i, e := range v.elems {
			out[i] = respToAny(e)
		}
		return out
	case '_':
		return nil
	}
	if v.null {
		return nil
	}
	return v.str
}

// invalidateCalls drops from the cache every key the calls name, after
// they ran through the client.
func (s *Store) invalidateCalls(calls []*call) {
	for _, c := range calls {
		for _, k := range c.keys {
			s.cache.wrote(k)
		}
	}
}

// setReply keeps a script's reply: an array, or an integer (the legacy
// layout's scripts) as an array of one.
func (c *call) setReply(res any, err error) {
	c.err = err
	if err != nil {
		return
	}
	switch r := res.(type) {
	case []any:
		c.reply = r
	case int64:
		c.reply = []any{r}
	default:
		c.err = fmt.Errorf("unexpected script reply %v", res)
	}
}

// pipelined sends calls through p as EVALSHA, then again as EVAL for those
// the server did not know the script of (after a restart emptied its
// cache). With wait, a WAIT follows on the same connection.
func (s *Store) pipelined(ctx context.Context, p redis.Cmdable, calls []*call, wait bool) error {
	todo := calls
	for attempt := 0; len(todo) > 0; attempt++ {
		pipe := p.Pipeline()
		cmds := make([]*redis.Cmd, len(todo))
		for i, c := range todo {
			if attempt == 0 {
				cmds[i] = c.sc.EvalSha(ctx, pipe, c.keys, c.args...)
			} else {
				cmds[i] = c.sc.Eval(ctx, pipe, c.keys, c.args...)
			}
		}
		var waitCmd *redis.IntCmd
		if wait {
			waitCmd = redis.NewIntCmd(ctx, "wait", s.opts.WaitReplicas, s.opts.WaitTimeout.Milliseconds())
			_ = pipe.Process(ctx, waitCmd)
		}
		_, _ = pipe.Exec(ctx)
		var again []*call
		for i, c := range todo {
			res, err := cmds[i].Result()
			switch {
			case err != nil && attempt == 0 && redis.HasErrorPrefix(err, "NOSCRIPT"):
				again = append(again, c)
			case err != nil && !isReply(err):
				s.noteFailure(ctx, err)
				return err
			default:
				c.setReply(res, err)
			}
		}
		// A WAIT is judged only once every call has run: the calls sent
		// again as EVAL get a WAIT of their own.
		if wait && len(again) == 0 {
			if err := s.checkWait(waitCmd); err != nil {
				return err
			}
		}
		todo = again
	}
	return nil
}

// checkWait turns a WAIT reply into ErrNotReplicated when it counts fewer
// replicas than asked for.
func (s *Store) checkWait(cmd *redis.IntCmd) error {
	n, err := cmd.Result()
	if err != nil {
		return err
	}
	if n < int64(s.opts.WaitReplicas) {
		return fmt.Errorf("%w: %d of %d replicas within %v", ErrNotReplicated, n, s.opts.WaitReplicas, s.opts.WaitTimeout)
	}
	return nil
}

// runWaiting runs calls with a WAIT after them on the very connection that
// carried them, which is what WAIT counts acknowledgements for. A
// ClusterClient or Ring would send a keyless WAIT to a node and connection
// of its own choosing, where it waits for nothing, so each node's share
// goes through that node's own client as one pipeline: the scripts, then
// WAIT. A MOVED or ASK reply (the slot map changed) sends the call again
// to the node that serves its slot now.
func (s *Store) runWaiting(ctx context.Context, calls []*call) error {
	todo := calls
	for attempt := 0; len(todo) > 0; attempt++ {
		if attempt == maxRedirects {
			// The key is not named: a key of the legacy layout holds an ID.
			return fmt.Errorf("a hash slot still moving after %d attempts", attempt)
		}
		groups := make(map[*redis.Client][]*call)
		var order []*redis.Client
		for _, c := range todo {
			node, err := s.nodeFor(ctx, c.keys[0], c.redirect)
			if err != nil {
				s.noteFailure(ctx, err)
				return err
			}
			if _, ok := groups[node]; !ok {
				order = append(order, node)
			}
			groups[node] = append(groups[node], c)
		}
		errs := make([]error, len(order))
		var wg sync.WaitGroup
		for i, node := range order {
			wg.Go(func() { errs[i] = s.runOnNode(ctx, node, groups[node]) })
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			return err
		}
		todo = todo[:0:0]
		for _, c := range calls {
			if c.err == nil {
				continue
			}
			if addr, ok := redis.IsMovedError(c.err); ok {
				c.redirect, c.asking, c.err = addr, false, nil
				todo = append(todo, c)
			} else if addr, ok := redis.IsAskError(c.err); ok {
				c.redirect, c.asking, c.err = addr, true, nil
				todo = append(todo, c)
			}
		}
		if len(todo) > 0 {
			if cc, ok := s.client.(*redis.ClusterClient); ok {
				cc.ReloadState(ctx)
			}
		}
	}
	return nil
}

// maxRedirects bounds how often runWaiting follows MOVED and ASK replies.
const maxRedirects = 5

// runOnNode runs calls on node with WAIT after them.
func (s *Store) runOnNode(ctx context.Context, node *redis.Client, calls []*call) error {
	asking := false
	for _, c := range calls {
		asking = asking || c.asking
	}
	if !asking {
		return s.pipelined(ctx, node, calls, true)
	}
	// ASKING lets the next command reach a slot that is being imported;
	// it must precede each call on the same connection.
	for _, c := range calls {
		conn := node.Conn()
		err := func() error {
			defer conn.Close()
			if err := conn.Do(ctx, "ASKING").Err(); err != nil {
				return err
			}
			return s.pipelined(ctx, conn, []*call{c}, true)
		}()
		if err != nil {
			return err
		}
	}
	return nil
}

// nodeFor returns the client of the server that serves key: the client
// itself, a Ring's shard, or a Cluster's master for the key's slot (or the
// node a MOVED or ASK reply named).
func (s *Store) nodeFor(ctx context.Context, key, redirect string) (*redis.Client, error) {
	switch c := s.client.(type) {
	case *redis.Client:
		return c, nil
	case *redis.Ring:
		return c.GetShardClientForKey(key)
	case *redis.ClusterClient:
		if redirect == "" {
			return c.MasterForKey(ctx, key)
		}
		var (
			mu    sync.Mutex
			found *redis.Client
		)
		// ForEachMaster reloads the slot map first, so the node is known.
		err := c.ForEachMaster(ctx, func(_ context.Context, m *redis.Client) error {
			if m.Options().Addr == redirect {
				mu.Lock()
				found = m
				mu.Unlock()
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		if found == nil {
			return c.MasterForKey(ctx, key)
		}
		return found, nil
	}
	return nil, fmt.Errorf("WaitReplicas needs a *redis.Client, *redis.ClusterClient or *redis.Ring, not %T", s.client)
}

// noteFailure asks a ClusterClient to reload its slot map after an error on
// the way to a node. go-redis reloads it on a MOVED reply, but not when the
// node is unreachable, as a failed master is until its replica has taken
// over: without a reload, every call for that master's slots would keep
// failing until the map's periodic refresh.
func (s *Store) noteFailure(ctx context.Context, err error) { reloadSlots(ctx, s.client, err) }

// reloadSlots is noteFailure for any client of the package's stores.
func reloadSlots(ctx context.Context, client redis.UniversalClient, err error) {
	if cc, ok := client.(*redis.ClusterClient); ok && !errors.Is(err, context.Canceled) &&
		!errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, redis.ErrClosed) {
		cc.ReloadState(context.WithoutCancel(ctx))
	}
}

// wrap adds the package prefix and the operation to a Redis error, and
// marks a closed client with boltsession.ErrClosed.
func wrap(op string, err error) error {
	if errors.Is(err, redis.ErrClosed) {
		return fmt.Errorf("boltsession: redisstore: %s: %w: %w", op, boltsession.ErrClosed, err)
	}
	return fmt.Errorf("boltsession: redisstore: %s: %w", op, err)
}

// isReply reports an error that Redis answered (such as WRONGTYPE), as
// opposed to one on the way there (connection refused, timeout, ctx).
func isReply(err error) bool {
	var re redis.Error
	return errors.As(err, &re) && !errors.Is(err, redis.ErrClosed)
}

// isWrongType reports Redis's answer to a command on a key of another
// type: a key under our prefix that is not one of our records. Every
// other reply error (CLUSTERDOWN, TRYAGAIN, LOADING, OOM...) is the store
// failing, never a sign that a session is missing or corrupt.
func isWrongType(err error) bool {
	return isReply(err) && redis.HasErrorPrefix(err, "WRONGTYPE")
}

// scriptErr returns the error a call's reply carried, wrapped for op.
func scriptErr(op string, c *call) error {
	if c.err == nil {
		return nil
	}
	if isWrongType(c.err) {
		return fmt.Errorf("boltsession: redisstore: %s: %w: %w", op, boltsession.ErrCorrupt, c.err)
	}
	return wrap(op, c.err)
}
