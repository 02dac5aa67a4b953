package shaders_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kvgpt/kvgpt/nn"
	"github.com/kvgpt/kvgpt/shaders"
)

// checkingEncoder validates every dispatch against Metal's rules without running it.
type checkingEncoder struct {
	t       *testing.T
	kernels map[string]int
}

func (e *checkingEncoder) Dispatch(d *shaders.Dispatch) {
	t := e.t
	e.kernels[d.Kernel]++
	threads := 1
	for i := 0; i < 3; i++ {
		require.GreaterOrEqual(t, d.Groups[i], 1, "%s: grid %v", d.Kernel, d.Groups)
		require.GreaterOrEqual(t, d.Threads[i], 1, "%s: threadgroup %v", d.Kernel, d.Threads)
		threads *= d.Threads[i]
	}
	require.LessOrEqual(t, threads, 1024, "%s: threads per threadgroup", d.Kernel)
	require.Zero(t, threads%32, "%s: threadgroup of %d threads is not whole simdgroups", d.Kernel, threads)
	require.LessOrEqual(t, d.NParams*4, 4096, "%s: setBytes block", d.Kernel)
	require.Positive(t, d.NParams, "%s: every kernel takes a parameter block", d.Kernel)
	slots := map[int]bool{d.ParamSlot: true}
	for _, a := range d.Args[:d.NArgs] {
		require.False(t, slots[a.Slot], "%s: slot %d bound twice", d.Kernel, a.Slot)
		slots[a.Slot] = true
		if a.IsInt {
			require.NotNil(t, a.I.Buf, "%s: slot %d", d.Kernel, a.Slot)
		} else {
			require.NotNil(t, a.F.Buf, "%s: slot %d", d.Kernel, a.Slot)
		}
	}
	for i := 0; i < len(slots); i++ {
		require.True(t, slots[i], "%s: slots %v are not 0…n−1", d.Kernel, slots)
	}
}

type nullBuffer int

func (b nullBuffer) Len() int { return int(b) }

type nullIntBuffer int

func (b nullIntBuffer) Len() int { return int(b) }

func view(n int) nn.View       { return nn.View{Buf: nullBuffer(n), N: n} }
func intView(n int) nn.IntView { return nn.IntView{Buf: nullIntBuffer(n), N: n} }

// runAllOps calls every op of shaders.Ops once, at a GPT-2-small-like shape.
func runAllOps(o *shaders.Ops) {
	const B, T, C, NH, V, N = 4, 64, 96, 3, 256, 4 * 64
	qkv := view(N * 3 * C)
	q := nn.Strided{V: qkv.Slice(0, (N-1)*3*C+C), Stride: 3 * C}
	k := nn.Strided{V: qkv.Slice(C, (N-1)*3*C+C), Stride: 3 * C}
	v := nn.Strided{V: qkv.Slice(2*C, (N-1)*3*C+C), Stride: 3 * C}
	o.Zero(view(1000))
	o.EmbedForward(view(N*C), intView(N), view(V*C), view(T*C), B, T, C)
	o.EmbedBackward(view(V*C), view(T*C), view(N*C), intView(N), B, T, C)
	o.LayerNormForward(view(N*C), view(N), view(N), view(N*C), view(C), N, C)
	o.LayerNormBackward(view(N*C), view(C), view(N*C), view(N*C), view(C), view(N), view(N), N, C)
	o.MatmulForward(view(N*3*C), view(N*C), view(3*C*C), N, C, 3*C)
	o.MatmulBackward(view(N*C), view(3*C*C), view(N*3*C), view(N*C), view(3*C*C), N, C, 3*C)
	o.AttentionForward(view(N*C), view(B*NH*T*T), q, k, v, B, T, C, NH, 0.1)
	o.AttentionBackward(q, k, v, view(B*NH*T*T), view(N*C), view(B*NH*T*T), q, k, v, B, T, C, NH, 0.1)
	o.AttentionDecodeForward(view(C), view(NH*T), view(C), k, v, T, C, NH, 0.1)
	o.GELUForward(view(N*4*C), view(N*4*C), N*4*C)
	o.GELUBackward(view(N*4*C), view(N*4*C), view(N*4*C), N*4*C)
	o.ResidualForward(view(N*C), view(N*C), view(N*C), N*C)
	o.ResidualBackward(view(N*C), view(N*C), view(N*C), N*C)
	o.CrossEntropyForward(view(N), view(N*V), intView(N), N, V)
	o.CrossEntropyBackward(view(N*V), view(N), view(N*V), intView(N), N, V)
	o.AdamW(view(5000), view(5000), view(5000), view(5000), view(5000), 5000, nn.AdamWParams{LR: 1e-3, Beta1: 0.9, Beta2: 0.95, Eps: 1e-8, GradScale: 1, Step: 1})
	o.GradNorm(view(1), view(5000), 5000)
}

