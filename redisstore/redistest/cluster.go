package redistest

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// slotCount is the number of hash slots of every Redis Cluster.
const slotCount = 16384

// Deadlines of the harness's polls. They bound a wait that normally ends in
// tens or hundreds of milliseconds; only a broken cluster runs into them.
const (
	settleTimeout   = 20 * time.Second
	electionTimeout = 30 * time.Second
	pollInterval    = 20 * time.Millisecond
)

// ClusterOptions shapes the cluster that StartCluster builds. The zero value
// means three masters without replicas and a 500ms node timeout.
type ClusterOptions struct {
	// Masters is the number of masters. The 16384 hash slots are split
	// among them in contiguous ranges whose sizes differ by at most one,
	// the first masters taking the larger ones, as redis-cli --cluster
	// create does. Default 3, the fewest with which the cluster still has a
	// majority of masters, and so can elect a replica on its own, after one
	// master fails.
	Masters int

	// ReplicasPerMaster is the number of replicas of each master. Default 0.
	ReplicasPerMaster int

	// NodeTimeout is cluster-node-timeout: how long a node may stay silent
	// before the others suspect it has failed. It sets how soon
	// AwaitFailover's election happens; Failover does not wait for it.
	// Default 500ms.
	NodeTimeout time.Duration

	// Args are passed to every redis-server after the harness's own
	// arguments, so they can override them.
	Args []string
}

// Node is one redis-server of a Cluster. Its address and cluster ID stay the
// same for the whole test, across Kill and Rejoin. Whether it is a master or
// a replica is the Cluster's to tell (MasterOf), since a failover changes
// it.
type Node struct {
	// Addr is the node's host:port, the address clients connect to.
	Addr string
	// ID is the node's cluster ID, the 40 hex digits CLUSTER MYID returns.
	ID string

	srv     *Server
	busPort int
	shard   *shard
}

// Running reports whether the node's process is up: started, and neither
// killed nor stopped at the end of the test since.
func (n *Node) Running() bool { return n.srv.running() }

// shard is one slot range and the nodes that serve it: one master, the rest
// its replicas. Membership never changes; which member is the master does.
type shard struct {
	first, last int
	nodes       []*Node // in start order
	master      *Node   // guarded by Cluster.mu
}

// Cluster is a Redis Cluster of redis-server processes on 127.0.0.1,
// started by StartCluster. Its methods are safe for concurrent use, but
// Kill, Failover, AwaitFailover and Rejoin are meant to be called by one
// goroutine, the test's, like t.Fatal.
type Cluster struct {
	t      testing.TB
	nodes  []*Node // masters first, then replicas, as started
	shards []*shard

	mu sync.Mutex // guards shard.master
}

