//go:build fakemetal && cgo

package fakemetal_test

import (
	"fmt"
	"math"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/progrium/darwinkit/macos/foundation"
	"github.com/progrium/darwinkit/macos/metal"
	"github.com/progrium/darwinkit/macos/mps"
	"github.com/progrium/darwinkit/objc"
	"github.com/stretchr/testify/require"

	"github.com/kvgpt/kvgpt/metal/internal/fakemetal"
)

// These tests drive the fake device directly through darwinkit, not through kvgpt's metal
// package, so that each misuse the fake claims to catch can be provoked on purpose. Every check
// is shown twice: the misuse is recorded (or aborts), and the correct usage next to it is not.
//
// Objective-C work runs inside autorelease pools (inPool) and testify's require is only called
// outside them: require.FailNow ends the goroutine with runtime.Goexit, which must not unwind
// through the Objective-C frames of a pool.

// childEnv names what a child process of TestAborts does (see TestMain and child).
const childEnv = "FAKEMETAL_TEST_CHILD"

// TestMain runs the tests, stops the shader harness's runner processes and fails the run if a
// fake object the tests made is still alive. With FAKEMETAL_TEST_CHILD set it is a child of
// TestAborts instead. The tests provoke misuses on purpose: FAKEMETAL_ABORT=1 must not turn
// them into aborts.
func TestMain(m *testing.M) {
	os.Setenv("FAKEMETAL_ABORT", "0")
	if what := os.Getenv(childEnv); what != "" {
		os.Exit(child(what))
	}
	start := fakemetal.Read().Live
	code := m.Run()
	fakemetal.Close()
	if live := fakemetal.Read().Live; live != start {
		fmt.Printf("fakemetal: FAIL: %d fake objects alive after the tests, %d before:\n%s", live, start, fakemetal.Live())
		code = 1
	}
	os.Exit(code)
}

// source is the library the tests compile: one kernel per kind of binding a dispatch must make.
const source = `#include <metal_stdlib>
using namespace metal;

// fill writes v to out[i].
kernel void fill(device float* out [[buffer(0)]], constant float& v [[buffer(1)]],
                 uint i [[thread_position_in_grid]]) {
    out[i] = v;
}

// scratch copies each thread's index through dynamic threadgroup memory.
kernel void scratch(device float* out [[buffer(0)]], threadgroup float* tg [[threadgroup(0)]],
                    uint i [[thread_index_in_threadgroup]]) {
    tg[i] = float(i);
    threadgroup_barrier(mem_flags::mem_threadgroup);
    out[i] = tg[i];
}

// declared has 100 floats (400 bytes) of declared threadgroup memory besides its dynamic block.
kernel void declared(device float* out [[buffer(0)]], threadgroup float* tg [[threadgroup(0)]],
                     uint i [[thread_index_in_threadgroup]]) {
    threadgroup float t[100];
    t[i] = float(i);
    if (i == 0) tg[0] = 1.0f;
    threadgroup_barrier(mem_flags::mem_threadgroup);
    out[i] = t[i] + tg[0];
}

// small allows at most 64 threads per threadgroup.
[[max_total_threads_per_threadgroup(64)]]
kernel void small(device float* out [[buffer(0)]], uint i [[thread_position_in_grid]]) {
    out[i] = 1.0f;
}
`

// inPool runs f inside an autorelease pool. A panic in f is raised again once the pool has been
// drained, so that it never unwinds through the pool's Objective-C frames.
func inPool(f func()) {
	var p any
	objc.WithAutoreleasePool(func() {
		defer func() { p = recover() }()
		f()
	})
	if p != nil {
		panic(p)
	}
}

// provoke clears the fake's misuse record, runs f in an autorelease pool and returns how many
// misuses f caused and their messages.
func provoke(f func()) (int, string) {
	fakemetal.Reset()
	inPool(f)
	return fakemetal.Read().Misuses, fakemetal.Misuses()
}

// requireMisuse checks that exactly one misuse was recorded and that its message contains want.
func requireMisuse(t *testing.T, n int, msgs, want string) {
	t.Helper()
	require.Equal(t, 1, n, "misuses recorded:\n%s", msgs)
	require.Contains(t, msgs, want)
}

// requireNoMisuse checks that the correct usage recorded no misuse.
func requireNoMisuse(t *testing.T, n int, msgs string) {
	t.Helper()
	require.Zero(t, n, "the correct usage recorded misuses:\n%s", msgs)
}

// fixture is a fake device with a command queue and the compiled pipelines of source, all owned
// by the fixture and released when the test ends.
type fixture struct {
	dev   metal.DeviceObject
	queue metal.CommandQueueObject
	pso   map[string]metal.ComputePipelineStateObject
}

// newFixture opens the device, the queue and the pipelines of every kernel of source.
func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{pso: map[string]metal.ComputePipelineStateObject{}}
	var compileErr string
	inPool(func() {
		f.dev = metal.DeviceObject{Object: objc.ObjectFrom(fakemetal.NewDevice())}
		if f.dev.IsNil() {
			return
		}
		f.queue = f.dev.NewCommandQueue()
		lib, err := compile(f.dev, source)
		if lib.IsNil() {
			compileErr = err
			return
		}
		defer lib.Release()
		for _, name := range []string{"fill", "scratch", "declared", "small"} {
			f.pso[name] = pipeline(f.dev, lib, name)
		}
	})
	t.Cleanup(func() { inPool(f.release) })
	require.False(t, f.dev.IsNil(), "MTLCreateSystemDefaultDevice returned nil")
	require.Empty(t, compileErr)
	for name, p := range f.pso {
		require.False(t, p.IsNil(), "no pipeline for kernel %s", name)
	}
	return f
}

// release releases what the fixture owns. The queue goes last but one: releasing it joins its
// worker thread, so every command buffer it ran has been released too.
func (f *fixture) release() {
	for _, p := range f.pso {
		if !p.IsNil() {
			p.Release()
		}
	}
	if !f.queue.IsNil() {
		f.queue.Release()
	}
	if !f.dev.IsNil() {
		f.dev.Release()
	}
}

