package kruptein

import (
	"bytes"
	"encoding/asn1"
	"encoding/json"
	"fmt"
	"unicode/utf8"
)

// envelope is what kruptein's set returns, and session-file-store writes
// as the whole file. ct, hmac and aad are strings in the configured
// encoding; iv, salt and at are bytes.
type envelope struct {
	ct   string
	hmac string
	iv   []byte
	salt []byte
	at   []byte // GCM only
	aad  string // GCM only
}

// parseEnvelope decodes the envelope's container (JSON, or DER when
// c.asn1), checking only its shape. Errors wrap ErrMalformed.
func (c *Cipher) parseEnvelope(data []byte) (*envelope, error) {
	if c.asn1 {
		return c.parseASN1(data)
	}
	return c.parseJSON(data)
}

// parseJSON reads kruptein's JSON envelope:
//
//	{"hmac":"…","ct":"…","iv":{"type":"Buffer","data":[…]},"salt":{…},"aad":"…","at":{…}}
//
// Keys are matched exactly, as JavaScript does (encoding/json alone would
// also accept "HMAC"). A Buffer must be in the shape JSON.stringify gives
// it. aad and at are read for GCM only, as kruptein does.
func (c *Cipher) parseJSON(data []byte) (*envelope, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		if bytes.HasPrefix(bytes.TrimSpace(data), []byte("{")) {
			return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
		}
		return nil, fmt.Errorf("%w: not a JSON envelope (was it written with use_asn1?): %w", ErrMalformed, err)
	}
	if top == nil {
		return nil, fmt.Errorf("%w: null instead of an envelope object", ErrMalformed)
	}
	env := new(envelope)
	var err error
	if env.hmac, err = jsonString(top, "hmac"); err != nil {
		return nil, err
	}
	if env.ct, err = jsonString(top, "ct"); err != nil {
		return nil, err
	}
	if env.iv, err = jsonBuffer(top, "iv"); err != nil {
		return nil, err
	}
	if env.salt, err = jsonBuffer(top, "salt"); err != nil {
		return nil, err
	}
	if c.alg.mode == modeGCM {
		if env.aad, err = jsonString(top, "aad"); err != nil {
			return nil, err
		}
		if env.at, err = jsonBuffer(top, "at"); err != nil {
			return nil, err
		}
	}
	return env, nil
}

func jsonString(top map[string]json.RawMessage, key string) (string, error) {
	raw, ok := top[key]
	if !ok {
		return "", fmt.Errorf("%w: no %q", ErrMalformed, key)
	}
	var s string
	if t := bytes.TrimSpace(raw); len(t) == 0 || t[0] != '"' || json.Unmarshal(t, &s) != nil {
		return "", fmt.Errorf("%w: %q is not a string", ErrMalformed, key)
	}
	return s, nil
}

// jsonBuffer reads a Node Buffer as JSON.stringify writes it.
func jsonBuffer(top map[string]json.RawMessage, key string) ([]byte, error) {
	raw, ok := top[key]
	if !ok {
		return nil, fmt.Errorf("%w: no %q", ErrMalformed, key)
	}
	var obj map[string]json.RawMessage
	var typ string
	var data []int
	if json.Unmarshal(raw, &obj) != nil || obj == nil ||
		json.Unmarshal(obj["type"], &typ) != nil || typ != "Buffer" ||
		json.Unmarshal(obj["data"], &data) != nil || data == nil {
		return nil, fmt.Errorf("%w: %q is not a serialized Buffer", ErrMalformed, key)
	}
	b := make([]byte, len(data))
	for i, v := range data {
		if v < 0 || v > 255 {
			return nil, fmt.Errorf("%w: %q holds %d, not a byte", ErrMalformed, key, v)
		}
		b[i] = byte(v)
	}
	return b, nil
}

// asn1Envelope and asn1EnvelopeGCM are kruptein's two ASN.1 schemas: a
// SEQUENCE of OCTET STRINGs in this order. asn1.js writes a string field
// as its UTF-8 bytes.
type asn1Envelope struct {
	CT, HMAC, IV, Salt []byte
}

type asn1EnvelopeGCM struct {
	CT, HMAC, IV, Salt, AT, AAD []byte
}

// parseASN1 reads kruptein's use_asn1 envelope: DER, written as a string
// in the configured encoding (for "binary", one character per DER byte,
// which session-file-store stores as UTF-8 like any string).
func (c *Cipher) parseASN1(data []byte) (*envelope, error) {
	if !utf8.Valid(data) {
		return nil, fmt.Errorf("%w: not UTF-8 text", ErrMalformed)
	}
	der, err := c.enc.decode(string(data))
	if err != nil {
		return nil, fmt.Errorf("%w: not an ASN.1 envelope in the configured encoding: %w", ErrMalformed, err)
	}
	var fields [][]byte
	var rest []byte
	if c.alg.mode == modeGCM {
		var e asn1EnvelopeGCM
		rest, err = asn1.Unmarshal(der, &e)
		fields = [][]byte{e.CT, e.HMAC, e.IV, e.Salt, e.AT, e.AAD}
	} else {
		var e asn1Envelope
		rest, err = asn1.Unmarshal(der, &e)
		fields = [][]byte{e.CT, e.HMAC, e.IV, e.Salt}
	}
	if err != nil {
		return nil, fmt.Errorf("%w: not kruptein's ASN.1 envelope: %w", ErrMalformed, err)
	}
	if len(rest) > 0 {
		return nil, fmt.Errorf("%w: %d bytes after the ASN.1 envelope", ErrMalformed, len(rest))
	}
	// kruptein turns ct, hmac and aad back into strings with
	// Buffer.toString(), which decodes UTF-8.
	for _, i := range []int{0, 1, 5} {
		if i < len(fields) && !utf8.Valid(fields[i]) {
			return nil, fmt.Errorf("%w: ASN.1 string field %d is not UTF-8", ErrMalformed, i)
		}
	}
	env := &envelope{ct: string(fields[0]), hmac: string(fields[1]), iv: fields[2], salt: fields[3]}
	if len(fields) == 6 {
		env.at, env.aad = fields[4], string(fields[5])
	}
	return env, nil
}

// marshal writes the envelope as kruptein's set does: JSON.stringify of
// {hmac, ct, iv, salt, aad, at} in that order, or the DER of the schema
// encoded as a string.
func (c *Cipher) marshal(env *envelope) ([]byte, error) {
	gcm := c.alg.mode == modeGCM
	if c.asn1 {
		var der []byte
		var err error
		if gcm {
			der, err = asn1.Marshal(asn1EnvelopeGCM{[]byte(env.ct), []byte(env.hmac), env.iv, env.salt, env.at, []byte(env.aad)})
		} else {
			der, err = asn1.Marshal(asn1Envelope{[]byte(env.ct), []byte(env.hmac), env.iv, env.salt})
		}
		if err != nil {
			return nil, fmt.Errorf("boltsession: kruptein: %w", err)
		}
		return []byte(c.enc.encode(der)), nil
	}
	b := append([]byte(nil), `{"hmac":`...)
	b = appendJSONString(b, env.hmac)
	b = append(b, `,"ct":`...)
	b = appendJSONString(b, env.ct)
	b = append(b, `,"iv":`...)
	b = appendJSONBuffer(b, env.iv)
	b = append(b, `,"salt":`...)
	b = appendJSONBuffer(b, env.salt)
	if gcm {
		b = append(b, `,"aad":`...)
		b = appendJSONString(b, env.aad)
		b = append(b, `,"at":`...)
		b = appendJSONBuffer(b, env.at)
	}
	return append(b, '}'), nil
}
