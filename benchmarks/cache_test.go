package benchmarks

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/boltsession/boltsession/redisstore"
	goredis "github.com/redis/go-redis/v9"
	"github.com/redis/rueidis"
)

// BenchmarkCachedLoad compares redisstore's client-side cache
// (Options.Cache, built on go-redis with a tracking connection of its
// own) with the one rueidis has built in (DoCache, RESP3 tracking), on a
// session of ten short values read again and again by one goroutine:
//
//   - goredis-floor: GET of the msgpack-encoded record, no cache: one
//     round trip, the floor of any uncached store;
//   - rueidis-cache-get: the same GET through rueidis's DoCache;
//   - rueidis-cache-hgetall: HGETALL through DoCache of a hash laid out as
//     redisstore keeps a session (one field per value), as a store built
//     on rueidis would read it;
//   - boltsession-redisstore, -cache: redisstore's Load, cache off and on.
//
// Every cached run reports its hit ratio (hits/op), which must be 1 for
// the figure to be a cached read.
//
//	go test -run '^$' -bench '^BenchmarkCachedLoad$' -benchmem -count 6 . > cl.txt
//	benchstat cl.txt
func BenchmarkCachedLoad(b *testing.B) {
	cases := []struct {
		name string
		open func(b *testing.B) (load func() error, hitRatio func() float64)
	}{
		{"goredis-floor", func(b *testing.B) (func() error, func() float64) {
			return openGoRedisFloor(b).load, nil
		}},
		{"rueidis-cache-get", openRueidisGet},
		{"rueidis-cache-hgetall", openRueidisHGetAll},
		{"boltsession-redisstore", func(b *testing.B) (func() error, func() float64) {
			return openBoltsessionRedis(b).load, nil
		}},
		{"boltsession-redisstore-cache", openBoltsessionRedisCache},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			needRedis(b)
			load, hitRatio := c.open(b)
			if err := load(); err != nil { // the fill
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if err := load(); err != nil {
					b.Fatal(err)
				}
			}
			if hitRatio != nil {
				b.ReportMetric(hitRatio(), "hits/op")
			}
		})
	}
}

// openRueidis returns a rueidis client with its client-side cache on (the
// default: RESP3, CLIENT TRACKING in default mode).
func openRueidis(b *testing.B) rueidis.Client {
	c, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{redisAddr}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(c.Close)
	return c
}

// hitCounter counts the hits among the reads of a rueidis benchmark.
type hitCounter struct{ hits, reads int }

func (h *hitCounter) note(r rueidis.RedisResult) {
	h.reads++
	if r.IsCacheHit() {
		h.hits++
	}
}

func (h *hitCounter) ratio() float64 { return float64(h.hits) / float64(max(h.reads, 1)) }

func openRueidisGet(b *testing.B) (func() error, func() float64) {
	c := openRueidis(b)
	ctx := context.Background()
	key := fmt.Sprintf("rueidis%d:%s", redisPrefix.Add(1), floorID)
	if err := c.Do(ctx, c.B().Set().Key(key).Value(rueidis.BinaryString(floorRecord(0))).Ex(24*time.Hour).Build()).Error(); err != nil {
		b.Fatal(err)
	}
	var h hitCounter
	return func() error {
		r := c.DoCache(ctx, c.B().Get().Key(key).Cache(), time.Minute)
		h.note(r)
		_, err := r.AsBytes()
		return err
	}, h.ratio
}

func openRueidisHGetAll(b *testing.B) (func() error, func() float64) {
	c := openRueidis(b)
	ctx := context.Background()
	key := fmt.Sprintf("rueidis%d:{%s}", redisPrefix.Add(1), floorID)
	set := c.B().Hset().Key(key).FieldValue()
	for i := range valueCount {
		set = set.FieldValue("v:"+valueKey(i), rueidis.BinaryString(mustMsgpack(b, valueValue(i))))
	}
	set = set.FieldValue("v:count", rueidis.BinaryString(mustMsgpack(b, 0)))
	if err := c.Do(ctx, set.Build()).Error(); err != nil {
		b.Fatal(err)
	}
	var h hitCounter
	return func() error {
		r := c.DoCache(ctx, c.B().Hgetall().Key(key).Cache(), time.Minute)
		h.note(r)
		m, err := r.AsStrMap()
		if err == nil && len(m) != valueCount+1 {
			err = fmt.Errorf("HGETALL gave %d fields", len(m))
		}
		return err
	}, h.ratio
}

// openBoltsessionRedisCache is openBoltsessionRedis with the cache on; it
// waits until the cache may answer, so that the loop measures hits.
func openBoltsessionRedisCache(b *testing.B) (func() error, func() float64) {
	rdb := goredis.NewClient(&goredis.Options{Addr: redisAddr})
	st := redisstore.New(rdb, &redisstore.Options{Prefix: fmt.Sprintf("bs%d:", redisPrefix.Add(1)), Cache: &redisstore.CacheOptions{}})
	b.Cleanup(func() {
		st.Close()
		rdb.Close()
	})
	for deadline := time.Now().Add(5 * time.Second); !st.CacheStats().Fresh; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			b.Fatalf("the cache is not fresh after 5s: %+v", st.CacheStats())
		}
	}
	load := boltsessionBench(b, st).load
	base := st.CacheStats()
	return load, func() float64 {
		s := st.CacheStats()
		return float64(s.Hits-base.Hits) / float64(max(s.Hits+s.Misses-base.Hits-base.Misses, 1))
	}
}
