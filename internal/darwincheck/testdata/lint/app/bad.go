package app

import (
	"unsafe"

	"github.com/progrium/darwinkit/macos/metal"
	"github.com/progrium/darwinkit/objc"
)

// reachesWrapAsProtocol calls darwinkit functions whose bodies reach objc.WrapAsProtocol.
func reachesWrapAsProtocol(enc metal.ComputeCommandEncoderObject, dev metal.DeviceObject, pso metal.ComputePipelineStateObject) {
	enc.SetComputePipelineState(pso)           // want(a method that calls WrapAsProtocol) calls metal.ComputeCommandEncoderObject.SetComputePipelineState, which reaches objc.WrapAsProtocol (metal.ComputeCommandEncoderObject.SetComputePipelineState → objc.WrapAsProtocol)
	_ = metal.NewKernelWithDeviceAlpha(dev, 1) // want(a function that reaches WrapAsProtocol through another) (metal.NewKernelWithDeviceAlpha → metal.Kernel.InitWithDeviceAlpha → objc.WrapAsProtocol)
	set := enc.SetBufferOffsetAtIndex_         // want(a method value) calls metal.ComputeCommandEncoderObject.SetBufferOffsetAtIndex_, which reaches objc.WrapAsProtocol
	_ = set
	_ = objc.WrapAsProtocol("MTLDevice", dev) // want(WrapAsProtocol itself) calls objc.WrapAsProtocol: it panics
}

// reachesCallBool reads BOOL results through objc.Call[bool].
func reachesCallBool(dev metal.DeviceObject) {
	_ = dev.SupportsFamily(metal.GPUFamilyApple7)                                // want(a method that calls objc.Call[bool]) calls metal.DeviceObject.SupportsFamily, which reaches objc.Call[bool] (metal.DeviceObject.SupportsFamily → objc.Call[bool])
	_ = dev.IsApple7()                                                           // want(a method that reaches objc.Call[bool] through another) (metal.DeviceObject.IsApple7 → metal.DeviceObject.SupportsFamily → objc.Call[bool])
	_ = objc.Call[bool](dev, objc.Sel("supportsFamily:"), metal.GPUFamilyApple7) // want(objc.Call[bool] in the checked package) objc.Call[bool]: libffi writes
	read := objc.Call[bool]                                                      // want(objc.Call[bool] taken as a value) objc.Call[bool]: libffi writes
	_ = read
	type BOOL bool
	_ = objc.Call[BOOL](dev, objc.Sel("supportsFamily:"), metal.GPUFamilyApple7) // want(objc.Call of a named bool type) objc.Call[app.BOOL]: libffi writes
}

