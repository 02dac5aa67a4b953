// Package metal stands in for darwinkit's macos/metal in the lint's tests: methods written the
// way darwinkit generates them.
package metal

import (
	"unsafe"

	"github.com/progrium/darwinkit/objc"
)

type GPUFamily int

const GPUFamilyApple7 GPUFamily = 1007

type ResourceOptions uint

type Size struct {
	Width, Height, Depth uint64
}

type Origin struct {
	X, Y, Z uint64
}

type PDevice interface {
	objc.IObject
	SupportsFamily(gpuFamily GPUFamily) bool
}

type DeviceObject struct {
	objc.Object
}

func (d_ DeviceObject) SupportsFamily(gpuFamily GPUFamily) bool {
	rv := objc.Call[bool](d_, objc.Sel("supportsFamily:"), gpuFamily)
	return rv
}

// IsApple7 is not generated code: it reaches objc.Call[bool] through another method.
func (d_ DeviceObject) IsApple7() bool {
	return d_.SupportsFamily(GPUFamilyApple7)
}

func (d_ DeviceObject) Name() string {
	rv := objc.Call[string](d_, objc.Sel("name"))
	return rv
}

func (d_ DeviceObject) NewBufferWithLengthOptions(length uint, options ResourceOptions) BufferObject {
	rv := objc.Call[BufferObject](d_, objc.Sel("newBufferWithLength:options:"), length, options)
	return rv
}

func (d_ DeviceObject) NewComputePipelineStateWithFunctionError(computeFunction FunctionObject, error unsafe.Pointer) ComputePipelineStateObject {
	po0 := objc.WrapAsProtocol("MTLFunction", computeFunction)
	rv := objc.Call[ComputePipelineStateObject](d_, objc.Sel("newComputePipelineStateWithFunction:error:"), po0, error)
	return rv
}

type FunctionObject struct {
	objc.Object
}

type BufferObject struct {
	objc.Object
}

type ComputePipelineStateObject struct {
	objc.Object
}

type CommandBufferObject struct {
	objc.Object
}

type CommandEncoderObject struct {
	objc.Object
}

func (c_ CommandEncoderObject) EndEncoding() {
	objc.Call[objc.Void](c_, objc.Sel("endEncoding"))
}

func (c_ CommandEncoderObject) SetLabel(value string) {
	objc.Call[objc.Void](c_, objc.Sel("setLabel:"), value)
}

// ComputeCommandEncoderObject embeds CommandEncoderObject, so its methods are promoted.
type ComputeCommandEncoderObject struct {
	CommandEncoderObject
}

func (c_ ComputeCommandEncoderObject) SetComputePipelineState(state ComputePipelineStateObject) {
	po0 := objc.WrapAsProtocol("MTLComputePipelineState", state)
	objc.Call[objc.Void](c_, objc.Sel("setComputePipelineState:"), po0)
}

func (c_ ComputeCommandEncoderObject) SetBufferOffsetAtIndex_(buffer BufferObject, offset uint, index uint) {
	po0 := objc.WrapAsProtocol("MTLBuffer", buffer)
	objc.Call[objc.Void](c_, objc.Sel("setBuffer:offset:atIndex:"), po0, offset, index)
}

func (c_ ComputeCommandEncoderObject) SetBytesLengthAtIndex(bytes unsafe.Pointer, length uint, index uint) {
	objc.Call[objc.Void](c_, objc.Sel("setBytes:length:atIndex:"), bytes, length, index)
}

func (c_ ComputeCommandEncoderObject) DispatchThreadgroupsThreadsPerThreadgroup(threadgroupsPerGrid Size, threadsPerThreadgroup Size) {
	objc.Call[objc.Void](c_, objc.Sel("dispatchThreadgroups:threadsPerThreadgroup:"), threadgroupsPerGrid, threadsPerThreadgroup)
}

type Kernel struct {
	objc.Object
}

type _KernelClass struct {
	objc.Object
}

var KernelClass = _KernelClass{}

func (kc _KernelClass) Alloc() Kernel {
	rv := objc.Call[Kernel](kc, objc.Sel("alloc"))
	return rv
}

func (k_ Kernel) InitWithDeviceAlpha(device PDevice, alpha float32) Kernel {
	po0 := objc.WrapAsProtocol("MTLDevice", device)
	rv := objc.Call[Kernel](k_, objc.Sel("initWithDevice:alpha:"), po0, alpha)
	return rv
}

// NewKernelWithDeviceAlpha reaches objc.WrapAsProtocol through InitWithDeviceAlpha.
func NewKernelWithDeviceAlpha(device PDevice, alpha float32) Kernel {
	instance := KernelClass.Alloc().InitWithDeviceAlpha(device, alpha)
	instance.Autorelease()
	return instance
}

func (k_ Kernel) SetEnabled(value bool) {
	objc.Call[objc.Void](k_, objc.Sel("setEnabled:"), value)
}

// Two methods send encodeToCommandBuffer:, one with a protocol wrapper, one with any object.
func (k_ Kernel) EncodeToCommandBuffer(commandBuffer CommandBufferObject) {
	po0 := objc.WrapAsProtocol("MTLCommandBuffer", commandBuffer)
	objc.Call[objc.Void](k_, objc.Sel("encodeToCommandBuffer:"), po0)
}

func (k_ Kernel) EncodeToCommandBufferObject(commandBufferObject objc.IObject) {
	objc.Call[objc.Void](k_, objc.Sel("encodeToCommandBuffer:"), commandBufferObject)
}
