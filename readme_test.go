package boltsession

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestReadmeProgramCompilesAsPasted extracts the README's first Go block,
// the program a newcomer copies, and builds and vets it as a module of its
// own against this checkout, offline.
func TestReadmeProgramCompilesAsPasted(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping under -short: builds the README's program; run without -short to include it")
	}
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(readme), "\n```go\n")
	if !ok {
		t.Fatal("the README has no Go block")
	}
	program, _, ok := strings.Cut(rest, "\n```")
	if !ok {
		t.Fatal("the README's first Go block does not end")
	}
	if !strings.HasPrefix(program, "package main\n") {
		t.Fatalf("the README's first Go block is not a whole program:\n%s", program)
	}
	root, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	// The root's own requirements and sums: what a user's go get adds.
	rootMod, err := os.ReadFile("go.mod")
	if err != nil {
		t.Fatal(err)
	}
	sums, err := os.ReadFile("go.sum")
	if err != nil {
		t.Fatal(err)
	}
	_, requires, _ := strings.Cut(string(rootMod), "\nrequire")
	gomod := "module readme\n\ngo 1.26\n\nrequire github.com/boltsession/boltsession v0.1.0\n\nrequire" + requires +
		"\nreplace github.com/boltsession/boltsession => " + root + "\n"
	for name, data := range map[string]string{"go.mod": gomod, "go.sum": string(sums), "main.go": program + "\n"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, args := range [][]string{{"vet", "."}, {"build", "-o", os.DevNull, "."}} {
		cmd := exec.Command("go", args...)
		cmd.Dir = dir
		// The dependencies come from the module cache this test was
		// built from: nothing is fetched.
		cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod", "GOPROXY=off", "GOSUMDB=off")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go %s: %v\n%s\nthe program:\n%s", strings.Join(args, " "), err, out, program)
		}
	}
}
