package main

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// TestEveryCheckRunsAndReports runs all checks at a tiny size: every
// check prints its line, the sweep removes exactly the expired sessions,
// churn keeps one cycle's sessions live, and the fill check's readers
// find their sessions while the file fills and after.
func TestEveryCheckRunsAndReports(t *testing.T) {
	var buf bytes.Buffer
	out = &buf
	t.Cleanup(func() { out = nil })
	cfg := config{
		sessions: 2000, small: 500, expired: 200,
		writers: 16, loaders: 2, loadOps: 2000, baseline: 50 * time.Millisecond,
		cycles: 3, churn: 300, dir: t.TempDir(),
		fillRate: 5_000, fillReads: 100, fillSteady: 50 * time.Millisecond,
		checks: map[string]bool{"load": true, "heap": true, "sweep": true, "churn": true, "fill": true},
	}
	if err := run(cfg); err != nil {
		t.Fatal(err)
	}
	report := buf.String()
	for _, want := range []string{
		"create: 2000 sessions",
		"heap: after creating 2000 sessions",
		"load: boltsession Load: 500 sessions: median",
		"load: bbolt View+Get+copy: 500 sessions",
		"load: a /read request through the middleware: 500 sessions",
		"load: scs memstore Find (Go map): 500 sessions",
		"load: 2000 sessions: sessions tree depth",
		"swept 200 in",
		"live after 1800",
		"(300 live)",
		"fill: 2000 sessions created in",
		"; steady: ",
		"fill: /read with 2 readers while the file fills: p50",
		"p99 ratio",
	} {
		if !strings.Contains(report, want) {
			t.Errorf("report lacks %q:\n%s", want, report)
		}
	}
}

// TestRefusesASizeWithNoLiveSessions: the checks load live sessions, so
// -expired must leave some; a run that could not sample is refused up front.
func TestRefusesASizeWithNoLiveSessions(t *testing.T) {
	out = &bytes.Buffer{}
	t.Cleanup(func() { out = nil })
	err := run(config{sessions: 100, small: 10, expired: 100, dir: t.TempDir(), checks: map[string]bool{"load": true}})
	if err == nil || !strings.Contains(err.Error(), "-expired (100) must be below -sessions (100)") {
		t.Fatalf("run = %v, want the -expired error", err)
	}
}
