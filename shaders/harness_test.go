package shaders_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kvgpt/kvgpt/internal/mslcpu"
	"github.com/kvgpt/kvgpt/nn"
	"github.com/kvgpt/kvgpt/shaders"
)

// This file is the only one that knows the harness: it builds the kernel library with clang and
// runs dispatches through it. The rest of the tests see an nn.Backend.

// Build flavours of the kernel library.
const (
	flavourPlain  = "plain"
	flavourStrict = "strict" // distinct address spaces: device/threadgroup/constant mix-ups do not compile
	flavourASan   = "asan"   // AddressSanitizer: every buffer is allocated to its view's exact size
)

var flavourOptions = map[string]mslcpu.Options{
	flavourPlain:  {},
	flavourStrict: {Strict: true},
	flavourASan:   {ASan: true},
}

var (
	buildMu   sync.Mutex
	built     = map[string]*mslcpu.Program{}
	buildErrs = map[string]error{}
)

// program builds (once per test process) the kernel library shaders.Source in a flavour. It
// skips the test when clang++ is missing, and fails it then if CI is set.
func program(t *testing.T, flavour string) *mslcpu.Program {
	t.Helper()
	mslcpu.NeedCompiler(t)
	buildMu.Lock()
	defer buildMu.Unlock()
	if p, ok := built[flavour]; ok {
		return p
	}
	if err, ok := buildErrs[flavour]; ok {
		t.Fatal(err)
	}
	start := time.Now()
	p, err := mslcpu.BuildSource("shaders.metal", []byte(shaders.Source()), flavourOptions[flavour])
	if err != nil {
		buildErrs[flavour] = err
		t.Fatalf("building the %s kernel library: %v", flavour, err)
	}
	t.Logf("built the %s kernel library (%d kernels) in %v", flavour, len(p.Kernels), time.Since(start).Round(time.Millisecond))
	built[flavour] = p
	return p
}

// kernelsRun counts the dispatches of every kernel over the whole test process.
var (
	kernelsMu    sync.Mutex
	kernelsRun   = map[string]int{}
	kernelsDynTG = map[string]int{} // largest dynamic threadgroup memory requested, bytes
)

// hostBuffer is a float32 buffer in Go memory.
type hostBuffer struct{ data []float32 }

func (b *hostBuffer) Len() int { return len(b.data) }

// hostIntBuffer is an int32 buffer in Go memory.
type hostIntBuffer struct{ data []int32 }

func (b *hostIntBuffer) Len() int { return len(b.data) }

// harnessEncoder runs every dispatch through a kernel-runner process: it copies each bound view
// into a buffer of exactly the view's size, runs the kernel, and copies back the words the kernel
// changed (so views that overlap in memory — q, k, v of one QKV activation — stay consistent when
// each dispatch writes only its own columns).
type harnessEncoder struct {
	r     *mslcpu.Runner
	order mslcpu.Order
	err   error
}

func (e *harnessEncoder) Dispatch(d *shaders.Dispatch) {
	if e.err != nil {
		return
	}
	kernelsMu.Lock()
	kernelsRun[d.Kernel]++
	dyn := 0
	for _, n := range d.TGMem {
		dyn += n
	}
	kernelsDynTG[d.Kernel] = max(kernelsDynTG[d.Kernel], dyn)
	kernelsMu.Unlock()
	md := mslcpu.Dispatch{
		Kernel:       d.Kernel,
		Buffers:      map[int][]byte{},
		TGMemLengths: map[int]int{},
		Order:        e.order,
	}
	for i := 0; i < 3; i++ {
		md.Grid[i] = uint32(d.Groups[i])
		md.Threadgroup[i] = uint32(d.Threads[i])
	}
	before := map[int][]byte{}
	for _, a := range d.Args[:d.NArgs] {
		var b []byte
		if a.IsInt {
			b = i32Bytes(hostInts(a.I))
		} else {
			b = f32Bytes(hostFloats(a.F))
		}
		if _, dup := md.Buffers[a.Slot]; dup {
			e.err = fmt.Errorf("%s: buffer slot %d bound twice", d.Kernel, a.Slot)
			return
		}
		md.Buffers[a.Slot] = b
		before[a.Slot] = bytes.Clone(b)
	}
	md.Buffers[d.ParamSlot] = d.ParamBytes(nil)
	for i, n := range d.TGMem {
		if n > 0 {
			md.TGMemLengths[i] = n
		}
	}
	out, err := e.r.Run(md)
	if err != nil {
		e.err = fmt.Errorf("%s: %w", d.Kernel, err)
		return
	}
	for _, a := range d.Args[:d.NArgs] {
		got, old := out[a.Slot], before[a.Slot]
		for w := 0; w+4 <= len(got); w += 4 {
			if bytes.Equal(got[w:w+4], old[w:w+4]) {
				continue
			}
			u := binary.LittleEndian.Uint32(got[w:])
			if a.IsInt {
				hostInts(a.I)[w/4] = int32(u)
			} else {
				hostFloats(a.F)[w/4] = math.Float32frombits(u)
			}
		}
	}
}

