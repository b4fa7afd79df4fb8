package benchmarks

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	scsredis "github.com/alexedwards/scs/redisstore"
	"github.com/alexedwards/scs/v2"
	"github.com/boltsession/boltsession"
	"github.com/boltsession/boltsession/redisstore"
	"github.com/boltsession/boltsession/redisstore/redistest"
	redigo "github.com/gomodule/redigo/redis"
	goredis "github.com/redis/go-redis/v9"
)

// BenchmarkRedisCluster measures Load and Save (a per-key merge of one
// value) on one redis-server and on a 3-master Redis Cluster of the same
// redis-server binary on the same machine, for boltsession's redisstore and
// for scs's redisstore, in one run so their ratios share the machine's
// state. It starts its own cluster (about 2s) each time it runs.
//
// scs's Redis stores cannot use a cluster: redisstore takes a redigo pool,
// and redigo has no cluster support (a key of another master's slots gets
// a MOVED error, which scs returns); goredisstore takes a *redis.Client,
// not a ClusterClient. The closest an scs app gets is one master of the
// cluster, holding only sessions whose keys hash to that master's slots:
// "scs-cluster-1master" creates sessions until scs's random token lands
// there. Every scs session then still lives on that one master.
//
// Each sub-benchmark reports srv-µs/op: the CPU time (user+sys, from INFO
// cpu) that the Redis servers spent per operation, summed over every
// master. It is what caps a master's throughput (one core each), whatever
// the client machine can drive.
//
// Serial sub-benchmarks run one operation at a time; the Parallel ones run
// 64 goroutines, each on a session of its own. Sub-benchmarks are named
// op=.../stack=..., so that benchstat -col /stack sets the stacks side by
// side:
//
//	go test -run '^$' -bench RedisCluster -count 10 . > cluster.txt
//	benchstat -col /stack cluster.txt
func BenchmarkRedisCluster(b *testing.B) {
	needRedis(b)
	// A long node timeout: on a busy machine a starved redis-server must
	// not be voted failed in the middle of a measurement.
	c := redistest.StartCluster(b, redistest.ClusterOptions{Masters: 3, NodeTimeout: 10 * time.Second})
	cc := goredis.NewClusterClient(&goredis.ClusterOptions{Addrs: c.Addrs()})
	b.Cleanup(func() { cc.Close() })
	single := goredis.NewClient(&goredis.Options{Addr: redisAddr})
	b.Cleanup(func() { single.Close() })
	var masterAddrs []string
	for _, m := range c.Masters() {
		masterAddrs = append(masterAddrs, m.Addr)
	}
	first := c.Masters()[0]
	firstLo, firstHi := c.SlotRange(first)

	type stack struct {
		name    string
		servers []string // whose CPU is counted
		// open seeds the sessions and returns them, with a client and
		// the key of one session, to measure its memory.
		open func(b *testing.B, sessions int) ([]storeBench, goredis.UniversalClient, string)
	}
	stacks := []stack{
		{"boltsession-single", []string{redisAddr}, func(b *testing.B, n int) ([]storeBench, goredis.UniversalClient, string) {
			p := uniquePrefix("bs")
			sbs, id := boltsessionSessions(b, redisstore.New(single, &redisstore.Options{Prefix: p}), n)
			return sbs, single, p + "{" + boltsession.Handle(id) + "}"
		}},
		{"boltsession-cluster3", masterAddrs, func(b *testing.B, n int) ([]storeBench, goredis.UniversalClient, string) {
			p := uniquePrefix("bs")
			sbs, id := boltsessionSessions(b, redisstore.New(cc, &redisstore.Options{Prefix: p}), n)
			return sbs, cc, p + "{" + boltsession.Handle(id) + "}"
		}},
		{"scs-single", []string{redisAddr}, func(b *testing.B, n int) ([]storeBench, goredis.UniversalClient, string) {
			sbs, key := scsSessions(b, redisAddr, nil, n)
			return sbs, single, key
		}},
		{"scs-cluster-1master", masterAddrs, func(b *testing.B, n int) ([]storeBench, goredis.UniversalClient, string) {
			inRange := func(key string) bool {
				slot, err := cc.ClusterKeySlot(context.Background(), key).Result()
				return err == nil && int(slot) >= firstLo && int(slot) <= firstHi
			}
			sbs, key := scsSessions(b, first.Addr, inRange, n)
			return sbs, cc, key
		}},
	}
	for _, op := range []string{"Load", "Save"} {
		for _, parallel := range []bool{false, true} {
			scenario := op
			if parallel {
				scenario += "Parallel64"
			}
			for _, st := range stacks {
				b.Run("op="+scenario+"/stack="+st.name, func(b *testing.B) {
					sessions := 1
					if parallel {
						sessions = parallelWriters
					}
					sbs, client, key := st.open(b, sessions)
					mem, err := client.MemoryUsage(context.Background(), key, 0).Result()
					if err != nil {
						b.Fatal(err)
					}
					cpu0 := serverCPU(b, st.servers)
					b.ReportAllocs()
					b.ResetTimer()
					if parallel {
						var worker atomic.Int64
						b.SetParallelism(max(1, parallelWriters/procs()))
						b.RunParallel(func(pb *testing.PB) {
							sb := sbs[int(worker.Add(1)-1)%len(sbs)]
							n := 0
							for pb.Next() {
								n++
								if err := runOp(sb, op, n); err != nil {
									b.Error(err)
									return
								}
							}
						})
					} else {
						n := 0
						for i := 0; i < b.N; i++ {
							n++
							if err := runOp(sbs[0], op, n); err != nil {
								b.Fatal(err)
							}
						}
					}
					b.StopTimer()
					b.ReportMetric(float64((serverCPU(b, st.servers)-cpu0).Microseconds())/float64(b.N), "srv-µs/op")
					b.ReportMetric(float64(mem), "redis-B/session")
				})
			}
		}
	}
}

