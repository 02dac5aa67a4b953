package mslcpu

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Order is the order in which the threads of a threadgroup run between two synchronisation points
// (barriers and SIMD-group collectives). A kernel with a missing barrier gives different results in
// different orders, so tests run every kernel in at least Forward and Reverse order.
type Order uint32

const (
	// OrderDefault is $MSLCPU_ORDER (forward, reverse or random) if set, else Forward.
	OrderDefault Order = iota
	// Forward runs threads by increasing thread_index_in_threadgroup.
	Forward
	// Reverse runs threads by decreasing thread_index_in_threadgroup.
	Reverse
	// Random shuffles the threads before every round, seeded by Dispatch.Seed.
	Random
)

// Orders are the thread orders every test should run in.
var Orders = []Order{Forward, Reverse}

func (o Order) String() string {
	switch o {
	case OrderDefault:
		return "default"
	case Forward:
		return "forward"
	case Reverse:
		return "reverse"
	case Random:
		return "random"
	}
	return fmt.Sprintf("Order(%d)", uint32(o))
}

// ParseOrder parses "forward", "reverse" or "random".
func ParseOrder(s string) (Order, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "forward", "":
		return Forward, nil
	case "reverse":
		return Reverse, nil
	case "random":
		return Random, nil
	}
	return 0, fmt.Errorf("mslcpu: unknown thread order %q (want forward, reverse or random)", s)
}

// MaxThreadgroupMemory is the threadgroup memory available to one threadgroup on Apple GPUs
// (declared threadgroup variables plus the dynamic [[threadgroup(n)]] lengths).
const MaxThreadgroupMemory = 32 << 10

// MaxThreadsPerThreadgroup is the largest threadgroup Metal allows.
const MaxThreadsPerThreadgroup = 1024

// SIMDWidth is threads_per_simdgroup on Apple GPUs, and in the harness.
const SIMDWidth = 32

// Dispatch is one compute dispatch, as a compute command encoder would issue it.
type Dispatch struct {
	// Kernel is the kernel function name.
	Kernel string
	// Grid is threadgroups per grid (dispatchThreadgroups), or threads per grid if Threads is set.
	Grid [3]uint32
	// Threads selects dispatchThreads semantics: Grid counts threads and the threadgroups at the
	// upper edges are smaller (non-uniform threadgroups).
	Threads bool
	// Threadgroup is threads per threadgroup (zeros are read as 1); at most 1024 in total.
	Threadgroup [3]uint32
	// Buffers are the kernel's buffers by [[buffer(n)]] index, n < 31. Run returns their contents
	// after the dispatch under the same indices; the slices given here are not modified.
	Buffers map[int][]byte
	// Offsets are byte offsets at which [[buffer(n)]] sees its allocation, as with
	// setBuffer:offset:atIndex:. Buffers[n] (or Buffers[Alias[n]]) holds the whole allocation.
	Offsets map[int]int
	// Alias binds [[buffer(n)]] to the allocation of [[buffer(Alias[n])]] (at Offsets[n]): the two
	// slots share memory like two views of one MTLBuffer, e.g. the k and v views of one KV
	// activation. n must not be in Buffers; Run returns the allocation only under Alias[n].
	Alias map[int]int
	// TGMemLengths are the dynamic threadgroup memory lengths in bytes by [[threadgroup(n)]]
	// index, n < 8 (setThreadgroupMemoryLength); each must be a multiple of 16.
	TGMemLengths map[int]int
	// Order is the thread order between synchronisation points.
	Order Order
	// Seed seeds the Random order.
	Seed uint64
	// Workers is the number of OS threads running threadgroups; 0 means one per CPU.
	Workers int
	// Timeout kills the runner if the dispatch takes longer; 0 means 5 minutes.
	Timeout time.Duration
}

