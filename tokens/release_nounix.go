//go:build !unix

package tokens

import "unsafe"

// releasePages does nothing: without mmap, tokens are read into memory.
func releasePages([]byte, unsafe.Pointer, int) {}
