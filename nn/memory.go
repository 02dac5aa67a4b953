package nn

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
)

// MemoryReporter is implemented by backends that can say how much memory new buffers may take:
// the CPU backend (what the operating system has available) and the Metal backend (the GPU's
// recommended working set less what it has allocated). Commands plan a run against it before
// they allocate (gpt.MemoryPlan).
type MemoryReporter interface {
	// AvailableMemory reports the bytes that new buffers can take without the device running
	// out of memory or swapping.
	AvailableMemory() (int64, error)
}

// AvailableMemory reports the memory the operating system has available for new allocations: on
// Linux MemAvailable of /proc/meminfo, or less where the process's memory cgroup (a container's
// limit) leaves less; on macOS the free, inactive and speculative pages of vm_stat.
func (c *CPU) AvailableMemory() (int64, error) { return systemAvailableMemory() }

// SystemAvailableMemory reports the memory the operating system has available for new allocations
// (see CPU.AvailableMemory), for what the process holds whatever the backend: text read whole,
// host copies.
func SystemAvailableMemory() (int64, error) { return systemAvailableMemory() }

var _ MemoryReporter = (*CPU)(nil)

// parseMeminfo returns MemAvailable of a Linux /proc/meminfo, in bytes.
func parseMeminfo(b []byte) (int64, error) {
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, "MemAvailable:"); ok {
			f := strings.Fields(rest)
			if len(f) == 2 && f[1] == "kB" {
				if n, err := strconv.ParseInt(f[0], 10, 64); err == nil {
					return n << 10, nil
				}
			}
			return 0, fmt.Errorf("nn: cannot read /proc/meminfo line %q", strings.TrimSpace(line))
		}
	}
	return 0, errors.New("nn: /proc/meminfo has no MemAvailable (Linux before 3.14)")
}

// cgroupRoom returns the memory the cgroups of a process allow it to take still: the least, over
// its memory cgroup and that cgroup's ancestors that set a limit, of the limit less the memory in
// use (less the inactive file cache, which the kernel reclaims before it fails an allocation).
// root is where the cgroup file systems are mounted (/sys/fs/cgroup) and procCgroup the process's
// /proc/self/cgroup. ok is false where no cgroup sets a limit, or none can be read. Both cgroup v2
// (memory.max) and v1 (memory/memory.limit_in_bytes) are read.
func cgroupRoom(root string, procCgroup []byte) (room int64, ok bool) {
	room = int64(^uint64(0) >> 1)
	for line := range strings.Lines(string(procCgroup)) {
		f := strings.SplitN(strings.TrimSpace(line), ":", 3)
		if len(f) != 3 {
			continue
		}
		var dir, limitFile, usageFile, inactiveKey string
		switch {
		case f[0] == "0" && f[1] == "": // v2
			dir, limitFile, usageFile, inactiveKey = root, "memory.max", "memory.current", "inactive_file"
		case strings.Contains(","+f[1]+",", ",memory,"): // v1
			dir, limitFile, usageFile, inactiveKey = filepath.Join(root, "memory"), "memory.limit_in_bytes", "memory.usage_in_bytes", "total_inactive_file"
		default:
			continue
		}
		for p := path.Clean(f[2]); ; p = path.Dir(p) {
			d := filepath.Join(dir, filepath.FromSlash(p))
			limit, err := readCgroupInt(filepath.Join(d, limitFile))
			if err == nil && limit < 1<<60 { // "max" and v1's page-rounded MaxInt64 mean no limit
				if usage, err := readCgroupInt(filepath.Join(d, usageFile)); err == nil {
					usage -= cgroupStat(filepath.Join(d, "memory.stat"), inactiveKey)
					room, ok = min(room, max(limit-usage, 0)), true
				}
			}
			if p == "/" || p == "." {
				break
			}
		}
	}
	return room, ok
}

// readCgroupInt reads a cgroup file holding one number ("max" reads as no limit).
func readCgroupInt(name string) (int64, error) {
	b, err := os.ReadFile(name)
	if err != nil {
		return 0, err
	}
	s := string(bytes.TrimSpace(b))
	if s == "max" {
		return int64(^uint64(0) >> 1), nil
	}
	return strconv.ParseInt(s, 10, 64)
}

// cgroupStat returns the value of key in a cgroup's memory.stat, or 0.
func cgroupStat(name, key string) int64 {
	f, err := os.Open(name)
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), " "); ok && k == key {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	return 0
}

// parseVMStat returns the free, inactive and speculative memory of the output of macOS's vm_stat,
// in bytes: what the system can give a process without paging out memory in use.
func parseVMStat(out []byte) (int64, error) {
	lines := strings.Split(string(out), "\n")
	// "Mach Virtual Memory Statistics: (page size of 16384 bytes)"
	_, size, ok := strings.Cut(lines[0], "page size of ")
	page, err := strconv.ParseInt(strings.TrimSuffix(size, " bytes)"), 10, 64)
	if !ok || err != nil || page <= 0 {
		return 0, fmt.Errorf("nn: cannot read the page size in vm_stat's %q", lines[0])
	}
	var pages int64
	found := 0
	for _, l := range lines[1:] {
		k, v, ok := strings.Cut(l, ":")
		switch k {
		case "Pages free", "Pages inactive", "Pages speculative":
		default:
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), "."), 10, 64)
		if !ok || err != nil {
			return 0, fmt.Errorf("nn: cannot read vm_stat's %q", l)
		}
		pages += n
		found++
	}
	if found != 3 {
		return 0, errors.New("nn: vm_stat lacks the free, inactive or speculative page counts")
	}
	return pages * page, nil
}
