//go:build linux || darwin

package nn

import "syscall"

// addressSpaceLimit returns the process's limit on its address space or data segment (ulimit -v,
// ulimit -d), whichever is lower, in bytes; 0 if there is none. Beyond it the Go runtime cannot
// map memory and stops the process with a fatal error.
func addressSpaceLimit() int64 {
	limit := int64(0)
	for _, r := range []int{syscall.RLIMIT_AS, syscall.RLIMIT_DATA} {
		var rl syscall.Rlimit
		if syscall.Getrlimit(r, &rl) != nil || rl.Cur >= 1<<62 { // RLIM_INFINITY
			continue
		}
		if limit == 0 || int64(rl.Cur) < limit {
			limit = int64(rl.Cur)
		}
	}
	return limit
}