func hostFloats(v nn.View) []float32 { return v.Buf.(*hostBuffer).data[v.Off : v.Off+v.N] }
func hostInts(v nn.IntView) []int32  { return v.Buf.(*hostIntBuffer).data[v.Off : v.Off+v.N] }

func f32Bytes(v []float32) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return b
}

func i32Bytes(v []int32) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], uint32(x))
	}
	return b
}

// harnessBackend is an nn.Backend whose buffers live in Go memory and whose ops are shaders.Ops
// dispatched through the CPU harness: the geometry under test is the one the Metal backend uses.
type harnessBackend struct {
	shaders.Ops
	enc  *harnessEncoder
	name string
}

var _ nn.Backend = (*harnessBackend)(nil)

// harnessOrders returns the thread orders the harness runs the tests in: every order of
// mslcpu.Orders, or with -short the first (forward) only.
func harnessOrders() []mslcpu.Order {
	if testing.Short() {
		return mslcpu.Orders[:1]
	}
	return mslcpu.Orders
}

// newHarnessBackend starts a runner of the given library flavour that runs threads in the given
// order and returns a backend on it, closed at the end of the test.
func newHarnessBackend(t *testing.T, flavour string, order mslcpu.Order) *harnessBackend {
	t.Helper()
	r, err := program(t, flavour).Start()
	require.NoError(t, err)
	b := &harnessBackend{enc: &harnessEncoder{r: r, order: order}, name: fmt.Sprintf("mslcpu harness (%s, %s order)", flavour, order)}
	b.Ops = shaders.Ops{Enc: b.enc, Scratch: b.Alloc(shaders.ScratchLen)}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

func (b *harnessBackend) Name() string { return b.name }

func (b *harnessBackend) Alloc(n int) nn.View {
	return nn.View{Buf: &hostBuffer{data: make([]float32, n)}, N: n}
}

func (b *harnessBackend) AllocInt(n int) nn.IntView {
	return nn.IntView{Buf: &hostIntBuffer{data: make([]int32, n)}, N: n}
}

func (b *harnessBackend) Upload(dst nn.View, src []float32) {
	if len(src) != dst.N {
		panic("nn: Upload: length mismatch")
	}
	copy(hostFloats(dst), src)
}

func (b *harnessBackend) UploadInt(dst nn.IntView, src []int32) {
	if len(src) != dst.N {
		panic("nn: UploadInt: length mismatch")
	}
	copy(hostInts(dst), src)
}

func (b *harnessBackend) Download(dst []float32, src nn.View) {
	if len(dst) != src.N {
		panic("nn: Download: length mismatch")
	}
	copy(dst, hostFloats(src))
}

func (b *harnessBackend) Sync() error {
	err := b.enc.err
	b.enc.err = nil
	return err
}

func (b *harnessBackend) Close() error {
	if b.enc.r == nil {
		return nil
	}
	err := b.enc.r.Close()
	b.enc.r = nil
	return err
}

// kernelCountFromSources counts `kernel void` in shaders/*.metal, the files on disk.
func kernelCountFromSources() (int, []string, error) {
	files, err := filepath.Glob("*.metal")
	if err != nil {
		return 0, nil, err
	}
	var names []string
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			return 0, nil, err
		}
		for _, m := range kernelRE.FindAllSubmatch(src, -1) {
			names = append(names, string(m[1]))
		}
	}
	sort.Strings(names)
	return len(names), names, nil
}
