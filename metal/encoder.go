//go:build (darwin || fakemetal) && cgo

package metal

import (
	"fmt"
	"unsafe"

	"github.com/kvgpt/kvgpt/shaders"
	"github.com/progrium/darwinkit/macos/metal"
	"github.com/progrium/darwinkit/objc"
)

// maxBytes is Metal's limit on a setBytes parameter block.
const maxBytes = 4096

// encoder is the backend's shaders.Encoder: shaders.Ops computes each dispatch of an op, encoder
// encodes it on the command stream.
type encoder struct{ b *Backend }

// Dispatch encodes d on the command stream of the backend (see Backend.dispatch).
func (e encoder) Dispatch(d *shaders.Dispatch) { e.b.dispatch(d) }

// dispatch encodes one kernel launch — d.Groups threadgroups of d.Threads threads — on the serial
// compute encoder: the pipeline, each buffer argument at its view's byte offset, the parameter
// block with setBytes, the dynamic threadgroup memory. A dispatch that Metal would reject (an
// unknown kernel, a threadgroup larger than the pipeline allows, too much threadgroup memory) is
// not encoded: its error is returned by the next Sync.
func (b *Backend) dispatch(d *shaders.Dispatch) {
	b.live()
	b.params = d.ParamBytes(b.params[:0])
	inPool(func() {
		p, err := b.lib.pipeline(b.dev, d.Kernel)
		if err != nil {
			b.s.fail(err)
			return
		}
		if err := b.checkLimits(d.Kernel, p, d.Groups, d.Threads, b.params, d.TGMem[:]); err != nil {
			b.s.fail(err)
			return
		}
		enc := b.s.encoder()
		// Sent with objc.Call on raw handles: darwinkit v0.5.0's SetComputePipelineState and
		// SetBufferOffsetAtIndex_ pass their object argument through objc.WrapAsProtocol, which
		// panics on a struct such as ComputePipelineStateObject (see doc.go).
		objc.Call[objc.Void](enc, objc.Sel("setComputePipelineState:"), p.pso.Object)
		for _, a := range d.Args[:d.NArgs] {
			buf, off := b.bufferOf(a)
			if buf == nil {
				continue // an empty view: the kernel reads none of it
			}
			switch b.s.fault {
			case faultDropOffsets:
				off = 0
			case faultWrapAsProtocol:
				enc.SetBufferOffsetAtIndex_(buf.mtl, uint(off), uint(a.Slot)) // darwincheck:allow (negative control: panics)
			}
			objc.Call[objc.Void](enc, objc.Sel("setBuffer:offset:atIndex:"), buf.mtl.Object, uint(off), uint(a.Slot))
		}
		if len(b.params) > 0 {
			enc.SetBytesLengthAtIndex(unsafe.Pointer(&b.params[0]), uint(len(b.params)), uint(d.ParamSlot))
		}
		for i, n := range d.TGMem {
			if n > 0 {
				// Threadgroup memory lengths must be multiples of 16 bytes.
				enc.SetThreadgroupMemoryLengthAtIndex(uint((n+15)&^15), uint(i))
			}
		}
		enc.DispatchThreadgroupsThreadsPerThreadgroup(size(d.Groups), size(d.Threads))
		b.s.stats.Dispatches++
		b.s.encoded()
	})
}

// bufferOf returns the Metal buffer of a dispatch argument and the byte offset of its view, or nil
// for an empty view without a buffer.
func (b *Backend) bufferOf(a shaders.Arg) (*buffer, int) {
	if a.IsInt {
		if a.I.Buf == nil {
			return nil, 0
		}
		ib := b.intBuf(a.I.Buf)
		if a.I.Off < 0 || a.I.Off+a.I.N > ib.n {
			panic("metal: int view outside its buffer")
		}
		return &ib.buffer, a.I.Off * ib.size
	}
	if a.F.Buf == nil {
		return nil, 0
	}
	fb := b.floatBuf(a.F.Buf)
	if a.F.Off < 0 || a.F.Off+a.F.N > fb.n {
		panic("metal: view outside its buffer")
	}
	return &fb.buffer, a.F.Off * fb.size
}

// checkLimits checks a dispatch against the pipeline's and the device's limits.
func (b *Backend) checkLimits(kernel string, p *pipeline, groups, threads [3]int, params []byte, tgMem []int) error {
	total := 1
	for i := range 3 {
		if groups[i] < 1 || threads[i] < 1 {
			return fmt.Errorf("metal: kernel %s: empty dispatch of %v threadgroups of %v threads", kernel, groups, threads)
		}
		total *= threads[i]
	}
	if total > p.maxThreads {
		return fmt.Errorf("metal: kernel %s: threadgroups of %d threads, but its pipeline allows at most %d on %s",
			kernel, total, p.maxThreads, b.name)
	}
	mem := p.staticMem
	for _, n := range tgMem {
		if n > 0 {
			mem += (n + 15) &^ 15
		}
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