// compile compiles an MSL source on dev with fast math off: the library (owned), or nil and the
// NSError's localizedDescription. Call it inside a pool.
func compile(dev metal.DeviceObject, src string) (metal.LibraryObject, string) {
	opts := metal.NewCompileOptions() // autoreleased
	opts.SetFastMathEnabled(false)
	var nsErr foundation.Error
	lib := dev.NewLibraryWithSourceOptionsError(src, opts, unsafe.Pointer(&nsErr))
	if lib.IsNil() {
		if nsErr.IsNil() {
			return lib, "(no NSError)"
		}
		return lib, nsErr.LocalizedDescription()
	}
	return lib, ""
}

// pipeline builds the compute pipeline (owned) of the named kernel of lib. Call it inside a pool.
func pipeline(dev metal.DeviceObject, lib metal.LibraryObject, name string) metal.ComputePipelineStateObject {
	fn := lib.NewFunctionWithName(name)
	if fn.IsNil() {
		return metal.ComputePipelineStateObject{}
	}
	defer fn.Release()
	var nsErr foundation.Error
	// objc.Call on raw handles: darwinkit's wrapper passes fn through objc.WrapAsProtocol, which
	// panics on a struct.
	return metal.ComputePipelineStateObject{Object: objc.Call[objc.Object](dev,
		objc.Sel("newComputePipelineStateWithFunction:error:"), fn.Object, unsafe.Pointer(&nsErr))}
}

// buffer allocates n float32 in shared storage (owned), set to init. Call it inside a pool.
func (f *fixture) buffer(n int, init float32) metal.BufferObject {
	b := f.dev.NewBufferWithLengthOptions(uint(4*n), metal.ResourceStorageModeShared)
	if !b.IsNil() {
		for i := range floats(b) {
			floats(b)[i] = init
		}
	}
	return b
}

// floats is the contents of a buffer as float32.
func floats(b metal.BufferObject) []float32 {
	return unsafe.Slice((*float32)(b.Contents()), b.Length()/4)
}

// commandBuffer returns a new command buffer of the fixture's queue (autoreleased). Call it inside
// a pool.
func (f *fixture) commandBuffer() metal.CommandBufferObject { return f.queue.CommandBuffer() }

// encoder opens a serial compute encoder on cb (autoreleased) with the named kernel's pipeline
// set. Call it inside a pool.
func (f *fixture) encoder(cb metal.CommandBufferObject, kernel string) metal.ComputeCommandEncoderObject {
	enc := cb.ComputeCommandEncoderWithDispatchType(metal.DispatchTypeSerial)
	if !enc.IsNil() && kernel != "" {
		objc.Call[objc.Void](enc, objc.Sel("setComputePipelineState:"), f.pso[kernel].Object)
	}
	return enc
}

// setBuffer binds buf at a byte offset to [[buffer(i)]] (objc.Call: darwinkit's wrapper goes
// through objc.WrapAsProtocol).
func setBuffer(enc metal.ComputeCommandEncoderObject, buf metal.BufferObject, off, i int) {
	objc.Call[objc.Void](enc, objc.Sel("setBuffer:offset:atIndex:"), buf.Object, uint(off), uint(i))
}

// setFloat binds one float32 to [[buffer(i)]] with setBytes.
func setFloat(enc metal.ComputeCommandEncoderObject, v float32, i int) {
	enc.SetBytesLengthAtIndex(unsafe.Pointer(&v), 4, uint(i))
}

// dispatch encodes groups threadgroups of threads threads (along x).
func dispatch(enc metal.ComputeCommandEncoderObject, groups, threads int) {
	enc.DispatchThreadgroupsThreadsPerThreadgroup(metal.Size{Width: uint64(groups), Height: 1, Depth: 1},
		metal.Size{Width: uint64(threads), Height: 1, Depth: 1})
}

// endEncoding ends enc (through the base protocol: darwinkit's compute encoder does not embed it).
func endEncoding(enc metal.ComputeCommandEncoderObject) {
	metal.CommandEncoderObject{Object: enc.Object}.EndEncoding()
}

// run commits cb, waits for it and returns how it ended.
func run(cb metal.CommandBufferObject) metal.CommandBufferStatus {
	cb.Commit()
	cb.WaitUntilCompleted()
	return cb.Status()
}

