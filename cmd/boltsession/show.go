package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"slices"
	"time"

	"github.com/boltsession/boltsession"
	"github.com/boltsession/boltsession/internal/jsonvalue"
)

var showCommand = &command{
	name:    "show",
	usage:   "FILE HANDLE [--value-keys-env NAME | --value-keys-file PATH] [--json]",
	summary: "Show one session: its times, owner and values, each value decoded from msgpack to JSON (binary as base64).",
	example: `$ boltsession show sessions.db 63f94b520713
handle    63f94b520713c36c9e528958e18922787d89852385bb3ec14346b361c9399b91
owner     user-42
created   2026-11-26T09:12:40Z
expires   2026-11-27T09:12:40Z
size      212 bytes
values
  cart    [{"sku":"A-113","qty":2}]
  csrf    "q83vEjRWeJA="
  views   17

HANDLE is the session's handle as ls prints it, whole or an unambiguous
prefix of at least 6 hex digits. For a file whose values are encrypted,
give the value keys: the values are shown decrypted.`,
	json: `{"handle":"63f94b520713c36c9e528958e18922787d89852385bb3ec14346b361c9399b91","created":"2026-11-26T09:12:40Z","expires":"2026-11-27T09:12:40Z","expired":true,"owner":"user-42","maxage":"720h0m0s","size":212,"values":{"views":17,"csrf":"q83vEjRWeJA="}}`,
	run:  runShow,
}

func runShow(e *env, c *command, args []string) error {
	fs := flag.NewFlagSet("show", flag.ContinueOnError)
	vk := addValueKeyFlags(fs)
	asJSON := fs.Bool("json", false, "print one JSON object")
	pos, err := parseExactly(e, c, fs, args, "FILE", "HANDLE")
	if err != nil {
		return err
	}
	valueKeys, err := vk.keys()
	if err != nil {
		return err
	}
	path := pos[0]
	s, err := openExisting(path, valueKeys)
	if err != nil {
		return err
	}
	defer s.Close()
	handle, err := resolveHandle(e.ctx, s, path, pos[1])
	if err != nil {
		return err
	}
	var info *boltsession.SessionInfo
	err = s.Scan(e.ctx, boltsession.ScanOptions{HandlePrefix: handle, Expired: true, Limit: 1, Values: true}, func(in boltsession.SessionInfo) error {
		if in.Handle == handle {
			info = &in
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if info == nil { // removed between resolving and reading: not possible while we hold the file
		return fmt.Errorf("%s: no session %s: %w", path, handle, boltsession.ErrNotFound)
	}
	if info.Err != nil {
		return fmt.Errorf("%s: session %s: %w", path, shortHandle(handle), info.Err)
	}

	keys := make([]string, 0, len(info.Values))
	for k := range info.Values {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	rendered := make(map[string]json.RawMessage, len(keys))
	for _, k := range keys {
		j, err := jsonvalue.Readable(info.Values[k])
		if err != nil {
			return fmt.Errorf("%s: session %s: value %q: %w", path, shortHandle(handle), k, err)
		}
		rendered[k] = j
	}

	if *asJSON {
		out := struct {
			Handle  string                     `json:"handle"`
			Created time.Time                  `json:"created"`
			Expires time.Time                  `json:"expires"`
			Expired bool                       `json:"expired,omitempty"`
			Owner   string                     `json:"owner,omitempty"`
			MaxAge  string                     `json:"maxage,omitempty"`
			Size    int                        `json:"size"`
			Values  map[string]json.RawMessage `json:"values"`
		}{handle, info.Created.UTC(), info.Expires.UTC(), info.Expired, info.Owner, "", info.Size, rendered}
		if info.MaxAge != 0 {
			out.MaxAge = info.MaxAge.String()
		}
		return writeJSON(e, out)
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "handle    %s\n", handle)
	if info.Owner != "" {
		fmt.Fprintf(&b, "owner     %s\n", printable(info.Owner))
	}
	fmt.Fprintf(&b, "created   %s\n", textTime(info.Created))
	expires := textTime(info.Expires)
	if info.Expired {
		expires += " (expired, not yet swept)"
	}
	fmt.Fprintf(&b, "expires   %s\n", expires)
	if info.MaxAge != 0 {
		fmt.Fprintf(&b, "maxage    %s\n", info.MaxAge)
	}
	fmt.Fprintf(&b, "size      %d bytes\n", info.Size)
	b.WriteString("values\n")
	width := 0
	for _, k := range keys {
		width = max(width, len(printable(k)))
	}
	for _, k := range keys {
		fmt.Fprintf(&b, "  %-*s  %s\n", width, printable(k), rendered[k])
	}
	if len(keys) == 0 {
		b.WriteString("  (none)\n")
	}
	_, err = e.stdout.Write(b.Bytes())
	return err
}
