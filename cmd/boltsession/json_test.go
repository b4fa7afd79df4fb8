package main

import (
	"encoding/hex"
	"encoding/json"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// documentedFields returns the top-level fields of the JSON objects in a
// command's json help: every line that starts with "{".
func documentedFields(t *testing.T, c *command) map[string]bool {
	t.Helper()
	fields := map[string]bool{}
	for _, line := range strings.Split(c.json, "\n") {
		if !strings.HasPrefix(line, "{") {
			continue
		}
		var obj map[string]any
		if err := json.Unmarshal([]byte(line), &obj); err != nil {
			t.Fatalf("%s: the documented --json line %q is not a JSON object: %v", c.name, line, err)
		}
		for k := range obj {
			fields[k] = true
		}
	}
	return fields
}

// TestEveryCommandPrintsJSONWithTheDocumentedFields runs every command with
// --json in the cases that bring out each field, and checks that the
// output is JSON, one object a line, holding the fields its --help
// documents and no others.
func TestEveryCommandPrintsJSONWithTheDocumentedFields(t *testing.T) {
	gorilla, _ := gorillaDir(t, "alice")
	fileStore := fileStoreDir(t)
	corrupt := standardFile(t)
	corruptRecord(t, corrupt, beta3)
	keysFile := writeValueKeys(t, valueKey(1))
	exported := filepath.Join(t.TempDir(), "sessions.jsonl")
	cli(t, "", "export", standardFile(t), "--out", exported).expect(t, 0)

	type run struct {
		args func(tmp string) []string
		code int
	}
	fresh := func(tmp string) string { return filepath.Join(tmp, "new.db") }
	runs := map[string][]run{
		"stats": {
			{func(string) []string { return []string{"stats", standardFile(t)} }, 0},
			{func(string) []string { return []string{"stats", standardFile(t), "--deep"} }, 0},
		},
		"ls": {
			{func(string) []string { return []string{"ls", standardFile(t), "--include-expired"} }, 0},
			{func(string) []string { return []string{"ls", corrupt} }, 1}, // lists, then fails for the corrupt record
		},
		"show": {
			{func(string) []string { return []string{"show", standardFile(t), short(alpha2)} }, 0},
			{func(string) []string { return []string{"show", standardFile(t), short(gamma4)} }, 0},
		},
		"rm": {
			{func(string) []string { return []string{"rm", standardFile(t), short(beta3), short(alpha1)} }, 0},
			{func(string) []string { return []string{"rm", standardFile(t), "--id", beta3} }, 0},
			{func(string) []string { return []string{"rm", standardFile(t), "--owner", "user-1"} }, 0},
		},
		"rekey": {
			{func(string) []string { return []string{"rekey", standardFile(t), "--value-keys-file", keysFile} }, 0},
			{func(string) []string {
				return []string{"rekey", sealedFile(t, valueKey(1)), "--decrypt", "--value-keys-file", keysFile}
			}, 0},
		},
		"upgrade": {
			{func(string) []string { return []string{"upgrade", version2File(t)} }, 0},
			{func(string) []string { return []string{"upgrade", standardFile(t)} }, 0},
		},
		"sweep": {{func(string) []string { return []string{"sweep", standardFile(t)} }, 0}},
		"compact": {
			{func(string) []string { return []string{"compact", standardFile(t)} }, 0},
			{func(tmp string) []string { return []string{"compact", standardFile(t), "--out", fresh(tmp)} }, 0},
		},
		"backup": {{func(tmp string) []string { return []string{"backup", standardFile(t), fresh(tmp)} }, 0}},
		"salvage": {{func(tmp string) []string {
			path, _ := damagedFile(t)
			return []string{"salvage", path, fresh(tmp)}
		}, 0}},
		"export": {{func(tmp string) []string {
			return []string{"export", standardFile(t), "--out", filepath.Join(tmp, "x.jsonl")}
		}, 0}},
		"import": {{func(tmp string) []string { return []string{"import", fresh(tmp), "--in", exported} }, 0}},
		"import-filestore": {{func(tmp string) []string {
			return []string{"import-filestore", fileStore, fresh(tmp)}
		}, 0}},
		"import-gorilla": {{func(tmp string) []string {
			return []string{"import-gorilla", gorilla, fresh(tmp), "--name", "app",
				"--key", hex.EncodeToString(hashKey), "--key", hex.EncodeToString(blockKey)}
		}, 0}},
	}

	for _, c := range commands {
		t.Run(c.name, func(t *testing.T) {
			if c.json == "" {
				t.Fatalf("%s --help documents no --json output", c.name)
			}
			if help := cli(t, "", c.name, "--help"); !strings.Contains(help.stdout, "--json") {
				t.Fatalf("%s takes no --json flag:\n%s", c.name, help.stdout)
			}
			documented := documentedFields(t, c)
			printed := map[string]bool{}
			if len(runs[c.name]) == 0 {
				t.Fatalf("no --json run for %s in this test", c.name)
			}
			for _, rn := range runs[c.name] {
				args := append(rn.args(t.TempDir()), "--json")
				r := cli(t, "", args...)
				if r.code != rn.code {
					t.Fatalf("boltsession %q: exit %d, want %d\nstderr: %s", args, r.code, rn.code, r.stderr)
				}
				for _, line := range strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n") {
					var obj map[string]any
					if err := json.Unmarshal([]byte(line), &obj); err != nil {
						t.Fatalf("boltsession %q printed %q, not a JSON object a line: %v", args, line, err)
					}
					for k := range obj {
						if !documented[k] {
							t.Errorf("boltsession %q printed the undocumented field %q", args, k)
						}
						printed[k] = true
					}
				}
			}
			for _, k := range slices.Sorted(maps.Keys(documented)) {
				if !printed[k] {
					t.Errorf("the documented field %q was never printed", k)
				}
			}
		})
	}
}

func TestExportJSONNeedsAnOutputFile(t *testing.T) {
	cli(t, "", "export", standardFile(t), "--json").expect(t, 2, "--json needs --out")
}
