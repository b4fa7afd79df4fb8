package boltsession

import (
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// nodeInstall runs `npm ci` in testdata/node at most once per test binary.
var nodeInstall struct {
	once sync.Once
	err  error
	out  []byte
}

// requireNode returns the testdata/node directory with its packages
// installed. Without node and npm the test is skipped with a message, unless
// BOLTSESSION_REQUIRE_NODE=1 (as in CI), which makes their absence a failure.
// `npm ci` runs only when node_modules is missing or older than the lockfile,
// so CI may install beforehand with `npm ci --prefix testdata/node`.
func requireNode(t *testing.T) string {
	t.Helper()
	for _, tool := range []string{"node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("BOLTSESSION_REQUIRE_NODE") == "1" {
				t.Fatalf("%s not found and BOLTSESSION_REQUIRE_NODE=1: %v", tool, err)
			}
			t.Skipf("skipping: %s not found (install node 20+ and npm to run the Node compatibility tests; BOLTSESSION_REQUIRE_NODE=1 makes this a failure)", tool)
		}
	}
	dir, err := filepath.Abs(filepath.Join("testdata", "node"))
	if err != nil {
		t.Fatal(err)
	}
	nodeInstall.once.Do(func() {
		lock, err := os.Stat(filepath.Join(dir, "package-lock.json"))
		if err != nil {
			nodeInstall.err = err
			return
		}
		installed, err := os.Stat(filepath.Join(dir, "node_modules", ".package-lock.json"))
		if err == nil && !installed.ModTime().Before(lock.ModTime()) {
			return
		}
		cmd := exec.Command("npm", "ci", "--no-audit", "--no-fund")
		cmd.Dir = dir
		nodeInstall.out, nodeInstall.err = cmd.CombinedOutput()
	})
	if nodeInstall.err != nil {
		t.Fatalf("npm ci in %s: %v\n%s", dir, nodeInstall.err, nodeInstall.out)
	}
	return dir
}
