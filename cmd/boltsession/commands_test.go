package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/boltsession/boltsession"
	bbolt "go.etcd.io/bbolt"
)

func TestEveryCommandHelpShowsAnExample(t *testing.T) {
	for _, c := range commands {
		t.Run(c.name, func(t *testing.T) {
			r := cli(t, "", c.name, "--help")
			r.expect(t, 0, "usage: boltsession "+c.name, "example:", "$ boltsession "+c.name)
		})
	}
	cli(t, "", "help").expect(t, 0, "commands:", "stats", "import")
}

func TestUsageErrorsExitWithStatus2(t *testing.T) {
	path := standardFile(t)
	cases := [][]string{
		{},
		{"frobnicate"},
		{"stats"},
		{"stats", path, "extra"},
		{"ls", path, "--limit", "many"},
		{"ls", path, "--limit", "-1"},
		{"ls", path, "--no-such-flag"},
		{"show", path},
		{"rm", path},
		{"rm", path, "abcdef", "--owner", "u"},
		{"rm", path, "--id", "--cookie", "x"},
		{"rm", path, "--id", "--owner", "u"},
		{"rm", path, "--key-file", "k", "abcdef"},
		{"rm", path, "--cookie", "MTczMjYxMjM2MHxub3QtYS1yZWFsLWNvb2tpZQ=="}, // a boltsession cookie, and no key
		{"rekey", path},
		{"ls", path, "--value-keys-env", "A", "--value-keys-file", "b"},
		{"ls", path, "--value-keys-env", "BOLTSESSION_TEST_UNSET_VARIABLE"},
		{"backup", path},
		{"upgrade"},
		{"salvage", path},
	}
	for _, args := range cases {
		r := cli(t, "", args...)
		if r.code != 2 {
			t.Errorf("boltsession %q: exit %d, want 2\nstderr: %s", args, r.code, r.stderr)
		}
	}
}

func TestStatsCountsLiveExpiredAndOwners(t *testing.T) {
	path := standardFile(t)
	cli(t, "", "stats", path).expect(t, 0, "3 live, 1 expired", "format version   3")

	r := cli(t, "", "stats", path, "--json")
	r.expect(t, 0)
	var st statsJSON
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil {
		t.Fatal(err)
	}
	if st.Sessions != 3 || st.Expired != 1 || st.Owners != 2 || st.FormatVersion != 3 || st.FileSize == 0 || st.PageSize == 0 {
		t.Fatalf("stats --json = %+v", st)
	}
	if st.ExpiresFirst == nil || st.ExpiresLast == nil || !st.ExpiresLast.After(*st.ExpiresFirst) {
		t.Fatalf("expiry range = %v .. %v", st.ExpiresFirst, st.ExpiresLast)
	}
}

func TestLsListsLiveSessionsByHandleAndExpiredOnRequest(t *testing.T) {
	path := standardFile(t)
	r := cli(t, "", "ls", path)
	r.expect(t, 0, "HANDLE ", short(alpha1)+" ", "user-1", short(beta3)+" ")
	if strings.Contains(r.stdout, short(gamma4)) {
		t.Fatalf("ls lists an expired session without --expired:\n%s", r.stdout)
	}
	if strings.Contains(r.stdout, boltsession.Handle(alpha1)) {
		t.Fatalf("ls prints whole handles in text:\n%s", r.stdout)
	}
	cli(t, "", "ls", "--include-expired", path).expect(t, 0, short(gamma4), "(expired)")
	cli(t, "", "ls", "--expired", path).expect(t, 0, short(gamma4), "(expired)") // the older name

	r = cli(t, "", "ls", path, "--owner", "user-1", "--json")
	r.expect(t, 0)
	var handles []string
	for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		var l lsJSON
		if err := json.Unmarshal([]byte(line), &l); err != nil {
			t.Fatal(err)
		}
		if l.Owner != "user-1" || l.Size <= 0 || l.Created.IsZero() || l.Expires.IsZero() {
			t.Fatalf("ls --json line %+v", l)
		}
		handles = append(handles, l.Handle)
	}
	want := []string{boltsession.Handle(alpha1), boltsession.Handle(alpha2)}
	slices.Sort(want) // ls goes in handle order
	if !slices.Equal(handles, want) {
		t.Fatalf("ls --owner user-1 --json handles = %q, want %q", handles, want)
	}

	r = cli(t, "", "ls", path, "--limit", "1")
	if n := strings.Count(r.stdout, "\n"); r.code != 0 || n != 2 {
		t.Fatalf("ls --limit 1: exit %d, %d lines:\n%s", r.code, n, r.stdout)
	}
}

