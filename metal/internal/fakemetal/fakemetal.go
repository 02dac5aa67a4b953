//go:build fakemetal && cgo

// Package fakemetal is a strict fake of the part of Apple's Metal (and MetalPerformanceShaders)
// that kvgpt's metal package uses, so that the real host code — package metal, unchanged, through
// the real darwinkit v0.5.0 — runs on Linux: Objective-C classes (fakemetal.m, mps.m) on GCC's
// Objective-C runtime and GNUstep Foundation, whose command buffers execute every dispatch with
// the shader harness (internal/mslcpu).
//
// Importing the package (in a build with -tags fakemetal and the environment of `make fakemetal`,
// see README.md in this folder) provides MTLCreateSystemDefaultDevice. Libraries are compiled by
// the harness from the source the host hands to newLibraryWithSource:, so a kernel that does not
// compile fails there with the compiler's message, and pipelines report the harness's limits.
//
// The fake is strict where Metal is strict or undefined; each such event is recorded as a misuse
// (Misuses) that tests must check is empty. See fakemetal.m for the list.
package fakemetal

/*
#cgo CFLAGS: -x objective-c
#cgo LDFLAGS: -lgnustep-base -lobjc -lBlocksRuntime -lpthread
#include <stdlib.h>
#include "fakemetal.h"
*/
import "C"

import (
	"crypto/sha256"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"unsafe"

	"github.com/kvgpt/kvgpt/internal/mslcpu"
)

// Counters are the fake device's counts since the last Reset (Live: since the process started).
type Counters struct {
	Live       int // fake objects not yet deallocated
	Dispatches int // compute dispatches executed
	MPS        int // MPS matrix multiplications executed
	Committed  int // command buffers committed
	Waits      int // waitUntilCompleted calls
	Buffers    int // MTLBuffers allocated
	Bytes      int // bytes of MTLBuffers allocated
	Misuses    int // recorded misuses of the Metal API
}

// Read returns the current counters.
func Read() Counters {
	var c C.fm_counters
	C.fm_read_counters(&c)
	return Counters{Live: int(c.live), Dispatches: int(c.dispatches), MPS: int(c.mps), Committed: int(c.committed),
		Waits: int(c.waits), Buffers: int(c.buffers), Bytes: int(c.bytes), Misuses: int(c.misuses)}
}

// Misuses returns the first recorded misuses of the Metal API, one a line ("" if none).
func Misuses() string {
	buf := make([]byte, 4096)
	C.fm_misuse_report((*C.char)(unsafe.Pointer(&buf[0])), C.size_t(len(buf)))
	return cstr(buf)
}

// Live returns the fake objects not yet deallocated, per class ("FMBuffer: 3" a line; "" if none).
func Live() string {
	buf := make([]byte, 4096)
	C.fm_live_report((*C.char)(unsafe.Pointer(&buf[0])), C.size_t(len(buf)))
	return cstr(buf)
}

// Reset clears the misuse record and every counter but Live.
func Reset() { C.fm_reset() }

// ExecError, when set, makes every dispatch of the named kernel fail as a GPU fault would (its
// command buffer ends with MTLCommandBufferStatusError). For tests of the host's error path.
var execError struct {
	sync.Mutex
	kernel string
}

// FailKernel makes every later dispatch of kernel fail with a GPU error; "" stops it.
func FailKernel(kernel string) {
	execError.Lock()
	execError.kernel = kernel
	execError.Unlock()
}

// programs are the libraries the fake device compiled, by handle.
var programs struct {
	sync.Mutex
	byHandle map[uintptr]*program
	byHash   map[[32]byte]*program
	opts     mslcpu.Options
}

// program is one compiled library: the harness's program, its runner process and its kernels'
// static threadgroup memory.
type program struct {
	handle uintptr
	prog   *mslcpu.Program
	once   sync.Once
	runner *mslcpu.Runner
	err    error

	staticOnce sync.Once
	static     map[string]int // by kernel; absent: unknown
	staticErr  error
}

// SetOptions selects how later libraries are built by the harness (e.g. Strict, ASan).
func SetOptions(o mslcpu.Options) {
	programs.Lock()
	programs.opts = o
	programs.Unlock()
}