// Runner is a running kernel-runner process of a Program. Its methods are safe for concurrent
// use; dispatches run one at a time. A runner that crashed (a kernel fault, a sanitizer report, a
// timeout) reports the crash from Run and is restarted by the next Run.
type Runner struct {
	prog *Program
	env  []string

	mu     sync.Mutex
	cmd    *exec.Cmd
	in     io.WriteCloser
	out    *bufio.Reader
	stderr *lockedBuffer
	waited chan struct{}
	werr   error
}

// Start starts a runner process for p; env entries ("K=V") are added to its environment.
func (p *Program) Start(env ...string) (*Runner, error) {
	r := &Runner{prog: p, env: env}
	if err := r.start(); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *Runner) start() error {
	cmd := exec.Command(r.prog.Path)
	cmd.Env = append(os.Environ(), r.env...)
	if r.prog.Options.ASan {
		opts := "ASAN_OPTIONS=detect_leaks=0:abort_on_error=0:symbolize=1:detect_stack_use_after_return=0"
		if sym := symbolizer(); sym != "" {
			cmd.Env = append(cmd.Env, "ASAN_SYMBOLIZER_PATH="+sym)
		} else {
			opts += ":allow_addr2line=1"
		}
		cmd.Env = append(cmd.Env, opts)
	}
	in, err := cmd.StdinPipe()
	if err != nil {
		return fmt.Errorf("mslcpu: %w", err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return fmt.Errorf("mslcpu: %w", err)
	}
	stderr := &lockedBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("mslcpu: starting runner %s: %w", r.prog.Path, err)
	}
	r.cmd, r.in, r.out, r.stderr = cmd, in, bufio.NewReaderSize(out, 1<<16), stderr
	r.waited = make(chan struct{})
	go func() {
		r.werr = cmd.Wait()
		close(r.waited)
	}()
	return nil
}

// Close ends the runner process.
func (r *Runner) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd == nil {
		return nil
	}
	r.in.Close()
	select {
	case <-r.waited:
	case <-time.After(10 * time.Second):
		r.cmd.Process.Kill()
		<-r.waited
	}
	r.cmd = nil
	if r.werr != nil {
		return fmt.Errorf("mslcpu: runner exited: %v\n%s", r.werr, r.stderr.String())
	}
	return nil
}

