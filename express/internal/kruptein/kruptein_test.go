package kruptein_test

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/boltsession/boltsession/express/internal/kruptein"
)

// gcmPBKDF2File returns a committed file written by session-file-store
// with crypto {encodeas: "base64"}: AES-256-GCM with PBKDF2, cheap enough
// to decrypt in every case of a table.
func gcmPBKDF2File(t *testing.T) (*kruptein.Cipher, map[string]any, string) {
	t.Helper()
	m := readManifest(t, filepath.Join(committedFixtures, "MANIFEST"))
	for _, v := range m.Variants {
		if v.Name != "gcm256-base64-pbkdf2" {
			continue
		}
		opts, err := kruptein.ParseCryptoOption(v.Crypto)
		if err != nil {
			t.Fatal(err)
		}
		c, err := kruptein.New(m.Secret, opts)
		if err != nil {
			t.Fatal(err)
		}
		for name, want := range v.Files {
			data, err := os.ReadFile(filepath.Join(committedFixtures, v.Name, name))
			if err != nil {
				t.Fatal(err)
			}
			var env map[string]any
			if err := json.Unmarshal(data, &env); err != nil {
				t.Fatal(err)
			}
			return c, env, want
		}
	}
	t.Fatal("no gcm256-base64-pbkdf2 variant in the MANIFEST")
	return nil, nil, ""
}

// flipBase64 flips the low bit of the first byte a base64 string encodes.
func flipBase64(t *testing.T, s any) string {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s.(string))
	if err != nil {
		t.Fatal(err)
	}
	b[0] ^= 1
	return base64.StdEncoding.EncodeToString(b)
}

// flipBuffer flips the low bit of the first byte of a serialized Buffer.
func flipBuffer(buf any) {
	data := buf.(map[string]any)["data"].([]any)
	data[0] = float64(int(data[0].(float64)) ^ 1)
}

func TestDamagedEnvelopeIsMalformedUnlessOnlyTheHMACCanTell(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, env map[string]any)
		want   error
	}{
		// The HMAC covers the ciphertext only, keyed by the secret and the
		// salt: altering either of those or the HMAC itself looks exactly
		// like a wrong secret.
		{"ciphertext altered", func(t *testing.T, env map[string]any) { env["ct"] = flipBase64(t, env["ct"]) }, kruptein.ErrWrongSecret},
		{"HMAC altered", func(t *testing.T, env map[string]any) { env["hmac"] = flipBase64(t, env["hmac"]) }, kruptein.ErrWrongSecret},
		{"salt altered", func(t *testing.T, env map[string]any) { flipBuffer(env["salt"]) }, kruptein.ErrWrongSecret},
		// Behind a matching HMAC, GCM still authenticates the IV, tag and AAD.
		{"IV altered", func(t *testing.T, env map[string]any) { flipBuffer(env["iv"]) }, kruptein.ErrMalformed},
		{"tag altered", func(t *testing.T, env map[string]any) { flipBuffer(env["at"]) }, kruptein.ErrMalformed},
		{"AAD altered", func(t *testing.T, env map[string]any) { env["aad"] = flipBase64(t, env["aad"]) }, kruptein.ErrMalformed},
		{"tag truncated", func(t *testing.T, env map[string]any) {
			b := env["at"].(map[string]any)
			b["data"] = b["data"].([]any)[:15]
		}, kruptein.ErrMalformed},
		{"AAD not base64", func(t *testing.T, env map[string]any) { env["aad"] = "*" }, kruptein.ErrMalformed},
		{"AAD empty", func(t *testing.T, env map[string]any) { env["aad"] = "" }, kruptein.ErrMalformed},
		{"IV empty", func(t *testing.T, env map[string]any) { env["iv"].(map[string]any)["data"] = []any{} }, kruptein.ErrMalformed},
		// The shape is checked before any key is derived.
		{"no hmac", func(t *testing.T, env map[string]any) { delete(env, "hmac") }, kruptein.ErrMalformed},
		{"hmac spelled HMAC", func(t *testing.T, env map[string]any) { env["HMAC"] = env["hmac"]; delete(env, "hmac") }, kruptein.ErrMalformed},
		{"no ct", func(t *testing.T, env map[string]any) { delete(env, "ct") }, kruptein.ErrMalformed},
		{"ct a number", func(t *testing.T, env map[string]any) { env["ct"] = 1 }, kruptein.ErrMalformed},
		{"hmac null", func(t *testing.T, env map[string]any) { env["hmac"] = nil }, kruptein.ErrMalformed},
		{"no iv", func(t *testing.T, env map[string]any) { delete(env, "iv") }, kruptein.ErrMalformed},
		{"no salt", func(t *testing.T, env map[string]any) { delete(env, "salt") }, kruptein.ErrMalformed},
		{"no at", func(t *testing.T, env map[string]any) { delete(env, "at") }, kruptein.ErrMalformed},
		{"no aad", func(t *testing.T, env map[string]any) { delete(env, "aad") }, kruptein.ErrMalformed},
		{"salt an array", func(t *testing.T, env map[string]any) { env["salt"] = []any{1, 2, 3} }, kruptein.ErrMalformed},
		{"salt of another type", func(t *testing.T, env map[string]any) { env["salt"].(map[string]any)["type"] = "Uint8Array" }, kruptein.ErrMalformed},
		{"iv byte 256", func(t *testing.T, env map[string]any) { env["iv"].(map[string]any)["data"].([]any)[0] = 256 }, kruptein.ErrMalformed},
		{"iv byte -1", func(t *testing.T, env map[string]any) { env["iv"].(map[string]any)["data"].([]any)[0] = -1 }, kruptein.ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, env, _ := gcmPBKDF2File(t)
			tc.damage(t, env)
			data, err := json.Marshal(env)
			if err != nil {
				t.Fatal(err)
			}
			got, err := c.DecryptSessionFile(data)
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %q, %v; want %v", got, err, tc.want)
			}
		})
	}
}

