//go:build darwin && cgo

package metal

import (
	"fmt"
	"unsafe"

	"github.com/progrium/darwinkit/macos/metal"
)

// maxBytes is Metal's limit on a setBytes parameter block.
const maxBytes = 4096

// binding is one buffer argument of a dispatch: the Metal buffer and a byte offset into it, at a
// buffer slot of the kernel.
type binding struct {
	slot int
	buf  *buffer
	off  int // bytes
}

// dispatch encodes one kernel launch of groups threadgroups of threads threads each on the
// command stream. params, if any, is bound with setBytes at paramSlot; tgMem lists the lengths in
// bytes of the kernel's dynamic threadgroup-memory arguments, by index. A dispatch that Metal would
// reject (an unknown kernel, a threadgroup larger than the pipeline allows, too much threadgroup
// memory) is not encoded: its error is returned by the next Sync.
func (b *Backend) dispatch(kernel string, groups, threads [3]int, bufs []binding, params []byte, paramSlot int, tgMem []int) {
	b.live()
	inPool(func() {
		pso, err := b.lib.pipeline(b.dev, kernel)
		if err != nil {
			b.s.fail(err)
			return
		}
		if err := b.checkLimits(kernel, pso, groups, threads, params, tgMem); err != nil {
			b.s.fail(err)
			return
		}
		enc := b.s.encoder()
		enc.SetComputePipelineState(pso)
		for _, bb := range bufs {
			// setBuffer:offset:atIndex: — the generated name carries an underscore.
			enc.SetBufferOffsetAtIndex_(bb.buf.mtl, uint(bb.off), uint(bb.slot))
		}
		if len(params) > 0 {
			enc.SetBytesLengthAtIndex(unsafe.Pointer(&params[0]), uint(len(params)), uint(paramSlot))
		}
		for i, n := range tgMem {
			// Threadgroup memory lengths must be multiples of 16 bytes.
			enc.SetThreadgroupMemoryLengthAtIndex(uint((n+15)&^15), uint(i))
		}
		enc.DispatchThreadgroupsThreadsPerThreadgroup(size(groups), size(threads))
		b.s.encoded()
	})
}

// checkLimits checks a dispatch against the pipeline's and the device's limits.
func (b *Backend) checkLimits(kernel string, pso metal.ComputePipelineStateObject, groups, threads [3]int, params []byte, tgMem []int) error {
	total := 1
	for i := range 3 {
		if groups[i] < 1 || threads[i] < 1 {
			return fmt.Errorf("metal: kernel %s: empty dispatch of %v threadgroups of %v threads", kernel, groups, threads)
		}
		total *= threads[i]
	}
	if limit := int(pso.MaxTotalThreadsPerThreadgroup()); total > limit {
		return fmt.Errorf("metal: kernel %s: threadgroups of %d threads, but its pipeline allows at most %d on %s",
			kernel, total, limit, b.name)
	}
	mem := int(pso.StaticThreadgroupMemoryLength())
	for _, n := range tgMem {
		mem += (n + 15) &^ 15
	}
	if mem > b.maxTGMem {
		return fmt.Errorf("metal: kernel %s: %d bytes of threadgroup memory, the GPU has %d", kernel, mem, b.maxTGMem)
	}
	if len(params) > maxBytes {
		return fmt.Errorf("metal: kernel %s: a parameter block of %d bytes, setBytes takes at most %d", kernel, len(params), maxBytes)
	}
	return nil
}

func size(d [3]int) metal.Size {
	return metal.Size{Width: uint64(d[0]), Height: uint64(d[1]), Depth: uint64(d[2])}
}
