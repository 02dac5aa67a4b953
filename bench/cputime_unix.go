//go:build unix

package bench

import (
	"syscall"
	"time"
)

// CPUTime returns the CPU time (user + system) the process has used so far, all threads together,
// including a BLAS library's own. On a shared machine it is a steadier measure of work than the
// wall clock; ok is false where the system does not say.
func CPUTime() (d time.Duration, ok bool) {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}