// TestEncoderChecks checks the command buffer's and compute encoder's state checks.
func TestEncoderChecks(t *testing.T) {
	f := newFixture(t)

	t.Run("commit with an open encoder is a misuse", func(t *testing.T) {
		n, msgs := provoke(func() {
			cb := f.commandBuffer()
			f.encoder(cb, "fill")
			run(cb)
		})
		requireMisuse(t, n, msgs, "commit with an open compute encoder (endEncoding missing)")
		var st metal.CommandBufferStatus
		n, msgs = provoke(func() {
			cb := f.commandBuffer()
			endEncoding(f.encoder(cb, "fill"))
			st = run(cb)
		})
		requireNoMisuse(t, n, msgs)
		require.Equal(t, metal.CommandBufferStatusCompleted, st)
	})

	t.Run("setBuffer after endEncoding is a misuse", func(t *testing.T) {
		for _, after := range []bool{true, false} {
			n, msgs := provoke(func() {
				buf := f.buffer(4, 0)
				defer buf.Release()
				cb := f.commandBuffer()
				enc := f.encoder(cb, "fill")
				if after {
					endEncoding(enc)
					setBuffer(enc, buf, 0, 0)
				} else {
					setBuffer(enc, buf, 0, 0)
					endEncoding(enc)
				}
				run(cb)
			})
			if after {
				requireMisuse(t, n, msgs, "setBuffer:offset:atIndex: on a compute encoder after endEncoding")
			} else {
				requireNoMisuse(t, n, msgs)
			}
		}
	})

	t.Run("dispatch after endEncoding is a misuse", func(t *testing.T) {
		for _, after := range []bool{true, false} {
			var got float32
			n, msgs := provoke(func() {
				buf := f.buffer(4, 0)
				defer buf.Release()
				cb := f.commandBuffer()
				enc := f.encoder(cb, "fill")
				setBuffer(enc, buf, 0, 0)
				setFloat(enc, 7, 1)
				if after {
					endEncoding(enc)
					dispatch(enc, 1, 4)
				} else {
					dispatch(enc, 1, 4)
					endEncoding(enc)
				}
				run(cb)
				got = floats(buf)[3]
			})
			if after {
				requireMisuse(t, n, msgs, "dispatchThreadgroups:threadsPerThreadgroup: on a compute encoder after endEncoding")
				require.Equal(t, float32(0), got, "a dispatch after endEncoding must not run")
			} else {
				requireNoMisuse(t, n, msgs)
				require.Equal(t, float32(7), got)
			}
		}
	})

	t.Run("endEncoding twice is a misuse", func(t *testing.T) {
		n, msgs := provoke(func() {
			cb := f.commandBuffer()
			enc := f.encoder(cb, "fill")
			endEncoding(enc)
			endEncoding(enc)
			run(cb)
		})
		requireMisuse(t, n, msgs, "endEncoding twice on one compute encoder")
		n, msgs = provoke(func() {
			cb := f.commandBuffer()
			endEncoding(f.encoder(cb, "fill"))
			run(cb)
		})
		requireNoMisuse(t, n, msgs)
	})

	t.Run("a new encoder while one is open is a misuse", func(t *testing.T) {
		var second bool
		n, msgs := provoke(func() {
			cb := f.commandBuffer()
			first := f.encoder(cb, "fill")
			second = !f.encoder(cb, "").IsNil()
			endEncoding(first)
			run(cb)
		})
		requireMisuse(t, n, msgs, "computeCommandEncoderWithDispatchType: while a compute encoder of the command buffer is still open")
		require.False(t, second, "the second encoder must be nil")
		n, msgs = provoke(func() {
			cb := f.commandBuffer()
			endEncoding(f.encoder(cb, "fill"))
			enc := f.encoder(cb, "fill")
			second = !enc.IsNil()
			endEncoding(enc)
			run(cb)
		})
		requireNoMisuse(t, n, msgs)
		require.True(t, second, "an encoder after the first one ended must be non-nil")
	})
}

