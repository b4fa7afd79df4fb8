package kruptein_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/boltsession/boltsession/express/internal/kruptein"
)

// committedFixtures holds session files that session-file-store 1.5.0
// wrote with its secret option, one directory per crypto option, and the
// MANIFEST that testdata/node/make-encrypted-fixtures.js printed for them.
var committedFixtures = filepath.Join("..", "..", "testdata", "filestore-encrypted")

// manifest is the report of make-encrypted-fixtures.js.
type manifest struct {
	Generator map[string]string `json:"generator"`
	Secret    string            `json:"secret"`
	Variants  []variant         `json:"variants"`
}

// variant is one directory of session files written with one crypto option.
type variant struct {
	Name string `json:"name"`
	// Crypto is the crypto option given to session-file-store: absent
	// (nil) when the app sets none, "null" when it sets null.
	Crypto json.RawMessage `json:"crypto"`
	// Deterministic files were written with a fixed random stream; see
	// fixedRandom.
	Deterministic bool `json:"deterministic"`
	// Files maps a file name to the session JSON session-file-store
	// encrypted into it.
	Files map[string]string `json:"files"`
}

func readManifest(t *testing.T, path string) manifest {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m manifest
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if m.Secret == "" || len(m.Variants) == 0 {
		t.Fatalf("%s: no secret or no variants", path)
	}
	return m
}

// fixedRandom is the stream make-encrypted-fixtures.js puts in place of
// crypto.randomBytes for deterministic variants: byte n is (n*151+17) mod
// 256, counted from 0 for each file.
type fixedRandom struct{ n int }

func (r *fixedRandom) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(r.n*151 + 17)
		r.n++
	}
	return len(p), nil
}

// checkVariants decrypts every file that the manifest lists under dir and
// compares it with the session JSON Node reported; a deterministic variant's
// file must also be what EncryptSessionFile writes, byte for byte.
func checkVariants(t *testing.T, dir string, m manifest) {
	t.Helper()
	for _, v := range m.Variants {
		t.Run(v.Name, func(t *testing.T) {
			t.Parallel()
			opts, err := kruptein.ParseCryptoOption(v.Crypto)
			if err != nil {
				t.Fatalf("ParseCryptoOption(%s): %v", v.Crypto, err)
			}
			c, err := kruptein.New(m.Secret, opts)
			if err != nil {
				t.Fatalf("New(%+v): %v", opts, err)
			}
			if len(v.Files) == 0 {
				t.Fatal("no files")
			}
			for name, want := range v.Files {
				data, err := os.ReadFile(filepath.Join(dir, v.Name, name))
				if err != nil {
					t.Fatal(err)
				}
				got, err := c.DecryptSessionFile(data)
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				if string(got) != want {
					t.Errorf("%s decrypts to\n%s\nNode wrote\n%s", name, got, want)
				}
				if !v.Deterministic {
					continue
				}
				again, err := c.EncryptSessionFile([]byte(want), &fixedRandom{})
				if err != nil {
					t.Fatalf("%s: EncryptSessionFile: %v", name, err)
				}
				if !bytes.Equal(again, data) {
					t.Errorf("%s: EncryptSessionFile wrote\n%s\nkruptein wrote\n%s", name, again, data)
				}
			}
		})
	}
}

func TestDecryptsCommittedSessionFileStoreFiles(t *testing.T) {
	m := readManifest(t, filepath.Join(committedFixtures, "MANIFEST"))
	checkVariants(t, committedFixtures, m)
}

// firstFile returns the alphabetically first file of the manifest's first
// variant (session-file-store's defaults) and the session JSON it holds.
func firstFile(t *testing.T) (data []byte, want string, m manifest) {
	t.Helper()
	m = readManifest(t, filepath.Join(committedFixtures, "MANIFEST"))
	v := m.Variants[0]
	if v.Crypto != nil {
		t.Fatalf("first variant %s has a crypto option; the defaults were expected", v.Name)
	}
	names := slices.Sorted(func(yield func(string) bool) {
		for name := range v.Files {
			if !yield(name) {
				return
			}
		}
	})
	data, err := os.ReadFile(filepath.Join(committedFixtures, v.Name, names[0]))
	if err != nil {
		t.Fatal(err)
	}
	return data, v.Files[names[0]], m
}

func TestWrongSecretOrOptionsIsErrWrongSecret(t *testing.T) {
	data, want, m := firstFile(t)
	for _, tc := range []struct {
		name   string
		secret string
		opts   kruptein.Options
	}{
		{"another secret", m.Secret + "!", kruptein.Options{}},
		{"the secret's prefix", m.Secret[:len(m.Secret)-1], kruptein.Options{}},
		{"pbkdf2 instead of scrypt", m.Secret, kruptein.Options{KeyDerivation: "pbkdf2"}},
		{"another HMAC hash", m.Secret, kruptein.Options{Hashing: "sha256"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := kruptein.New(tc.secret, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			got, err := c.DecryptSessionFile(data)
			if !errors.Is(err, kruptein.ErrWrongSecret) {
				t.Fatalf("got %q, %v; want ErrWrongSecret", got, err)
			}
			if errors.Is(err, kruptein.ErrMalformed) {
				t.Fatalf("%v is also ErrMalformed", err)
			}
		})
	}
	// The same file opens with the right secret: the failures above are
	// the secret's and the options', not the file's.
	c, err := kruptein.New(m.Secret, kruptein.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := c.DecryptSessionFile(data); err != nil || string(got) != want {
		t.Fatalf("right secret: %q, %v", got, err)
	}
}
