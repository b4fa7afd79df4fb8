package redisstore

import (
	"fmt"
	"strings"

	"github.com/boltsession/boltsession"
)

// A handle is a session's handle, boltsession.Handle(ID): 64 lowercase hex
// characters. The per-session layout keys each session by it and stores it
// wherever it must name a session (owner index members, the marker of a
// replaced session, a pending record's tag), so that no session ID is kept
// in Redis. A type of its own keeps an ID from being passed where a handle
// belongs.
type handle string

// handleOf returns the handle of session id.
func handleOf(id string) handle { return handle(boltsession.Handle(id)) }

// handleLen is the length of a handle: hex SHA-256.
const handleLen = 64

// isHandle reports whether s is a handle as the store writes it.
func isHandle(s string) bool {
	if len(s) != handleLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// parseHandle returns the handle an operator gave, in either case of hex.
func parseHandle(s string) (handle, error) {
	h := strings.ToLower(s)
	if !isHandle(h) {
		return "", fmt.Errorf("boltsession: redisstore: %q is not a session handle (64 hex characters)", s)
	}
	return handle(h), nil
}
