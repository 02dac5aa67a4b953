//go:build unix && !linux

package tokens

// adviseRandom does nothing where package syscall has no madvise (macOS, the BSDs).
func adviseRandom([]byte) {}
