package app

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func TestLoadOrCreateKeyCreates64BytesWithMode0600AndReusesThem(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sessions.db.key")
	first, err := LoadOrCreateKey(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(first) != KeySize {
		t.Fatalf("key has %d bytes, want %d", len(first), KeySize)
	}
	if bytes.Equal(first, make([]byte, KeySize)) {
		t.Fatal("key is all zero bytes")
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if mode := fi.Mode().Perm(); mode != 0o600 {
		t.Fatalf("key file mode = %o, want 600", mode)
	}
	second, err := LoadOrCreateKey(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first, second) {
		t.Fatal("second call made a new key instead of reusing the file")
	}
	entries, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Fatalf("directory holds %d entries, want only the key file (no temporary left)", len(entries))
	}
}

func TestLoadOrCreateKeyRefusesAFileOfTheWrongLength(t *testing.T) {
	path := filepath.Join(t.TempDir(), "short.key")
	if err := os.WriteFile(path, []byte("too short"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := LoadOrCreateKey(path)
	if err == nil || !strings.Contains(err.Error(), "want 64") {
		t.Fatalf("err = %v, want a refusal naming the expected length", err)
	}
	got, _ := os.ReadFile(path)
	if string(got) != "too short" {
		t.Fatal("the refused file was overwritten")
	}
}

func TestLoadOrCreateKeyConcurrentCallersAgreeOnOneKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "race.key")
	const callers = 8
	keys := make([][]byte, callers)
	errs := make([]error, callers)
	var wg sync.WaitGroup
	for i := range callers {
		wg.Go(func() { keys[i], errs[i] = LoadOrCreateKey(path) })
	}
	wg.Wait()
	for i := range callers {
		if errs[i] != nil {
			t.Fatalf("caller %d: %v", i, errs[i])
		}
		if !bytes.Equal(keys[i], keys[0]) {
			t.Fatalf("caller %d got a different key than caller 0", i)
		}
	}
}

func TestLoadOrCreateKeyReportsAMissingDirectory(t *testing.T) {
	_, err := LoadOrCreateKey(filepath.Join(t.TempDir(), "no", "such", "dir", "k.key"))
	if err == nil || !strings.HasPrefix(err.Error(), "boltsession:") {
		t.Fatalf("err = %v, want a boltsession: error", err)
	}
}