// TestOpsGeometry checks, without running anything, that every op of shaders.Ops issues
// dispatches Metal accepts (non-empty grids, at most 1024 threads in whole simdgroups, slots
// 0…n−1 each bound once, the parameter block within setBytes' 4 KiB), that together they use
// every kernel, and that an op allocates nothing.
func TestOpsGeometry(t *testing.T) {
	enc := &checkingEncoder{t: t, kernels: map[string]int{}}
	o := &shaders.Ops{Enc: enc, Scratch: view(shaders.ScratchLen)}
	runAllOps(o)
	for _, k := range shaders.Kernels {
		require.Positive(t, enc.kernels[k], "kernel %s is not used by any op", k)
	}
	require.Len(t, enc.kernels, len(shaders.Kernels))

	o.Enc = nopEncoder{}
	allocs := testing.AllocsPerRun(10, func() { runAllOps(o) })
	require.Zero(t, allocs, "allocations per pass over every op")
}

type nopEncoder struct{}

func (nopEncoder) Dispatch(*shaders.Dispatch) {}

// TestOpsPanics checks that size mismatches panic with an "nn: " message before anything is dispatched.
func TestOpsPanics(t *testing.T) {
	o := &shaders.Ops{Enc: nopEncoder{}, Scratch: view(shaders.ScratchLen)}
	for name, f := range map[string]func(){
		"matmul out": func() { o.MatmulForward(view(9), view(6), view(15), 2, 3, 5) },
		"attention NH": func() {
			s := nn.Strided{V: view(48), Stride: 8}
			o.AttentionForward(view(48), view(36), s, s, s, 2, 3, 8, 3, 1)
		},
		"attention q": func() {
			s := nn.Strided{V: view(47), Stride: 8}
			o.AttentionForward(view(48), view(36), s, s, s, 2, 3, 8, 1, 1)
		},
		"decode T": func() {
			s := nn.Strided{V: view(48), Stride: 8}
			o.AttentionDecodeForward(view(8), view(2), view(8), s, s, 0, 8, 2, 1)
		},
		"decode k": func() {
			s := nn.Strided{V: view(39), Stride: 16} // 3 rows of 8 need (3−1)·16 + 8 = 40
			o.AttentionDecodeForward(view(8), view(6), view(8), s, s, 3, 8, 2, 1)
		},
		"layernorm w":      func() { o.LayerNormForward(view(12), view(3), view(3), view(12), view(3), 3, 4) },
		"gradnorm out":     func() { o.GradNorm(view(0), view(4), 4) },
		"gradnorm scratch": func() { (&shaders.Ops{Enc: nopEncoder{}}).GradNorm(view(1), view(4), 4) },
		"adamw step":       func() { o.AdamW(view(4), view(4), view(4), view(4), view(4), 4, nn.AdamWParams{}) },
		"embed wte":        func() { o.EmbedForward(view(24), intView(2), view(11), view(24), 1, 2, 12) },
		"crossentropy":     func() { o.CrossEntropyForward(view(2), view(9), intView(2), 2, 5) },
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				r := recover()
				require.NotNil(t, r, "no panic")
				require.Contains(t, fmt.Sprint(r), "nn: ")
			}()
			f()
		})
	}
}