func TestUndamagedCopyOfTheTableFileDecrypts(t *testing.T) {
	// Guards the table above: re-marshalling the parsed file alone must
	// not be what makes its cases fail.
	c, env, want := gcmPBKDF2File(t)
	data, err := json.Marshal(env)
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.DecryptSessionFile(data)
	if err != nil || string(got) != want {
		t.Fatalf("got %q, %v; want %q", got, err, want)
	}
}

func TestInputThatIsNoEnvelopeIsMalformed(t *testing.T) {
	asn1File, err := os.ReadFile(filepath.Join(committedFixtures, "asn1-defaults", "aliceAAAAAAAAAAAAAAAAAAAAAAAAAAA.json"))
	if err != nil {
		t.Fatal(err)
	}
	jsonFile, err := os.ReadFile(filepath.Join(committedFixtures, "defaults", "aliceAAAAAAAAAAAAAAAAAAAAAAAAAAA.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		asn1 bool
		data []byte
	}{
		{"empty", false, nil},
		{"null", false, []byte("null")},
		{"an array", false, []byte("[]")},
		{"a plain session-file-store file", false, []byte(`{"cookie":{"originalMaxAge":null},"views":1,"__lastAccess":1}`)},
		{"truncated", false, jsonFile[:len(jsonFile)/2]},
		{"an ASN.1 envelope read as JSON", false, asn1File},
		{"a JSON envelope read as ASN.1", true, jsonFile},
		{"ASN.1 truncated", true, asn1File[:len(asn1File)-10]},
		{"ASN.1 with bytes after it", true, append(bytes.Clone(asn1File), 'x')},
		{"ASN.1 not UTF-8", true, append(bytes.Clone(asn1File), 0xff)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := kruptein.New("secret", kruptein.Options{ASN1: tc.asn1})
			if err != nil {
				t.Fatal(err)
			}
			if got, err := c.Decrypt(tc.data); !errors.Is(err, kruptein.ErrMalformed) {
				t.Fatalf("got %q, %v; want ErrMalformed", got, err)
			}
		})
	}
}