// TestDispatchChecks checks what a dispatch must bind, and the limits of setBytes, threadgroup
// memory and threadgroup size.
func TestDispatchChecks(t *testing.T) {
	f := newFixture(t)

	// encodeRun encodes one dispatch of kernel on a 64-float buffer bound to [[buffer(0)]], after
	// bind has set the rest, runs it and returns the status and the buffer's first 64 floats.
	encodeRun := func(kernel string, threads int, bind func(enc metal.ComputeCommandEncoderObject)) (metal.CommandBufferStatus, []float32) {
		var st metal.CommandBufferStatus
		out := make([]float32, 64)
		inPool(func() {
			buf := f.buffer(64, -1)
			defer buf.Release()
			cb := f.commandBuffer()
			enc := f.encoder(cb, kernel)
			setBuffer(enc, buf, 0, 0)
			bind(enc)
			dispatch(enc, 1, threads)
			endEncoding(enc)
			st = run(cb)
			copy(out, floats(buf))
		})
		return st, out
	}
	type result struct {
		st  metal.CommandBufferStatus
		out []float32
	}
	provokeRun := func(kernel string, threads int, bind func(enc metal.ComputeCommandEncoderObject)) (int, string, result) {
		var r result
		n, msgs := provoke(func() { r.st, r.out = encodeRun(kernel, threads, bind) })
		return n, msgs, r
	}

	t.Run("an unbound [[buffer(n)]] is a misuse", func(t *testing.T) {
		n, msgs, r := provokeRun("fill", 4, func(metal.ComputeCommandEncoderObject) {})
		requireMisuse(t, n, msgs, "dispatch of fill with [[buffer(1)]] unbound")
		require.Equal(t, float32(-1), r.out[0], "a rejected dispatch must not run")
		n, msgs, r = provokeRun("fill", 4, func(enc metal.ComputeCommandEncoderObject) { setFloat(enc, 3, 1) })
		requireNoMisuse(t, n, msgs)
		require.Equal(t, metal.CommandBufferStatusCompleted, r.st)
		require.Equal(t, []float32{3, 3, 3, 3, -1}, r.out[:5])
	})

	t.Run("no length for a [[threadgroup(n)]] is a misuse", func(t *testing.T) {
		n, msgs, _ := provokeRun("scratch", 32, func(metal.ComputeCommandEncoderObject) {})
		requireMisuse(t, n, msgs, "dispatch of scratch with no length for [[threadgroup(0)]]")
		n, msgs, r := provokeRun("scratch", 32, func(enc metal.ComputeCommandEncoderObject) {
			enc.SetThreadgroupMemoryLengthAtIndex(32*4, 0)
		})
		requireNoMisuse(t, n, msgs)
		require.Equal(t, metal.CommandBufferStatusCompleted, r.st)
		require.Equal(t, float32(31), r.out[31])
	})

	t.Run("setBytes over 4 KiB is a misuse", func(t *testing.T) {
		block := make([]float32, 4096/4+1)
		block[0] = 5
		n, msgs, _ := provokeRun("fill", 4, func(enc metal.ComputeCommandEncoderObject) {
			enc.SetBytesLengthAtIndex(unsafe.Pointer(&block[0]), 4097, 1)
		})
		require.GreaterOrEqual(t, n, 1, msgs)
		require.Contains(t, msgs, "setBytes:length:atIndex: 4097 bytes, Metal allows at most 4096 (use a buffer)")
		n, msgs, r := provokeRun("fill", 4, func(enc metal.ComputeCommandEncoderObject) {
			enc.SetBytesLengthAtIndex(unsafe.Pointer(&block[0]), 4096, 1)
		})
		requireNoMisuse(t, n, msgs)
		require.Equal(t, metal.CommandBufferStatusCompleted, r.st)
		require.Equal(t, float32(5), r.out[0])
	})

	t.Run("threadgroup memory not a multiple of 16 is a misuse", func(t *testing.T) {
		n, msgs, _ := provokeRun("scratch", 25, func(enc metal.ComputeCommandEncoderObject) {
			enc.SetThreadgroupMemoryLengthAtIndex(100, 0)
		})
		require.GreaterOrEqual(t, n, 1, msgs)
		require.Contains(t, msgs, "setThreadgroupMemoryLength:atIndex: 100 bytes is not a multiple of 16")
		n, msgs, r := provokeRun("scratch", 25, func(enc metal.ComputeCommandEncoderObject) {
			enc.SetThreadgroupMemoryLengthAtIndex(112, 0)
		})
		requireNoMisuse(t, n, msgs)
		require.Equal(t, metal.CommandBufferStatusCompleted, r.st)
		require.Equal(t, float32(24), r.out[24])
	})

	t.Run("dynamic threadgroup memory over 32 KiB is a misuse", func(t *testing.T) {
		n, msgs, _ := provokeRun("scratch", 32, func(enc metal.ComputeCommandEncoderObject) {
			enc.SetThreadgroupMemoryLengthAtIndex(32768+16, 0)
		})
		requireMisuse(t, n, msgs, "dispatch of scratch with 32784 bytes of threadgroup memory (0 declared in the kernel), Metal allows 32768")
		n, msgs, r := provokeRun("scratch", 32, func(enc metal.ComputeCommandEncoderObject) {
			enc.SetThreadgroupMemoryLengthAtIndex(32768, 0)
		})
		requireNoMisuse(t, n, msgs)
		require.Equal(t, metal.CommandBufferStatusCompleted, r.st)
		require.Equal(t, float32(31), r.out[31])
	})

	t.Run("declared and dynamic threadgroup memory over 32 KiB is a misuse", func(t *testing.T) {
		var static, none uint
		inPool(func() {
			static = f.pso["declared"].StaticThreadgroupMemoryLength()
			none = f.pso["scratch"].StaticThreadgroupMemoryLength()
		})
		require.Equal(t, uint(400), static, "100 floats declared in the kernel")
		require.Zero(t, none, "no threadgroup variable declared")
		n, msgs, _ := provokeRun("declared", 32, func(enc metal.ComputeCommandEncoderObject) {
			enc.SetThreadgroupMemoryLengthAtIndex(32768-400+16, 0)
		})
		requireMisuse(t, n, msgs, "dispatch of declared with 32784 bytes of threadgroup memory (400 declared in the kernel), Metal allows 32768")
		n, msgs, r := provokeRun("declared", 32, func(enc metal.ComputeCommandEncoderObject) {
			enc.SetThreadgroupMemoryLengthAtIndex(32768-400, 0)
		})
		requireNoMisuse(t, n, msgs)
		require.Equal(t, metal.CommandBufferStatusCompleted, r.st)
		require.Equal(t, float32(32), r.out[31])
	})

	t.Run("more threads than maxTotalThreadsPerThreadgroup is a misuse", func(t *testing.T) {
		var small, fill uint
		inPool(func() {
			small = f.pso["small"].MaxTotalThreadsPerThreadgroup()
			fill = f.pso["fill"].MaxTotalThreadsPerThreadgroup()
		})
		require.Equal(t, uint(64), small, "[[max_total_threads_per_threadgroup(64)]]")
		require.Equal(t, uint(1024), fill, "a kernel without the attribute")
		n, msgs, r := provokeRun("small", 65, func(metal.ComputeCommandEncoderObject) {})
		requireMisuse(t, n, msgs, "dispatch of small with 65 threads per threadgroup, its pipeline's maxTotalThreadsPerThreadgroup is 64")
		require.Equal(t, float32(-1), r.out[0], "a rejected dispatch must not run")
		n, msgs, r = provokeRun("small", 64, func(metal.ComputeCommandEncoderObject) {})
		requireNoMisuse(t, n, msgs)
		require.Equal(t, metal.CommandBufferStatusCompleted, r.st)
		require.Equal(t, float32(1), r.out[63])
	})
}

// TestPipelineThreadLimit: FAKEMETAL_MAX_THREADS plays a GPU whose pipelines allow fewer threads
// than Metal's 1024 (a real one lowers maxTotalThreadsPerThreadgroup for kernels that need many
// registers): every pipeline reports at most that, and a dispatch over it is a misuse.
func TestPipelineThreadLimit(t *testing.T) {
	t.Setenv("FAKEMETAL_MAX_THREADS", "32")
	f := newFixture(t) // the pipelines are built now
	var fill, small uint
	inPool(func() {
		fill = f.pso["fill"].MaxTotalThreadsPerThreadgroup()
		small = f.pso["small"].MaxTotalThreadsPerThreadgroup()
	})
	require.Equal(t, uint(32), fill)
	require.Equal(t, uint(32), small, "the lower of the attribute's 64 and the GPU's 32")
	for _, threads := range []int{32, 33} {
		var out float32
		n, msgs := provoke(func() {
			buf := f.buffer(64, -1)
			defer buf.Release()
			cb := f.commandBuffer()
			f.encodeFill(cb, buf, 5, threads)
			run(cb)
			out = floats(buf)[0]
		})
		if threads > 32 {
			requireMisuse(t, n, msgs, "dispatch of fill with 33 threads per threadgroup, its pipeline's maxTotalThreadsPerThreadgroup is 32")
			require.Equal(t, float32(-1), out)
		} else {
			requireNoMisuse(t, n, msgs)
			require.Equal(t, float32(5), out)
		}
	}
}

