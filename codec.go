package boltsession

// CookieCodec turns a session ID into a cookie value and back. The Manager
// signs only the ID: the session's data never leaves the server.
//
// SecureCookie (the default, built from Options.Keys) is the built-in codec;
// the express module's Cookie reads and writes express-session's signed
// cookies.
type CookieCodec interface {
	// Encode returns the cookie value that carries id, signed (and
	// encrypted, if the codec does that) for the cookie called name.
	Encode(name, id string) (string, error)

	// Decode returns the ID that value carries. A value that is tampered,
	// truncated, signed by an unknown key, or not a cookie of this codec
	// gives an error; the Manager then starts a fresh session.
	Decode(name, value string) (string, error)
}
