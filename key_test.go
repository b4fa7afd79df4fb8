package boltsession_test

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/boltsession/boltsession"
)

// keyChildEnv names the key file a re-executed test binary loads or
// creates, printing the key in hex (see TestMain).
const keyChildEnv = "BOLTSESSION_TEST_KEY_CHILD"

// TestMain lets the key tests run this test binary as separate processes
// that race to create one key file, as two app processes starting at once
// do.
func TestMain(m *testing.M) {
	if path := os.Getenv(keyChildEnv); path != "" {
		key, err := boltsession.LoadOrCreateKey(path)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Println(hex.EncodeToString(key))
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestLoadOrCreateKeyCreates64RandomBytesWithMode0600AndReusesThem(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sessions.db.key")
	first, err := boltsession.LoadOrCreateKey(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(first) != boltsession.KeySize || boltsession.KeySize != 64 {
		t.Fatalf("key has %d bytes, want 64", len(first))
	}
	if bytes.Equal(first, make([]byte, boltsession.KeySize)) {
		t.Fatal("key is all zero bytes")
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if mode := fi.Mode().Perm(); mode != 0o600 && runtime.GOOS != "windows" {
		t.Fatalf("key file mode = %04o, want 0600", mode)
	}
	onDisk, _ := os.ReadFile(path)
	if !bytes.Equal(onDisk, first) {
		t.Fatal("the file does not hold the key returned")
	}
	second, err := boltsession.LoadOrCreateKey(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first, second) {
		t.Fatal("the second call made a new key instead of reusing the file")
	}
	other, err := boltsession.LoadOrCreateKey(filepath.Join(dir, "other.key"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(other, first) {
		t.Fatal("two key files hold the same key")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Fatalf("directory holds %d entries, want only the two key files (no temporary left)", len(entries))
	}
}

func TestLoadOrCreateKeyUsesAnExistingKeyOfAnyAcceptedLength(t *testing.T) {
	for _, n := range []int{boltsession.MinKeySize, 64, 1024} {
		path := filepath.Join(t.TempDir(), "k")
		want := bytes.Repeat([]byte{0xA5}, n)
		if err := os.WriteFile(path, want, 0o400); err != nil {
			t.Fatal(err)
		}
		got, err := boltsession.LoadOrCreateKey(path)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("%d-byte key file: got %d bytes, %v", n, len(got), err)
		}
	}
}

func TestLoadOrCreateKeyRefusesABadFileAndLeavesItAlone(t *testing.T) {
	type tc struct {
		name    string
		content []byte
		mode    fs.FileMode
		want    []string
	}
	cases := []tc{
		{"empty", nil, 0o600, []string{"holds 0 bytes; a key needs at least 32", "remove it"}},
		{"too short", []byte("changeme\n"), 0o600, []string{"holds 9 bytes; a key needs at least 32"}},
		{"too long: the database named by mistake", bytes.Repeat([]byte{1}, 4096), 0o600, []string{"holds more than 1024 bytes: not a key"}},
	}
	if runtime.GOOS != "windows" {
		key := bytes.Repeat([]byte{7}, 64)
		cases = append(cases,
			tc{"group-readable", key, 0o640, []string{"has mode 0640", "chmod 600"}},
			tc{"world-readable", key, 0o604, []string{"has mode 0604", "forge session cookies"}},
			tc{"group-writable", key, 0o620, []string{"has mode 0620"}},
		)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "sessions.db.key")
			if err := os.WriteFile(path, c.content, c.mode); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, c.mode); err != nil { // past the umask
				t.Fatal(err)
			}
			key, err := boltsession.LoadOrCreateKey(path)
			if err == nil || key != nil {
				t.Fatalf("got a %d-byte key, err %v; want a refusal", len(key), err)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "boltsession: key file "+path) {
				t.Errorf("error %q does not start with boltsession: key file %s", msg, path)
			}
			for _, w := range c.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not say %q", msg, w)
				}
			}
			after, _ := os.ReadFile(path)
			fi, _ := os.Stat(path)
			if !bytes.Equal(after, c.content) || fi.Mode().Perm() != c.mode {
				t.Fatalf("the refused file was changed: %d bytes, mode %04o", len(after), fi.Mode().Perm())
			}
		})
	}
}