// TestCommandBufferChecks checks commit and waitUntilCompleted on command buffers in the wrong
// state.
func TestCommandBufferChecks(t *testing.T) {
	f := newFixture(t)

	t.Run("waitUntilCompleted on a buffer never committed is a misuse", func(t *testing.T) {
		n, msgs := provoke(func() { f.commandBuffer().WaitUntilCompleted() })
		requireMisuse(t, n, msgs, "waitUntilCompleted on a command buffer that was never committed")
		n, msgs = provoke(func() { run(f.commandBuffer()) })
		requireNoMisuse(t, n, msgs)
	})

	t.Run("commit twice is a misuse", func(t *testing.T) {
		n, msgs := provoke(func() {
			cb := f.commandBuffer()
			cb.Commit()
			cb.Commit()
			cb.WaitUntilCompleted()
		})
		requireMisuse(t, n, msgs, "commit of a command buffer that was already committed")
		var st metal.CommandBufferStatus
		n, msgs = provoke(func() { st = run(f.commandBuffer()) })
		requireNoMisuse(t, n, msgs)
		require.Equal(t, metal.CommandBufferStatusCompleted, st)
	})
}

// currentPool returns [NSAutoreleasePool currentPool]: the innermost pool of this OS thread.
func currentPool() objc.Object {
	return objc.Call[objc.Object](objc.GetClass("NSAutoreleasePool"), objc.Sel("currentPool"))
}

// TestAutoreleaseWithoutPool checks that autorelease of a fake object on a thread with no pool
// is a misuse.
func TestAutoreleaseWithoutPool(t *testing.T) {
	f := newFixture(t)

	t.Run("autorelease with no pool is a misuse", func(t *testing.T) {
		// Pools belong to OS threads: stay on this one, and make sure no pool is left on it by
		// an outer call (every pool a Go caller opened has been drained by now).
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		require.True(t, currentPool().IsNil(), "this OS thread already has an autorelease pool: the check cannot be provoked here")
		var buf metal.BufferObject
		inPool(func() { buf = f.buffer(1, 0) }) // owned: not in the pool
		fakemetal.Reset()
		buf.Autorelease() // no pool on this thread
		n, msgs := fakemetal.Read().Misuses, fakemetal.Misuses()
		// GNUstep gives the object to a pool it makes for the thread, or leaks it; either way the
		// test's reference is the object's only one: drain that pool, or release it.
		if p := currentPool(); !p.IsNil() {
			objc.Call[objc.Void](p, objc.Sel("drain"))
		} else {
			buf.Release()
		}
		require.True(t, currentPool().IsNil(), "a pool was left on the thread")
		requireMisuse(t, n, msgs, "autorelease of a FMBuffer with no autorelease pool (it leaks)")

		n, msgs = provoke(func() { f.buffer(1, 0).Autorelease() })
		requireNoMisuse(t, n, msgs)
	})
}

// TestOverRelease checks that a release of a deallocated fake object is recorded.
func TestOverRelease(t *testing.T) {
	f := newFixture(t)
	t.Setenv("FAKEMETAL_ZOMBIES", "1")

	t.Run("release of a deallocated object is a misuse", func(t *testing.T) {
		var buf metal.BufferObject
		inPool(func() { buf = f.buffer(1, 0) })
		before := fakemetal.Read().Live
		n, msgs := provoke(func() { buf.Release() }) // the one reference owned: deallocates
		requireNoMisuse(t, n, msgs)
		require.Equal(t, before-1, fakemetal.Read().Live, "the buffer must be deallocated by its last release")
		require.Equal(t, objc.GetClass("FMZombie").Ptr(), buf.Class().Ptr(), "the deallocated buffer must be a zombie")
		n, msgs = provoke(func() { buf.Release() }) // one more than owned
		requireMisuse(t, n, msgs, "over-release: release of a deallocated FMBuffer")
	})
}

// child is the work of a child process of TestAborts: a message to a buffer that must abort the
// process ("zombie", "unrecognized"), or one that must not ("none"). It returns the exit code if
// the process survives.
func child(what string) int {
	inPool(func() {
		dev := metal.DeviceObject{Object: objc.ObjectFrom(fakemetal.NewDevice())}
		buf := dev.NewBufferWithLengthOptions(16, metal.ResourceStorageModeShared)
		dev.Release()
		switch what {
		case "zombie":
			buf.Release()
			fmt.Println("child: length", buf.Length()) // a message to a deallocated FMBuffer
		case "unrecognized":
			objc.Call[objc.Void](buf, objc.Sel("frobnicate"))
		case "none":
			fmt.Println("child: length", buf.Length())
			buf.Release()
		default:
			fmt.Printf("child: unknown %q\n", what)
		}
	})
	fmt.Println("child: survived")
	return 0
}

// TestAborts checks, in child processes, that a message to a deallocated fake object and a
// selector the receiver does not implement abort the process naming the class and selector.
func TestAborts(t *testing.T) {
	runChild := func(what string) (string, error) {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), childEnv+"="+what, "FAKEMETAL_ZOMBIES=1", "GOTRACEBACK=single")
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	// requireAborted checks that the child ran and exited non-zero (not that it failed to start).
	requireAborted := func(t *testing.T, out string, err error) {
		t.Helper()
		var exit *exec.ExitError
		require.ErrorAs(t, err, &exit, "the child did not abort:\n%s", out)
		require.NotZero(t, exit.ExitCode())
		require.NotContains(t, out, "child: survived")
	}
	t.Run("a valid message does not abort", func(t *testing.T) {
		out, err := runChild("none")
		require.NoError(t, err, out)
		require.Contains(t, out, "child: length 16")
		require.Contains(t, out, "child: survived")
	})
	t.Run("a message to a deallocated object aborts naming class and selector", func(t *testing.T) {
		out, err := runChild("zombie")
		requireAborted(t, out, err)
		require.Contains(t, out, "fakemetal: -[FMBuffer length]: message sent to deallocated instance")
		t.Logf("child: %s", firstLine(out, "fakemetal: -["))
	})
	t.Run("an unrecognized selector aborts naming it", func(t *testing.T) {
		out, err := runChild("unrecognized")
		requireAborted(t, out, err)
		require.Contains(t, out, "fakemetal: -[FMBuffer frobnicate]: unrecognized selector sent to instance")
		t.Logf("child: %s", firstLine(out, "fakemetal: -["))
	})
}

