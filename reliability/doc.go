// Package reliability holds the tests that try to break boltsession: crash
// durability under SIGKILL, a full or read-only disk, corrupt records,
// hostile cookies, and a bounded soak under mixed load. It has no API; it is a
// module of its own so that its test-only dependencies stay out of the root
// module.
package reliability
