package kruptein

import (
	"bytes"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha3"
	"crypto/sha512"
	"encoding/json"
	"fmt"
	"hash"
	"strings"
)

// Options are the kruptein settings a file was written with. The zero value
// is what session-file-store 1.5 passes to kruptein when the app sets no
// `crypto` option: aes-256-gcm, an HMAC-SHA512, scrypt key derivation and
// kruptein's default "binary" string encoding. An app that did set `crypto`
// is best described with ParseCryptoOption, because session-file-store
// replaces its defaults as a whole, not field by field.
type Options struct {
	// Algorithm is kruptein's `algorithm`, an OpenSSL cipher name as Node
	// spells it. Supported: aes-128-gcm, aes-192-gcm, aes-256-gcm and the
	// cbc, ctr, cfb and ofb modes of the same three key sizes, plus
	// Node's aliases aes128, aes192 and aes256 (CBC). Empty means
	// aes-256-gcm. The name is case-sensitive, as kruptein's own checks
	// for an authenticated mode are.
	Algorithm string

	// Hashing is kruptein's `hashing`: the hash of the HMAC over the
	// ciphertext, and of PBKDF2. Supported: md5, sha1, sha224, sha256,
	// sha384, sha512, sha512-224, sha512-256, sha3-224, sha3-256,
	// sha3-384, sha3-512, in any letter case. Empty means sha512.
	Hashing string

	// Encoding is kruptein's `encodeas`: how the ciphertext, the HMAC and
	// the AAD are written as strings. Supported: binary (also spelled
	// latin1), hex, base64, base64url. Empty means binary, kruptein's
	// default; session-file-store's own `encryptEncoding` option (default
	// "hex") does not reach kruptein and changes nothing here.
	Encoding string

	// KeyDerivation is "scrypt" (N=16384, r=8, p=1, Node's defaults; what
	// kruptein does with `use_scrypt`) or "pbkdf2" (15,000 iterations of
	// Hashing; kruptein's default). Empty means scrypt, because
	// session-file-store's defaults set use_scrypt.
	KeyDerivation string

	// ASN1 is kruptein's `use_asn1`: the envelope is a DER sequence of
	// octet strings, itself written in Encoding, instead of JSON.
	ASN1 bool

	// TagSize is kruptein's `_at_size`, the length in bytes of a GCM
	// authentication tag. 12 to 16 are supported (Node also allows 4 and
	// 8). Zero means 16. It is ignored for the other modes.
	TagSize int
}