// StartCluster starts a Redis Cluster of opts.Masters masters with
// opts.ReplicasPerMaster replicas each, every node a redis-server of its own
// (see Start: free port, temporary directory, no persistence, stopped when
// the test ends, skip with an install hint where redis-server is missing).
// It assigns the slots, introduces the nodes to each other, attaches the
// replicas, and returns once the cluster is healthy (see WaitHealthy). That
// takes about 2s whatever the size, nearly all of it Redis's own: a master
// holds back cluster_state:ok until 2s after it started. The harness needs
// Redis 7.0 or later.
//
// Every node runs with cluster-replica-no-failover yes, so that roles change
// only when the test calls Failover or AwaitFailover, never because a
// loaded machine delayed a heartbeat.
//
// Clients take Addrs as their seed list, for example
// redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs()}).
func StartCluster(t testing.TB, opts ClusterOptions) *Cluster {
	t.Helper()
	if opts.Masters == 0 {
		opts.Masters = 3
	}
	if opts.NodeTimeout <= 0 {
		opts.NodeTimeout = 500 * time.Millisecond
	}
	if opts.Masters < 1 || opts.Masters > slotCount || opts.ReplicasPerMaster < 0 {
		t.Fatalf("redistest: StartCluster: %d masters with %d replicas each is not a cluster", opts.Masters, opts.ReplicasPerMaster)
	}
	path := lookServer(t)
	c := &Cluster{t: t}

	size, rest := slotCount/opts.Masters, slotCount%opts.Masters
	first := 0
	for i := range opts.Masters {
		n := size
		if i < rest {
			n++
		}
		c.shards = append(c.shards, &shard{first: first, last: first + n - 1})
		first += n
	}
	// Masters first, then replicas: the node list reads like the roles.
	for round := 0; round <= opts.ReplicasPerMaster; round++ {
		for _, sh := range c.shards {
			n := c.startNode(path, opts)
			n.shard = sh
			sh.nodes = append(sh.nodes, n)
			c.nodes = append(c.nodes, n)
		}
	}
	for _, sh := range c.shards {
		sh.master = sh.nodes[0]
	}

	// Distinct config epochs before the nodes meet, as redis-cli does, so
	// that no epoch collision has to be resolved while the test runs.
	for i, sh := range c.shards {
		m := sh.master
		c.must(m, "CLUSTER", "SET-CONFIG-EPOCH", strconv.Itoa(i+1))
		c.must(m, "CLUSTER", "ADDSLOTSRANGE", strconv.Itoa(sh.first), strconv.Itoa(sh.last))
	}
	host, _, _ := net.SplitHostPort(c.nodes[0].Addr)
	for _, n := range c.nodes[1:] {
		_, port, _ := net.SplitHostPort(n.Addr)
		c.must(c.nodes[0], "CLUSTER", "MEET", host, port, strconv.Itoa(n.busPort))
	}
	// A replica can follow only a master it knows.
	c.poll("every node knows every other", settleTimeout, func() error {
		for _, n := range c.nodes {
			if err := c.knowsAll(n); err != nil {
				return err
			}
		}
		return nil
	})
	for _, sh := range c.shards {
		for _, r := range sh.nodes[1:] {
			c.must(r, "CLUSTER", "REPLICATE", sh.master.ID)
		}
	}
	c.WaitHealthy()
	return c
}

// startNode starts one cluster-enabled redis-server and learns its ID.
func (c *Cluster) startNode(path string, opts ClusterOptions) *Node {
	c.t.Helper()
	// The cluster bus port is chosen too: the default, port+10000, may be
	// taken or beyond 65535.
	ports, err := freePorts(2)
	if err != nil {
		c.t.Fatalf("redistest: StartCluster: no free port: %v", err)
	}
	args := []string{
		"--cluster-enabled", "yes",
		"--cluster-config-file", "nodes.conf",
		"--cluster-port", strconv.Itoa(ports[1]),
		"--cluster-node-timeout", strconv.FormatInt(opts.NodeTimeout.Milliseconds(), 10),
		"--cluster-replica-no-failover", "yes",
		// A replica may be promoted however long its link was down, and
		// never wanders off to another master on its own.
		"--cluster-replica-validity-factor", "0",
		"--cluster-allow-replica-migration", "no",
		// A replica's full sync starts at once, not after the default 5s,
		// and leaves no dump.rdb behind for a restart to load.
		"--repl-diskless-sync-delay", "0",
		"--repl-diskless-load", "swapdb",
	}
	srv := startOn(c.t, path, ports[0], append(args, opts.Args...))
	n := &Node{Addr: srv.Addr, srv: srv, busPort: ports[1]}
	id, err := doString(n.Addr, "CLUSTER", "MYID")
	if err != nil {
		c.t.Fatalf("redistest: StartCluster: CLUSTER MYID on %s: %v", n.Addr, err)
	}
	n.ID = id
	return n
}

// must runs an administrative command whose failure ends the test.
func (c *Cluster) must(n *Node, args ...string) {
	c.t.Helper()
	if _, err := do(n.Addr, args...); err != nil {
		c.t.Fatalf("redistest: %s on %s: %v", strings.Join(args, " "), n.Addr, err)
	}
}

// poll calls check every pollInterval until it returns nil, and fails the
// test with check's last error once timeout has passed.
func (c *Cluster) poll(what string, timeout time.Duration, check func() error) {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("redistest: cluster: %s: not within %v: %v", what, timeout, err)
		}
		time.Sleep(pollInterval)
	}
}

// Nodes returns every node, running or not, in start order: the first
// master of each shard, then the replicas.
func (c *Cluster) Nodes() []*Node { return slices.Clone(c.nodes) }