func TestPlaintextThatIsNotAJSONStringIsNoSessionFile(t *testing.T) {
	c, err := kruptein.New("secret", kruptein.Options{KeyDerivation: "pbkdf2"})
	if err != nil {
		t.Fatal(err)
	}
	// What kruptein writes for an object rather than session-file-store's
	// string: it opens, but is not a session file.
	env, err := c.Encrypt([]byte(`{"views":1}`), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if pt, err := c.Decrypt(env); err != nil || string(pt) != `{"views":1}` {
		t.Fatalf("Decrypt: %q, %v", pt, err)
	}
	if got, err := c.DecryptSessionFile(env); !errors.Is(err, kruptein.ErrMalformed) {
		t.Fatalf("DecryptSessionFile: %q, %v; want ErrMalformed", got, err)
	}
}

func TestEncryptedFilesOpenForEverySupportedSetting(t *testing.T) {
	// Node's vectors cover one file per setting family; this covers every
	// algorithm name with each encoding and both containers, Go to Go.
	encodings := []string{"binary", "latin1", "hex", "base64", "base64url"}
	algorithms := []string{"aes128", "aes192", "aes256"}
	for _, size := range []int{128, 192, 256} {
		for _, mode := range []string{"gcm", "cbc", "ctr", "cfb", "ofb"} {
			algorithms = append(algorithms, fmt.Sprintf("aes-%d-%s", size, mode))
		}
	}
	session := `{"cookie":{"originalMaxAge":null,"expires":null,"httpOnly":true,"path":"/"},"s":"é\u0000\"☃😀","__lastAccess":1}`
	for i, alg := range algorithms {
		opts := kruptein.Options{
			Algorithm:     alg,
			Hashing:       "SHA1", // any letter case, as OpenSSL takes it
			Encoding:      encodings[i%len(encodings)],
			KeyDerivation: "pbkdf2",
			ASN1:          i%2 == 1,
			TagSize:       12 + i%5,
		}
		t.Run(fmt.Sprintf("%s-%s-asn1=%v", alg, opts.Encoding, opts.ASN1), func(t *testing.T) {
			c, err := kruptein.New("secret", opts)
			if err != nil {
				t.Fatal(err)
			}
			file, err := c.EncryptSessionFile([]byte(session), rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			got, err := c.DecryptSessionFile(file)
			if err != nil || string(got) != session {
				t.Fatalf("got %q, %v", got, err)
			}
		})
	}
}

func TestNewRefusesWhatKrupteinOrThisPackageCannotUse(t *testing.T) {
	for _, tc := range []struct {
		name        string
		secret      string
		opts        kruptein.Options
		unsupported bool
	}{
		{"empty secret, as kruptein refuses it", "", kruptein.Options{}, false},
		{"OCB, which Go lacks", "s", kruptein.Options{Algorithm: "aes-256-ocb"}, true},
		{"CCM, which kruptein refuses", "s", kruptein.Options{Algorithm: "aes-256-ccm"}, true},
		{"upper-case GCM, which kruptein does not treat as GCM", "s", kruptein.Options{Algorithm: "AES-256-GCM"}, true},
		{"an 8-byte GCM tag", "s", kruptein.Options{TagSize: 8}, true},
		{"a 17-byte GCM tag", "s", kruptein.Options{TagSize: 17}, true},
		{"ripemd160", "s", kruptein.Options{Hashing: "ripemd160"}, true},
		{"utf8 encoding, with which kruptein cannot decrypt its own output", "s", kruptein.Options{Encoding: "utf8"}, true},
		{"argon2", "s", kruptein.Options{KeyDerivation: "argon2"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := kruptein.New(tc.secret, tc.opts)
			if err == nil {
				t.Fatalf("New returned %v, no error", c)
			}
			if got := errors.Is(err, kruptein.ErrUnsupported); got != tc.unsupported {
				t.Fatalf("%v: errors.Is(ErrUnsupported) = %v", err, got)
			}
		})
	}
}

func TestParseCryptoOptionAppliesDefaultsAsSessionFileStoreAndKrupteinDo(t *testing.T) {
	krupteinDefaults := kruptein.Options{Algorithm: "aes-256-gcm", Hashing: "sha512", Encoding: "binary", KeyDerivation: "pbkdf2"}
	for _, tc := range []struct {
		name   string
		crypto string
		want   kruptein.Options
	}{
		{"unset: session-file-store's defaults", "", kruptein.Options{}},
		{"null: kruptein's defaults", "null", krupteinDefaults},
		{"empty object: kruptein's defaults", "{}", krupteinDefaults},
		{"session-file-store's defaults spelled out", `{"algorithm":"aes-256-gcm","hashing":"sha512","use_scrypt":true}`,
			kruptein.Options{Algorithm: "aes-256-gcm", Hashing: "sha512", Encoding: "binary", KeyDerivation: "scrypt"}},
		{"one field replaces the whole default object", `{"encodeas":"hex"}`,
			kruptein.Options{Algorithm: "aes-256-gcm", Hashing: "sha512", Encoding: "hex", KeyDerivation: "pbkdf2"}},
		{"falsy fields take kruptein's defaults", `{"algorithm":"","hashing":null,"encodeas":false,"use_scrypt":0,"use_asn1":"","_at_size":0}`, krupteinDefaults},
		{"truthy flags", `{"use_scrypt":"yes","use_asn1":1}`,
			kruptein.Options{Algorithm: "aes-256-gcm", Hashing: "sha512", Encoding: "binary", KeyDerivation: "scrypt", ASN1: true}},
		{"every field", `{"algorithm":"aes-128-cbc","hashing":"sha256","encodeas":"base64","use_scrypt":true,"use_asn1":true,"_at_size":12,"_iv_size":16,"_key_size":16,"debug":true}`,
			kruptein.Options{Algorithm: "aes-128-cbc", Hashing: "sha256", Encoding: "base64", KeyDerivation: "scrypt", ASN1: true, TagSize: 12}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := kruptein.ParseCryptoOption([]byte(tc.crypto))
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestParseCryptoOptionRefusesWhatCannotHaveWrittenAFile(t *testing.T) {
	for _, tc := range []struct {
		crypto      string
		unsupported bool
	}{
		{`[]`, false},
		{`"aes-256-gcm"`, false},
		{`{"algorithm":5}`, true},
		{`{"algorithm":"aes-256-xts"}`, true},
		{`{"hashing":["sha256"]}`, true},
		{`{"_at_size":"16"}`, true},
		{`{"_key_size":16}`, true},
		{`{"algorithm":"aes-128-gcm","_key_size":32}`, true},
	} {
		t.Run(tc.crypto, func(t *testing.T) {
			got, err := kruptein.ParseCryptoOption([]byte(tc.crypto))
			if err == nil {
				t.Fatalf("got %+v, no error", got)
			}
			if errors.Is(err, kruptein.ErrUnsupported) != tc.unsupported {
				t.Fatalf("%v: errors.Is(ErrUnsupported) = %v, want %v", err, !tc.unsupported, tc.unsupported)
			}
		})
	}
}
