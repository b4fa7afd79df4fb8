package main

import (
	"bytes"
	"encoding/base64"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func TestParseValueKeysReadsEveryLayoutOfTheKeys(t *testing.T) {
	k16, k24, k32 := bytes.Repeat([]byte{1}, 16), bytes.Repeat([]byte{2}, 24), bytes.Repeat([]byte{0xfb}, 32)
	std, url := base64.StdEncoding, base64.RawURLEncoding
	for _, c := range []struct {
		name, text string
		want       [][]byte
	}{
		{"one a line, a comment", "# rotated 2026-11\n" + std.EncodeToString(k32) + "\n" + std.EncodeToString(k16) + "\n", [][]byte{k32, k16}},
		{"commas on one line", std.EncodeToString(k24) + "," + std.EncodeToString(k32), [][]byte{k24, k32}},
		{"spaces, CRLF, blank lines", "\r\n  " + std.EncodeToString(k16) + " \r\n\r\n" + std.EncodeToString(k24) + "\r\n", [][]byte{k16, k24}},
		{"URL-safe, no padding", url.EncodeToString(k32), [][]byte{k32}},
	} {
		got, err := parseValueKeys(c.text)
		if err != nil || len(got) != len(c.want) {
			t.Fatalf("%s: %d keys, %v", c.name, len(got), err)
		}
		for i := range got {
			if !bytes.Equal(got[i], c.want[i]) {
				t.Fatalf("%s: key %d differs", c.name, i+1)
			}
		}
	}
}

func TestParseValueKeysSaysWhichKeyIsWrongWithoutShowingIt(t *testing.T) {
	k32 := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{3}, 32))
	hexKey := strings.Repeat("ab", 32) // 64 hex digits: base64 of 48 bytes, not the key it spells
	for _, c := range []struct{ text, want string }{
		{"", "no value key"},
		{"# only a comment\n\n", "no value key"},
		{k32 + "\n" + "not*base64", "value key 2: not base64"},
		{base64.StdEncoding.EncodeToString([]byte("twenty bytes long!!!")), "value key 1 holds 20 bytes"},
		{hexKey, "value key 1 holds 48 bytes"},
		{k32 + "," + k32, "value key 2 is value key 1 again"},
	} {
		_, err := parseValueKeys(c.text)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("parseValueKeys(%.20q…) = %v, want %q", c.text, err, c.want)
		}
		if err != nil && (strings.Contains(err.Error(), k32) || strings.Contains(err.Error(), hexKey)) {
			t.Errorf("the error shows a key: %v", err)
		}
	}
}

func TestAValueKeysFileOthersMayReadIsRefused(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("skipping: Windows has no Unix file modes, so the check does not apply there; it runs on Linux and macOS (as in CI)")
	}
	path := writeValueKeys(t, valueKey(1))
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	file := standardFile(t)
	r := cli(t, "", "ls", file, "--value-keys-file", path)
	r.expect(t, 1, "has mode 0644", "chmod 600 "+path)
	r.oneLineError(t)
	cli(t, "", "ls", file, "--value-keys-file", filepath.Join(t.TempDir(), "none")).expect(t, 1, "no such file")
}

func TestValueKeysComeFromTheEnvironment(t *testing.T) {
	k1, k2 := valueKey(1), valueKey(2)
	path := sealedFile(t, k2)
	t.Setenv("APP_VALUE_KEYS", base64.StdEncoding.EncodeToString(k1)+","+base64.StdEncoding.EncodeToString(k2))
	cli(t, "", "show", path, short(alpha1), "--value-keys-env", "APP_VALUE_KEYS").expect(t, 0, `"4111-1111"`)
	t.Setenv("APP_VALUE_KEYS", "%%%")
	r := cli(t, "", "ls", path, "--value-keys-env", "APP_VALUE_KEYS")
	r.expect(t, 1, "--value-keys-env APP_VALUE_KEYS: value key 1: not base64")
	r.oneLineError(t)
}

// FuzzParseValueKeys checks that no text makes the value keys parser
// panic, that every key it accepts is an AES key, and that an error never
// holds the text it was given.
func FuzzParseValueKeys(f *testing.F) {
	f.Add("# keys\n" + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{1}, 32)) + "\n")
	f.Add(base64.RawURLEncoding.EncodeToString(bytes.Repeat([]byte{0xff}, 16)) + "," + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{2}, 24)))
	f.Add("====,,\n#")
	f.Fuzz(func(t *testing.T, text string) {
		keys, err := parseValueKeys(text)
		if err != nil {
			for _, field := range strings.FieldsFunc(text, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' }) {
				if len(field) >= 16 && strings.Contains(err.Error(), field) {
					t.Fatalf("the error %q shows the text %q", err, field)
				}
			}
			return
		}
		if len(keys) == 0 {
			t.Fatal("no keys and no error")
		}
		for _, k := range keys {
			if n := len(k); n != 16 && n != 24 && n != 32 {
				t.Fatalf("accepted a %d-byte key", n)
			}
		}
	})
}
