package release

import (
	"bytes"
	"context"
	"encoding/json"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/modfile"
	"golang.org/x/mod/module"
	"golang.org/x/mod/zip"
)

// releaseVersion is the version every module of the repository is
// released at, and the one the modules require of each other.
const releaseVersion = "v0.1.0"

// rootPath is the root module's path; every module of the repository has
// it as a prefix.
const rootPath = "github.com/boltsession/boltsession"

// requireEnv makes a module cache without the modules a release needs a
// failure instead of a skip (CI sets it).
const requireEnv = "BOLTSESSION_REQUIRE_RELEASE"

// repoModule is one module of the repository.
type repoModule struct {
	dir  string // relative to the repository root, "." for the root
	path string // module path
}

// tag returns the git tag that releases m at version: "v0.1.0" for the
// root, "redisstore/v0.1.0" for a module in a subdirectory.
func (m repoModule) tag(version string) string {
	if m.dir == "." {
		return version
	}
	return m.dir + "/" + version
}

func ours(modulePath string) bool {
	return modulePath == rootPath || strings.HasPrefix(modulePath, rootPath+"/")
}

// run runs a command in dir with env (nil: the test's own) and returns its
// combined output, failing the test when it fails.
func run(t *testing.T, dir string, env []string, name string, args ...string) string {
	t.Helper()
	out, err := tryRun(t, dir, env, name, args...)
	if err != nil {
		t.Fatalf("%s %s (in %s): %v\n%s", name, strings.Join(args, " "), dir, err, out)
	}
	return out
}

