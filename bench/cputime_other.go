//go:build !unix

package bench

import "time"

// CPUTime is unavailable on this system: ok is false.
func CPUTime() (d time.Duration, ok bool) { return 0, false }