func TestLoadOrCreateKeyReportsAMissingDirectoryOrADirectoryPath(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "no", "such", "dir", "k.key")
	_, err := boltsession.LoadOrCreateKey(missing)
	if err == nil || !strings.HasPrefix(err.Error(), "boltsession: create key file "+missing) || !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing directory: err = %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "no")); !os.IsNotExist(err) {
		t.Fatal("the missing directory was created")
	}
	_, err = boltsession.LoadOrCreateKey(dir)
	if err == nil || !strings.Contains(err.Error(), "is not a regular file") {
		t.Fatalf("a directory as key file: err = %v", err)
	}
}

func TestLoadOrCreateKeyConcurrentCallersAgreeOnOneKey(t *testing.T) {
	for round := range 20 {
		path := filepath.Join(t.TempDir(), fmt.Sprintf("race-%d.key", round))
		const callers = 8
		keys := make([][]byte, callers)
		errs := make([]error, callers)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range callers {
			wg.Go(func() {
				<-start
				keys[i], errs[i] = boltsession.LoadOrCreateKey(path)
			})
		}
		// A reader racing the creators must never see a partial key: the
		// file is absent, or it holds all of it.
		stop := make(chan struct{})
		readerDone := make(chan error, 1)
		go func() {
			for {
				select {
				case <-stop:
					readerDone <- nil
					return
				default:
				}
				b, err := os.ReadFile(path)
				if err == nil && len(b) != boltsession.KeySize {
					readerDone <- fmt.Errorf("a reader saw a %d-byte key file", len(b))
					return
				}
				if err != nil && !errors.Is(err, fs.ErrNotExist) {
					readerDone <- err
					return
				}
			}
		}()
		close(start)
		wg.Wait()
		close(stop)
		if err := <-readerDone; err != nil {
			t.Fatal(err)
		}
		onDisk, _ := os.ReadFile(path)
		for i := range callers {
			if errs[i] != nil {
				t.Fatalf("round %d, caller %d: %v", round, i, errs[i])
			}
			if !bytes.Equal(keys[i], onDisk) {
				t.Fatalf("round %d: caller %d returned a key other than the file's", round, i)
			}
		}
	}
}

func TestLoadOrCreateKeyProcessesStartingAtOnceAgreeOnOneKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "shared.key")
	const procs = 4
	cmds := make([]*exec.Cmd, procs)
	outs := make([]*bytes.Buffer, procs)
	for i := range procs {
		cmds[i] = exec.Command(os.Args[0], "-test.run=^$")
		cmds[i].Env = append(os.Environ(), keyChildEnv+"="+path)
		outs[i] = &bytes.Buffer{}
		cmds[i].Stdout = outs[i]
		cmds[i].Stderr = outs[i]
	}
	for _, c := range cmds {
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
	}
	for i, c := range cmds {
		if err := c.Wait(); err != nil {
			t.Fatalf("process %d: %v\n%s", i, err, outs[i])
		}
	}
	onDisk, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := hex.EncodeToString(onDisk) + "\n"
	for i := range procs {
		if outs[i].String() != want {
			t.Fatalf("process %d printed %q, want the file's key %q", i, outs[i], want)
		}
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Fatalf("directory holds %d entries, want only the key file", len(entries))
	}
}

func TestKeyFromEnvDecodesBase64InEitherAlphabet(t *testing.T) {
	key := make([]byte, 64)
	for i := range key {
		key[i] = byte(i*37 + 250) // covers the bytes that differ between the alphabets
	}
	std := base64.StdEncoding.EncodeToString(key)
	for _, c := range []struct{ name, value string }{
		{"standard, padded", std},
		{"standard, unpadded", base64.RawStdEncoding.EncodeToString(key)},
		{"URL-safe, padded", base64.URLEncoding.EncodeToString(key)},
		{"URL-safe, unpadded", base64.RawURLEncoding.EncodeToString(key)},
		{"wrapped as openssl prints it", std[:64] + "\n" + std[64:] + "\n"},
		{"surrounded by spaces", "  " + std + " "},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv("TEST_SESSION_KEY", c.value)
			got, err := boltsession.KeyFromEnv("TEST_SESSION_KEY")
			if err != nil || !bytes.Equal(got, key) {
				t.Fatalf("KeyFromEnv = %x, %v; want %x", got, err, key)
			}
		})
	}
}

