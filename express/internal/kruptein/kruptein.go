// Package kruptein reads and writes the envelopes of kruptein 2.x, the
// Node library that session-file-store 1.5 encrypts session files with when
// an app sets its `secret` option.
//
// A kruptein envelope holds a ciphertext, an HMAC over that ciphertext, the
// IV, the salt its key was derived with and, for GCM, the authentication tag
// and an AAD. Decryption is what kruptein's get does: derive the key from
// the secret and the file's salt (scrypt or PBKDF2), check the HMAC, then
// decrypt (and for GCM authenticate) with the same key. The format details,
// each taken from kruptein's lib/kruptein.js, are on the functions below.
//
// Errors tell a wrong secret (ErrWrongSecret) from a file that is not an
// envelope or was damaged (ErrMalformed) and from settings this package
// cannot decrypt (ErrUnsupported).
package kruptein

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/subtle"
	"errors"
	"fmt"
	"hash"
	"io"

	"golang.org/x/crypto/scrypt"
)

var (
	// ErrWrongSecret means the envelope is well formed but its HMAC does
	// not match the key derived from the secret and the file's salt: the
	// secret or the key-derivation or hashing options differ from the ones
	// the file was written with. A file whose ciphertext, HMAC or salt was
	// altered gives the same error: the HMAC is all that can tell them
	// apart, and it covers only the ciphertext.
	ErrWrongSecret = errors.New("boltsession: kruptein HMAC does not match: wrong secret or crypto options")

	// ErrMalformed means the input is not an envelope of the configured
	// format (JSON or ASN.1, in the configured encoding), or is one whose
	// HMAC matches but whose content was damaged: a GCM tag that does not
	// authenticate, CBC padding that is wrong, a plaintext that is not
	// what session-file-store encrypts.
	ErrMalformed = errors.New("boltsession: malformed kruptein envelope")

	// ErrUnsupported means a setting, or a file's IV and tag sizes, that
	// kruptein accepts but this package cannot decrypt (an algorithm
	// without a Go implementation here, such as aes-256-ocb, or a 4- or
	// 8-byte GCM tag).
	ErrUnsupported = errors.New("boltsession: unsupported kruptein setting")
)

const (
	saltSize   = 128   // kruptein's _derive_key: randomBytes(128)
	aadKeySize = 128   // kruptein's set: the AAD is an HMAC keyed with _iv(128)
	pbkdf2Iter = 15000 // kruptein's _derive_key: pbkdf2Sync(secret, salt, 15000, …)
	scryptN    = 16384 // Node's scryptSync defaults, which kruptein keeps
	scryptR    = 8
	scryptP    = 1
)

// Cipher decrypts and encrypts kruptein envelopes with one secret and one
// set of Options. It holds no mutable state: one Cipher may be used by many
// goroutines at once.
type Cipher struct {
	secret  []byte
	alg     algorithm
	hash    func() hash.Hash
	enc     encoding
	scrypt  bool
	asn1    bool
	tagSize int
}

// New returns a Cipher for secret (session-file-store's `secret` option,
// used as its UTF-8 bytes, as Node's key derivation functions do) and opts.
// An empty secret is refused, as kruptein refuses it ("Must supply a
// secret!"); a setting this package cannot decrypt gives an error wrapping
// ErrUnsupported.
func New(secret string, opts Options) (*Cipher, error) {
	if secret == "" {
		return nil, errors.New("boltsession: kruptein needs a non-empty secret")
	}
	c := &Cipher{secret: []byte(secret), asn1: opts.ASN1, tagSize: opts.TagSize}
	var err error
	if c.alg, err = lookupAlgorithm(opts.Algorithm); err != nil {
		return nil, err
	}
	if c.hash, err = lookupHash(opts.Hashing); err != nil {
		return nil, err
	}
	if c.enc, err = lookupEncoding(opts.Encoding); err != nil {
		return nil, err
	}
	switch opts.KeyDerivation {
	case "", "scrypt":
		c.scrypt = true
	case "pbkdf2":
	default:
		return nil, fmt.Errorf("%w: key derivation %q (scrypt or pbkdf2)", ErrUnsupported, opts.KeyDerivation)
	}
	if c.tagSize == 0 {
		c.tagSize = 16
	}
	if c.alg.mode == modeGCM && (c.tagSize < 12 || c.tagSize > 16) {
		return nil, fmt.Errorf("%w: a %d-byte GCM tag (12 to 16 are supported)", ErrUnsupported, c.tagSize)
	}
	return c, nil
}

