package nn

import "os"

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
