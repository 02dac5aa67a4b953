//go:build unix

package tokens

import (
	"os"
	"syscall"
	"unsafe"
)

// mapping is a read-only memory mapping of a file.
type mapping struct{ data []byte }

// mapFile maps the first size bytes of f read-only, with random access advised (a batch reads a
// few pages anywhere: read-ahead would only bring in pages no one reads).
func mapFile(f *os.File, size int64) (*mapping, error) {
	b, err := syscall.Mmap(int(f.Fd()), 0, int(size), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil, err
	}
	adviseRandom(b)
	return &mapping{data: b}, nil
}

func (m *mapping) close() error { return syscall.Munmap(m.data) }

// mapped reports whether the tokens are the file's pages (not a decoded copy).
func (m *mapping) mapped() bool { return littleEndian }

// bytesAs returns the n little-endian elements of type T that b starts with: in place where the
// machine is little-endian (b is a mapping's: page aligned, its offset a multiple of T's size),
// else decoded into a copy.
func bytesAs[T uint16 | uint32](b []byte, n int) []T {
	if !littleEndian {
		return decodeLE[T](b, n)
	}
	return unsafe.Slice((*T)(unsafe.Pointer(unsafe.SliceData(b))), n)
}