func tryRun(t *testing.T, dir string, env []string, name string, args ...string) (string, error) {
	t.Helper()
	// A cold build cache makes the first go install build the standard
	// library and every dependency: minutes on a busy machine.
	ctx, cancel := context.WithTimeout(t.Context(), 8*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// repoRoot returns the root of the git checkout holding this test.
func repoRoot(t *testing.T) string {
	t.Helper()
	return strings.TrimSpace(run(t, ".", nil, "git", "rev-parse", "--show-toplevel"))
}

// modules lists the modules committed in the repository at dir, the root
// first, without this test module, which is not released.
func modules(t *testing.T, dir string) []repoModule {
	t.Helper()
	var mods []repoModule
	for _, f := range strings.Fields(run(t, dir, nil, "git", "ls-files", "--", "go.mod", "*/go.mod")) {
		if strings.Contains("/"+f, "/testdata/") {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		m := repoModule{dir: path.Dir(f), path: modfile.ModulePath(data)}
		if m.path == rootPath+"/release" {
			continue
		}
		if !ours(m.path) {
			t.Fatalf("%s declares module %q, outside %s", f, m.path, rootPath)
		}
		mods = append(mods, m)
	}
	slices.SortFunc(mods, func(a, b repoModule) int { return strings.Compare(a.dir, b.dir) })
	if len(mods) == 0 || mods[0].dir != "." {
		t.Fatalf("no root module among %v", mods)
	}
	return mods
}

// TestModulesRequireEachOtherAtTheReleaseVersion pins down what lets a
// module be built outside the workspace: no go.mod replaces anything, each
// requires the others at releaseVersion, go.work maps exactly those
// versions to the directories for development, and docs/RELEASING.md
// names the tag of every module.
func TestModulesRequireEachOtherAtTheReleaseVersion(t *testing.T) {
	root := repoRoot(t)
	mods := modules(t, root)
	dirOf := map[string]string{}
	for _, m := range mods {
		dirOf[m.path] = m.dir
	}
	required := map[string]bool{}
	for _, m := range append(mods, repoModule{dir: "release", path: rootPath + "/release"}) {
		name := path.Join(m.dir, "go.mod")
		data, err := os.ReadFile(filepath.Join(root, name))
		if err != nil {
			t.Fatal(err)
		}
		f, err := modfile.Parse(name, data, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range f.Replace {
			t.Errorf("%s replaces %s: a released module's replace directives are ignored by its users (and refused by go install); the workspace's go.work does it for development", name, r.Old.Path)
		}
		for _, r := range f.Require {
			if !ours(r.Mod.Path) {
				continue
			}
			if r.Mod.Version != releaseVersion {
				t.Errorf("%s requires %s %s, want %s", name, r.Mod.Path, r.Mod.Version, releaseVersion)
			}
			if _, ok := dirOf[r.Mod.Path]; !ok {
				t.Errorf("%s requires %s, which is no module of this repository", name, r.Mod.Path)
			}
			required[r.Mod.Path] = true
		}
	}

	data, err := os.ReadFile(filepath.Join(root, "go.work"))
	if err != nil {
		t.Fatal(err)
	}
	work, err := modfile.ParseWork("go.work", data, nil)
	if err != nil {
		t.Fatal(err)
	}
	replaced := map[string]bool{}
	for _, r := range work.Replace {
		want := "./" + dirOf[r.Old.Path]
		if dirOf[r.Old.Path] == "." {
			want = "./"
		}
		switch {
		case r.Old.Version != releaseVersion:
			t.Errorf("go.work replaces %s %q; want only %s %s, so that every other version resolves as it would for a user", r.Old.Path, r.Old.Version, r.Old.Path, releaseVersion)
		case path.Clean(r.New.Path) != path.Clean(want):
			t.Errorf("go.work replaces %s %s with %s, want %s", r.Old.Path, r.Old.Version, r.New.Path, want)
		}
		replaced[r.Old.Path] = true
	}
	for p := range required {
		if !replaced[p] {
			t.Errorf("go.work does not replace %s %s with its directory: the workspace would look for the release on the network", p, releaseVersion)
		}
	}

	doc, err := os.ReadFile(filepath.Join(root, "docs", "RELEASING.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range mods {
		if !bytes.Contains(doc, []byte("`"+m.tag(releaseVersion)+"`")) {
			t.Errorf("docs/RELEASING.md does not name the tag `%s` of %s", m.tag(releaseVersion), m.path)
		}
	}
}

// TestReleasedModulesInstallFromAModuleProxy releases the committed HEAD
// in a clone: it tags every module at releaseVersion, serves the tags from
// a module proxy on disk (the zips, .mod, .info and list files a proxy
// serves), and then, with the workspace off and no network, installs the
// CLI and an example with go install, and builds a new program that
// requires redisstore, as users would.
func TestReleasedModulesInstallFromAModuleProxy(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping under -short: releases every module into a module proxy on disk and builds from it (about 15 s; minutes the first time on a machine, which builds the dependencies with -trimpath); run without -short to include it")
	}
	root := repoRoot(t)
	work := t.TempDir()

	// A clone at HEAD, tagged as docs/RELEASING.md says.
	head := strings.TrimSpace(run(t, root, nil, "git", "rev-parse", "HEAD"))
	clone := filepath.Join(work, "clone")
	run(t, work, nil, "git", "clone", "--quiet", "--no-checkout", root, clone)
	run(t, clone, nil, "git", "-c", "advice.detachedHead=false", "checkout", "--quiet", head)
	mods := modules(t, clone)
	for _, m := range mods {
		run(t, clone, nil, "git", "tag", m.tag(releaseVersion), head)
	}

	// The module proxy: each tag's zip, go.mod, .info and version list.
	proxy := filepath.Join(work, "proxy")
	commitTime := strings.TrimSpace(run(t, clone, nil, "git", "log", "-1", "--format=%cI", head))
	for _, m := range mods {
		publish(t, proxy, clone, m, commitTime)
	}

	// The user's side: no workspace, a module cache of its own, and two
	// proxies on disk, ours and the machine's module cache for the
	// third-party modules, so nothing comes from the network.
	// -trimpath keeps the paths of this run's own module cache out of the
	// build cache keys, so that the dependencies are built once per
	// machine, not once per run.
	realCache := strings.TrimSpace(run(t, work, nil, "go", "env", "GOMODCACHE"))
	gobin := filepath.Join(work, "bin")
	env := append(os.Environ(),
		"GOWORK=off",
		"GOENV=off",
		"GOFLAGS=-mod=mod -modcacherw -trimpath",
		"GOPROXY="+fileURL(proxy)+","+fileURL(filepath.Join(realCache, "cache", "download")),
		"GOSUMDB=off",
		"GONOSUMDB=",
		"GOPRIVATE=",
		"GONOPROXY=",
		"GOTOOLCHAIN=local",
		"GOMODCACHE="+filepath.Join(work, "modcache"),
		"GOBIN="+gobin,
	)
	goCmd := func(dir string, args ...string) string {
		t.Helper()
		start := time.Now()
		defer func() { t.Logf("go %s: %v", strings.Join(args, " "), time.Since(start).Round(time.Millisecond)) }()
		out, err := tryRun(t, dir, env, "go", args...)
		if err != nil {
			missingFromCache(t, out, realCache)
			t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}

	for _, c := range []struct {
		pkg, bin string
		args     []string
		want     string
	}{
		{rootPath + "/cmd/boltsession", "boltsession", []string{"help"}, "boltsession inspects and maintains a boltsession session file"},
		{rootPath + "/examples/counter", "counter", []string{"-help"}, "Usage: counter"},
	} {
		goCmd(work, "install", c.pkg+"@"+releaseVersion)
		out := run(t, work, nil, filepath.Join(gobin, c.bin), c.args...)
		if !strings.Contains(out, c.want) {
			t.Fatalf("%s %s printed:\n%s\nwant %q", c.bin, strings.Join(c.args, " "), out, c.want)
		}
	}

	app := filepath.Join(work, "app")
	if err := os.MkdirAll(app, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(app, "go.mod"), "module example.com/app\n\ngo 1.26\n")
	writeFile(t, filepath.Join(app, "main.go"), `package main

import (
	"fmt"

	"github.com/boltsession/boltsession"
	"github.com/boltsession/boltsession/redisstore"
	"github.com/redis/go-redis/v9"
)

func main() {
	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	defer client.Close()
	var store boltsession.Store = redisstore.New(client, nil)
	m, err := boltsession.New(store, boltsession.Options{Keys: [][]byte{make([]byte, 32)}})
	fmt.Println("manager on redisstore:", m != nil, err)
}
`)
	goCmd(app, "get", rootPath+"/redisstore@"+releaseVersion)
	goCmd(app, "build", "-o", "app", ".")
	if out := run(t, app, nil, filepath.Join(app, "app")); out != "manager on redisstore: true <nil>\n" {
		t.Fatalf("the program printed %q", out)
	}
	data, err := os.ReadFile(filepath.Join(app, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	f, err := modfile.Parse("go.mod", data, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, r := range f.Require {
		got[r.Mod.Path] = r.Mod.Version
	}
	if got[rootPath+"/redisstore"] != releaseVersion || got[rootPath] != releaseVersion {
		t.Fatalf("the program's go.mod requires redisstore %q and the root %q, want %s:\n%s",
			got[rootPath+"/redisstore"], got[rootPath], releaseVersion, data)
	}
}

// publish writes what a module proxy serves for m at releaseVersion, read
// from its tag in the git repository at repo, into the proxy directory.
func publish(t *testing.T, proxy, repo string, m repoModule, commitTime string) {
	t.Helper()
	escaped, err := module.EscapePath(m.path)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(proxy, filepath.FromSlash(escaped), "@v")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	rev := "refs/tags/" + m.tag(releaseVersion)
	subdir := ""
	if m.dir != "." {
		subdir = m.dir
	}
	zf, err := os.Create(filepath.Join(dir, releaseVersion+".zip"))
	if err != nil {
		t.Fatal(err)
	}
	err = zip.CreateFromVCS(zf, module.Version{Path: m.path, Version: releaseVersion}, repo, rev, subdir)
	if cerr := zf.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatalf("zip of %s: %v", m.path, err)
	}
	mod := run(t, repo, nil, "git", "show", rev+":"+path.Join(m.dir, "go.mod"))
	info, err := json.Marshal(map[string]string{"Version": releaseVersion, "Time": commitTime})
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, releaseVersion+".mod"), mod)
	writeFile(t, filepath.Join(dir, releaseVersion+".info"), string(info))
	writeFile(t, filepath.Join(dir, "list"), releaseVersion+"\n")
}

// missingFromCache turns a go command that failed for want of a
// third-party module on disk into a skip that says how to provide it (or a
// failure under BOLTSESSION_REQUIRE_RELEASE=1): the test never downloads.
func missingFromCache(t *testing.T, out, cache string) {
	t.Helper()
	if !strings.Contains(out, filepath.ToSlash(filepath.Join(cache, "cache", "download"))) || !strings.Contains(out, "no such file") {
		return
	}
	why := "a module the release needs is not in the module cache " + cache + " (tests never download); " +
		"run `go mod download` in each module's directory, or the workspace's tests, once with the network. " +
		"If the workspace itself uses another version of it, align that module's go.mod with the workspace's versions.\n" + out
	if os.Getenv(requireEnv) == "1" {
		t.Fatalf("%s, and %s=1 requires the release test to run", why, requireEnv)
	}
	t.Skipf("skipping: %s(%s=1 makes this a failure)", why, requireEnv)
}

func fileURL(dir string) string {
	return (&url.URL{Scheme: "file", Path: filepath.ToSlash(dir)}).String()
}

func writeFile(t *testing.T, name, content string) {
	t.Helper()
	if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
