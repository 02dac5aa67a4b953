//go:build !unix

package tokens

import (
	"io"
	"os"
)

// mapping holds a file read into memory where the system has no mmap.
type mapping struct{ data []byte }

func mapFile(f *os.File, size int64) (*mapping, error) {
	b := make([]byte, size)
	if _, err := io.ReadFull(io.NewSectionReader(f, 0, size), b); err != nil {
		return nil, err
	}
	return &mapping{data: b}, nil
}

func (m *mapping) close() error { m.data = nil; return nil }

func (m *mapping) mapped() bool { return false }

// bytesAs decodes the n little-endian elements of type T that b starts with.
func bytesAs[T uint16 | uint32](b []byte, n int) []T { return decodeLE[T](b, n) }
