package main

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/boltsession/boltsession"
)

// bigFile writes n sessions (owners user-0 … user-999, a few values each)
// in one transaction with fsync off: seconds, not minutes.
func bigFile(t *testing.T, n int) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "big.db")
	s, err := boltsession.Open(path, &boltsession.BoltOptions{SweepInterval: -1, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	values := map[string][]byte{
		"user_id": mustMsgpack(t, 123456),
		"csrf":    mustMsgpack(t, []byte("0123456789abcdef0123456789abcdef")),
		"flash":   mustMsgpack(t, "Welcome back!"),
	}
	res, err := s.Restore(context.Background(), func(yield func(*boltsession.Record, error) bool) {
		for i := range n {
			rec := &boltsession.Record{
				ID:      fmt.Sprintf("sess-%08d-%s", i, strings.Repeat("k", 30)),
				Created: now.Add(-time.Hour),
				Expires: now.Add(time.Hour + time.Duration(i%1440)*time.Minute),
				Owner:   fmt.Sprintf("user-%d", i%1000),
				Values:  values,
			}
			if !yield(rec, nil) {
				return
			}
		}
	})
	if err != nil || res.Restored != n {
		t.Fatalf("Restore: %+v, %v", res, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestStatsAndLsOnAHundredThousandSessions(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a 100,000-session file; runs without -short, as in CI")
	}
	const n = 100_000
	start := time.Now()
	path := bigFile(t, n)
	t.Logf("wrote %d sessions in %v (%d bytes)", n, time.Since(start).Round(time.Millisecond), fileSize(t, path))

	// stats reads indexes, never records: a corrupt record changes nothing
	// for it. It still counts the record as the live session its index
	// entries name; decoding every record would have tripped over it or
	// found 99,999.
	corruptRecord(t, path, fmt.Sprintf("sess-%08d-%s", 4242, strings.Repeat("k", 30)))

	start = time.Now()
	r := cli(t, "", "stats", path, "--json")
	r.expect(t, 0)
	t.Logf("stats: %v", time.Since(start).Round(time.Millisecond))
	var st statsJSON
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil {
		t.Fatal(err)
	}
	if st.Sessions != n || st.Expired != 0 || st.Owners != 1000 {
		t.Fatalf("stats --json = %+v", st)
	}

	start = time.Now()
	r = cli(t, "", "ls", path, "--limit", "5")
	r.expect(t, 0, "HANDLE ")
	t.Logf("ls --limit 5: %v", time.Since(start).Round(time.Millisecond))
	if lines := strings.Count(r.stdout, "\n"); lines != 6 {
		t.Fatalf("ls --limit 5 printed %d lines:\n%s", lines, r.stdout)
	}

	start = time.Now()
	cli(t, "", "ls", path, "--owner", "user-7").expect(t, 0, "user-7")
	t.Logf("ls --owner (100 sessions): %v", time.Since(start).Round(time.Millisecond))

	jsonl := filepath.Join(t.TempDir(), "big.jsonl")
	start = time.Now()
	cli(t, "", "export", path, "--out", jsonl).expect(t, 1, "exported 99999 sessions but skipped 1 corrupt session records")
	t.Logf("export: %v (%d bytes)", time.Since(start).Round(time.Millisecond), fileSize(t, jsonl))
	target := filepath.Join(t.TempDir(), "copy.db")
	start = time.Now()
	cli(t, "", "import", target, "--in", jsonl).expect(t, 0, "imported 99999 sessions")
	t.Logf("import: %v", time.Since(start).Round(time.Millisecond))
}
