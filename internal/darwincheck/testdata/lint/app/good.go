// Package app uses the stand-in darwinkit the way the lint accepts (good.go) and in every way it
// reports (bad.go, where a want comment on a line names the problem reported there).
package app

import (
	"unsafe"

	"github.com/progrium/darwinkit/macos/metal"
	"github.com/progrium/darwinkit/objc"
)

// good sends each message with objc.Call on raw handles, as darwinkit would marshal it.
func good(enc metal.ComputeCommandEncoderObject, dev metal.DeviceObject, pso metal.ComputePipelineStateObject,
	buf metal.BufferObject, fn metal.FunctionObject, cb metal.CommandBufferObject, bytes unsafe.Pointer) metal.ComputePipelineStateObject {
	objc.Call[objc.Void](enc, objc.Sel("setComputePipelineState:"), pso.Object)
	objc.Call[objc.Void](enc, objc.Sel("setBuffer:offset:atIndex:"), buf, uint(0), uint(1)) // a struct embedding objc.Object
	objc.Call[objc.Void](enc, objc.Sel("setBuffer:offset:atIndex:"), nil, uint(0), uint(1))
	objc.Call[objc.Void](enc, objc.Sel("setBytes:length:atIndex:"), bytes, uint(4), uint(2))
	objc.Call[objc.Void](enc, objc.Sel("dispatchThreadgroups:threadsPerThreadgroup:"), metal.Size{Width: 1}, metal.Size{Width: 32})
	objc.Call[objc.Void](enc, objc.Sel("endEncoding")) // promoted from the embedded CommandEncoderObject
	objc.Call[objc.Void](enc, objc.Sel("setLabel:"), "kernels")
	const sel = "setLabel:"
	objc.Call[objc.Void](enc, objc.Sel(sel), "named constant")

	// A named type of the same kind is marshalled the same: uint for ResourceOptions.
	_ = objc.Call[metal.BufferObject](dev, objc.Sel("newBufferWithLength:options:"), uint(16), uint(0))
	_ = objc.Call[objc.Object](dev, objc.Sel("name")) // an object where darwinkit reads a string (an NSString)

	k := objc.Call[metal.Kernel](metal.KernelClass.Alloc(), objc.Sel("initWithDevice:alpha:"), dev.Object, float32(0.5))
	objc.Call[objc.Void](k, objc.Sel("setEnabled:"), true) // a bool argument is fine: only bool results are not
	objc.Call[objc.Void](k, objc.Sel("encodeToCommandBuffer:"), cb.Object)

	// darwinkit methods that reach neither objc.WrapAsProtocol nor objc.Call[bool].
	enc.SetBytesLengthAtIndex(bytes, 4, 2)
	enc.EndEncoding()
	_ = dev.Name()

	// An objc.Object result where darwinkit reads a typed object.
	return metal.ComputePipelineStateObject{Object: objc.Call[objc.Object](dev,
		objc.Sel("newComputePipelineStateWithFunction:error:"), fn.Object, unsafe.Pointer(nil))}
}