func runOp(sb storeBench, op string, n int) error {
	if op == "Load" {
		return sb.load()
	}
	return sb.save(n)
}

var prefixSeq atomic.Int64

// uniquePrefix returns a key prefix no other sub-benchmark of this process
// uses.
func uniquePrefix(name string) string {
	return name + strconv.FormatInt(prefixSeq.Add(1), 10) + ":"
}

// boltsessionSessions seeds n sessions in st (of the benchmark's ten values
// each) under IDs like the Manager's, and returns the load and per-key
// save of each.
func boltsessionSessions(b *testing.B, st boltsession.Store, n int) ([]storeBench, string) {
	out := make([]storeBench, n)
	var first string
	for i := range out {
		id := fmt.Sprintf("bench-%03d-0123456789abcdef0123456789abcdef012345", i)
		if i == 0 {
			first = id
		}
		out[i] = boltsessionSession(b, st, id)
	}
	return out, first
}

// scsSessions creates n scs sessions through scs's redisstore on the server
// at addr and returns their loads and saves, as scsBench does for one.
// With keep set, a session is created again with a new token until keep
// accepts its key: on one master of a cluster, the other masters' keys are
// refused with MOVED.
func scsSessions(b *testing.B, addr string, keep func(key string) bool, n int) ([]storeBench, string) {
	pool := &redigo.Pool{
		MaxIdle: 128,
		Dial:    func() (redigo.Conn, error) { return redigo.Dial("tcp", addr) },
	}
	b.Cleanup(func() { pool.Close() })
	prefix := uniquePrefix("scs")
	sm := scs.New()
	sm.Store = scsredis.NewWithPrefix(pool, prefix)
	out := make([]storeBench, n)
	var first string
	for i := range out {
		var token string
		var err error
		for range 100 {
			ctx, lerr := sm.Load(context.Background(), "")
			if lerr != nil {
				b.Fatal(lerr)
			}
			for j := range valueCount {
				sm.Put(ctx, valueKey(j), valueValue(j))
			}
			sm.Put(ctx, "count", 0)
			token, _, err = sm.Commit(ctx)
			if err == nil && (keep == nil || keep(prefix+token)) {
				break
			}
			if err != nil && !strings.Contains(err.Error(), "MOVED") {
				b.Fatal(err)
			}
			token = ""
		}
		if token == "" {
			b.Fatal(errors.New("scs: no token landed on the master"))
		}
		if i == 0 {
			first = prefix + token
		}
		saveCtx, err := sm.Load(context.Background(), token)
		if err != nil {
			b.Fatal(err)
		}
		out[i] = storeBench{
			load: func() error {
				c, err := sm.Load(context.Background(), token)
				if err == nil && !sm.Exists(c, "k0") {
					return errors.New("scs: seeded session not found")
				}
				return err
			},
			save: func(n int) error {
				sm.Put(saveCtx, "count", n)
				_, _, err := sm.Commit(saveCtx)
				return err
			},
		}
	}
	return out, first
}

