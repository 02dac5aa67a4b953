//go:build unix && !linux

package tokens

import "unsafe"

// adviseRandom does nothing where package syscall has no madvise (macOS, the BSDs).
func adviseRandom([]byte) {}

// releasePages does nothing where package syscall has no madvise: pages read stay mapped until
// the system reclaims them.
func releasePages([]byte, unsafe.Pointer, int) {}
