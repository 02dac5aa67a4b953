//go:build (darwin || fakemetal) && cgo

package metal

// fault is a host-side bug that the negative-control tests inject (Backend.s.fault) to show
// that the fake device's checks catch it. Production code never sets one.
type fault int

const (
	faultNone                    fault = iota
	faultNoEndEncoding                 // commit without endEncoding
	faultUnretainedCommandBuffer       // keep the autoreleased command buffer without retaining it
	faultDropOffsets                   // bind every view at offset 0 of its buffer
	faultNoWait                        // Download commits but does not wait for the GPU
	faultWrapAsProtocol                // darwinkit's SetBufferOffsetAtIndex_, as before the fix
	faultUploadNoWait                  // Upload writes without waiting for the queued work that uses the buffer
	faultMPSOwnCommandBuffer           // the MPS matmul in a command buffer of its own, committed at once
)

// Stats reports what the backend has asked of the GPU since it was opened.
func (b *Backend) Stats() Stats { return b.s.stats }
