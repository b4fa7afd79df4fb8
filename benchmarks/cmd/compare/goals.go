package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
)

// goal is one target of the performance work, stated as a ratio of two
// stacks' requests per second on one endpoint: num ÷ den ≥ min.
type goal struct {
	what     string
	num, den string // stack names
	ep       string // "read" or "count"
	min      float64
}

// goals are the targets the compare run checks, in the words of the
// performance issue: reads close to a server with no session at all,
// durable writes as fast as an in-memory store, and boltsession's Redis
// store well ahead of scs's on the same redis-server (without and with
// its client-side cache).
var goals = []goal{
	{"/read vs no session at all", "boltsession", "no-session", "read", 0.85},
	{"durable /count vs scs+memstore", "boltsession", "scs-memstore", "count", 1.0},
	{"Redis store /read vs scs+redisstore", "boltsession-redisstore", "scs-redisstore", "read", 2.0},
	{"Redis store /count vs scs+redisstore", "boltsession-redisstore", "scs-redisstore", "count", 1.3},
	// The same two with redisstore's client-side cache on, the lever
	// that meets them; both are printed, so the cache's share shows.
	{"Redis store with Options.Cache /read vs scs+redisstore", "boltsession-redisstore-cache", "scs-redisstore", "read", 2.0},
	{"Redis store with Options.Cache /count vs scs+redisstore", "boltsession-redisstore-cache", "scs-redisstore", "count", 1.3},
}

// goalResult is a goal's ratio in one cookie mode over the rounds.
type goalResult struct {
	goal
	mode     string
	perRound []float64 // in round order; rounds where either stack has no figure are left out
	median   float64   // of perRound (the upper middle one for an even count)
}

// goalRatios computes every goal whose two stacks ran, per cookie mode:
// in each round the ratio of that round's two figures, then their median
// and all of them (the spread). A stack that failed in some round has no figures at all (run
// drops it), so the rounds of two stacks line up.
func goalRatios(cfg config, rounds map[string][]map[string]*measure) []goalResult {
	var out []goalResult
	for _, g := range goals {
		num, den := rounds[g.num], rounds[g.den]
		if len(num) == 0 || len(den) == 0 {
			continue
		}
		for _, mode := range cfg.modes {
			key := mode + " " + g.ep
			var per []float64
			for i := range min(len(num), len(den)) {
				n, d := num[i][key], den[i][key]
				if n == nil || d == nil || d.rps <= 0 {
					continue
				}
				per = append(per, n.rps/d.rps)
			}
			if len(per) == 0 {
				continue
			}
			sorted := slices.Sorted(slices.Values(per))
			out = append(out, goalResult{
				goal: g, mode: mode, perRound: per,
				median: sorted[len(sorted)/2],
			})
		}
	}
	return out
}

// printGoals prints one line per goal and mode: the median ratio, each
// round's ratio, and whether the median meets the goal.
func printGoals(w io.Writer, cfg config, res []goalResult) {
	if len(res) == 0 {
		return
	}
	fmt.Fprintf(w, "\n## Goals: ratios of requests/s, each computed within one round, median of %d round(s)\n\n", cfg.rounds)
	fmt.Fprintln(w, "| goal | mode | ratio (median) | each round | goal | met |")
	fmt.Fprintln(w, "|---|---|---:|---|---:|---|")
	for _, r := range res {
		var each []string
		for _, v := range r.perRound {
			each = append(each, fmt.Sprintf("%.2f", v))
		}
		met := "yes"
		if r.median < r.min {
			met = "**no**"
		}
		fmt.Fprintf(w, "| %s (%s ÷ %s) | %s | %.2f× | %s | ≥ %.2f× | %s |\n",
			r.what, r.num, r.den, r.mode, r.median, strings.Join(each, ", "), r.min, met)
	}
}