// serverCPU returns the CPU time (user+sys) the servers at addrs have used
// since they started, from INFO cpu.
func serverCPU(b *testing.B, addrs []string) time.Duration {
	var total time.Duration
	for _, addr := range addrs {
		c := goredis.NewClient(&goredis.Options{Addr: addr})
		info, err := c.Info(context.Background(), "cpu").Result()
		c.Close()
		if err != nil {
			b.Fatal(err)
		}
		for line := range strings.SplitSeq(info, "\n") {
			k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
			if ok && (k == "used_cpu_user" || k == "used_cpu_sys") {
				s, err := strconv.ParseFloat(v, 64)
				if err != nil {
					b.Fatal(err)
				}
				total += time.Duration(s * float64(time.Second))
			}
		}
	}
	return total
}

// BenchmarkRedisClusterWaitReplicas measures what Options.WaitReplicas
// costs: Save (a per-key merge) on a 3-master cluster with one replica per
// master, without and with waiting for that replica on the write's own
// connection. On this machine the replica is on the same host; on a
// network add one master-to-replica round trip per save.
//
//	go test -run '^$' -bench RedisClusterWaitReplicas -count 10 . > wait.txt
//	benchstat -col /wait wait.txt
func BenchmarkRedisClusterWaitReplicas(b *testing.B) {
	needRedis(b)
	c := redistest.StartCluster(b, redistest.ClusterOptions{Masters: 3, ReplicasPerMaster: 1, NodeTimeout: 10 * time.Second})
	cc := goredis.NewClusterClient(&goredis.ClusterOptions{Addrs: c.Addrs()})
	b.Cleanup(func() { cc.Close() })
	for _, parallel := range []bool{false, true} {
		scenario := "Save"
		if parallel {
			scenario = "SaveParallel64"
		}
		for _, wait := range []int{0, 1} {
			b.Run("op="+scenario+"/wait="+strconv.Itoa(wait), func(b *testing.B) {
				sessions := 1
				if parallel {
					sessions = parallelWriters
				}
				// A generous WaitTimeout: a replica starved by a busy machine must
				// slow the measurement down, not fail it.
				st := redisstore.New(cc, &redisstore.Options{Prefix: uniquePrefix("bw"), WaitReplicas: wait, WaitTimeout: 5 * time.Second})
				sbs, _ := boltsessionSessions(b, st, sessions)
				b.ReportAllocs()
				b.ResetTimer()
				if !parallel {
					for i := 0; i < b.N; i++ {
						if err := sbs[0].save(i); err != nil {
							b.Fatal(err)
						}
					}
					return
				}
				var worker atomic.Int64
				b.SetParallelism(max(1, parallelWriters/procs()))
				b.RunParallel(func(pb *testing.PB) {
					sb := sbs[int(worker.Add(1)-1)%len(sbs)]
					n := 0
					for pb.Next() {
						n++
						if err := sb.save(n); err != nil {
							b.Error(err)
							return
						}
					}
				})
			})
		}
	}
}