// TestAsynchronousCompletion checks that a command buffer completes after commit returns, not
// during it: until waitUntilCompleted, a buffer the kernel writes holds its old contents.
func TestAsynchronousCompletion(t *testing.T) {
	f := newFixture(t)
	const delay = 200 * time.Millisecond
	// Read by the queue's worker before it runs each command buffer.
	t.Setenv("FAKEMETAL_DELAY_US", strconv.Itoa(int(delay/time.Microsecond)))

	t.Run("memory is stale until waitUntilCompleted", func(t *testing.T) {
		var committed, completed metal.CommandBufferStatus
		var before, after float32
		var took time.Duration
		n, msgs := provoke(func() {
			buf := f.buffer(1, 1)
			defer buf.Release()
			cb := f.commandBuffer()
			enc := f.encoder(cb, "fill")
			setBuffer(enc, buf, 0, 0)
			setFloat(enc, 2, 1)
			dispatch(enc, 1, 1)
			endEncoding(enc)
			start := time.Now()
			cb.Commit()
			committed, before = cb.Status(), floats(buf)[0]
			cb.WaitUntilCompleted()
			completed, after = cb.Status(), floats(buf)[0]
			took = time.Since(start)
		})
		requireNoMisuse(t, n, msgs)
		require.NotEqual(t, metal.CommandBufferStatusCompleted, committed, "completed before commit returned")
		require.Equal(t, metal.CommandBufferStatusCommitted, committed)
		require.Equal(t, float32(1), before, "the kernel's write was visible before waitUntilCompleted")
		require.Equal(t, metal.CommandBufferStatusCompleted, completed)
		require.Equal(t, float32(2), after, "the kernel's write after waitUntilCompleted")
		require.GreaterOrEqual(t, took, delay, "the queue's worker did not wait FAKEMETAL_DELAY_US")
	})
}

// encodeFill encodes fill(buf, v) over n elements into cb, in an encoder of its own. Call it
// inside a pool.
func (f *fixture) encodeFill(cb metal.CommandBufferObject, buf metal.BufferObject, v float32, n int) {
	enc := f.encoder(cb, "fill")
	setBuffer(enc, buf, 0, 0)
	setFloat(enc, v, 1)
	dispatch(enc, 1, n)
	endEncoding(enc)
}

// TestHazardChecks checks the hazards between the host and the GPU: a host write into a buffer
// after a command that uses it was encoded and before it ran, and a command that runs before an
// older one using the same buffer (its command buffer committed ahead of the older one's). Under
// FAKEMETAL_DEFER=1 a committed command buffer runs only when the host waits for it or a later
// one, so the hazards are found whatever the timing.
func TestHazardChecks(t *testing.T) {
	t.Setenv("FAKEMETAL_DEFER", "1")
	f := newFixture(t) // its queue defers: the variable is read when it is made

	t.Run("deferred: a command buffer runs when waited for", func(t *testing.T) {
		var st [3]metal.CommandBufferStatus
		var vals [3]float32
		n, msgs := provoke(func() {
			a, b := f.buffer(1, 0), f.buffer(1, 0)
			defer a.Release()
			defer b.Release()
			cbA, cbB := f.commandBuffer(), f.commandBuffer()
			f.encodeFill(cbA, a, 1, 1)
			f.encodeFill(cbB, b, 2, 1)
			cbA.Commit()
			cbB.Commit()
			time.Sleep(20 * time.Millisecond) // far longer than FAKEMETAL_DELAY_US
			st[0], vals[0] = cbA.Status(), floats(a)[0]
			cbB.WaitUntilCompleted() // runs cbA first: the queue's order
			st[1], st[2], vals[1], vals[2] = cbA.Status(), cbB.Status(), floats(a)[0], floats(b)[0]
		})
		requireNoMisuse(t, n, msgs)
		require.Equal(t, metal.CommandBufferStatusCommitted, st[0], "a deferred command buffer ran before a wait")
		require.Equal(t, float32(0), vals[0])
		require.Equal(t, []metal.CommandBufferStatus{metal.CommandBufferStatusCompleted, metal.CommandBufferStatusCompleted}, st[1:])
		require.Equal(t, []float32{1, 2}, vals[1:])
	})

	t.Run("a host write before the queued command that uses the buffer ran is a misuse", func(t *testing.T) {
		for _, when := range []string{"after-encoding", "after-commit", "before-encoding", "after-wait"} {
			var got float32
			n, msgs := provoke(func() {
				buf, other := f.buffer(4, 0), f.buffer(4, 0)
				defer buf.Release()
				defer other.Release()
				cb := f.commandBuffer()
				if when == "before-encoding" {
					floats(buf)[3] = 5
				}
				f.encodeFill(cb, buf, 7, 2) // elements 0 and 1
				floats(other)[0] = 9        // a buffer no queued command uses: always fine
				if when == "after-encoding" {
					floats(buf)[3] = 5 // an element the kernel does not touch: still a hazard (the whole buffer is checked)
				}
				cb.Commit()
				if when == "after-commit" {
					floats(buf)[3] = 5
				}
				cb.WaitUntilCompleted()
				if when == "after-wait" {
					floats(buf)[3] = 5
				}
				got = floats(buf)[0]
			})
			if when == "after-encoding" || when == "after-commit" {
				requireMisuse(t, n, msgs, "write-after-read hazard: the host wrote into a buffer of 16 bytes after fill (command ")
			} else {
				requireNoMisuse(t, n, msgs)
			}
			require.Equal(t, float32(7), got, when)
		}
	})

	t.Run("a command run before an older one that uses the same buffer is a misuse", func(t *testing.T) {
		for _, c := range []struct {
			name          string
			shared, first bool // both write one buffer; the older command buffer is committed first
		}{{"shared/older-first", true, true}, {"shared/younger-first", true, false}, {"independent/younger-first", false, false}} {
			var got float32
			n, msgs := provoke(func() {
				a, b := f.buffer(1, 0), f.buffer(1, 0)
				defer a.Release()
				defer b.Release()
				older, younger := f.commandBuffer(), f.commandBuffer()
				f.encodeFill(older, a, 1, 1)
				if c.shared {
					f.encodeFill(younger, a, 2, 1)
				} else {
					f.encodeFill(younger, b, 2, 1)
				}
				if c.first {
					older.Commit()
					younger.Commit()
				} else {
					younger.Commit()
					older.Commit()
				}
				older.WaitUntilCompleted()
				younger.WaitUntilCompleted()
				got = floats(a)[0]
			})
			switch {
			case c.shared && !c.first:
				requireMisuse(t, n, msgs, "ordering hazard: fill (command ")
				require.Contains(t, msgs, "which was encoded earlier and uses the same buffer of 4 bytes: a command buffer was committed ahead of an older one whose work it depends on")
				require.Equal(t, float32(1), got, c.name+": the older command ran last")
			case c.shared:
				requireNoMisuse(t, n, msgs)
				require.Equal(t, float32(2), got, c.name)
			default:
				requireNoMisuse(t, n, msgs)
				require.Equal(t, float32(1), got, c.name)
			}
		}
	})
}

