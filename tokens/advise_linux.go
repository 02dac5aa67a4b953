package tokens

import "syscall"

// adviseRandom tells the kernel that b is read at random: no read-ahead around each fault.
func adviseRandom(b []byte) { _ = syscall.Madvise(b, syscall.MADV_RANDOM) }
