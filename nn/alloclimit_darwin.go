//go:build darwin

package nn

import (
	"encoding/binary"
	"syscall"
)

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