// badSelectors sends messages that darwinkit does not send, or not so.
func badSelectors(enc metal.ComputeCommandEncoderObject, dev metal.DeviceObject, buf metal.BufferObject, off int, bytes unsafe.Pointer) {
	objc.Call[objc.Void](enc, objc.Sel("setBufer:offset:atIndex:"), buf.Object, uint(off), uint(1))                  // want(a misspelled selector) selector "setBufer:offset:atIndex:" is not a method of metal.ComputeCommandEncoderObject in darwinkit v0.5.0
	objc.Call[objc.Void](dev, objc.Sel("endEncoding"))                                                               // want(a selector of another type) selector "endEncoding" is not a method of metal.DeviceObject
	objc.Call[objc.Void](enc, objc.Sel("setBuffer:offset:atIndex:"), buf.Object, uint(off))                          // want(fewer arguments than colons) selector "setBuffer:offset:atIndex:" takes 3 argument(s), one per colon; the call passes 2
	objc.Call[objc.Void](enc, objc.Sel("endEncoding"), uint(0))                                                      // want(more arguments than colons) selector "endEncoding" takes 0 argument(s), one per colon; the call passes 1
	objc.Call[objc.Void](enc, objc.Sel("setBuffer:offset:atIndex:"), buf.Object, off, uint(1))                       // want(int where darwinkit passes uint) argument 2 of "setBuffer:offset:atIndex:" has type int, a signed 64-bit integer (NSInteger); darwinkit's metal.ComputeCommandEncoderObject.SetBufferOffsetAtIndex_ passes offset of type uint
	objc.Call[objc.Void](enc, objc.Sel("setBuffer:offset:atIndex:"), buf.Object, uint32(off), uint(1))               // want(uint32 where darwinkit passes uint) argument 2 of "setBuffer:offset:atIndex:" has type uint32
	objc.Call[objc.Void](enc, objc.Sel("setBuffer:offset:atIndex:"), uintptr(0), uint(0), uint(1))                   // want(a number where darwinkit passes an object) argument 1 of "setBuffer:offset:atIndex:" has type uintptr
	objc.Call[objc.Void](enc, objc.Sel("setBytes:length:atIndex:"), buf, uint(4), uint(2))                           // want(an object where darwinkit passes unsafe.Pointer) argument 1 of "setBytes:length:atIndex:" has type metal.BufferObject, an object
	objc.Call[objc.Void](enc, objc.Sel("dispatchThreadgroups:threadsPerThreadgroup:"), metal.Size{}, metal.Origin{}) // want(another struct where darwinkit passes metal.Size) argument 2 of "dispatchThreadgroups:threadsPerThreadgroup:" has type metal.Origin, the struct metal.Origin by value
	objc.Call[objc.Void](enc, objc.Sel("dispatchThreadgroups:threadsPerThreadgroup:"), [3]uint64{}, metal.Size{})    // want(an array where darwinkit passes metal.Size) argument 1 of "dispatchThreadgroups:threadsPerThreadgroup:" has type [3]uint64
	_ = objc.Call[metal.Kernel](metal.KernelClass.Alloc(), objc.Sel("initWithDevice:alpha:"), dev.Object, 0.5)       // want(an untyped float constant where darwinkit passes float32) argument 2 of "initWithDevice:alpha:" has type float64
	_ = objc.Call[metal.Kernel](metal.KernelClass.Alloc(), objc.Sel("initWithDevice:alpha:"), dev.Object, 1)         // want(an untyped integer constant where darwinkit passes float32) argument 2 of "initWithDevice:alpha:" has type int
	objc.Call[objc.Void](enc, objc.Sel("setLabel:"), []byte("x"))                                                    // want(a slice where darwinkit passes a string) argument 1 of "setLabel:" has type []byte
	_ = objc.Call[uint](enc, objc.Sel("endEncoding"))                                                                // want(a number result where darwinkit reads none) objc.Call[uint] reads the result of "endEncoding" as an unsigned 64-bit integer (NSUInteger); darwinkit's metal.CommandEncoderObject.EndEncoding reads it with objc.Call[objc.Void], as nothing (objc.Void)
	objc.Call[objc.Void](dev, objc.Sel("newBufferWithLength:options:"), uint(16), uint(0))                           // want(no result where darwinkit reads an object) objc.Call[objc.Void] reads the result of "newBufferWithLength:options:" as nothing
}

// uncheckable sends messages the lint cannot check.
func uncheckable(enc metal.ComputeCommandEncoderObject, dev metal.DeviceObject, args []any) {
	objc.Call[objc.Void](enc.Object, objc.Sel("endEncoding")) // want(a plain objc.Object receiver) the receiver of "endEncoding" is a plain objc.Object
	var pd metal.PDevice = dev
	_ = objc.Call[objc.Object](pd, objc.Sel("name")) // want(an interface receiver) the receiver of "name" has the interface type metal.PDevice
	sel := objc.Sel("endEncoding")
	objc.Call[objc.Void](enc, sel)                                           // want(a selector that is not objc.Sel of a constant) not objc.Sel of a constant string
	objc.Call[objc.Void](enc, objc.Sel("setBytes:length:atIndex:"), args...) // want(arguments passed with ...) the arguments of "setBytes:length:atIndex:" are passed with ...
}
