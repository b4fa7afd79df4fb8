package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/boltsession/boltsession"
	"github.com/boltsession/boltsession/internal/boltfile"
)

// tempsBeside lists the files beside path whose name starts with
// .NAME.<kind>-: the temporary files of a command writing path.
func tempsBeside(t *testing.T, path, kind string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+"."+kind+"-*"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// killMidway starts the command with args, feeds it stdin and keeps its
// standard input open (so it waits for more), waits until a temporary file
// of kind appears beside path, and kills it (SIGKILL).
func killMidway(t *testing.T, path, kind, stdin string, args ...string) {
	t.Helper()
	cmd := exec.Command(commandPath, args...)
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if _, err := in.Write([]byte(stdin)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for len(tempsBeside(t, path, kind)) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("boltsession %q made no .%s- file", args, kind)
		}
		time.Sleep(5 * time.Millisecond)
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	in.Close()
}

// TestAKilledImportIntoANewFileLeavesNoFile kills an import into a new
// FILE while it reads: no FILE appears (not even an empty session file), and
// the temporary file it was building is removed by the next import, or by
// the app's Open of FILE.
func TestAKilledImportIntoANewFileLeavesNoFile(t *testing.T) {
	exported := filepath.Join(t.TempDir(), "sessions.jsonl")
	cli(t, "", "export", standardFile(t), "--out", exported).expect(t, 0)
	lines, err := os.ReadFile(exported)
	if err != nil {
		t.Fatal(err)
	}
	for _, then := range []string{"import again", "app opens"} {
		t.Run(then, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "sessions.db")
			killMidway(t, path, "import", string(lines), "import", path)
			if _, err := os.Stat(path); err == nil {
				t.Fatal("a killed import into a new file left the file")
			}
			if len(tempsBeside(t, path, "import")) != 1 {
				t.Fatalf("temporary files after the kill: %q; want the one it was building", tempsBeside(t, path, "import"))
			}
			switch then {
			case "import again":
				cli(t, string(lines), "import", path).expect(t, 0, "imported 3 sessions")
			case "app opens":
				s, err := boltsession.Open(path, nil)
				if err != nil {
					t.Fatal(err)
				}
				s.Close()
			}
			if left := tempsBeside(t, path, "import"); len(left) != 0 {
				t.Fatalf("after the kill and %s: %q left", then, left)
			}
		})
	}
}

// TestAnImportIntoANewFileAppearsWhole: while it runs, FILE does not exist;
// a failed one leaves none; a finished one leaves no temporary file.
func TestAnImportIntoANewFileAppearsWhole(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sessions.db")
	cli(t, "not json\n", "import", path).expect(t, 1, "nothing imported, no file created")
	if _, err := os.Stat(path); err == nil || len(tempsBeside(t, path, "import")) != 0 {
		t.Fatalf("a failed import left %s or a temporary file", path)
	}
	exported := filepath.Join(dir, "sessions.jsonl")
	cli(t, "", "export", standardFile(t), "--out", exported).expect(t, 0)
	cli(t, "", "import", path, "--in", exported).expect(t, 0, "imported 3 sessions")
	if n := len(records(t, path)); n != 3 || len(tempsBeside(t, path, "import")) != 0 {
		t.Fatalf("after the import: %d sessions, temporary files %q", n, tempsBeside(t, path, "import"))
	}
}

// TestABackupRemovesWhatAKilledRunLeftAndNothingARunningOneWrites: the
// temporary copy of a killed backup (unlocked) goes with the next backup
// to the same OUT; that of a backup still writing (locked) stays.
func TestABackupRemovesWhatAKilledRunLeftAndNothingARunningOneWrites(t *testing.T) {
	src := standardFile(t)
	out := filepath.Join(t.TempDir(), "backup.db")
	killed := filepath.Join(filepath.Dir(out), ".backup.db.tmp-111111")
	running := filepath.Join(filepath.Dir(out), ".backup.db.tmp-222222")
	for _, p := range []string{killed, running} {
		if err := os.WriteFile(p, []byte(strings.Repeat("x", 8192)), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	f, err := os.Open(running)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := boltfile.Lock(f, true, time.Second); err != nil {
		t.Fatal(err)
	}
	cli(t, "", "backup", src, out).expect(t, 0, "backed up")
	if left := tempsBeside(t, out, "tmp"); len(left) != 1 || left[0] != running {
		t.Fatalf("temporary files after the next backup: %q; want only the running one's", left)
	}
	if n := len(records(t, out)); n != 3 {
		t.Fatalf("the backup holds %d live sessions, want 3", n)
	}
}
