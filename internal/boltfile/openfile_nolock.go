//go:build windows || plan9 || solaris || aix || android

package boltfile

import (
	"os"
	"time"
)

// flockPlatform is whether bbolt locks its files with flock here.
const flockPlatform = false

// lockFile does nothing where bbolt does not lock with flock: bbolt's own
// lock there is of another kind, taken after OpenFile returns.
func lockFile(*os.File, bool, time.Duration) error { return nil }
