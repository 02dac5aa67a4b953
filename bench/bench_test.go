package bench

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/kvgpt/kvgpt/cpublas"
	"github.com/kvgpt/kvgpt/cpukernels"
	"github.com/kvgpt/kvgpt/gpt"
	"github.com/kvgpt/kvgpt/nn"
)

// TestMain installs this test binary's BLAS once and reports it.
func TestMain(m *testing.M) {
	fmt.Fprintln(os.Stderr, "bench: BLAS", cpublas.Use())
	os.Exit(m.Run())
}

// backends returns the backends this build can benchmark, by name.
func backends(tb testing.TB) map[string]nn.Backend {
	cpu := cpukernels.NewCPU(0)
	tb.Cleanup(func() { cpu.Close() })
	return map[string]nn.Backend{"cpu": cpu}
}

// benchShapes are the op shapes benchmarked: the small and medium presets in both modes.
func benchShapes() []Shape {
	var s []Shape
	ps, err := LookupPresets([]string{"small", "medium"})
	if err != nil {
		panic(err)
	}
	for _, p := range ps {
		s = append(s, PresetShape(p, gpt.Baseline), PresetShape(p, gpt.Identity))
	}
	return s
}

// BenchmarkOp times every op of a training step at the shapes of the small and medium presets,
// with Sync after every call: BenchmarkOp/backend=cpu/op=matmul_forward/BT=2048/C=384/OC=1536.
func BenchmarkOp(b *testing.B) {
	for name, be := range backends(b) {
		var ops []OpCase
		for _, s := range benchShapes() {
			ops = append(ops, Ops(s)...)
		}
		for _, op := range Dedupe(ops) {
			b.Run("backend="+name+"/"+op.Name(), func(b *testing.B) { benchOp(b, be, op) })
		}
	}
}

// BenchmarkGemmMode times the matrix products of the medium preset's training step on the CPU
// backend in each gemm mode (nn.GemmMode), with this build's BLAS and kernels:
// BenchmarkGemmMode/gemm=tiles/op=matmul_forward/BT=2048/C=384/OC=1536. kvgpt runs tiles on
// gonum's BLAS, split on OpenBLAS and whole on Accelerate (cpukernels.NewCPU); a cgo BLAS runs on
// one thread per worker with tiles and split, on every core with whole products.
func BenchmarkGemmMode(b *testing.B) {
	defer cpublas.SetThreads(cpublas.Describe().Threads)
	p, err := gpt.LookupPreset("medium")
	if err != nil {
		b.Fatal(err)
	}
	var ops []OpCase
	for _, op := range Ops(PresetShape(p, gpt.Baseline)) {
		if strings.HasPrefix(op.Op, "matmul_") {
			ops = append(ops, op)
		}
	}
	for _, mode := range []nn.GemmMode{nn.GemmTiles, nn.GemmSplit, nn.GemmWhole} {
		threads := 1
		if mode == nn.GemmWhole {
			threads = runtime.NumCPU()
		}
		cpublas.SetThreads(threads)
		be := nn.NewCPUWith(nn.CPUOptions{Gemm: mode, Kernels: cpukernels.Kernels()})
		for _, op := range ops {
			b.Run("gemm="+mode.String()+"/"+op.Name(), func(b *testing.B) { benchOp(b, be, op) })
		}
		be.Close()
	}
}

// benchOp times op on be with Sync after every call, and reports its GFLOP/s (compute-bound
// ops), GB/s and CPU time.
func benchOp(b *testing.B, be nn.Backend, op OpCase) {
	call := op.Setup(be)
	cpu0, _ := CPUTime()
	for b.Loop() {
		call()
		if err := be.Sync(); err != nil {
			b.Fatal(err)
		}
	}
	sec := b.Elapsed().Seconds() / float64(b.N)
	if op.Compute() {
		b.ReportMetric(op.FLOPs/sec/1e9, "GFLOP/s")
	}
	b.ReportMetric(op.Bytes/sec/1e9, "GB/s")
	reportCPU(b, cpu0)
}

// BenchmarkTrainStep times whole training steps (forward, backward, gradient norm, AdamW, the loss
// read back) of every preset in both modes: BenchmarkTrainStep/backend=cpu/preset=small/mode=identity.
func BenchmarkTrainStep(b *testing.B) {
	presets, err := LookupPresets(MeasuredPresets)
	if err != nil {
		b.Fatal(err)
	}
	for name, be := range backends(b) {
		for _, p := range presets {
			for _, m := range []gpt.QueryMode{gpt.Baseline, gpt.Identity} {
				b.Run(fmt.Sprintf("backend=%s/preset=%s/mode=%s", name, p.Name, m), func(b *testing.B) {
					tr, err := NewTrainer(be, p, m)
					if err != nil {
						b.Fatal(err)
					}
					if _, err := tr.Step(); err != nil { // warm-up
						b.Fatal(err)
					}
					cpu0, _ := CPUTime()
					for b.Loop() {
						if _, err := tr.Step(); err != nil { // Step syncs: it reads the loss
							b.Fatal(err)
						}
					}
					sec := b.Elapsed().Seconds() / float64(b.N)
					tok := float64(tr.TokensPerStep())
					b.ReportMetric(tok/sec, "tok/s")
					b.ReportMetric(tok*FLOPsPerToken(Config(p, m))/sec/1e9, "GFLOP/s")
					reportCPU(b, cpu0)
				})
			}
		}
	}
}

// reportCPU reports the process CPU time per iteration since cpu0 (all threads, the BLAS's own
// included): on a loaded machine a steadier measure of the work than ns/op.
func reportCPU(b *testing.B, cpu0 time.Duration) {
	if cpu1, ok := CPUTime(); ok {
		b.ReportMetric(float64((cpu1-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
	}
}
