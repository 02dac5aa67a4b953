//go:build darwin

package nn

import (
	"encoding/binary"
	"fmt"
	"os/exec"
	"syscall"
)

// systemAvailableMemory returns the free, inactive and speculative memory that vm_stat reports
// (the standard library has no call for it, and kvgpt takes no dependency for one).
func systemAvailableMemory() (int64, error) {
	out, err := exec.Command("/usr/bin/vm_stat").Output()
	if err != nil {
		return 0, fmt.Errorf("nn: vm_stat: %w", err)
	}
	return parseVMStat(out)
}

// physicalMemory returns the machine's memory in bytes (sysctl hw.memsize), 0 if unknown.
func physicalMemory() int64 {
	s, err := syscall.Sysctl("hw.memsize")
	if err != nil || len(s) > 8 {
		return 0
	}
	// A uint64, little-endian; syscall.Sysctl drops one trailing zero byte (a C string's NUL).
	var b [8]byte
	copy(b[:], s)
	return int64(binary.LittleEndian.Uint64(b[:]))
}

// addressSpaceLimit returns 0: on macOS the CPU backend checks the machine's memory only.
func addressSpaceLimit() int64 { return 0 }

// addressSpaceUsed returns 0: not needed where addressSpaceLimit is 0.
func addressSpaceUsed() int64 { return 0 }