// Decrypt returns the plaintext of a kruptein envelope, the bytes kruptein's
// get would return (it decodes them as UTF-8). For a session-file-store file
// that is a JSON string holding the session's JSON: DecryptSessionFile
// unwraps it.
//
// Steps, as in kruptein 2.x's get: parse the envelope; derive the key from
// the secret and the envelope's salt; compare the HMAC of the ciphertext
// string (its UTF-8 bytes, as Node's hmac.write hashes a string), encoded as
// configured, with the envelope's hmac (in constant time; kruptein compares
// the strings with !==); decode the ciphertext and decrypt it with the
// envelope's IV and, for GCM, its tag and AAD.
//
// Errors: ErrMalformed for an input that is not a well-formed envelope or
// is damaged behind a matching HMAC, ErrWrongSecret for a well-formed one
// whose HMAC does not match, ErrUnsupported for a GCM IV and tag size
// combination Go cannot open. Deriving the key costs what it costs Node
// (scrypt: about 16 MiB and tens of milliseconds).
func (c *Cipher) Decrypt(envelope []byte) ([]byte, error) {
	env, err := c.parseEnvelope(envelope)
	if err != nil {
		return nil, err
	}
	key, err := c.deriveKey(env.salt)
	if err != nil {
		return nil, err
	}
	if err := c.checkHMAC(env, key); err != nil {
		return nil, err
	}
	return c.decryptAuthenticated(env, key)
}