// Addrs returns the address of every node, in the order of Nodes: the seed
// list for a cluster client. A client that learned the slot map keeps
// working with some of these nodes down.
func (c *Cluster) Addrs() []string {
	addrs := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		addrs[i] = n.Addr
	}
	return addrs
}

// Masters returns the current master of every slot range, in slot order.
// A master that was killed and not failed over is still its range's master
// (and the cluster is down).
func (c *Cluster) Masters() []*Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]*Node, len(c.shards))
	for i, sh := range c.shards {
		out[i] = sh.master
	}
	return out
}

// MasterOf returns the current master of n's slot range: n itself when n is
// that master.
func (c *Cluster) MasterOf(n *Node) *Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	return n.shard.master
}

// Replicas returns the running replicas of master, in start order; none
// when master is not the current master of its range.
func (c *Cluster) Replicas(master *Node) []*Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	if master.shard.master != master {
		return nil
	}
	var out []*Node
	for _, n := range master.shard.nodes {
		if n != master && n.Running() {
			out = append(out, n)
		}
	}
	return out
}

// SlotRange returns the first and last hash slot of the range n serves, as
// master or replica.
func (c *Cluster) SlotRange(n *Node) (first, last int) {
	return n.shard.first, n.shard.last
}

// MasterForSlot returns the current master of the given hash slot (as
// CLUSTER KEYSLOT or ClusterClient.ClusterKeySlot computes it), or nil for
// a slot outside 0-16383.
func (c *Cluster) MasterForSlot(slot int) *Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, sh := range c.shards {
		if sh.first <= slot && slot <= sh.last {
			return sh.master
		}
	}
	return nil
}

// Kill stops n at once (SIGKILL), without any failover: its data is gone,
// and if it was a master its slots are unserved until AwaitFailover or
// Rejoin. Killing a stopped node does nothing.
func (c *Cluster) Kill(n *Node) { n.srv.Stop() }

// Pause stops n's process (see Server.Pause) without the cluster
// noticing at once: a paused replica stays connected to its master but
// acknowledges none of its writes. Resume continues it. A node paused for
// longer than NodeTimeout is flagged as failing by the others.
func (c *Cluster) Pause(n *Node) { n.srv.Pause() }

// Resume continues a node that Pause stopped.
func (c *Cluster) Resume(n *Node) { n.srv.Resume() }

// Failover kills master (SIGKILL) and makes its first running replica take
// over its slots at once with CLUSTER FAILOVER TAKEOVER, which needs no
// agreement from the other masters and so does not wait out NodeTimeout.
// It returns the new master once the cluster is healthy again (see
// WaitHealthy) from every running node's view, the other replicas of the
// range following the new master. Writes that had not reached the replica
// are lost, as in a real failover; SyncReplicas before Failover rules that
// out.
//
// Clients still route the range to the dead node until they refresh their
// slot map: a go-redis ClusterClient after ClusterClient.ReloadState, or on
// the first MOVED reply from a live node.
func (c *Cluster) Failover(master *Node) *Node {
	c.t.Helper()
	if c.MasterOf(master) != master {
		c.t.Fatalf("redistest: Failover: %s is not a master", master.Addr)
	}
	replicas := c.Replicas(master)
	if len(replicas) == 0 {
		c.t.Fatalf("redistest: Failover: master %s has no running replica", master.Addr)
	}
	heir := replicas[0]
	c.Kill(master)
	c.must(heir, "CLUSTER", "FAILOVER", "TAKEOVER")
	c.setMaster(heir)
	c.WaitHealthy()
	return heir
}

