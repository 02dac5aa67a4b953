package mslcpu

import (
	"fmt"
	"math/rand"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// childCPU is the user+system CPU time the runner process has used so far (Linux /proc).
func childCPU(b *testing.B, r *Runner) time.Duration {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", r.cmd.Process.Pid))
	if err != nil {
		b.Skipf("no /proc: %v", err)
	}
	f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+2:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / 100 // USER_HZ
}

// BenchmarkMatmulTiled runs the 16×16-tiled matmul (one barrier pair per K tile, 256 fibers per
// threadgroup) with the assembly fiber switch (fibers hand over to each other directly) and with
// glibc swapcontext (every fiber returns to the scheduler):
//
//	go test ./internal/mslcpu -run '^$' -bench MatmulTiled -benchtime 3x
func BenchmarkMatmulTiled(b *testing.B) {
	NeedCompiler(b)
	for _, sw := range []struct {
		name string
		opts Options
	}{{"asm", Options{}}, {"ucontext", Options{UContext: true}}} {
		p, err := BuildFile("testdata/kernels.metal", sw.opts)
		if err != nil {
			b.Fatal(err)
		}
		r, err := p.Start()
		if err != nil {
			b.Fatal(err)
		}
		defer r.Close()
		for _, s := range []int{256} {
			rng := rand.New(rand.NewSource(5))
			a, w := randVec(rng, s*s), randVec(rng, s*s)
			d := Dispatch{Kernel: "matmul_tiled", Grid: [3]uint32{ceilDiv(s, 16), ceilDiv(s, 16), 1}, Threadgroup: [3]uint32{16, 16, 1},
				Buffers: map[int][]byte{0: F32(a), 1: F32(w), 2: make([]byte, 4*s*s), 3: U32(uint32(s), uint32(s), uint32(s))}, Workers: 1}
			b.Run(fmt.Sprintf("M=N=K=%d/switch=%s/workers=1", s, sw.name), func(b *testing.B) {
				cpu0 := childCPU(b, r)
				for b.Loop() {
					if _, err := r.Run(d); err != nil {
						b.Fatal(err)
					}
				}
				// The machine may be shared: CPU time of the runner is the number to compare.
				b.ReportMetric(float64((childCPU(b, r)-cpu0).Milliseconds())/float64(b.N), "cpu-ms/op")
				// every thread suspends at 2 barriers per K tile and once when it returns
				b.ReportMetric(float64((s/16)*(s/16))*256*float64(2*s/16+1), "suspends/op")
			})
		}
	}
}

// BenchmarkDispatchOverhead is the round trip of a tiny dispatch (pipe, process, workers).
func BenchmarkDispatchOverhead(b *testing.B) {
	NeedCompiler(b)
	p, err := BuildFile("testdata/limits.metal", Options{})
	if err != nil {
		b.Fatal(err)
	}
	r, err := p.Start()
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	d := Dispatch{Kernel: "copy", Grid: [3]uint32{64, 1, 1}, Threads: true, Threadgroup: [3]uint32{32, 1, 1},
		Buffers: map[int][]byte{0: make([]byte, 256), 1: make([]byte, 256), 2: U32(64, 0, 0, 0)}}
	for b.Loop() {
		if _, err := r.Run(d); err != nil {
			b.Fatal(err)
		}
	}
}
