package kruptein_test

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// nodeFixtureDir returns testdata/node with its packages installed. Tests
// never install them: without node or node_modules the test is skipped with
// the command that enables it, or fails under BOLTSESSION_REQUIRE_NODE=1.
func nodeFixtureDir(t *testing.T) string {
	t.Helper()
	missing := func(format string, args ...any) {
		t.Helper()
		if os.Getenv("BOLTSESSION_REQUIRE_NODE") == "1" {
			t.Fatalf(format+" (BOLTSESSION_REQUIRE_NODE=1)", args...)
		}
		t.Skipf("skipping: "+format+" (BOLTSESSION_REQUIRE_NODE=1 makes this a failure)", args...)
	}
	if _, err := exec.LookPath("node"); err != nil {
		missing("node not found (install Node.js 20+, then run `npm ci --prefix express/testdata/node` from the repository root): %v", err)
	}
	dir, err := filepath.Abs(filepath.Join("..", "..", "testdata", "node"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "session-file-store", "package.json")); err != nil {
		missing("express/testdata/node/node_modules is not installed: run `npm ci --prefix express/testdata/node` from the repository root")
	}
	return dir
}

func TestDecryptsFilesSessionFileStoreWritesWithARandomSecret(t *testing.T) {
	dir := nodeFixtureDir(t)
	out := t.TempDir()
	// Not ASCII, so the secret's UTF-8 bytes must reach the key derivation
	// as Node's do.
	secret := "sécret ☃ " + rand.Text()
	cmd := exec.CommandContext(t.Context(), "node", "make-encrypted-fixtures.js", out, secret)
	cmd.Dir = dir
	report, err := cmd.Output()
	if err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			t.Fatalf("node make-encrypted-fixtures.js: %v\n%s", err, exit.Stderr)
		}
		t.Fatalf("node make-encrypted-fixtures.js: %v", err)
	}
	var m manifest
	if err := json.Unmarshal(report, &m); err != nil {
		t.Fatalf("report: %v\n%s", err, report)
	}
	if m.Secret != secret {
		t.Fatalf("the script used secret %q, not %q", m.Secret, secret)
	}
	t.Logf("written by node %s, session-file-store %s, kruptein %s", m.Generator["node"], m.Generator["session-file-store"], m.Generator["kruptein"])
	checkVariants(t, out, m)
}
