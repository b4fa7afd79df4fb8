package express

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// nodeInstallCommand installs the Node packages the compatibility tests
// use; run it at the repository root. Tests never run npm themselves: it
// needs the network.
const nodeInstallCommand = "npm ci --prefix express/testdata/node"

// requireNode returns the testdata/node directory, with its packages
// installed. Without node, or without testdata/node/node_modules, the test
// is skipped with a message saying how to enable it, unless
// BOLTSESSION_REQUIRE_NODE=1 (as in CI, which runs the npm ci command
// first), which makes either absence a failure.
func requireNode(t *testing.T) string {
	t.Helper()
	missing := func(why, how string) {
		t.Helper()
		if os.Getenv("BOLTSESSION_REQUIRE_NODE") == "1" {
			t.Fatalf("%s, and BOLTSESSION_REQUIRE_NODE=1 requires it: %s", why, how)
		}
		t.Skipf("skipping: %s: %s (BOLTSESSION_REQUIRE_NODE=1 makes this a failure)", why, how)
	}
	if _, err := exec.LookPath("node"); err != nil {
		missing("node not found", "to run the Node compatibility tests, install Node.js 20+ and npm, then run `"+nodeInstallCommand+"` at the repository root")
	}
	dir, err := filepath.Abs(filepath.Join("testdata", "node"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", ".package-lock.json")); err != nil {
		missing("the Node packages are not installed in express/testdata/node/node_modules", "to run the Node compatibility tests, run `"+nodeInstallCommand+"` at the repository root")
	}
	return dir
}
