package kruptein

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// fuzzCiphers cover both containers, every encoding and both kinds of
// decryption (GCM, and the modes without a tag).
var fuzzCiphers = []Options{
	{},
	{Encoding: "hex", Algorithm: "aes-128-gcm", TagSize: 12},
	{Encoding: "base64", Algorithm: "aes-256-cbc"},
	{Encoding: "base64url", Algorithm: "aes-192-ctr"},
	{ASN1: true},
	{ASN1: true, Encoding: "hex", Algorithm: "aes-128-cbc"},
}

// FuzzDecodeEnvelope feeds arbitrary bytes to the envelope decoder of
// every container and encoding, then to the HMAC check and the decryption
// that follows it, with a fixed key standing in for the derived one (the
// key derivation takes any salt and is not what is fuzzed). Nothing may
// panic, and every refusal must be one of the package's sentinel errors.
func FuzzDecodeEnvelope(f *testing.F) {
	seeds, err := filepath.Glob(filepath.Join("..", "..", "testdata", "filestore-encrypted", "*", "*.json"))
	if err != nil || len(seeds) == 0 {
		f.Fatalf("no seed envelopes: %v", err)
	}
	for _, name := range seeds {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(`{"hmac":"","ct":"","iv":{"type":"Buffer","data":[]},"salt":{"type":"Buffer","data":[]},"aad":"","at":{"type":"Buffer","data":[]}}`))
	f.Add([]byte(`{"hmac":"ÿ","ct":"\u0100","iv":{"type":"Buffer","data":[300]}}`))
	f.Add([]byte("0\x80"))

	ciphers := make([]*Cipher, len(fuzzCiphers))
	for i, o := range fuzzCiphers {
		c, err := New("fuzz", o)
		if err != nil {
			f.Fatal(err)
		}
		ciphers[i] = c
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, c := range ciphers {
			env, err := c.parseEnvelope(data)
			if err != nil {
				if !errors.Is(err, ErrMalformed) {
					t.Fatalf("parse error %v is not ErrMalformed", err)
				}
				continue
			}
			key := make([]byte, c.alg.keySize)
			if err := c.checkHMAC(env, key); err != nil && !errors.Is(err, ErrWrongSecret) {
				t.Fatalf("HMAC error %v is not ErrWrongSecret", err)
			}
			pt, err := c.decryptAuthenticated(env, key)
			if err != nil && !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrUnsupported) {
				t.Fatalf("decryption error %v is neither ErrMalformed nor ErrUnsupported", err)
			}
			if err == nil {
				if _, err := unwrapSessionJSON(pt); err != nil && !errors.Is(err, ErrMalformed) {
					t.Fatalf("unwrap error %v is not ErrMalformed", err)
				}
			}
		}
	})
}