func TestKeyFromEnvRefusesAMissingOrBadValueWithoutShowingIt(t *testing.T) {
	short := base64.StdEncoding.EncodeToString([]byte("sixteen bytes!!!"))
	for _, c := range []struct {
		name, value string
		set         bool
		noKey       bool
		want        string
	}{
		{"unset", "", false, true, "TEST_SESSION_KEY is not set"},
		{"empty", "", true, true, "TEST_SESSION_KEY is not set"},
		{"blank", " \n", true, true, "TEST_SESSION_KEY is not set"},
		{"not base64", "s3cret!passphrase-that-is-long-enough-for-a-key", true, false, "not base64"},
		{"both alphabets", strings.Repeat("ab+-", 16), true, false, "not base64"},
		{"too short", short, true, false, "holds 16 bytes; a key needs at least 32"},
		{"too long", base64.StdEncoding.EncodeToString(make([]byte, 1025)), true, false, "more than 1024 bytes"},
		{"nonzero padding bits", strings.Repeat("A", 42) + "B=", true, false, "not base64"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.set {
				t.Setenv("TEST_SESSION_KEY", c.value)
			} else {
				t.Setenv("TEST_SESSION_KEY", "")
				os.Unsetenv("TEST_SESSION_KEY")
			}
			key, err := boltsession.KeyFromEnv("TEST_SESSION_KEY")
			if err == nil || key != nil {
				t.Fatalf("got %d bytes, err %v; want an error", len(key), err)
			}
			if errors.Is(err, boltsession.ErrNoKey) != c.noKey {
				t.Errorf("errors.Is(err, ErrNoKey) = %v, want %v (err %v)", !c.noKey, c.noKey, err)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "boltsession: ") || !strings.Contains(msg, "TEST_SESSION_KEY") || !strings.Contains(msg, c.want) {
				t.Errorf("error %q: want it to start boltsession:, name the variable and say %q", msg, c.want)
			}
			if v := strings.TrimSpace(c.value); len(v) > 4 && strings.Contains(msg, v) {
				t.Errorf("error %q shows the variable's value", msg)
			}
		})
	}
}

// FuzzKeyFromEnv feeds KeyFromEnv any text: it must not panic, and a key it
// accepts has an accepted length and is the text's own bytes, not garbage.
func FuzzKeyFromEnv(f *testing.F) {
	f.Add(base64.StdEncoding.EncodeToString(make([]byte, 64)))
	f.Add(base64.RawURLEncoding.EncodeToString(bytes.Repeat([]byte{0xfb, 0xff}, 20)))
	f.Add("not base64 at all")
	f.Add("QR==")
	f.Add("\n\t ==")
	f.Fuzz(func(t *testing.T, text string) {
		if strings.ContainsRune(text, 0) {
			return // an environment variable cannot hold a NUL byte
		}
		t.Setenv("FUZZ_SESSION_KEY", text)
		key, err := boltsession.KeyFromEnv("FUZZ_SESSION_KEY")
		if err != nil {
			if key != nil {
				t.Fatalf("a key returned beside error %v", err)
			}
			return
		}
		if len(key) < boltsession.MinKeySize || len(key) > 1024 {
			t.Fatalf("accepted a %d-byte key", len(key))
		}
		clean := strings.Join(strings.Fields(text), "")
		clean = strings.TrimRight(clean, "=")
		std, url := base64.RawStdEncoding.EncodeToString(key), base64.RawURLEncoding.EncodeToString(key)
		if clean != std && clean != url {
			t.Fatalf("%q decoded to %x, which encodes back to neither %q nor %q", text, key, std, url)
		}
	})
}