// TestCompileError checks that a library whose source does not compile is nil, with the shader
// compiler's message (file:line) in the NSError.
func TestCompileError(t *testing.T) {
	f := newFixture(t)
	const broken = `#include <metal_stdlib>
using namespace metal;
kernel void broken(device float* out [[buffer(0)]]) {
    out[0] = undeclared_value;
}
`
	t.Run("a source that does not compile gives nil and the compiler's message", func(t *testing.T) {
		var isNil bool
		var desc string
		n, msgs := provoke(func() {
			lib, err := compile(f.dev, broken)
			isNil, desc = lib.IsNil(), err
			if !lib.IsNil() {
				lib.Release()
			}
		})
		requireNoMisuse(t, n, msgs)
		require.True(t, isNil, "newLibraryWithSource returned a library for a broken source")
		require.Regexp(t, regexp.MustCompile(`shaders\.metal:4:\d+: error`), desc)
		require.Contains(t, desc, "undeclared_value")
		t.Logf("localizedDescription: %s", firstLine(desc, "error"))

		n, msgs = provoke(func() {
			lib, err := compile(f.dev, source)
			isNil, desc = lib.IsNil(), err
			if !lib.IsNil() {
				lib.Release()
			}
		})
		requireNoMisuse(t, n, msgs)
		require.False(t, isNil, desc)
	})
}

// matmulCase is one MPS product: result (M×N) = left (M×K) · op(right), right stored N×K when
// transposed (K×N otherwise); each matrix starts off floats into its buffer.
type matmulCase struct {
	M, N, K    int
	transposeR bool
	off        int
}

// mpsKernel makes an MPSMatrixMultiplication (owned, or nil) for c on dev, which need not be a
// device. Call it inside a pool.
func mpsKernel(dev objc.Object, c matmulCase) mps.MatrixMultiplication {
	// objc.Call: darwinkit's initialiser passes the device through objc.WrapAsProtocol.
	return objc.Call[mps.MatrixMultiplication](mps.MatrixMultiplicationClass.Alloc(),
		objc.Sel("initWithDevice:transposeLeft:transposeRight:resultRows:resultColumns:interiorColumns:alpha:beta:"),
		dev, false, c.transposeR, uint(c.M), uint(c.N), uint(c.K), float64(1), float64(0))
}

// mpsMatrix describes rows×cols dense float32 of buf from element off (owned). Call it inside a
// pool.
func mpsMatrix(buf metal.BufferObject, off, rows, cols int) mps.Matrix {
	desc := mps.MatrixDescriptor_MatrixDescriptorWithRowsColumnsRowBytesDataType(uint(rows), uint(cols), uint(cols*4), mps.DataTypeFloat32)
	return objc.Call[mps.Matrix](mps.MatrixClass.Alloc(), objc.Sel("initWithBuffer:offset:descriptor:"), buf.Object, uint(off*4), desc.Object)
}

// encodeMatmul encodes k on cb for c's operands in left, right and result.
func encodeMatmul(k mps.MatrixMultiplication, cb metal.CommandBufferObject, c matmulCase, left, right, result metal.BufferObject) {
	rr, rc := c.K, c.N
	if c.transposeR {
		rr, rc = c.N, c.K
	}
	l, r, o := mpsMatrix(left, c.off, c.M, c.K), mpsMatrix(right, c.off, rr, rc), mpsMatrix(result, c.off, c.M, c.N)
	defer l.Release()
	defer r.Release()
	defer o.Release()
	objc.Call[objc.Void](k, objc.Sel("encodeToCommandBuffer:leftMatrix:rightMatrix:resultMatrix:"),
		cb.Object, l.Object, r.Object, o.Object)
}

