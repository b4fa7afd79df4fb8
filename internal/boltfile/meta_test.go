package boltfile

import (
	"bytes"
	"path/filepath"
	"testing"
)

func TestHasMagicTellsABboltFileWithADamagedMetaFromAnythingElse(t *testing.T) {
	dir := t.TempDir()
	for _, spec := range []fileSpec{validSpecs[0], validSpecs[1]} { // the OS page size, and 1 KiB
		t.Run(spec.name, func(t *testing.T) {
			path := buildFile(t, dir, spec)
			data := readFile(t, path)
			ps := pageSizeOf(t, data)
			if !HasMagic(path) {
				t.Fatal("an intact bbolt file has no magic")
			}
			damaged := bytes.Clone(data)
			clear(damaged[pageHeaderSize : pageHeaderSize+4]) // meta page 0's magic
			writeFile(t, path, damaged)
			if !HasMagic(path) {
				t.Fatal("a file whose meta page 1 is intact has no magic")
			}
			clear(damaged[ps+pageHeaderSize : ps+pageHeaderSize+4])
			writeFile(t, path, damaged)
			if HasMagic(path) {
				t.Fatal("a file with neither meta page's magic has one")
			}
		})
	}
	text := filepath.Join(dir, "notes.txt")
	writeFile(t, text, bytes.Repeat([]byte("not a database\n"), 1000))
	if HasMagic(text) {
		t.Error("a text file has bbolt's magic")
	}
	if HasMagic(filepath.Join(dir, "missing.db")) {
		t.Error("a missing file has bbolt's magic")
	}
}