// AwaitFailover lets the cluster replace master, which the test killed
// (Kill), by itself: its replicas may run for election, the surviving
// masters notice the silence after NodeTimeout, agree that master failed,
// and vote one replica in. AwaitFailover returns that replica once the
// cluster is healthy again. This is the path a production failover takes;
// it lasts a few NodeTimeouts (about 2s at the default 500ms), where
// Failover is immediate. It needs a majority of the masters running.
func (c *Cluster) AwaitFailover(master *Node) *Node {
	c.t.Helper()
	if c.MasterOf(master) != master || master.Running() {
		c.t.Fatalf("redistest: AwaitFailover: %s is not a killed master", master.Addr)
	}
	var candidates []*Node
	for _, n := range master.shard.nodes {
		if n != master && n.Running() {
			candidates = append(candidates, n)
		}
	}
	if len(candidates) == 0 {
		c.t.Fatalf("redistest: AwaitFailover: master %s has no running replica", master.Addr)
	}
	for _, n := range candidates {
		c.must(n, "CONFIG", "SET", "cluster-replica-no-failover", "no")
	}
	var heir *Node
	c.poll("a replica of "+master.Addr+" elected", electionTimeout, func() error {
		for _, n := range candidates {
			info, err := doString(n.Addr, "INFO", "replication")
			if err != nil {
				return err
			}
			if role, _ := infoField(info, "role"); role == "master" {
				heir = n
				return nil
			}
		}
		return errors.New("every replica is still a replica")
	})
	for _, n := range candidates {
		c.must(n, "CONFIG", "SET", "cluster-replica-no-failover", "yes")
	}
	c.setMaster(heir)
	c.WaitHealthy()
	return heir
}

func (c *Cluster) setMaster(n *Node) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n.shard.master = n
}

// Rejoin restarts a killed node on its address, with its cluster
// configuration but no data, and returns once the cluster is healthy. A
// former master whose range was failed over comes back as a replica of the
// new master and copies its data; a master that was not failed over comes
// back as the (empty) master of its range; a replica follows its range's
// current master again.
func (c *Cluster) Rejoin(n *Node) {
	c.t.Helper()
	if n.Running() {
		c.t.Fatalf("redistest: Rejoin: %s is running", n.Addr)
	}
	n.srv.Restart()
	c.WaitHealthy()
}

// WaitHealthy returns once the cluster is healthy from every running
// node's view, and fails the test if it is not within 20s: every running
// node reports cluster_state:ok and knows every node; each sees every
// running node as reachable and in its expected role, masters with their
// slot ranges and replicas following their range's master; every running
// replica's link to its master is up with its initial sync done. A killed
// node's state is not examined. StartCluster, Failover, AwaitFailover and
// Rejoin end with it.
func (c *Cluster) WaitHealthy() {
	c.t.Helper()
	c.poll("healthy", settleTimeout, c.health)
}

// health returns the first departure from a healthy cluster it finds, or
// nil.
func (c *Cluster) health() error {
	masters := make(map[*shard]*Node)
	c.mu.Lock()
	for _, sh := range c.shards {
		masters[sh] = sh.master
	}
	c.mu.Unlock()

	for _, n := range c.nodes {
		if !n.Running() {
			continue
		}
		info, err := doString(n.Addr, "CLUSTER", "INFO")
		if err != nil {
			return fmt.Errorf("%s: CLUSTER INFO: %w", n.Addr, err)
		}
		if st, _ := infoField(info, "cluster_state"); st != "ok" {
			return fmt.Errorf("%s: cluster_state:%s", n.Addr, st)
		}
		if err := c.knowsAll(n); err != nil {
			return err
		}
		text, err := doString(n.Addr, "CLUSTER", "NODES")
		if err != nil {
			return fmt.Errorf("%s: CLUSTER NODES: %w", n.Addr, err)
		}
		view, err := parseClusterNodes(text)
		if err != nil {
			return fmt.Errorf("%s: CLUSTER NODES: %w", n.Addr, err)
		}
		for _, m := range c.nodes {
			if !m.Running() {
				continue
			}
			if err := expectRole(view[m.ID], m, masters[m.shard]); err != nil {
				return fmt.Errorf("%s sees %s: %w", n.Addr, m.Addr, err)
			}
		}
		if master := masters[n.shard]; master != n {
			if err := followsUp(n, master); err != nil {
				return err
			}
		}
	}
	return nil
}

// knowsAll reports whether n knows every node of the cluster.
func (c *Cluster) knowsAll(n *Node) error {
	info, err := doString(n.Addr, "CLUSTER", "INFO")
	if err != nil {
		return fmt.Errorf("%s: CLUSTER INFO: %w", n.Addr, err)
	}
	if known, _ := infoField(info, "cluster_known_nodes"); known != strconv.Itoa(len(c.nodes)) {
		return fmt.Errorf("%s: cluster_known_nodes:%s of %d", n.Addr, known, len(c.nodes))
	}
	return nil
}

