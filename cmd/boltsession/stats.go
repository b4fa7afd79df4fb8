package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/boltsession/boltsession"
)

var statsCommand = &command{
	name:    "stats",
	usage:   "FILE [--deep] [--value-keys-env NAME | --value-keys-file PATH] [--json]",
	summary: "Show how many sessions the file holds, live and expired, how many owners, its size, free pages and format version.",
	example: `$ boltsession stats sessions.db
file             sessions.db
format version   3
file size        21.4 MiB (22437888 bytes), 6 free pages (24.0 KiB)
sessions         99998 live, 2 expired (not yet swept)
owners           2500
expires first    2026-11-26T13:05:00Z
expires last     2026-11-27T13:00:00Z

stats reads the indexes only, never the session records, so it stays fast
on large files and a corrupt record does not stop it. --deep also reads
every record, for the oldest and newest session by creation time, the bytes
the records take and how many are corrupt:

$ boltsession stats sessions.db --deep
…
oldest session   2026-11-25T13:06:12Z (created)
newest session   2026-11-26T13:04:55Z (created)
records          11.9 MiB in 100000 records, 0 corrupt`,
	json: `{"file":"sessions.db","format_version":3,"file_size":22437888,"page_size":4096,"free_pages":6,"sessions":99998,"expired":2,"owners":2500,"expires_first":"2026-11-26T13:05:00Z","expires_last":"2026-11-27T13:00:00Z","oldest_created":"2026-11-25T13:06:12Z","newest_created":"2026-11-26T13:04:55Z","record_bytes":12478120,"corrupt":0}
(oldest_created, newest_created, record_bytes and corrupt with --deep)`,
	run: runStats,
}

// statsJSON is stats --json.
type statsJSON struct {
	File          string     `json:"file"`
	FormatVersion int        `json:"format_version"`
	FileSize      int64      `json:"file_size"`
	PageSize      int        `json:"page_size"`
	FreePages     int        `json:"free_pages"`
	Sessions      int        `json:"sessions"`
	Expired       int        `json:"expired"`
	Owners        int        `json:"owners"`
	ExpiresFirst  *time.Time `json:"expires_first,omitempty"`
	ExpiresLast   *time.Time `json:"expires_last,omitempty"`

	// With --deep:
	OldestCreated *time.Time `json:"oldest_created,omitempty"`
	NewestCreated *time.Time `json:"newest_created,omitempty"`
	RecordBytes   *int64     `json:"record_bytes,omitempty"`
	Corrupt       *int       `json:"corrupt,omitempty"`
}

// deepStats is what stats --deep reads from every record.
type deepStats struct {
	oldest, newest time.Time
	bytes          int64
	records        int
	corrupt        int
}

// readDeep visits every stored record, expired ones included.
func readDeep(ctx context.Context, s *boltsession.BoltStore) (deepStats, error) {
	var d deepStats
	err := s.Scan(ctx, boltsession.ScanOptions{Expired: true}, func(in boltsession.SessionInfo) error {
		d.records++
		d.bytes += int64(in.Size)
		if in.Err != nil {
			d.corrupt++
			return nil
		}
		if d.oldest.IsZero() || in.Created.Before(d.oldest) {
			d.oldest = in.Created
		}
		if in.Created.After(d.newest) {
			d.newest = in.Created
		}
		return nil
	})
	return d, err
}

func runStats(e *env, c *command, args []string) error {
	fs := flag.NewFlagSet("stats", flag.ContinueOnError)
	vk := addValueKeyFlags(fs)
	asJSON := fs.Bool("json", false, "print one JSON object")
	deep := fs.Bool("deep", false, "also read every record: oldest and newest by creation, record bytes, corrupt records")
	pos, err := parseExactly(e, c, fs, args, "FILE")
	if err != nil {
		return err
	}
	keys, err := vk.keys()
	if err != nil {
		return err
	}
	s, err := openExisting(pos[0], keys)
	if err != nil {
		return err
	}
	defer s.Close()
	in, err := s.Inspect(e.ctx)
	if err != nil {
		return fmt.Errorf("%s: %w", pos[0], err)
	}
	var d deepStats
	if *deep {
		if d, err = readDeep(e.ctx, s); err != nil {
			return fmt.Errorf("%s: %w", pos[0], err)
		}
	}
	if *asJSON {
		out := statsJSON{
			File: pos[0], FormatVersion: in.FormatVersion, FileSize: in.FileSize,
			PageSize: in.PageSize, FreePages: in.FreePages,
			Sessions: in.Sessions, Expired: in.Expired, Owners: in.Owners,
			ExpiresFirst: timeOrNil(in.ExpiresFirst), ExpiresLast: timeOrNil(in.ExpiresLast),
		}
		if *deep {
			out.OldestCreated, out.NewestCreated = timeOrNil(d.oldest), timeOrNil(d.newest)
			out.RecordBytes, out.Corrupt = &d.bytes, &d.corrupt
		}
		return writeJSON(e, out)
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 0, 3, ' ', 0)
	fmt.Fprintf(tw, "file\t%s\n", pos[0])
	fmt.Fprintf(tw, "format version\t%d\n", in.FormatVersion)
	fmt.Fprintf(tw, "file size\t%s (%d bytes), %d free pages (%s)\n", humanBytes(in.FileSize), in.FileSize,
		in.FreePages, humanBytes(int64(in.FreePages)*int64(in.PageSize)))
	fmt.Fprintf(tw, "sessions\t%d live, %d expired (not yet swept)\n", in.Sessions, in.Expired)
	fmt.Fprintf(tw, "owners\t%d\n", in.Owners)
	fmt.Fprintf(tw, "expires first\t%s\n", textTime(in.ExpiresFirst))
	fmt.Fprintf(tw, "expires last\t%s\n", textTime(in.ExpiresLast))
	if *deep {
		fmt.Fprintf(tw, "oldest session\t%s (created)\n", textTime(d.oldest))
		fmt.Fprintf(tw, "newest session\t%s (created)\n", textTime(d.newest))
		fmt.Fprintf(tw, "records\t%s in %d records, %d corrupt\n", humanBytes(d.bytes), d.records, d.corrupt)
	}
	return tw.Flush()
}

func timeOrNil(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}

// textTime renders a time for a person: UTC, to the second.
func textTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// writeJSON prints v as one line of JSON.
func writeJSON(e *env, v any) error {
	enc := json.NewEncoder(e.stdout)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}