// ParseCryptoOption returns the Options for files that session-file-store
// 1.5 wrote with the `crypto` option given here as JSON, applying the
// defaults exactly as the Node code does:
//
//   - no option at all (nil or empty input) is session-file-store's
//     default object, the zero Options;
//   - an object replaces that default as a whole (session-file-store merges
//     its options shallowly), so every field it leaves out takes kruptein's
//     own default: { "encodeas": "hex" } means aes-256-gcm, sha512, hex and
//     PBKDF2, not scrypt;
//   - null also reaches kruptein as "no options": kruptein's defaults,
//     PBKDF2 included.
//
// Fields are read with JavaScript's truthiness (kruptein writes
// `options.algorithm || "aes-256-gcm"`), so "", 0, false and null mean the
// default. _iv_size is ignored: each file carries its IV. A _key_size other
// than the algorithm's own makes kruptein fail on every write, so it is
// refused. The error wraps ErrUnsupported for a setting this package cannot
// decrypt, and is plain for JSON that is not an object.
func ParseCryptoOption(crypto []byte) (Options, error) {
	crypto = bytes.TrimSpace(crypto)
	if len(crypto) == 0 {
		return Options{}, nil
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(crypto, &obj); err != nil {
		return Options{}, fmt.Errorf("boltsession: kruptein crypto option is not a JSON object: %w", err)
	}
	opts := Options{
		Algorithm:     "aes-256-gcm",
		Hashing:       "sha512",
		Encoding:      "binary",
		KeyDerivation: "pbkdf2",
	}
	for _, f := range []struct {
		name string
		dst  *string
	}{{"algorithm", &opts.Algorithm}, {"hashing", &opts.Hashing}, {"encodeas", &opts.Encoding}} {
		raw, ok := obj[f.name]
		if !ok || !truthy(raw) {
			continue
		}
		if err := json.Unmarshal(raw, f.dst); err != nil {
			return Options{}, fmt.Errorf("%w: crypto.%s must be a string, not %s", ErrUnsupported, f.name, raw)
		}
	}
	if truthy(obj["use_scrypt"]) {
		opts.KeyDerivation = "scrypt"
	}
	opts.ASN1 = truthy(obj["use_asn1"])
	if raw := obj["_at_size"]; truthy(raw) {
		if err := json.Unmarshal(raw, &opts.TagSize); err != nil {
			return Options{}, fmt.Errorf("%w: crypto._at_size %s is not a byte count", ErrUnsupported, raw)
		}
	}
	alg, err := lookupAlgorithm(opts.Algorithm)
	if err != nil {
		return Options{}, err
	}
	if raw := obj["_key_size"]; truthy(raw) {
		var n int
		if err := json.Unmarshal(raw, &n); err != nil || n != alg.keySize {
			return Options{}, fmt.Errorf("%w: crypto._key_size %s: %s takes a %d-byte key, so kruptein could not have written with it", ErrUnsupported, raw, opts.Algorithm, alg.keySize)
		}
	}
	return opts, nil
}

// truthy reports whether a JSON value is truthy in JavaScript. A missing
// value (nil) is undefined, which is falsy.
func truthy(raw json.RawMessage) bool {
	switch s := string(bytes.TrimSpace(raw)); s {
	case "", "null", "false", `""`:
		return false
	default:
		var f float64
		if s[0] != '"' && json.Unmarshal(raw, &f) == nil {
			return f != 0
		}
		return true
	}
}

// mode is a block cipher mode of operation.
type mode int

const (
	modeGCM mode = iota
	modeCBC
	modeCTR
	modeCFB
	modeOFB
)

// algorithm is one cipher kruptein can be configured with.
type algorithm struct {
	keySize int // bytes, as kruptein's _matrix computes it
	mode    mode
}

// ivSize is the IV kruptein generates: 12 bytes for GCM, 16 otherwise.
func (a algorithm) ivSize() int {
	if a.mode == modeGCM {
		return 12
	}
	return 16
}

var algorithms = func() map[string]algorithm {
	m := map[string]algorithm{
		"aes128": {16, modeCBC},
		"aes192": {24, modeCBC},
		"aes256": {32, modeCBC},
	}
	for _, size := range []int{128, 192, 256} {
		for name, md := range map[string]mode{"gcm": modeGCM, "cbc": modeCBC, "ctr": modeCTR, "cfb": modeCFB, "ofb": modeOFB} {
			m[fmt.Sprintf("aes-%d-%s", size, name)] = algorithm{size / 8, md}
		}
	}
	return m
}()

func lookupAlgorithm(name string) (algorithm, error) {
	if name == "" {
		name = "aes-256-gcm"
	}
	a, ok := algorithms[name]
	if !ok {
		return algorithm{}, fmt.Errorf("%w: algorithm %q (supported: AES-GCM, CBC, CTR, CFB and OFB with 128-, 192- or 256-bit keys)", ErrUnsupported, name)
	}
	return a, nil
}

var hashes = map[string]func() hash.Hash{
	"md5":        md5.New,
	"sha1":       sha1.New,
	"sha224":     sha256.New224,
	"sha256":     sha256.New,
	"sha384":     sha512.New384,
	"sha512":     sha512.New,
	"sha512-224": sha512.New512_224,
	"sha512-256": sha512.New512_256,
	"sha3-224":   func() hash.Hash { return sha3.New224() },
	"sha3-256":   func() hash.Hash { return sha3.New256() },
	"sha3-384":   func() hash.Hash { return sha3.New384() },
	"sha3-512":   func() hash.Hash { return sha3.New512() },
}

func lookupHash(name string) (func() hash.Hash, error) {
	if name == "" {
		name = "sha512"
	}
	h, ok := hashes[strings.ToLower(name)]
	if !ok {
		return nil, fmt.Errorf("%w: hashing %q", ErrUnsupported, name)
	}
	return h, nil
}

func lookupEncoding(name string) (encoding, error) {
	switch strings.ToLower(name) {
	case "", "binary", "latin1":
		return encBinary, nil
	case "hex":
		return encHex, nil
	case "base64":
		return encBase64, nil
	case "base64url":
		return encBase64URL, nil
	}
	return 0, fmt.Errorf("%w: encodeas %q (supported: binary, latin1, hex, base64, base64url)", ErrUnsupported, name)
}
