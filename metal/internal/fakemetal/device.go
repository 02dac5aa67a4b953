//go:build fakemetal && cgo

package fakemetal

/*
#cgo CFLAGS: -x objective-c
void *MTLCreateSystemDefaultDevice(void); // fakemetal.m
*/
import "C"

import "unsafe"

// NewDevice returns what MTLCreateSystemDefaultDevice returns: a new fake MTLDevice owned by the
// caller (release it), or nil with FAKEMETAL_NO_DEVICE=1. It is for tests that drive the fake
// directly through darwinkit (a _test.go file cannot call C); the metal package gets its device
// from its own cgo shim.
func NewDevice() unsafe.Pointer { return C.MTLCreateSystemDefaultDevice() }
