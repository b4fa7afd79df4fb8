// Command benchtable turns the output of this module's benchmarks into one
// Markdown table: a row per stack, a column per scenario, each cell the
// time per operation, the stack's speed relative to boltsession's
// (boltsession's time ÷ the stack's: below 1.00 means the stack is slower,
// as in cmd/compare's requests-per-second ratios) and the allocations per
// operation.
//
//	go test -run '^$' -bench . -benchmem | tee bench.txt
//	go run ./cmd/benchtable < bench.txt
//
// With -count > 1 each cell is the median of the runs.
package main

import (
	"bufio"
	"fmt"
	"io"
	"log"
	"os"
	"slices"
	"strconv"
	"strings"
)

// result is one parsed benchmark line.
type result struct {
	scenario, stack string
	nsPerOp         float64
	allocs          float64
}

func main() {
	results, extra, err := parse(os.Stdin)
	if err != nil {
		log.Fatal(err)
	}
	write(os.Stdout, results)
	for _, line := range extra {
		fmt.Println(line)
	}
}

// parse reads "BenchmarkScenario/stack-N  iters  X ns/op ... Y allocs/op"
// lines. Benchmarks without a sub-benchmark (custom metrics) are returned
// verbatim in extra.
func parse(r io.Reader) ([]result, []string, error) {
	var out []result
	var extra []string
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		name := strings.TrimPrefix(f[0], "Benchmark")
		if i := strings.LastIndex(name, "-"); i > 0 {
			if _, err := strconv.Atoi(name[i+1:]); err == nil {
				name = name[:i] // the GOMAXPROCS suffix
			}
		}
		scenario, stack, ok := strings.Cut(name, "/")
		if !ok {
			extra = append(extra, sc.Text())
			continue
		}
		res := result{scenario: scenario, stack: stack, allocs: -1}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				continue
			}
			switch f[i+1] {
			case "ns/op":
				res.nsPerOp = v
			case "allocs/op":
				res.allocs = v
			}
		}
		if res.nsPerOp > 0 {
			out = append(out, res)
		}
	}
	return out, extra, sc.Err()
}

// The table's order: store operations before middleware, boltsession and
// its floors before the peers. Names not listed follow in the order seen.
var (
	scenarioOrder = []string{"Load", "Save", "SaveParallel64", "MiddlewareRead", "MiddlewareWrite"}
	stackOrder    = []string{"boltsession", "bbolt-floor", "bbolt-update", "bbolt-batch-default",
		"boltsession-redisstore", "goredis-floor", "scs-memstore", "scs-redisstore", "gorilla-filesystem", "no-session"}
)

// byPreference sorts names stably by their index in order; unlisted names
// keep their relative order after the listed ones.
func byPreference(names, order []string) {
	rank := func(n string) int {
		if i := slices.Index(order, n); i >= 0 {
			return i
		}
		return len(order)
	}
	slices.SortStableFunc(names, func(a, b string) int { return rank(a) - rank(b) })
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func write(w io.Writer, results []result) {
	var scenarios, stacks []string
	ns := map[[2]string][]float64{}
	allocs := map[[2]string][]float64{}
	for _, r := range results {
		if !slices.Contains(scenarios, r.scenario) {
			scenarios = append(scenarios, r.scenario)
		}
		if !slices.Contains(stacks, r.stack) {
			stacks = append(stacks, r.stack)
		}
		k := [2]string{r.scenario, r.stack}
		ns[k] = append(ns[k], r.nsPerOp)
		if r.allocs >= 0 {
			allocs[k] = append(allocs[k], r.allocs)
		}
	}
	byPreference(scenarios, scenarioOrder)
	byPreference(stacks, stackOrder)
	fmt.Fprintf(w, "| stack | %s |\n", strings.Join(scenarios, " | "))
	fmt.Fprintf(w, "|---|%s\n", strings.Repeat("---:|", len(scenarios)))
	for _, st := range stacks {
		row := "| " + st + " |"
		for _, sc := range scenarios {
			v, ok := ns[[2]string{sc, st}]
			if !ok {
				row += " — |"
				continue
			}
			m := median(v)
			cell := duration(m)
			if ref, ok := ns[[2]string{sc, "boltsession"}]; ok && st != "boltsession" {
				cell += fmt.Sprintf(" (%.2f×)", median(ref)/m)
			}
			if a, ok := allocs[[2]string{sc, st}]; ok {
				cell += fmt.Sprintf(", %.0f allocs", median(a))
			}
			row += " " + cell + " |"
		}
		fmt.Fprintln(w, row)
	}
}

// duration prints ns with a unit that keeps three significant digits.
func duration(ns float64) string {
	switch {
	case ns >= 1e6:
		return fmt.Sprintf("%.2f ms", ns/1e6)
	case ns >= 1e3:
		return fmt.Sprintf("%.2f µs", ns/1e3)
	}
	return fmt.Sprintf("%.0f ns", ns)
}
