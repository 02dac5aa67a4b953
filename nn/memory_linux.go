//go:build linux

package nn

import (
	"bytes"
	"os"
	"strconv"
	"syscall"
)

// systemAvailableMemory returns MemAvailable of /proc/meminfo, or the room the process's memory
// cgroups leave where that is less (see cgroupRoom).
func systemAvailableMemory() (int64, error) {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0, err
	}
	n, err := parseMeminfo(b)
	if err != nil {
		return 0, err
	}
	if cg, err := os.ReadFile("/proc/self/cgroup"); err == nil {
		if room, ok := cgroupRoom("/sys/fs/cgroup", cg); ok {
			n = min(n, room)
		}
	}
	return n, nil
}

// physicalMemory returns the machine's memory in bytes, 0 if unknown.
func physicalMemory() int64 {
	var si syscall.Sysinfo_t
	if syscall.Sysinfo(&si) != nil {
		return 0
	}
	return int64(si.Totalram) * int64(si.Unit)
}

// addressSpaceLimit returns the process's limit on its address space (ulimit -v) in bytes, 0 if
// there is none. Beyond it the Go runtime cannot map memory and stops the process with a fatal
// error.
func addressSpaceLimit() int64 {
	var rl syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_AS, &rl) != nil || rl.Cur >= 1<<62 { // RLIM_INFINITY
		return 0
	}
	return int64(rl.Cur)
}

// addressSpaceUsed returns the size of the process's address space in bytes (VmSize), 0 if
// unknown.
func addressSpaceUsed() int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := bytes.Fields(b)
	if len(f) == 0 {
		return 0
	}
	pages, err := strconv.ParseInt(string(f[0]), 10, 64)
	if err != nil {
		return 0
	}
	return pages * int64(os.Getpagesize())
}
