package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/boltsession/boltsession"
)

// Sessions are named by their handles (boltsession.Handle: the hex SHA-256
// of the session ID), the key the file stores each one under. The file
// holds no session ID, so no command can print one; rm also takes an ID or
// a cookie value, and hashes it.

// handlePrefixLen is how much of a handle ls shows: the length the
// library's log lines name a session by, enough to tell sessions apart
// and to pass to show or rm.
const handlePrefixLen = 12

// minHandlePrefix is the shortest handle prefix show and rm accept, as git
// does with commit hashes.
const minHandlePrefix = 6

// handleLen is the length of a whole handle.
const handleLen = 64

// shortHandle is the prefix of handle that ls shows.
func shortHandle(handle string) string {
	if len(handle) <= handlePrefixLen {
		return handle
	}
	return handle[:handlePrefixLen]
}

// isHex reports whether s is hex digits only (either case).
func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// resolveHandle finds the one stored session whose handle is arg or
// starts with it: a whole handle must name a record; a prefix must be at
// least minHandlePrefix hex digits long and match exactly one; either
// case of hex is taken. Records
// past their expiry that the sweeper has not removed yet count too (rm
// removes them). An argument that is not hex is not echoed: it may be a
// session ID given by mistake.
func resolveHandle(ctx context.Context, s *boltsession.BoltStore, path, arg string) (string, error) {
	if arg == "" || len(arg) > handleLen || !isHex(arg) {
		return "", fmt.Errorf("%s: an argument is not a session handle (a handle is %d hex digits, as ls prints it, or a prefix of %d or more): for a session ID or a cookie value, use rm --id or rm --cookie",
			path, handleLen, minHandlePrefix)
	}
	prefix := strings.ToLower(arg)
	var found []string
	err := s.Scan(ctx, boltsession.ScanOptions{HandlePrefix: prefix, Expired: true, Limit: 2}, func(in boltsession.SessionInfo) error {
		found = append(found, in.Handle)
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	switch {
	case len(found) == 0:
		return "", fmt.Errorf("%s: no session %s: %w", path, prefix, boltsession.ErrNotFound)
	case len(prefix) < minHandlePrefix:
		return "", fmt.Errorf("%s: no session %s (a handle prefix needs at least %d hex digits)", path, prefix, minHandlePrefix)
	case len(found) > 1:
		return "", fmt.Errorf("%s: handle prefix %s matches more than one session; give more of the handle", path, prefix)
	}
	return found[0], nil
}

// storedHandle reports whether a record with the whole handle is stored
// (live or expired but not yet swept).
func storedHandle(ctx context.Context, s *boltsession.BoltStore, handle string) (bool, error) {
	found := false
	err := s.Scan(ctx, boltsession.ScanOptions{HandlePrefix: handle, Expired: true, Limit: 1}, func(in boltsession.SessionInfo) error {
		found = in.Handle == handle
		return errStopScan
	})
	if err != nil && !errors.Is(err, errStopScan) {
		return false, err
	}
	return found, nil
}

// errStopScan ends a Scan early without being an error of the command.
var errStopScan = errors.New("stop scan")
