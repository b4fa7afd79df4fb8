// Package express is for apps that move from Node's express-session to Go
// with zero logouts: Cookie reads and writes express-session's signed
// cookies, so the same users stay signed in when the same secret and cookie
// name serve them from Go, and ImportFileStore copies the sessions of a
// session-file-store directory into a boltsession store. The repository's
// docs/MIGRATING-FROM-EXPRESS.md is the step-by-step guide, with every way
// the Manager behaves differently from express-session and what to set
// where an option can change it.
//
// It is a module of its own, so that an app that embeds the session store
// without coming from Node pulls in none of what this package needs
// (golang.org/x/crypto, for the scrypt of session-file-store's encrypted
// files).
package express
