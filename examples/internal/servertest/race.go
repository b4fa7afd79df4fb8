//go:build race

package servertest

// raceEnabled is true when the tests run with -race, so the programs they
// start are built with it too.
const raceEnabled = true