func TestShowRendersValuesAsJSON(t *testing.T) {
	path := standardFile(t)
	r := cli(t, "", "show", path, short(alpha1), "--json")
	r.expect(t, 0)
	var got struct {
		Handle string                     `json:"handle"`
		Owner  string                     `json:"owner"`
		Values map[string]json.RawMessage `json:"values"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatalf("%v in %s", err, r.stdout)
	}
	if got.Handle != boltsession.Handle(alpha1) || got.Owner != "user-1" {
		t.Fatalf("show --json = %s", r.stdout)
	}
	want := map[string]string{"views": `17`, "name": `"Zoë <&>"`, "cart": `[{"sku":"A-113","qty":2}]`}
	for k, v := range want {
		var g, w any
		if err := json.Unmarshal(got.Values[k], &g); err != nil {
			t.Fatalf("value %q: %v", k, err)
		}
		_ = json.Unmarshal([]byte(v), &w)
		if !reflect.DeepEqual(g, w) {
			t.Errorf("value %q = %s, want %s", k, got.Values[k], v)
		}
	}

	// A whole handle, in either case of hex.
	cli(t, "", "show", path, strings.ToUpper(boltsession.Handle(alpha2))).
		expect(t, 0, "handle    "+boltsession.Handle(alpha2)+"\n", `csrf  "q83vEg=="`, "maxage    720h0m0s")
	cli(t, "", "show", path, short(beta3)[:6]).
		expect(t, 0, "big      18446744073709551615", "neg      -9223372036854775808", "pi       3.5", "nothing  null", "ok       true")
}

func TestShowAndRmRefuseUnknownAndAmbiguousHandles(t *testing.T) {
	a, b := collidingIDs(6)
	path := makeFile(t,
		session{id: a, expires: now.Add(time.Hour)},
		session{id: b, expires: now.Add(time.Hour)},
		session{id: alpha1, owner: "user-1", expires: now.Add(time.Hour)})
	shared := boltsession.Handle(a)[:6]
	unknown := unusedPrefix(t, a, b, alpha1)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"show", path, unknown}, "no session " + unknown},
		{[]string{"show", path, shared}, "matches more than one session"},
		{[]string{"show", path, short(alpha1)[:5]}, "at least 6 hex digits"},
		{[]string{"show", path, alpha1}, "is not a session handle"}, // an ID given by mistake
		{[]string{"rm", path, short(alpha1), unknown}, "no session " + unknown},
		{[]string{"rm", path, short(alpha1), shared}, "matches more than one session"},
		{[]string{"rm", path, "--id", alpha1, "no-such-session-id"}, "session ID 2 names no session (its handle would be " + short("no-such-session-id")},
	} {
		r := cli(t, "", c.args...)
		r.expect(t, 1, c.want)
		r.oneLineError(t)
		if strings.Contains(r.stderr, alpha1) || strings.Contains(r.stderr, "no-such-session-id") {
			t.Fatalf("%q printed a session ID: %s", c.args, r.stderr)
		}
	}
	if n := len(records(t, path)); n != 3 {
		t.Fatalf("after failed rm: %d live sessions, want 3 (nothing removed)", n)
	}
}

// collidingIDs returns two session IDs whose handles share their first n
// hex digits (n ≤ 7: found by trying, about 16^(n/2) hashes).
func collidingIDs(n int) (string, string) {
	seen := map[string]string{}
	for i := 0; ; i++ {
		id := fmt.Sprintf("collide-%08d-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", i)
		p := boltsession.Handle(id)[:n]
		if other, ok := seen[p]; ok {
			return other, id
		}
		seen[p] = id
	}
}

// unusedPrefix returns a 6-digit handle prefix none of the IDs' handles
// start with.
func unusedPrefix(t *testing.T, ids ...string) string {
	t.Helper()
	for _, p := range []string{"000000", "ffffff", "123456"} {
		used := false
		for _, id := range ids {
			used = used || strings.HasPrefix(boltsession.Handle(id), p)
		}
		if !used {
			return p
		}
	}
	t.Fatal("no unused prefix")
	return ""
}

func TestRmRemovesByHandlePrefixAndByOwner(t *testing.T) {
	path := standardFile(t)
	cli(t, "", "rm", path, short(beta3), boltsession.Handle(gamma4)).expect(t, 0, "removed 2 sessions from "+path+"\n")
	cli(t, "", "rm", path, "--owner", "user-1").expect(t, 0, `removed 2 sessions of owner "user-1" from `+path+" (2 live)")
	cli(t, "", "stats", path).expect(t, 0, "0 live, 0 expired")
}

func TestSweepRemovesExpiredSessions(t *testing.T) {
	path := standardFile(t)
	cli(t, "", "sweep", path).expect(t, 0, "swept 1 expired session from "+path+" ")
	cli(t, "", "ls", "--expired", path).expect(t, 0)
	if r := cli(t, "", "ls", "--expired", path); strings.Contains(r.stdout, short(gamma4)) {
		t.Fatalf("expired session still listed after sweep:\n%s", r.stdout)
	}
	cli(t, "", "stats", path).expect(t, 0, "3 live, 0 expired")
}

func TestExportThenImportReproducesEveryLiveSession(t *testing.T) {
	path := standardFile(t)
	jsonl := filepath.Join(t.TempDir(), "sessions.jsonl")
	r := cli(t, "", "export", path, "--out", jsonl)
	r.expect(t, 0, "exported 3 sessions from "+path+" to "+jsonl+"\n")
	if r.stderr != "" {
		t.Fatalf("export wrote to stderr without a terminal (progress bar?): %q", r.stderr)
	}

	target := filepath.Join(t.TempDir(), "new.db")
	cli(t, "", "import", target, "--in", jsonl).expect(t, 0, "imported 3 sessions from "+jsonl+" into "+target+" ")
	want, got := records(t, path), records(t, target)
	assertSameRecords(t, got, want)

	// Idempotent, and through the standard streams.
	exported := cli(t, "", "export", path)
	exported.expect(t, 0)
	cli(t, exported.stdout, "import", target).expect(t, 0, "imported 3 sessions from standard input into "+target)
	assertSameRecords(t, records(t, target), want)
}

func assertSameRecords(t *testing.T, got, want map[string]boltsession.Record) {
	t.Helper()
	if !slices.Equal(slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(want))) {
		t.Fatalf("IDs %q, want %q", slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(want)))
	}
	for id, w := range want {
		g := got[id]
		if !g.Created.Equal(w.Created) || !g.Expires.Equal(w.Expires) || g.Owner != w.Owner || g.MaxAge != w.MaxAge ||
			!reflect.DeepEqual(g.Values, w.Values) {
			t.Errorf("session %s:\n got %+v\nwant %+v", id, g, w)
		}
	}
}

func TestImportOfAMalformedLineLeavesTheFileAsItWas(t *testing.T) {
	path := standardFile(t)
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	exported := cli(t, "", "export", path)
	exported.expect(t, 0)
	target := standardFile(t)
	cli(t, "", "rm", target, "--owner", "user-1").expect(t, 0)
	targetBefore := records(t, target)
	lines := strings.Split(strings.TrimSpace(exported.stdout), "\n")
	bad := strings.Join([]string{lines[0], lines[1], `{"handle":"` + boltsession.Handle("x") + `","created":"2026-01-01T00:00:00Z","expires":"yesterday"}`}, "\n")

	r := cli(t, bad, "import", target)
	r.expect(t, 1, "standard input line 3", `"expires"`, "unchanged")
	r.oneLineError(t)
	assertSameRecords(t, records(t, target), targetBefore)

	// A new file is not left behind by a failed import.
	fresh := filepath.Join(t.TempDir(), "fresh.db")
	cli(t, bad, "import", fresh).expect(t, 1, "line 3")
	if _, err := os.Stat(fresh); !os.IsNotExist(err) {
		t.Fatalf("failed import left %s behind: %v", fresh, err)
	}
	after, err := os.ReadFile(path)
	if err != nil || !slices.Equal(before, after) {
		t.Fatalf("export changed its source file")
	}
}

func TestBackupWritesAnOpenableCopy(t *testing.T) {
	path := standardFile(t)
	out := filepath.Join(t.TempDir(), "backup.db")
	r := cli(t, "", "backup", path, out)
	r.expect(t, 0, "backed up")
	if r.stderr != "" {
		t.Fatalf("stderr without a terminal: %q", r.stderr)
	}
	assertSameRecords(t, records(t, out), records(t, path))
	cli(t, "", "backup", path, path).expect(t, 1, "OUT is the file itself")
}

func TestCompactShrinksAFileAndKeepsItsSessions(t *testing.T) {
	var many []session
	for i := range 3000 {
		many = append(many, session{id: strings.Repeat("x", 20) + string(rune('a'+i%26)) + strconv.Itoa(i), owner: "owner-" + strconv.Itoa(i%7),
			expires: now.Add(time.Hour), values: map[string]any{"payload": strings.Repeat("p", 400)}})
	}
	path := makeFile(t, many...)
	for i := range 7 {
		if i != 3 {
			cli(t, "", "rm", path, "--owner", "owner-"+strconv.Itoa(i)).expect(t, 0)
		}
	}
	want := records(t, path)
	sizeBefore := fileSize(t, path)

	copyPath := filepath.Join(t.TempDir(), "compact.db")
	cli(t, "", "compact", path, "--out", copyPath).expect(t, 0, "compacted "+path+" into "+copyPath+": ", "("+path+" unchanged)")
	assertSameRecords(t, records(t, copyPath), want)
	if fileSize(t, path) != sizeBefore {
		t.Fatalf("compact --out changed the source")
	}
	cli(t, "", "compact", path, "--out", copyPath).expect(t, 1, "already exists")

	r := cli(t, "", "compact", path, "--json")
	r.expect(t, 0)
	var res compactJSON
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
		t.Fatal(err)
	}
	if res.File != path || res.Out != "" || res.Before != sizeBefore || res.After >= res.Before || fileSize(t, path) != res.After {
		t.Fatalf("compact in place: %+v, file now %d bytes, was %d", res, fileSize(t, path), sizeBefore)
	}
	assertSameRecords(t, records(t, path), want)
	// --out naming the file itself is a compaction in place, said so.
	cli(t, "", "compact", path, "--out", path).expect(t, 0, "compacted "+path+": ", "(saved ")
	assertSameRecords(t, records(t, path), want)
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".*")); len(left) != 0 {
		t.Fatalf("temporary files left: %q", left)
	}
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

func TestAFileHeldByAnAppFailsFastWithTheCause(t *testing.T) {
	path := standardFile(t)
	holdFile(t, path)
	out := filepath.Join(t.TempDir(), "x")
	for _, args := range [][]string{
		{"stats", path}, {"ls", path}, {"show", path, short(alpha1)}, {"rm", path, "--owner", "user-1"},
		{"sweep", path}, {"compact", path}, {"backup", path, out}, {"export", path}, {"import", path},
		{"import-filestore", t.TempDir(), path}, {"import-gorilla", t.TempDir(), path, "--key", "00", "--name", "app"},
		{"rekey", path, "--decrypt"}, {"rekey", path, "--value-keys-file", writeValueKeys(t, valueKey(1))}, {"upgrade", path},
		{"salvage", path, out},
	} {
		t.Run(args[0], func(t *testing.T) {
			t.Parallel() // each waits out the lock timeout
			start := time.Now()
			r := cli(t, "", args...)
			r.expect(t, 1, "held by another process, e.g. the app: stop it, or use the app's admin handler")
			r.oneLineError(t)
			t.Logf("failed after %v: %s", time.Since(start).Round(time.Millisecond), r.stderr)
		})
	}
}

func TestBadFilesGiveOneLineErrors(t *testing.T) {
	dir := t.TempDir()
	text := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(text, []byte(strings.Repeat("not a database\n", 500)), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty.db")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	foreign := filepath.Join(dir, "foreign.db")
	db, err := bbolt.Open(foreign, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bbolt.Tx) error { _, err := tx.CreateBucket([]byte("widgets")); return err }); err != nil {
		t.Fatal(err)
	}
	db.Close()

	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"stats", text}, text + ": not a bbolt database file"},
		{[]string{"ls", empty}, empty + ": empty file, not a session file"},
		{[]string{"stats", foreign}, foreign + ": not a session file"},
		{[]string{"compact", foreign}, foreign + ": not a session file"},
		{[]string{"import", foreign}, foreign + ": not a session file"},
		{[]string{"import", text}, text + ": not a bbolt database file"},
		{[]string{"import", empty}, empty + ": empty file"},
		{[]string{"stats", filepath.Join(dir, "missing.db")}, "missing.db: no such file"},
	} {
		r := cli(t, "", c.args...)
		r.expect(t, 1, c.want)
		r.oneLineError(t)
	}
	if _, err := os.Stat(filepath.Join(dir, "missing.db")); !os.IsNotExist(err) {
		t.Fatalf("stats of a missing file created it")
	}
}

func TestACorruptRecordIsReportedWhereItIs(t *testing.T) {
	path := standardFile(t)
	corruptRecord(t, path, beta3)

	// stats reads only the indexes: the corrupt record does not matter.
	cli(t, "", "stats", path).expect(t, 0, "3 live, 1 expired")
	// stats --deep reads every record and counts it.
	r := cli(t, "", "stats", path, "--deep", "--json")
	r.expect(t, 0)
	var st statsJSON
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil {
		t.Fatal(err)
	}
	created := now.Add(-time.Hour)
	if st.Corrupt == nil || *st.Corrupt != 1 || st.RecordBytes == nil || *st.RecordBytes <= 0 ||
		st.OldestCreated == nil || !st.OldestCreated.Equal(created) || !st.NewestCreated.Equal(created) {
		t.Fatalf("stats --deep --json = %s", r.stdout)
	}
	cli(t, "", "stats", path, "--deep").expect(t, 0, "in 4 records, 1 corrupt", "oldest session   "+created.UTC().Format(time.RFC3339))

	r = cli(t, "", "show", path, short(beta3))
	r.expect(t, 1, "session "+short(beta3)+":", "corrupt")
	r.oneLineError(t)

	r = cli(t, "", "ls", path)
	r.expect(t, 1, "listed 1 corrupt session records (first: "+short(beta3)+")")
	if !strings.Contains(r.stdout, "CORRUPT") || !strings.Contains(r.stdout, short(alpha1)) {
		t.Fatalf("ls does not list the other sessions and mark the corrupt one:\n%s", r.stdout)
	}
	r.oneLineError(t)

	cli(t, "", "export", path).expect(t, 1, "exported 2 sessions but skipped 1 corrupt session records")
	cli(t, "", "rm", path, short(beta3)).expect(t, 0, "removed 1 session")
	cli(t, "", "ls", path).expect(t, 0)
}

func TestAnInterruptedImportLeavesNothingBehind(t *testing.T) {
	exported := cli(t, "", "export", standardFile(t))
	exported.expect(t, 0)
	firstLine, _, _ := strings.Cut(exported.stdout, "\n")
	target := filepath.Join(t.TempDir(), "new.db")

	cmd := exec.Command(commandPath, "import", target)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(stdin, firstLine+"\n"); err != nil {
		t.Fatal(err)
	}
	// Its temporary file exists once the command has opened it, long
	// after it began catching interrupts.
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(10 * time.Millisecond) {
		if len(tempsBeside(t, target, "import")) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("import never created its file")
		}
	}
	// The command waits for more input; the interrupt ends the wait.
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	err = cmd.Wait()
	stdin.Close()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 || !strings.Contains(stderr.String(), "interrupted; nothing imported") {
		t.Fatalf("interrupted import: %v, stderr %q", err, stderr.String())
	}
	if _, err := os.Stat(target); !os.IsNotExist(err) {
		t.Fatalf("an interrupted import left %s: %v", target, err)
	}
	if left := tempsBeside(t, target, "import"); len(left) > 0 {
		t.Fatalf("an interrupted import left %q", left)
	}
}

func TestTextOutputQuotesControlCharacters(t *testing.T) {
	const id = "esc-0001-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	path := makeFile(t, session{id: id, owner: "evil\x1b[2Jowner",
		expires: now.Add(time.Hour), values: map[string]any{"k\tey": 1}})
	for _, args := range [][]string{{"ls", path}, {"show", path, short(id)}} {
		r := cli(t, "", args...)
		r.expect(t, 0, `"evil\x1b[2Jowner"`)
		if strings.Contains(r.stdout, "\x1b") {
			t.Fatalf("%s printed a raw escape character:\n%q", args[0], r.stdout)
		}
	}
	cli(t, "", "show", path, short(id)).expect(t, 0, `"k\tey"  1`)
}
