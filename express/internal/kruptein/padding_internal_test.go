package kruptein

import (
	"crypto/aes"
	"crypto/cipher"
	"errors"
	"testing"
)

// sealCBCRaw writes a CBC envelope of ct exactly as given (no padding
// added) with an HMAC that matches, as only the secret's holder could.
func sealCBCRaw(t *testing.T, c *Cipher, blocks []byte) []byte {
	t.Helper()
	env := &envelope{salt: make([]byte, saltSize), iv: make([]byte, aes.BlockSize)}
	key, err := c.deriveKey(env.salt)
	if err != nil {
		t.Fatal(err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	ct := make([]byte, len(blocks))
	cipher.NewCBCEncrypter(block, env.iv).CryptBlocks(ct, blocks)
	env.ct = c.enc.encode(ct)
	env.hmac = c.enc.encode(c.mac(key, []byte(env.ct)))
	data, err := c.marshal(env)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestCBCPaddingDamageBehindAMatchingHMACIsMalformed(t *testing.T) {
	c, err := New("secret", Options{Algorithm: "aes-128-cbc", KeyDerivation: "pbkdf2", Hashing: "sha1"})
	if err != nil {
		t.Fatal(err)
	}
	block := func(last ...byte) []byte {
		b := make([]byte, aes.BlockSize)
		copy(b[aes.BlockSize-len(last):], last)
		return b
	}
	for _, tc := range []struct {
		name   string
		blocks []byte
		want   string // plaintext; "" means ErrMalformed
	}{
		{"valid one-byte padding", block('x', 1), string(block('x', 1)[:aes.BlockSize-1])},
		{"valid full-block padding", append(block('x'), block(16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16)...), string(block('x'))},
		{"padding byte 0", block('x', 0), ""},
		{"padding byte 17", block('x', 17), ""},
		{"padding bytes that disagree", block('x', 2, 3, 3), ""},
		{"no ciphertext", nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := c.Decrypt(sealCBCRaw(t, c, tc.blocks))
			if tc.want == "" {
				if !errors.Is(err, ErrMalformed) {
					t.Fatalf("got %q, %v; want ErrMalformed", got, err)
				}
				return
			}
			if err != nil || string(got) != tc.want {
				t.Fatalf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}