// Encrypt returns the envelope kruptein's set writes for plaintext (the
// bytes kruptein encrypts, after its JSON.stringify), drawing randomness
// from rand in kruptein's order: 128 bytes of salt, the IV (12 bytes for
// GCM, 16 otherwise) and, for GCM, the 128-byte key of the HMAC that
// serves as AAD. With the same random bytes the output is byte for byte
// kruptein's. Nothing is written anywhere; the error comes from rand or the
// key derivation.
func (c *Cipher) Encrypt(plaintext []byte, rand io.Reader) ([]byte, error) {
	env := &envelope{salt: make([]byte, saltSize), iv: make([]byte, c.alg.ivSize())}
	if _, err := io.ReadFull(rand, env.salt); err != nil {
		return nil, fmt.Errorf("boltsession: kruptein salt: %w", err)
	}
	key, err := c.deriveKey(env.salt)
	if err != nil {
		return nil, err
	}
	if _, err := io.ReadFull(rand, env.iv); err != nil {
		return nil, fmt.Errorf("boltsession: kruptein IV: %w", err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("boltsession: kruptein: %w", err)
	}
	var ct []byte
	if c.alg.mode == modeGCM {
		aadKey := make([]byte, aadKeySize)
		if _, err := io.ReadFull(rand, aadKey); err != nil {
			return nil, fmt.Errorf("boltsession: kruptein AAD: %w", err)
		}
		aad := c.mac(aadKey, plaintext)
		env.aad = c.enc.encode(aad)
		gcm, err := cipher.NewGCMWithTagSize(block, c.tagSize)
		if err != nil {
			return nil, fmt.Errorf("boltsession: kruptein: %w", err)
		}
		sealed := gcm.Seal(nil, env.iv, plaintext, aad)
		ct, env.at = sealed[:len(plaintext)], sealed[len(plaintext):]
	} else {
		ct = encryptUnauthenticated(c.alg.mode, block, env.iv, plaintext)
	}
	env.ct = c.enc.encode(ct)
	env.hmac = c.enc.encode(c.mac(key, []byte(env.ct)))
	return c.marshal(env)
}

// deriveKey is kruptein's _derive_key: scryptSync(secret, salt, keySize)
// with Node's default cost, or pbkdf2Sync(secret, salt, 15000, keySize,
// hashing).
func (c *Cipher) deriveKey(salt []byte) ([]byte, error) {
	var key []byte
	var err error
	if c.scrypt {
		key, err = scrypt.Key(c.secret, salt, scryptN, scryptR, scryptP, c.alg.keySize)
	} else {
		key, err = pbkdf2.Key(c.hash, string(c.secret), salt, pbkdf2Iter, c.alg.keySize)
	}
	if err != nil {
		return nil, fmt.Errorf("boltsession: kruptein key derivation: %w", err)
	}
	return key, nil
}

// mac is kruptein's _digest: an HMAC with the configured hash.
func (c *Cipher) mac(key, data []byte) []byte {
	h := hmac.New(c.hash, key)
	h.Write(data)
	return h.Sum(nil)
}

// checkHMAC compares, as kruptein's get does, the encoded HMAC of the
// ciphertext string with the envelope's.
func (c *Cipher) checkHMAC(env *envelope, key []byte) error {
	want := c.enc.encode(c.mac(key, []byte(env.ct)))
	if subtle.ConstantTimeCompare([]byte(want), []byte(env.hmac)) != 1 {
		return ErrWrongSecret
	}
	return nil
}

// decryptAuthenticated decrypts an envelope whose HMAC matched. Errors wrap
// ErrMalformed, or ErrUnsupported for a GCM IV and tag size pair Go lacks.
func (c *Cipher) decryptAuthenticated(env *envelope, key []byte) ([]byte, error) {
	ct, err := c.enc.decode(env.ct)
	if err != nil {
		return nil, fmt.Errorf("%w: ct: %w", ErrMalformed, err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("boltsession: kruptein: %w", err)
	}
	if c.alg.mode != modeGCM {
		return decryptUnauthenticated(c.alg.mode, block, env.iv, ct)
	}
	// Node takes a GCM IV of any non-zero length; kruptein writes 12 bytes.
	var gcm cipher.AEAD
	switch {
	case len(env.iv) == 0:
		return nil, fmt.Errorf("%w: empty IV", ErrMalformed)
	case len(env.iv) == 12:
		gcm, err = cipher.NewGCMWithTagSize(block, c.tagSize)
	case c.tagSize == 16:
		gcm, err = cipher.NewGCMWithNonceSize(block, len(env.iv))
	default:
		return nil, fmt.Errorf("%w: a %d-byte GCM IV with a %d-byte tag", ErrUnsupported, len(env.iv), c.tagSize)
	}
	if err != nil {
		return nil, fmt.Errorf("boltsession: kruptein: %w", err)
	}
	if len(env.at) != c.tagSize {
		return nil, fmt.Errorf("%w: a %d-byte GCM tag, configured for %d", ErrMalformed, len(env.at), c.tagSize)
	}
	if env.aad == "" {
		// kruptein's get takes an empty aad for none, and then fails.
		return nil, fmt.Errorf("%w: empty aad", ErrMalformed)
	}
	aad, err := c.enc.decode(env.aad)
	if err != nil {
		return nil, fmt.Errorf("%w: aad: %w", ErrMalformed, err)
	}
	sealed := append(ct[:len(ct):len(ct)], env.at...)
	pt, err := gcm.Open(nil, env.iv, sealed, aad)
	if err != nil {
		return nil, fmt.Errorf("%w: the HMAC matches but the GCM tag does not authenticate: the IV, tag or AAD was altered", ErrMalformed)
	}
	return pt, nil
}