func cstr(b []byte) string {
	if i := strings.IndexByte(string(b), 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

// putC copies s into the C buffer p of n bytes, NUL-terminated (truncated if needed).
func putC(p *C.char, n C.size_t, s string) {
	if n == 0 {
		return
	}
	buf := unsafe.Slice((*byte)(unsafe.Pointer(p)), int(n))
	m := copy(buf[:len(buf)-1], s)
	buf[m] = 0
}

//export fm_go_compile
func fm_go_compile(src *C.char, n C.size_t, names *C.char, namelen C.size_t, errBuf *C.char, errlen C.size_t) C.uintptr_t {
	code := C.GoBytes(unsafe.Pointer(src), C.int(n))
	programs.Lock()
	defer programs.Unlock()
	if programs.byHandle == nil {
		programs.byHandle, programs.byHash = map[uintptr]*program{}, map[[32]byte]*program{}
	}
	h := sha256.Sum256(append(code, fmt.Sprintf("%+v", programs.opts)...))
	p, ok := programs.byHash[h]
	if !ok {
		prog, err := mslcpu.BuildSource("shaders.metal", code, programs.opts)
		if err != nil {
			putC(errBuf, errlen, err.Error())
			return 0
		}
		p = &program{handle: uintptr(len(programs.byHandle) + 1), prog: prog}
		programs.byHandle[p.handle], programs.byHash[h] = p, p
	}
	putC(names, namelen, strings.Join(p.prog.Kernels, "\n"))
	return C.uintptr_t(p.handle)
}

func lookup(lib C.uintptr_t) *program {
	programs.Lock()
	defer programs.Unlock()
	return programs.byHandle[uintptr(lib)]
}

//export fm_go_kernel_info
func fm_go_kernel_info(lib C.uintptr_t, kernel *C.char, info *C.fm_kernel_info) C.int {
	p := lookup(lib)
	if p == nil {
		return 1
	}
	ki, ok := p.prog.Info[C.GoString(kernel)]
	if !ok {
		return 1
	}
	info.max_threads = C.int(min(ki.MaxThreads, maxThreads()))
	p.staticOnce.Do(func() { p.static, p.staticErr = p.prog.StaticThreadgroupMemory() })
	if p.staticErr != nil {
		return 1
	}
	info.static_tg = -1
	if n, ok := p.static[C.GoString(kernel)]; ok {
		info.static_tg = C.int(n)
	}
	info.buffers, info.tgmem = 0, 0
	for _, b := range ki.Buffers {
		info.buffers |= 1 << b
	}
	for _, t := range ki.Threadgroups {
		info.tgmem |= 1 << t
	}
	return 0
}

// maxThreads is the largest maxTotalThreadsPerThreadgroup a pipeline reports: 1024, Metal's
// limit, or FAKEMETAL_MAX_THREADS, to play a GPU whose pipelines allow fewer (a real one lowers it
// for kernels that need many registers).
func maxThreads() int {
	if n, err := strconv.Atoi(os.Getenv("FAKEMETAL_MAX_THREADS")); err == nil && n > 0 {
		return min(n, mslcpu.MaxThreadsPerThreadgroup)
	}
	return mslcpu.MaxThreadsPerThreadgroup
}

//export fm_go_exec
func fm_go_exec(d *C.fm_dispatch, errBuf *C.char, errlen C.size_t) C.int {
	if err := exec(d); err != nil {
		putC(errBuf, errlen, err.Error())
		return 1
	}
	return 0
}

// exec runs one recorded dispatch in the harness. Each MTLBuffer is one allocation, copied in
// whole (slots that bind the same buffer alias it at their offsets); afterwards only the bytes
// the kernel changed are written back, so the dispatch leaves the rest of a shared buffer as the
// GPU would.
func exec(d *C.fm_dispatch) error {
	kernel := C.GoString(d.kernel)
	execError.Lock()
	fail := execError.kernel != "" && execError.kernel == kernel
	execError.Unlock()
	if fail {
		return fmt.Errorf("injected GPU fault (fakemetal.FailKernel)")
	}
	p := lookup(d.lib)
	if p == nil {
		return fmt.Errorf("no library with handle %d", d.lib)
	}
	p.once.Do(func() { p.runner, p.err = p.prog.Start() })
	if p.err != nil {
		return p.err
	}
	md := mslcpu.Dispatch{Kernel: kernel, Buffers: map[int][]byte{}, Offsets: map[int]int{}, Alias: map[int]int{}, TGMemLengths: map[int]int{}}
	for i := range 3 {
		md.Grid[i], md.Threadgroup[i] = uint32(d.groups[i]), uint32(d.threads[i])
	}
	first := map[uintptr]int{} // buffer → the slot that carries its allocation
	mems := map[int][]byte{}   // that slot → the buffer's memory
	for slot := range C.FM_MAX_BUFFERS {
		b := d.buffers[slot]
		if b.base != nil {
			id := uintptr(b.id)
			if f, seen := first[id]; seen {
				md.Alias[slot] = f
			} else {
				first[id] = slot
				mem := unsafe.Slice((*byte)(b.base), int(b.length))
				mems[slot] = mem
				md.Buffers[slot] = append([]byte(nil), mem...)
			}
			md.Offsets[slot] = int(b.offset)
		} else if d.bytes[slot] != nil {
			md.Buffers[slot] = C.GoBytes(d.bytes[slot], C.int(d.nbytes[slot]))
		}
	}
	for i := range C.FM_MAX_TGMEM {
		if d.tgmem[i] > 0 {
			md.TGMemLengths[i] = int(d.tgmem[i])
		}
	}
	in := map[int][]byte{}
	for slot := range mems {
		in[slot] = md.Buffers[slot]
	}
	out, err := p.runner.Run(md)
	if err != nil {
		return err
	}
	for slot, mem := range mems {
		after, before := out[slot], in[slot]
		for i := range after {
			if after[i] != before[i] {
				mem[i] = after[i]
			}
		}
	}
	return nil
}

// Close stops the harness processes of every compiled library.
func Close() {
	programs.Lock()
	defer programs.Unlock()
	for _, p := range programs.byHandle {
		if p.runner != nil {
			p.runner.Close()
		}
	}
}
