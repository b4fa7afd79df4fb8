package main

import (
	"strings"
	"testing"
)

const sample = `goos: linux
BenchmarkLoad/scs-memstore-2        	    2000	     17000 ns/op	    9968 B/op	     242 allocs/op
BenchmarkLoad/boltsession-2         	    2000	      2000 ns/op	    1971 B/op	      25 allocs/op
BenchmarkLoad/scs-memstore-2        	    2000	     16000 ns/op	    9968 B/op	     242 allocs/op
BenchmarkLoad/scs-memstore-2        	    2000	     20000 ns/op	    9968 B/op	     242 allocs/op
BenchmarkLoad/scs-memstore-2        	    2000	     18000 ns/op	    9968 B/op	     242 allocs/op
BenchmarkSave/boltsession-2         	    2000	    300000 ns/op	   10383 B/op	      87 allocs/op
BenchmarkSaveInterleaved-2   	    1000	   600000 ns/op	   300000 bbolt-ns/save	   300000 boltsession-ns/save	         1.0 floor/boltsession	   16966 B/op	     130 allocs/op
PASS
`

func TestTableHasRatiosMediansAndMissingCells(t *testing.T) {
	res, extra, err := parse(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	write(&b, res)
	got := b.String()
	for _, want := range []string{
		"| stack | Load | Save |",
		"| boltsession | 2.00 µs, 25 allocs | 300.00 µs, 87 allocs |",
		"| scs-memstore | 17.50 µs (0.11×), 242 allocs | — |",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("table lacks %q:\n%s", want, got)
		}
	}
	if strings.Index(got, "| boltsession |") > strings.Index(got, "| scs-memstore |") {
		t.Errorf("boltsession is not the first row:\n%s", got)
	}
	if len(extra) != 1 || !strings.Contains(extra[0], "floor/boltsession") {
		t.Errorf("extra = %q", extra)
	}
}
