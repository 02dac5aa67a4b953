package nn

import (
	"fmt"
	"math"
	"runtime"
	"sync/atomic"
)

// CPU is the Backend that runs every op on the host: matrix products through gonum's blas32, cut
// into pieces over a fixed set of worker goroutines as its GemmMode says, and the other ops' inner
// loops (Kernels) split over rows, channels or (batch, head) pairs across the same workers. Ops
// run synchronously; Sync only reports errors (there are none).
//
// Once its buffers exist, a CPU does not allocate: the per-op arguments live in the CPU value and
// are handed to the workers by pointer. Results do not depend on the number of threads: work is
// split so that every sum runs in one fixed order (not so with GemmWhole, where the BLAS decides).
type CPU struct {
	threads  int
	gemmMode GemmMode
	kernels  Kernels
	pool     *pool
	closed   bool

	memLimit int64         // bytes the live buffers may hold
	memWhat  string        // what memLimit is, for an AllocError
	memLive  *atomic.Int64 // bytes of the live buffers; a buffer's cleanup gives its bytes back
	asLimit  int64         // the process's address-space limit (ulimit -v), 0 if none

	// Per-op arguments, reused by every call (see pool.run).
	mm   matmulJob
	mm2  gemmPairJob
	att  attentionJob
	dec  decodeJob
	ln   layerNormJob
	lnw  layerNormDWJob
	emb  embedJob
	embw embedDWJob
	ew   elementwiseJob
	ce   crossEntropyJob
	adam adamWJob
	norm gradNormJob
}

// GemmMode is how the CPU backend cuts a matrix product into blas32.Gemm calls.
type GemmMode int

const (
	// GemmTiles cuts every product into gemmTileM×gemmTileN (64×128) output tiles run on the
	// backend's workers, each small enough that gonum multiplies it serially (gonum's own parallel
	// Sgemm allocates a channel and a goroutine per block on every call). It is for gonum's
	// pure-Go BLAS, and the default.
	GemmTiles GemmMode = iota
	// GemmSplit cuts every product into one block of output rows per worker, each a single
	// blas32.Gemm call run on that worker (MatmulBackward's two products run side by side
	// instead, each on half the workers). It is for a cgo BLAS set to one thread
	// (cpublas.SetThreads(1)): the products stay large, and no BLAS thread spins for work while
	// the backend's workers run the other ops.
	GemmSplit
	// GemmWhole makes every product a single blas32.Gemm call, for a multi-threaded cgo BLAS
	// (OpenBLAS, Accelerate), which threads whole products better than tiles do.
	GemmWhole
)

// String returns "tiles", "split" or "whole".
func (m GemmMode) String() string {
	switch m {
	case GemmTiles:
		return "tiles"
	case GemmSplit:
		return "split"
	case GemmWhole:
		return "whole"
	}
	return fmt.Sprintf("GemmMode(%d)", int(m))
}

// CPUOptions are the settings of a CPU backend, fixed when NewCPUWith creates it. The zero value
// is NewCPU(0): all cores, gemm tiles, the Go kernels.
type CPUOptions struct {
	// Threads is the number of goroutines ops run on (0: runtime.GOMAXPROCS).
	Threads int
	// Gemm is how matrix products are cut into blas32 calls.
	Gemm GemmMode
	// Kernels run the inner loops of the ops other than matrix products (nil: the Go loops,
	// GoKernels{Gemm: Gemm}).
	Kernels Kernels
	// MemoryLimit is the most bytes the backend's live buffers may hold at once: an Alloc beyond
	// it panics with an *AllocError instead of asking the Go runtime, which cannot fail softly.
	// 0: the machine's memory (no limit where it is unknown). Whatever the limit, an Alloc that
	// would not fit under the process's address-space limit (ulimit -v, on Linux) is refused too.
	MemoryLimit int64
}

// NewCPU returns a CPU backend that runs ops on threads goroutines (0 means runtime.GOMAXPROCS),
// with the default options otherwise (see CPUOptions). Call Close to stop its workers.
func NewCPU(threads int) *CPU {
	return NewCPUWith(CPUOptions{Threads: threads})
}