// TestMPS checks the MPS matrix multiplication: its misuses and its product.
func TestMPS(t *testing.T) {
	f := newFixture(t)
	sq := matmulCase{M: 2, N: 2, K: 2}

	t.Run("initWithDevice: with a non-device is a misuse", func(t *testing.T) {
		var isNil bool
		n, msgs := provoke(func() {
			buf := f.buffer(4, 0)
			defer buf.Release()
			k := mpsKernel(buf.Object, sq)
			isNil = k.IsNil()
			if !isNil {
				k.Release()
			}
		})
		requireMisuse(t, n, msgs, "MPSMatrixMultiplication initWithDevice: with a FMBuffer, not the MTLDevice")
		require.True(t, isNil)
		n, msgs = provoke(func() {
			k := mpsKernel(f.dev.Object, sq)
			isNil = k.IsNil()
			if !isNil {
				k.Release()
			}
		})
		requireNoMisuse(t, n, msgs)
		require.False(t, isNil)
	})

	t.Run("encode while a compute encoder is open is a misuse", func(t *testing.T) {
		for _, open := range []bool{true, false} {
			var out float32
			n, msgs := provoke(func() {
				a, b, c := f.buffer(4, 1), f.buffer(4, 1), f.buffer(4, 0)
				defer a.Release()
				defer b.Release()
				defer c.Release()
				k := mpsKernel(f.dev.Object, sq)
				defer k.Release()
				cb := f.commandBuffer()
				enc := f.encoder(cb, "fill")
				if !open {
					endEncoding(enc)
				}
				encodeMatmul(k, cb, sq, a, b, c)
				if open {
					endEncoding(enc)
				}
				run(cb)
				out = floats(c)[0]
			})
			if open {
				requireMisuse(t, n, msgs, "MPS encodeToCommandBuffer: while a compute encoder of the command buffer is still open")
				require.Equal(t, float32(0), out, "a rejected product must not run")
			} else {
				requireNoMisuse(t, n, msgs)
				require.Equal(t, float32(2), out)
			}
		}
	})

	for _, c := range []matmulCase{{M: 3, N: 4, K: 5}, {M: 3, N: 4, K: 5, transposeR: true, off: 7}, {M: 1, N: 1, K: 1, off: 1}} {
		t.Run(fmt.Sprintf("product/M=%d/N=%d/K=%d/transposeRight=%v/offset=%d", c.M, c.N, c.K, c.transposeR, c.off), func(t *testing.T) {
			const sentinel = -7
			total := c.off + max(c.M*c.K, c.K*c.N, c.M*c.N) + 3 // room after each matrix, to see overwrites
			left, right := make([]float32, c.M*c.K), make([]float32, c.K*c.N)
			for i := range left {
				left[i] = float32(i%7) - 2.5
			}
			for i := range right {
				right[i] = float32(i%5)*0.75 - 1
			}
			var got []float32
			var st metal.CommandBufferStatus
			var mpsRan int
			n, msgs := provoke(func() {
				a, b, o := f.buffer(total, sentinel), f.buffer(total, sentinel), f.buffer(total, sentinel)
				defer a.Release()
				defer b.Release()
				defer o.Release()
				copy(floats(a)[c.off:], left)
				copy(floats(b)[c.off:], right)
				k := mpsKernel(f.dev.Object, c)
				defer k.Release()
				cb := f.commandBuffer()
				encodeMatmul(k, cb, c, a, b, o)
				st = run(cb)
				got = append([]float32(nil), floats(o)...)
				mpsRan = fakemetal.Read().MPS
			})
			requireNoMisuse(t, n, msgs)
			require.Equal(t, metal.CommandBufferStatusCompleted, st)
			require.Equal(t, 1, mpsRan, "MPS multiplications executed")
			// right[k][j], stored K×N, or right[j][k], stored N×K when transposed.
			r := func(k, j int) float64 {
				if c.transposeR {
					return float64(right[j*c.K+k])
				}
				return float64(right[k*c.N+j])
			}
			for i := range got {
				e := i - c.off
				if e < 0 || e >= c.M*c.N {
					require.Equal(t, float32(sentinel), got[i], "element %d outside the result was written", i)
					continue
				}
				var want float64
				for k := range c.K {
					want += float64(left[(e/c.N)*c.K+k]) * r(k, e%c.N)
				}
				require.InDelta(t, want, float64(got[i]), 1e-5*(1+math.Abs(want)), "result[%d][%d]", e/c.N, e%c.N)
			}
		})
	}
}

// firstLine returns the first line of s that contains sub.
func firstLine(s, sub string) string {
	for _, line := range strings.Split(s, "\n") {
		if strings.Contains(line, sub) {
			return line
		}
	}
	return ""
}

// liveOf returns how many objects of class Live reports.
func liveOf(class string) int {
	for _, line := range strings.Split(fakemetal.Live(), "\n") {
		if name, n, ok := strings.Cut(line, ": "); ok && name == class {
			v, _ := strconv.Atoi(n)
			return v
		}
	}
	return 0
}

// TestLiveObjects checks the count of live fake objects: back to where it started once
// everything made is released, one more for a buffer not released.
func TestLiveObjects(t *testing.T) {
	t.Run("releasing everything returns to the starting count", func(t *testing.T) {
		start := fakemetal.Read().Live
		var during int
		n, msgs := provoke(func() {
			f := &fixture{pso: map[string]metal.ComputePipelineStateObject{}}
			defer f.release() // last: the queue's release joins its worker
			f.dev = metal.DeviceObject{Object: objc.ObjectFrom(fakemetal.NewDevice())}
			f.queue = f.dev.NewCommandQueue()
			lib, _ := compile(f.dev, source)
			defer lib.Release()
			f.pso["fill"] = pipeline(f.dev, lib, "fill")
			buf := f.buffer(4, 0)
			defer buf.Release()
			k := mpsKernel(f.dev.Object, matmulCase{M: 1, N: 1, K: 1})
			defer k.Release()
			cb := f.commandBuffer()
			enc := f.encoder(cb, "fill")
			setBuffer(enc, buf, 0, 0)
			setFloat(enc, 1, 1)
			dispatch(enc, 1, 4)
			endEncoding(enc)
			encodeMatmul(k, cb, matmulCase{M: 1, N: 1, K: 1}, buf, buf, buf)
			run(cb)
			during = fakemetal.Read().Live
		})
		requireNoMisuse(t, n, msgs)
		require.Greater(t, during, start, "the objects made must count as live")
		require.Equal(t, start, fakemetal.Read().Live, "live objects after releasing everything:\n%s", fakemetal.Live())
	})

	t.Run("a leaked buffer is one more live FMBuffer", func(t *testing.T) {
		f := newFixture(t)
		start, buffers := fakemetal.Read().Live, liveOf("FMBuffer")
		var leaked metal.BufferObject
		inPool(func() { leaked = f.buffer(4, 0) }) // owned, not released
		require.Equal(t, start+1, fakemetal.Read().Live)
		require.Equal(t, buffers+1, liveOf("FMBuffer"), "Live() reports:\n%s", fakemetal.Live())
		require.Contains(t, fakemetal.Live(), "FMBuffer: ")
		inPool(leaked.Release) // not to leave it to TestMain's check
		require.Equal(t, start, fakemetal.Read().Live)
	})
}
