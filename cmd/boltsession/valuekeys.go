package main

import (
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"unicode"
)

// Value keys (boltsession.BoltOptions.ValueKeys) come from an environment
// variable or a file, never from the command line, where ps and the
// shell's history would show them. Both hold the same text:
//
//	# the first key seals; every key opens
//	xKwxzXaQ81WBk1HVb8Yvt94fUUejkfzkrKCVwde7ss0=
//	YPuLxav4+AzWTG2lsZzd3MYaD3UFEzp71bqioOmW8NY=
//
// each key the base64 (standard or URL-safe alphabet, padding optional)
// of 16, 24 or 32 random bytes (`openssl rand -base64 32`), separated by
// line breaks, spaces or commas (an environment variable holds them on one
// line: KEYS="new,old"); a line whose first non-space character is "#" is
// a comment. The first key seals the records a command writes; every key
// opens records.
const valueKeysFormat = "one base64 key (16, 24 or 32 bytes) a line, or separated by commas; the first seals, every key opens; # starts a comment line"

// maxValueKeysFile bounds a value keys file: a longer one is the wrong file.
const maxValueKeysFile = 64 << 10

// valueKeyFlags are the flags that name where a session file's value keys
// are, for every command that opens one.
type valueKeyFlags struct {
	env, file string
}

func addValueKeyFlags(fs *flag.FlagSet) *valueKeyFlags {
	v := &valueKeyFlags{}
	fs.StringVar(&v.env, "value-keys-env", "", "environment variable `NAME` holding the file's value keys, if its values are encrypted: base64 keys (16, 24 or 32 bytes) separated by commas, the first sealing")
	fs.StringVar(&v.file, "value-keys-file", "", "file `PATH` (mode 0600) holding the file's value keys, if its values are encrypted: one base64 key (16, 24 or 32 bytes) a line, the first sealing; # starts a comment")
	return v
}

// given reports whether either flag was given.
func (v *valueKeyFlags) given() bool { return v.env != "" || v.file != "" }

// keys returns the value keys the flags name, nil when neither was given.
// An error never shows a key.
func (v *valueKeyFlags) keys() ([][]byte, error) {
	switch {
	case v.env != "" && v.file != "":
		return nil, usagef("give the value keys with --value-keys-env or --value-keys-file, not both")
	case v.env != "":
		text, ok := os.LookupEnv(v.env)
		if !ok || strings.TrimSpace(text) == "" {
			return nil, usagef("--value-keys-env %s: the environment variable is not set or empty", v.env)
		}
		keys, err := parseValueKeys(text)
		if err != nil {
			return nil, fmt.Errorf("--value-keys-env %s: %w", v.env, err)
		}
		return keys, nil
	case v.file != "":
		text, err := readValueKeysFile(v.file)
		if err != nil {
			return nil, err
		}
		keys, err := parseValueKeys(text)
		if err != nil {
			return nil, fmt.Errorf("--value-keys-file %s: %w", v.file, err)
		}
		return keys, nil
	}
	return nil, nil
}

// readValueKeysFile reads a value keys file, refusing one that group or
// others may read (as LoadOrCreateKey refuses such a cookie key file):
// whoever reads the keys reads every session's values.
func readValueKeysFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("--value-keys-file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("--value-keys-file %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("--value-keys-file %s: not a regular file", path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 && runtime.GOOS != "windows" {
		return "", fmt.Errorf("--value-keys-file %s has mode %04o: group or others may read it, and whoever reads the keys reads every session's values (chmod 600 %s)",
			path, perm, path)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxValueKeysFile+1))
	if err != nil {
		return "", fmt.Errorf("--value-keys-file %s: %w", path, err)
	}
	if len(b) > maxValueKeysFile {
		return "", fmt.Errorf("--value-keys-file %s: longer than %d KiB: not a file of value keys", path, maxValueKeysFile>>10)
	}
	return string(b), nil
}

// parseValueKeys decodes the text of a value keys file or variable (see
// valueKeysFormat). Errors name a key by its position, never by its text.
func parseValueKeys(text string) ([][]byte, error) {
	var keys [][]byte
	seen := map[string]int{}
	for line := range strings.Lines(text) {
		if strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		fields := strings.FieldsFunc(line, func(r rune) bool { return r == ',' || unicode.IsSpace(r) })
		for _, field := range fields {
			n := len(keys) + 1
			key, err := decodeBase64Key(field)
			if err != nil {
				return nil, fmt.Errorf("value key %d: %w", n, err)
			}
			switch len(key) {
			case 16, 24, 32:
			default:
				return nil, fmt.Errorf("value key %d holds %d bytes; a value key is 16, 24 or 32 random bytes (openssl rand -base64 32)", n, len(key))
			}
			if first, dup := seen[string(key)]; dup {
				return nil, fmt.Errorf("value key %d is value key %d again", n, first)
			}
			seen[string(key)] = n
			keys = append(keys, key)
		}
	}
	if len(keys) == 0 {
		return nil, errors.New("no value key in it (" + valueKeysFormat + ")")
	}
	return keys, nil
}

// decodeBase64Key decodes either base64 alphabet, with or without padding.
// Hex is not accepted: a hex string is valid base64 too, and would decode
// to other bytes than it spells.
func decodeBase64Key(s string) ([]byte, error) {
	s = strings.TrimRight(s, "=")
	enc := base64.RawStdEncoding
	if strings.ContainsAny(s, "-_") {
		enc = base64.RawURLEncoding
	}
	key, err := enc.Strict().DecodeString(s)
	if err != nil {
		// The decoder's error names a position, never the text.
		return nil, fmt.Errorf("not base64: %w", err)
	}
	return key, nil
}
