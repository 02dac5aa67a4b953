package tokens

import (
	"syscall"
	"unsafe"
)

// adviseRandom tells the kernel that b is read at random: no read-ahead around each fault.
func adviseRandom(b []byte) { _ = syscall.Madvise(b, syscall.MADV_RANDOM) }

// faultAround is the most Linux maps at once when a read faults on a file mapping whose pages are
// in the page cache: the pages around it (fault_around_bytes, 64 KiB by default), or a whole
// large folio of the page cache, up to 2 MiB (a PMD), however the mapping was advised.
const faultAround = 2 << 20

// releasePages unmaps from the process the pages of the file mapping mem around the n bytes at p,
// once read: the 2 MiB blocks (faultAround) that hold them (MADV_DONTNEED; the file's pages stay
// in the page cache, and a later read maps them again). A run reads a few tokens anywhere in a
// corpus at each step: without it, every block read would stay in the process's resident memory,
// which would climb towards the corpus's size over a long run.
func releasePages(mem []byte, p unsafe.Pointer, n int) {
	if n <= 0 {
		return
	}
	off := int(uintptr(p) - uintptr(unsafe.Pointer(unsafe.SliceData(mem)))) // mem is page aligned
	lo := off &^ (faultAround - 1)
	hi := min((off+n+faultAround-1)&^(faultAround-1), len(mem))
	_ = syscall.Madvise(mem[lo:hi], syscall.MADV_DONTNEED)
}
