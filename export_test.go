package boltsession

// The external tests (package boltsession_test) use the internal tests'
// clock, so there is one settable clock for both.
type TestClock = testClock

var NewTestClock = newTestClock

// FormatVersion is the session file format version this release writes.
const FormatVersion = formatVersion

// KeyOf is the key a session's record has in the file's buckets.
var KeyOf = keyOf