// Run executes d and returns the contents of d.Buffers after the dispatch. Kernel errors (an
// unknown kernel, a missing buffer, barrier divergence, threadgroup memory over the limit) come
// back as errors; so do crashes, with the runner's stderr (a sanitizer report, a fault location).
func (r *Runner) Run(d Dispatch) (map[int][]byte, error) {
	if err := d.check(); err != nil {
		return nil, err
	}
	order := d.Order
	if order == OrderDefault {
		var err error
		if order, err = ParseOrder(os.Getenv("MSLCPU_ORDER")); err != nil {
			return nil, err
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd == nil {
		if err := r.start(); err != nil {
			return nil, err
		}
	}
	timeout := d.Timeout
	if timeout == 0 {
		timeout = 5 * time.Minute
	}
	cmd := r.cmd
	var timedOut atomic.Bool
	timer := time.AfterFunc(timeout, func() { timedOut.Store(true); cmd.Process.Kill() })
	defer timer.Stop()
	died := func(err error) error {
		if timedOut.Load() {
			err = fmt.Errorf("killed after the %v timeout", timeout)
		}
		return r.died(d, err)
	}

	idx := make([]int, 0, len(d.Buffers))
	for i := range d.Buffers {
		idx = append(idx, i)
	}
	sort.Ints(idx)
	aliases := make([]int, 0, len(d.Alias))
	for i := range d.Alias {
		aliases = append(aliases, i)
	}
	sort.Ints(aliases)
	tgIdx := make([]int, 0, len(d.TGMemLengths))
	for i := range d.TGMemLengths {
		tgIdx = append(tgIdx, i)
	}
	sort.Ints(tgIdx)

	// The request is written from a goroutine so a runner that dies while reading it cannot block us.
	werr := make(chan error, 1)
	go func() {
		w := bufio.NewWriterSize(r.in, 1<<16)
		le := binary.LittleEndian
		var b []byte
		b = append(b, "MSL3"...)
		b = le.AppendUint32(b, uint32(len(d.Kernel)))
		b = append(b, d.Kernel...)
		for _, v := range d.Threadgroup {
			b = le.AppendUint32(b, v)
		}
		for _, v := range d.Grid {
			b = le.AppendUint32(b, v)
		}
		flags := uint32(0)
		if d.Threads {
			flags |= 1
		}
		b = le.AppendUint32(b, flags)
		b = le.AppendUint32(b, uint32(order))
		b = le.AppendUint64(b, d.Seed)
		b = le.AppendUint32(b, uint32(d.Workers))
		b = le.AppendUint32(b, uint32(len(idx)+len(aliases)))
		w.Write(b)
		for _, i := range idx {
			b = le.AppendUint32(b[:0], uint32(i))
			b = le.AppendUint32(b, ^uint32(0))
			b = le.AppendUint64(b, uint64(d.Offsets[i]))
			b = le.AppendUint64(b, uint64(len(d.Buffers[i])))
			w.Write(b)
			w.Write(d.Buffers[i])
		}
		for _, i := range aliases {
			b = le.AppendUint32(b[:0], uint32(i))
			b = le.AppendUint32(b, uint32(d.Alias[i]))
			b = le.AppendUint64(b, uint64(d.Offsets[i]))
			w.Write(b)
		}
		b = le.AppendUint32(b[:0], uint32(len(tgIdx)))
		for _, i := range tgIdx {
			b = le.AppendUint32(b, uint32(i))
			b = le.AppendUint64(b, uint64(d.TGMemLengths[i]))
		}
		w.Write(b)
		werr <- w.Flush()
	}()

	var tag [4]byte
	if _, err := io.ReadFull(r.out, tag[:]); err != nil {
		return nil, died(err)
	}
	if err := <-werr; err != nil {
		return nil, died(err)
	}
	le := binary.LittleEndian
	switch string(tag[:]) {
	case "ERR ":
		var n uint32
		if err := binary.Read(r.out, le, &n); err != nil {
			return nil, died(err)
		}
		msg := make([]byte, n)
		if _, err := io.ReadFull(r.out, msg); err != nil {
			return nil, died(err)
		}
		return nil, fmt.Errorf("mslcpu: %s: %s", d.Kernel, msg)
	case "OK  ":
	default:
		return nil, died(fmt.Errorf("bad reply %q", tag[:]))
	}
	res := make(map[int][]byte, len(idx))
	for _, i := range idx {
		var n uint64
		if err := binary.Read(r.out, le, &n); err != nil {
			return nil, died(err)
		}
		if n != uint64(len(d.Buffers[i])) {
			return nil, died(fmt.Errorf("buffer %d came back with %d bytes, sent %d", i, n, len(d.Buffers[i])))
		}
		b := make([]byte, n)
		if _, err := io.ReadFull(r.out, b); err != nil {
			return nil, died(err)
		}
		res[i] = b
	}
	return res, nil
}

// check validates d against Metal's dispatch limits before it reaches the runner.
func (d *Dispatch) check() error {
	if d.Kernel == "" {
		return errors.New("mslcpu: Dispatch.Kernel is empty")
	}
	if d.Order > Random {
		return fmt.Errorf("mslcpu: %s: unknown thread order %v", d.Kernel, d.Order)
	}
	if d.Workers < 0 {
		return fmt.Errorf("mslcpu: %s: Workers %d is negative", d.Kernel, d.Workers)
	}
	n := uint64(1)
	for i, v := range d.Threadgroup {
		if v == 0 {
			v = 1
		}
		n *= uint64(v)
		if d.Grid[i] == 0 {
			return fmt.Errorf("mslcpu: %s: Grid %v has a zero dimension", d.Kernel, d.Grid)
		}
	}
	if n > MaxThreadsPerThreadgroup {
		return fmt.Errorf("mslcpu: %s: threadgroup %v has %d threads; Metal allows at most %d", d.Kernel, d.Threadgroup, n, MaxThreadsPerThreadgroup)
	}
	for i := range d.Buffers {
		if i < 0 || i >= 31 {
			return fmt.Errorf("mslcpu: %s: buffer index %d out of range [0, 31)", d.Kernel, i)
		}
	}
	for i, m := range d.Alias {
		if i < 0 || i >= 31 {
			return fmt.Errorf("mslcpu: %s: alias buffer index %d out of range [0, 31)", d.Kernel, i)
		}
		if _, ok := d.Buffers[i]; ok {
			return fmt.Errorf("mslcpu: %s: buffer(%d) is both in Buffers and an Alias of buffer(%d)", d.Kernel, i, m)
		}
		if _, ok := d.Buffers[m]; !ok {
			return fmt.Errorf("mslcpu: %s: buffer(%d) aliases buffer(%d), which is not in Buffers", d.Kernel, i, m)
		}
	}
	for i, off := range d.Offsets {
		alloc, ok := d.Buffers[i]
		if m, alias := d.Alias[i]; alias {
			alloc, ok = d.Buffers[m], true
		}
		if !ok {
			return fmt.Errorf("mslcpu: %s: Offsets[%d] given for an unbound buffer", d.Kernel, i)
		}
		if off < 0 || off > len(alloc) {
			return fmt.Errorf("mslcpu: %s: buffer(%d) offset %d outside its %d-byte allocation", d.Kernel, i, off, len(alloc))
		}
	}
	total := 0
	for i, l := range d.TGMemLengths {
		if i < 0 || i >= 8 {
			return fmt.Errorf("mslcpu: %s: threadgroup memory index %d out of range [0, 8)", d.Kernel, i)
		}
		if l < 0 || l%16 != 0 {
			return fmt.Errorf("mslcpu: %s: threadgroup memory length %d at index %d is not a multiple of 16 bytes (setThreadgroupMemoryLength requires it)", d.Kernel, l, i)
		}
		total += l
	}
	if total > MaxThreadgroupMemory {
		return fmt.Errorf("mslcpu: %s: dynamic threadgroup memory of %d bytes exceeds the %d-byte limit", d.Kernel, total, MaxThreadgroupMemory)
	}
	return nil
}

// died reaps a runner that stopped answering and describes why, with its stderr.
func (r *Runner) died(d Dispatch, err error) error {
	r.in.Close()
	select {
	case <-r.waited:
	case <-time.After(30 * time.Second):
		r.cmd.Process.Kill()
		<-r.waited
	}
	r.cmd = nil
	why := err.Error()
	if r.werr != nil && !strings.Contains(why, "timeout") {
		why = r.werr.Error()
	}
	return fmt.Errorf("mslcpu: %s: kernel runner died (%s):\n%s", d.Kernel, why, strings.TrimSpace(r.stderr.String()))
}

type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.b.Len() < 1<<20 {
		l.b.Write(p)
	}
	return len(p), nil
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// F32 returns the little-endian bytes of v, for Dispatch.Buffers.
func F32(v []float32) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return b
}

// ToF32 reads little-endian float32s from b.
func ToF32(b []byte) []float32 {
	v := make([]float32, len(b)/4)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return v
}

// U32 returns the little-endian bytes of v (for uint, int via uint32(x), or a struct of uints).
func U32(v ...uint32) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], x)
	}
	return b
}

// ToU32 reads little-endian uint32s from b.
func ToU32(b []byte) []uint32 {
	v := make([]uint32, len(b)/4)
	for i := range v {
		v[i] = binary.LittleEndian.Uint32(b[4*i:])
	}
	return v
}

// symbolizer finds a symbolizer for AddressSanitizer reports with .metal file:line frames:
// llvm-symbolizer (also names inlined kernel functions), else binutils' addr2line.
func symbolizer() string {
	for _, c := range []string{"llvm-symbolizer-16", "/usr/lib/llvm-16/bin/llvm-symbolizer", "llvm-symbolizer", "addr2line"} {
		if p, err := exec.LookPath(c); err == nil {
			return p
		}
	}
	return ""
}