// expectRole checks one line of a node's CLUSTER NODES against the role the
// harness expects of m, whose range's master is master.
func expectRole(l *nodeLine, m, master *Node) error {
	if l == nil {
		return errors.New("unknown")
	}
	for _, bad := range []string{"fail", "fail?", "handshake", "noaddr"} {
		if slices.Contains(l.flags, bad) {
			return fmt.Errorf("flagged %s", strings.Join(l.flags, ","))
		}
	}
	if m == master {
		want := strconv.Itoa(m.shard.first)
		if m.shard.last != m.shard.first {
			want += "-" + strconv.Itoa(m.shard.last)
		}
		if !slices.Contains(l.flags, "master") || !slices.Equal(l.slots, []string{want}) {
			return fmt.Errorf("as %s with slots %v, want a master with %s", strings.Join(l.flags, ","), l.slots, want)
		}
		return nil
	}
	if !slices.Contains(l.flags, "slave") || l.master != master.ID {
		return fmt.Errorf("as %s following %s, want a replica following %s", strings.Join(l.flags, ","), l.master, master.ID)
	}
	return nil
}

// followsUp reports whether replica n's link to master is up and its
// initial sync is over.
func followsUp(n, master *Node) error {
	info, err := doString(n.Addr, "INFO", "replication")
	if err != nil {
		return fmt.Errorf("%s: INFO replication: %w", n.Addr, err)
	}
	_, port, _ := net.SplitHostPort(master.Addr)
	role, _ := infoField(info, "role")
	mport, _ := infoField(info, "master_port")
	link, _ := infoField(info, "master_link_status")
	syncing, _ := infoField(info, "master_sync_in_progress")
	if role != "slave" || mport != port || link != "up" || syncing != "0" {
		return fmt.Errorf("%s: role:%s master_port:%s (want %s) master_link_status:%s master_sync_in_progress:%s",
			n.Addr, role, mport, port, link, syncing)
	}
	return nil
}

// SyncReplicas returns once every running replica of master has applied
// everything master had applied when SyncReplicas was called (its
// slave_repl_offset has reached the master's master_repl_offset), and fails
// the test if that takes over 20s. It is how a test makes sure a write
// through any connection will survive a Failover; WAIT does the same only
// for the writes of the connection it is sent on.
func (c *Cluster) SyncReplicas(master *Node) {
	c.t.Helper()
	info, err := doString(master.Addr, "INFO", "replication")
	if err != nil {
		c.t.Fatalf("redistest: SyncReplicas: INFO replication on %s: %v", master.Addr, err)
	}
	off, _ := infoField(info, "master_repl_offset")
	want, err := strconv.ParseInt(off, 10, 64)
	if err != nil {
		c.t.Fatalf("redistest: SyncReplicas: master_repl_offset %q on %s", off, master.Addr)
	}
	for _, r := range c.Replicas(master) {
		c.poll("replica "+r.Addr+" caught up", settleTimeout, func() error {
			info, err := doString(r.Addr, "INFO", "replication")
			if err != nil {
				return err
			}
			off, _ := infoField(info, "slave_repl_offset")
			got, err := strconv.ParseInt(off, 10, 64)
			if err != nil || got < want {
				return fmt.Errorf("slave_repl_offset:%s, want %d", off, want)
			}
			return nil
		})
	}
}

// nodeLine is one line of CLUSTER NODES, the parts the harness reads.
type nodeLine struct {
	flags  []string
	master string   // the followed master's ID, "-" for a master
	slots  []string // "first-last" or "slot"; migrations ("[...]") left out
}

// parseClusterNodes reads a CLUSTER NODES reply: one line per node,
// "id addr flags master ping-sent pong-recv config-epoch link-state slot...".
func parseClusterNodes(text string) (map[string]*nodeLine, error) {
	out := make(map[string]*nodeLine)
	for line := range strings.SplitSeq(text, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if len(f) < 8 {
			return nil, fmt.Errorf("short line %q", line)
		}
		l := &nodeLine{flags: strings.Split(f[2], ","), master: f[3]}
		for _, s := range f[8:] {
			if !strings.HasPrefix(s, "[") {
				l.slots = append(l.slots, s)
			}
		}
		out[f[0]] = l
	}
	return out, nil
}