// NewCPUWith returns a CPU backend with the options o. It panics if o.Gemm is not a GemmMode.
// Call Close to stop its workers.
func NewCPUWith(o CPUOptions) *CPU {
	if o.Gemm < GemmTiles || o.Gemm > GemmWhole {
		panic("nn: NewCPUWith with an unknown GemmMode")
	}
	threads := o.Threads
	if threads <= 0 {
		threads = runtime.GOMAXPROCS(0)
	}
	kernels := o.Kernels
	if kernels == nil {
		kernels = GoKernels{Gemm: o.Gemm}
	}
	c := &CPU{threads: threads, gemmMode: o.Gemm, kernels: kernels, pool: newPool(threads), memLive: new(atomic.Int64)}
	c.memLimit, c.memWhat = o.MemoryLimit, "the backend's memory limit"
	if c.memLimit <= 0 {
		c.memLimit, c.memWhat = physicalMemory(), "the machine's memory"
	}
	if c.memLimit <= 0 {
		c.memLimit, c.memWhat = math.MaxInt64, "the largest size an int64 counts"
	}
	c.asLimit = addressSpaceLimit()
	// Stop the workers if the backend is dropped without Close; they hold the pool, not c.
	runtime.AddCleanup(c, func(p *pool) { p.stop() }, c.pool)
	return c
}

// Name reports "cpu (gonum blas32, 64×128 tiles, kernels Go, 2 threads)" and the like: the gemm
// mode, the kernels and the number of threads.
func (c *CPU) Name() string {
	gemm := "64×128 tiles"
	switch c.gemmMode {
	case GemmWhole:
		gemm = "whole gemm"
	case GemmSplit:
		gemm = "gemm split by rows"
	}
	return fmt.Sprintf("cpu (gonum blas32, %s, kernels %s, %d threads)", gemm, c.kernels.Name(), c.threads)
}

// Gemm reports how the backend cuts matrix products.
func (c *CPU) Gemm() GemmMode { return c.gemmMode }

// Kernels reports the inner loops the backend runs.
func (c *CPU) Kernels() Kernels { return c.kernels }

// Threads reports the number of goroutines the backend runs ops on.
func (c *CPU) Threads() int { return c.threads }

// cpuBuffer is a CPU float32 allocation.
type cpuBuffer struct {
	owner *CPU
	data  []float32
}

func (b *cpuBuffer) Len() int { return len(b.data) }

// cpuIntBuffer is a CPU int32 allocation.
type cpuIntBuffer struct {
	owner *CPU
	data  []int32
}

func (b *cpuIntBuffer) Len() int { return len(b.data) }

// Alloc returns a zeroed view of a new buffer of n float32 elements. It panics with an
// *AllocError if the buffer would take the backend's buffers past its memory limit.
func (c *CPU) Alloc(n int) View {
	if n < 0 {
		panic("nn: Alloc of a negative size")
	}
	b := &cpuBuffer{owner: c}
	reserve(c, b, n, 4)
	b.data = make([]float32, n)
	return View{Buf: b, N: n}
}

// AllocInt returns a zeroed view of a new buffer of n int32 elements. It panics with an
// *AllocError if the buffer would take the backend's buffers past its memory limit.
func (c *CPU) AllocInt(n int) IntView {
	if n < 0 {
		panic("nn: AllocInt of a negative size")
	}
	b := &cpuIntBuffer{owner: c}
	reserve(c, b, n, 4)
	b.data = make([]int32, n)
	return IntView{Buf: b, N: n}
}

