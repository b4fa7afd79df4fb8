package main

import (
	"bytes"
	"slices"
	"strings"
	"testing"
)

// TestGoalRatiosAreTakenWithinEachRound pins down that a goal's ratio is
// computed from the two stacks' figures of the same round (not from each
// stack's median over the rounds), and that the median of those ratios
// decides whether the goal is met.
func TestGoalRatiosAreTakenWithinEachRound(t *testing.T) {
	cfg := config{modes: []string{"pool"}, rounds: 3}
	r := func(read, count float64) map[string]*measure {
		return map[string]*measure{"pool read": {rps: read}, "pool count": {rps: count}}
	}
	rounds := map[string][]map[string]*measure{
		// A machine that slows down round after round: each stack's median
		// is from round 2, but the ratios within rounds are 0.9, 0.8, 0.7.
		"boltsession":  {r(900, 100), r(400, 100), r(140, 100)},
		"no-session":   {r(1000, 1), r(500, 1), r(200, 1)},
		"scs-memstore": {r(1, 100), r(1, 50), r(1, 200)},
	}
	res := goalRatios(cfg, rounds)
	if len(res) != 2 {
		t.Fatalf("got %d goal results, want 2 (the Redis goals have no stacks): %+v", len(res), res)
	}
	read := res[0]
	if read.num != "boltsession" || read.den != "no-session" || read.ep != "read" {
		t.Fatalf("first result is %+v", read)
	}
	if want := []float64{0.9, 0.8, 0.7}; !slices.Equal(round2(read.perRound), want) {
		t.Errorf("per-round ratios %v, want %v", read.perRound, want)
	}
	if read.median != 0.8 {
		t.Errorf("median %v, want 0.8", read.median)
	}
	count := res[1]
	if want := []float64{1, 2, 0.5}; !slices.Equal(count.perRound, want) || count.median != 1 {
		t.Errorf("count ratios %v median %v, want %v median 1", count.perRound, count.median, want)
	}

	var out bytes.Buffer
	printGoals(&out, cfg, res)
	text := out.String()
	for _, want := range []string{
		"| /read vs no session at all (boltsession ÷ no-session) | pool | 0.80× | 0.90, 0.80, 0.70 | ≥ 0.85× | **no** |",
		"| durable /count vs scs+memstore (boltsession ÷ scs-memstore) | pool | 1.00× | 1.00, 2.00, 0.50 | ≥ 1.00× | yes |",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("goal table lacks\n%s\ngot:\n%s", want, text)
		}
	}
}

// TestGoalRatiosSkipAGoalWhoseStackDidNotRun: a run limited with -stacks
// prints only the goals it has both stacks of.
func TestGoalRatiosSkipAGoalWhoseStackDidNotRun(t *testing.T) {
	cfg := config{modes: []string{"pool", "shared"}, rounds: 1}
	rounds := map[string][]map[string]*measure{
		"boltsession-redisstore": {{"pool read": {rps: 300}, "shared read": {rps: 200}}},
		"scs-redisstore":         {{"pool read": {rps: 100}, "shared read": {rps: 100}}},
	}
	res := goalRatios(cfg, rounds)
	if len(res) != 2 {
		t.Fatalf("got %+v, want the Redis /read goal in both modes", res)
	}
	if res[0].mode != "pool" || res[0].median != 3 || res[1].mode != "shared" || res[1].median != 2 {
		t.Errorf("got %+v", res)
	}
}

func round2(v []float64) []float64 {
	out := make([]float64, len(v))
	for i, f := range v {
		out[i] = float64(int(f*100+0.5)) / 100
	}
	return out
}
