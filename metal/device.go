//go:build (darwin || fakemetal) && cgo

package metal

// darwinkit v0.5.0 binds Objective-C classes and protocols, not C functions, so the two C entry
// points that return a device are called here, and supportsFamily:, whose BOOL result darwinkit
// cannot read safely (objc.Call[bool] hands libffi a 1-byte result slot; libffi writes a whole
// 8-byte ffi_arg). This is the only C in the package: go/types checks nothing written as C.xxx
// (see internal/darwincheck), so keep it this small.

/*
#cgo CFLAGS: -x objective-c
#cgo LDFLAGS: -framework Metal -framework Foundation -framework CoreGraphics
#import <Metal/Metal.h>

// kvgptCopyDevice returns the system's default GPU or, where there is none (some headless and
// command-line processes), the first of all GPUs; retained (+1, the caller releases it), or NULL.
static void *kvgptCopyDevice(void) {
	id<MTLDevice> dev = MTLCreateSystemDefaultDevice();
	if (dev != nil) {
		return (void *)dev;
	}
	NSArray<id<MTLDevice>> *all = MTLCopyAllDevices();
	if (all != nil && [all count] > 0) {
		dev = [[all objectAtIndex:0] retain];
	}
	[all release];
	return (void *)dev;
}

// kvgptSupportsFamily reports whether the device supports the GPU family (an MTLGPUFamily value).
static int kvgptSupportsFamily(void *dev, long family) {
	return [(id<MTLDevice>)dev supportsFamily:(MTLGPUFamily)family] ? 1 : 0;
}
*/
import "C"

import (
	"unsafe"

	"github.com/progrium/darwinkit/macos/metal"
	"github.com/progrium/darwinkit/objc"
)

// copyDevice returns the GPU kvgpt runs on, owned by the caller (Release it), or a nil object if
// the machine has no Metal device.
func copyDevice() metal.DeviceObject {
	return metal.DeviceObject{Object: objc.ObjectFrom(unsafe.Pointer(C.kvgptCopyDevice()))}
}

// supportsFamily reports whether dev supports the GPU family f ([MTLDevice supportsFamily:]).
func supportsFamily(dev metal.DeviceObject, f metal.GPUFamily) bool {
	return C.kvgptSupportsFamily(dev.Ptr(), C.long(f)) != 0
}
