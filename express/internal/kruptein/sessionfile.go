package kruptein

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
)

// DecryptSessionFile returns the session JSON held in a file that
// session-file-store 1.5 wrote with its `secret` option: the text its
// default encoder (JSON.stringify) produced, byte for byte.
//
// session-file-store hands kruptein the encoder's output, a string, and
// kruptein JSON.stringifies what it is given, so the plaintext is a JSON
// string literal whose content is the session JSON (session-file-store
// parses it twice on the way back). A plaintext that is not a JSON string
// gives ErrMalformed; the other errors are Decrypt's.
func (c *Cipher) DecryptSessionFile(data []byte) ([]byte, error) {
	pt, err := c.Decrypt(data)
	if err != nil {
		return nil, err
	}
	return unwrapSessionJSON(pt)
}

// unwrapSessionJSON undoes kruptein's JSON.stringify of the string
// session-file-store gave it.
func unwrapSessionJSON(pt []byte) ([]byte, error) {
	var s string
	if t := bytes.TrimSpace(pt); len(t) == 0 || t[0] != '"' || json.Unmarshal(t, &s) != nil {
		return nil, fmt.Errorf("%w: the plaintext is not the JSON string session-file-store encrypts", ErrMalformed)
	}
	return []byte(s), nil
}

// EncryptSessionFile returns the file session-file-store 1.5 writes for a
// session whose JSON is sessionJSON (valid UTF-8), drawing randomness from
// rand as Encrypt does.
func (c *Cipher) EncryptSessionFile(sessionJSON []byte, rand io.Reader) ([]byte, error) {
	return c.Encrypt(appendJSONString(nil, string(sessionJSON)), rand)
}