// reserve counts n elements of size bytes for the buffer buf against c's memory limit, before
// they are allocated (the Go runtime stops the process when it cannot map memory), and gives them
// back when buf is garbage collected. It panics with an *AllocError if they do not fit, or would
// not fit under the process's address-space limit.
func reserve[T any](c *CPU, buf *T, n, size int) {
	live := c.memLive.Load()
	bytes := int64(-1) // overflows
	if int64(n) <= math.MaxInt64/int64(size) {
		bytes = int64(n) * int64(size)
	}
	if bytes < 0 || bytes > c.memLimit-live {
		panic(&AllocError{Backend: "cpu", Bytes: bytes, Allocated: live, Limit: c.memLimit, What: c.memWhat})
	}
	if c.asLimit > 0 && bytes > 0 {
		if room := c.asLimit - addressSpaceUsed() - addressSpaceMargin; bytes > room {
			e := &AllocError{Backend: "cpu", Bytes: bytes, Allocated: live, Limit: room,
				What: "the room left under the process's address-space limit (ulimit -v)"}
			if room <= 0 {
				e.Limit, e.What = 0, "no room is left under the process's address-space limit (ulimit -v)"
			}
			panic(e)
		}
	}
	if bytes == 0 {
		return
	}
	c.memLive.Add(bytes)
	runtime.AddCleanup(buf, func(live *atomic.Int64) { live.Add(-bytes) }, c.memLive)
}

// Upload copies src into dst.
func (c *CPU) Upload(dst View, src []float32) {
	if len(src) != dst.N {
		panic("nn: Upload length mismatch")
	}
	copy(c.f32(dst), src)
}

// UploadInt copies src into dst.
func (c *CPU) UploadInt(dst IntView, src []int32) {
	if len(src) != dst.N {
		panic("nn: UploadInt length mismatch")
	}
	copy(c.i32(dst), src)
}

// Download copies src into dst.
func (c *CPU) Download(dst []float32, src View) {
	if len(dst) != src.N {
		panic("nn: Download length mismatch")
	}
	copy(dst, c.f32(src))
}

// Sync returns nil: CPU ops finish before they return.
func (c *CPU) Sync() error { return nil }

// Close stops the backend's workers. The backend must not be used afterwards.
func (c *CPU) Close() error {
	if !c.closed {
		c.closed = true
		c.pool.stop()
	}
	return nil
}

// Zero sets every element of x to 0, in parallel chunks.
func (c *CPU) Zero(x View) {
	c.elementwise(zero, x.N, c.f32(x), nil, nil)
}

// f32 returns the elements of v. It panics if v is not a view of a buffer of c.
func (c *CPU) f32(v View) []float32 {
	b, ok := v.Buf.(*cpuBuffer)
	if !ok || b.owner != c {
		if v.Buf == nil && v.N == 0 {
			return nil
		}
		panic("nn: view of a buffer not allocated by this CPU backend")
	}
	if v.Off < 0 || v.N < 0 || v.Off+v.N > len(b.data) {
		panic("nn: view outside its buffer")
	}
	return b.data[v.Off : v.Off+v.N : v.Off+v.N]
}

// i32 returns the elements of v. It panics if v is not a view of a buffer of c.
func (c *CPU) i32(v IntView) []int32 {
	b, ok := v.Buf.(*cpuIntBuffer)
	if !ok || b.owner != c {
		if v.Buf == nil && v.N == 0 {
			return nil
		}
		panic("nn: int view of a buffer not allocated by this CPU backend")
	}
	if v.Off < 0 || v.N < 0 || v.Off+v.N > len(b.data) {
		panic("nn: int view outside its buffer")
	}
	return b.data[v.Off : v.Off+v.N : v.Off+v.N]
}

// need returns the elements of v after checking it holds at least n of them.
func (c *CPU) need(v View, n int, msg string) []float32 {
	if v.N < n {
		panic(msg)
	}
	return c.f32(v)[:n]
}

// needInt returns the elements of v after checking it holds at least n of them.
func (c *CPU) needInt(v IntView, n int, msg string) []int32 {
	if v.N < n {
		panic(msg)
	}
	return c.i32(v)[:n]
}

// strided returns the elements of s and its stride after checking it holds rows rows of cols
// columns.
func (c *CPU) strided(s Strided, rows, cols int, msg string) ([]float32, int) {
	if s.Stride < cols || rows > 0 && s.V.N < (rows-1)*s.Stride+cols {
		panic(msg)
	}
	return c.f32(s.V), s.Stride
}

// checkSizes panics with msg if any size is negative.
func checkSizes(msg string, sizes ...int) {
	for _, n := range sizes {
		if n < 0 {
			panic(msg)
		}
	}
}

var _ Backend = (*CPU)(nil)
