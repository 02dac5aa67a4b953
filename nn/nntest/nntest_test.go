package nntest_test

import (
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kvgpt/kvgpt/nn"
	"github.com/kvgpt/kvgpt/nn/nntest"
)

// The suite is only as good as the faults it catches: each test here wraps the CPU backend with
// one deliberate fault and requires the suite to fail the cases of that op and pass the others.

// overwriting is a backend whose MatmulBackward overwrites din instead of accumulating into it.
type overwriting struct{ *nn.CPU }

func (b overwriting) MatmulBackward(din, dw nn.View, dout, in, w nn.View, N, C, OC int) {
	b.Zero(din)
	b.CPU.MatmulBackward(din, dw, dout, in, w, N, C, OC)
}

// upperGarbage is a backend whose AttentionForward leaves the masked entries (s > t) of att
// as they were.
type upperGarbage struct{ *nn.CPU }

func (b upperGarbage) AttentionForward(out, att nn.View, q, k, v nn.Strided, B, T, C, NH int, scale float32) {
	before := make([]float32, att.N)
	b.Download(before, att)
	b.CPU.AttentionForward(out, att, q, k, v, B, T, C, NH, scale)
	after := make([]float32, att.N)
	b.Download(after, att)
	for i := range after {
		if t, s := i/T%T, i%T; s > t {
			after[i] = before[i]
		}
	}
	b.Upload(att, after)
}

// spilling is a backend whose GELUForward also writes the element after its output.
type spilling struct{ *nn.CPU }

func (b spilling) GELUForward(out, in nn.View, N int) {
	b.CPU.GELUForward(out, in, N)
	wide := nn.View{Buf: out.Buf, Off: out.Off, N: out.N + 1}
	x := make([]float32, wide.N)
	b.Download(x, wide)
	x[N] = 0
	b.Upload(wide, x)
}

// sloppyScale is a backend whose AttentionBackward ignores the scale in dq (a classic slip).
type sloppyScale struct{ *nn.CPU }

func (b sloppyScale) AttentionBackward(dq, dk, dv nn.Strided, datt nn.View, dout, att nn.View, q, k, v nn.Strided, B, T, C, NH int, scale float32) {
	// Run with dq into scratch, then add scratch/scale instead of scratch to the real dq.
	scratch := b.Alloc(dq.V.N)
	b.CPU.AttentionBackward(nn.Strided{V: scratch, Stride: dq.Stride}, dk, dv, datt, dout, att, q, k, v, B, T, C, NH, scale)
	s, d := make([]float32, dq.V.N), make([]float32, dq.V.N)
	b.Download(s, scratch)
	b.Download(d, dq.V)
	for i := range d {
		if i%dq.Stride < C {
			d[i] += s[i] / scale
		}
	}
	b.Upload(dq.V, d)
}

// shortQueryLoop is a backend whose AttentionBackward accumulates dk and dv over the first 256
// query rows only, as a kernel whose loop over 64-row query tiles stops after four would: keys
// miss the gradient of later queries. Forward and dq are right.
type shortQueryLoop struct{ *nn.CPU }

const shortQueryRows = 256

func (b shortQueryLoop) AttentionBackward(dq, dk, dv nn.Strided, datt nn.View, dout, att nn.View, q, k, v nn.Strided, B, T, C, NH int, scale float32) {
	if T <= shortQueryRows {
		b.CPU.AttentionBackward(dq, dk, dv, datt, dout, att, q, k, v, B, T, C, NH, scale)
		return
	}
	scratch := func(s nn.Strided) nn.Strided { return nn.Strided{V: b.Alloc(s.V.N), Stride: s.Stride} }
	// dq from the whole dout (dk, dv into scratch) ...
	b.CPU.AttentionBackward(dq, scratch(dk), scratch(dv), datt, dout, att, q, k, v, B, T, C, NH, scale)
	// ... dk, dv from dout with the rows past the loop's end zeroed (dq into scratch).
	short := make([]float32, dout.N)
	b.Download(short, dout)
	for i := range short {
		if t := i / C % T; t >= shortQueryRows {
			short[i] = 0
		}
	}
	doutShort := b.Alloc(dout.N)
	b.Upload(doutShort, short)
	b.CPU.AttentionBackward(scratch(dq), dk, dv, datt, doutShort, att, q, k, v, B, T, C, NH, scale)
}

// oldKeysOnly is a backend whose AttentionDecodeForward leaves out the newest key, as a cache
// that is read before the step's own K and V are written into it would: the query attends to
// positions 0 … T−2 (to nothing, out = 0, for T = 1).
type oldKeysOnly struct{ *nn.CPU }

func (b oldKeysOnly) AttentionDecodeForward(out, att, q nn.View, k, v nn.Strided, T, C, NH int, scale float32) {
	a := make([]float32, NH*T)
	if T > 1 {
		short := b.Alloc(NH * (T - 1))
		b.CPU.AttentionDecodeForward(out, short, q, k, v, T-1, C, NH, scale)
		s := make([]float32, short.N)
		b.Download(s, short)
		for h := range NH {
			copy(a[h*T:], s[h*(T-1):(h+1)*(T-1)])
		}
	} else {
		b.Zero(out)
	}
	b.Upload(att, a)
}

// oneKeyTooMany is a backend whose AttentionDecodeForward also reads the cache row after the
// newest (a loop bound s ≤ T), where the cache has room for it: that row is not a position yet.
type oneKeyTooMany struct{ *nn.CPU }

func (b oneKeyTooMany) AttentionDecodeForward(out, att, q nn.View, k, v nn.Strided, T, C, NH int, scale float32) {
	if k.V.N < T*k.Stride+C || v.V.N < T*v.Stride+C {
		b.CPU.AttentionDecodeForward(out, att, q, k, v, T, C, NH, scale)
		return
	}
	wide := b.Alloc(NH * (T + 1))
	b.CPU.AttentionDecodeForward(out, wide, q, k, v, T+1, C, NH, scale)
	w, a := make([]float32, wide.N), make([]float32, NH*T)
	b.Download(w, wide)
	for h := range NH {
		copy(a[h*T:], w[h*(T+1):][:T])
	}
	b.Upload(att, a)
}

func TestSuiteCatchesFaults(t *testing.T) {
	for _, tc := range []struct {
		name  string
		wrap  func(*nn.CPU) nn.Backend
		fails []string // name prefixes of the cases that must fail; every other case must pass
	}{
		{"matmul-backward-overwrites", func(c *nn.CPU) nn.Backend { return overwriting{c} }, []string{"op=matmul/", "op=gpt/mode=identity/"}}, // only identity's dLN1 has two sources
		{"attention-leaves-masked-att", func(c *nn.CPU) nn.Backend { return upperGarbage{c} }, []string{"op=attention/"}},
		{"gelu-writes-past-its-view", func(c *nn.CPU) nn.Backend { return spilling{c} }, []string{"op=gelu/"}},
		{"attention-dq-without-scale", func(c *nn.CPU) nn.Backend { return sloppyScale{c} }, []string{"op=attention/", "op=gpt/"}},
		{"decode-misses-the-newest-key", func(c *nn.CPU) nn.Backend { return oldKeysOnly{c} }, []string{"op=attention_decode/", "op=generate/mode=baseline/T=8/", "op=generate/mode=identity/T=8/"}}, // T=5 slides at every token: no decoding
		{"decode-reads-past-the-newest-key", func(c *nn.CPU) nn.Backend { return oneKeyTooMany{c} }, []string{
			"op=attention_decode/mode=baseline/T=1/", "op=attention_decode/mode=identity/T=1/",
			"op=attention_decode/mode=baseline/T=7/", "op=attention_decode/mode=identity/T=7/",
			"op=attention_decode/mode=baseline/T=6/", "op=attention_decode/mode=identity/T=6/",
			"op=attention_decode/mode=baseline/T=300/", "op=attention_decode/mode=identity/T=300/",
			"op=attention_decode/mode=baseline/T=3/", "op=attention_decode/mode=identity/T=3/",
		}}, // every shape with spare cache rows (gpt's generator passes views that end at row T)
	} {
		t.Run(tc.name, func(t *testing.T) {
			cpu := nn.NewCPU(0)
			defer cpu.Close()
			be := tc.wrap(cpu)
			for _, c := range nntest.Cases() {
				r := c.Run(be, nntest.Options{})
				require.NoError(t, r.Err, c.Name())
				want := false
				for _, prefix := range tc.fails {
					want = want || strings.HasPrefix(c.Name(), prefix)
				}
				if want {
					require.False(t, r.Pass(), "%s should fail: %s", c.Name(), r.Worst())
				} else {
					require.True(t, r.Pass(), "%s should pass: %s", c.Name(), r.Worst())
				}
			}
		})
	}
}

// TestLargeTierCatchesWhatSmallCasesCannot: a fault past the 256th query row passes every small
// case and fails the large attention cases with T = 300, in both modes, on the gradient that
// holds dk and dv, and no other large case.
func TestLargeTierCatchesWhatSmallCasesCannot(t *testing.T) {
	cpu := nn.NewCPU(0)
	defer cpu.Close()
	be := shortQueryLoop{cpu}
	for _, c := range nntest.Cases() {
		r := c.Run(be, nntest.Options{})
		require.NoError(t, r.Err, c.Name())
		require.True(t, r.Pass(), "%s should pass: %s", c.Name(), r.Worst())
	}
	failed := 0
	for _, c := range nntest.LargeCases() {
		r := c.Run(be, nntest.Options{})
		require.NoError(t, r.Err, c.Name())
		if !strings.HasPrefix(c.Name(), "op=attention/") || !strings.Contains(c.Name(), "/T=300/") {
			require.True(t, r.Pass(), "%s should pass: %s", c.Name(), r.Worst())
			continue
		}
		failed++
		require.False(t, r.Pass(), "%s should fail", c.Name())
		for _, ch := range r.Checks {
			// Only dk and dv are wrong: in "dqkv" (baseline) and "dkv" (identity).
			wrong := ch.Name == "dqkv" || ch.Name == "dkv"
			require.Equal(t, wrong, !ch.Pass(), "%s: %s", c.Name(), ch)
			if wrong {
				require.True(t, ch.PerElement, ch.Name)
				require.Contains(t, ch.String(), "FAIL "+ch.Name)
			}
		}
	}
	require.Equal(t, 2, failed, "large attention cases with T > 256")
}

// TestLargeTierChecksAccumulationAndGuards: the large cases pre-fill gradients and guard their
// views like the small ones (shown on the cases of the faulty op only: running every large case
// costs seconds).
func TestLargeTierChecksAccumulationAndGuards(t *testing.T) {
	for _, tc := range []struct {
		name  string
		wrap  func(*nn.CPU) nn.Backend
		fails string // name prefix of the large cases that must fail
		check string // the failing check
	}{
		{"matmul-backward-overwrites", func(c *nn.CPU) nn.Backend { return overwriting{c} }, "op=matmul/", "din"},
		{"gelu-writes-past-its-view", func(c *nn.CPU) nn.Backend { return spilling{c} }, "op=gelu/", nntest.GuardCheck},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cpu := nn.NewCPU(0)
			defer cpu.Close()
			be := tc.wrap(cpu)
			n := 0
			for _, c := range nntest.LargeCases() {
				if !strings.HasPrefix(c.Name(), tc.fails) {
					continue
				}
				n++
				r := c.Run(be, nntest.Options{})
				require.NoError(t, r.Err, c.Name())
				require.False(t, r.Pass(), "%s should fail", c.Name())
				for _, ch := range r.Checks {
					require.Equal(t, ch.Name == tc.check, !ch.Pass(), "%s: %s", c.Name(), ch)
				}
			}
			require.NotZero(t, n, "no large case %s", tc.fails)
		})
	}
}

func TestCheckReportsWorstElement(t *testing.T) {
	be := nn.NewCPU(1)
	defer be.Close()
	// The zero case expects exact zeros; a backend whose Zero leaves one element fails there.
	r := findCase(t, "op=zero/N=37").Run(leaky{be}, nntest.Options{})
	require.False(t, r.Pass())
	w := r.Worst()
	require.Equal(t, "x", w.Name)
	require.Equal(t, "[36]", w.Where)
	require.Equal(t, 42.0, w.Got)
	require.True(t, math.IsInf(w.Score, 1), "score %v with zero tolerance", w.Score)
	require.Contains(t, w.String(), "FAIL x: max |got−want| 42, worst at [36]")
}

// leaky is a backend whose Zero sets the last element to 42.
type leaky struct{ *nn.CPU }

func (b leaky) Zero(x nn.View) {
	b.CPU.Zero(x)
	b.Upload(x.Slice(x.N-1, 1), []float32{42})
}

func TestCasesAreNamedAndMany(t *testing.T) {
	cs := nntest.Cases()
	require.Len(t, cs, 63, "the small suite")
	large := nntest.LargeCases()
	require.GreaterOrEqual(t, len(large), 8)
	require.LessOrEqual(t, len(large), 12, "every large case costs a shader harness seconds to minutes")
	seen := map[string]bool{}
	for _, c := range append(cs, large...) {
		n := c.Name()
		require.False(t, seen[n], "duplicate case %s", n)
		seen[n] = true
		require.True(t, strings.HasPrefix(n, "op="+c.Op+"/"), n)
	}
	for _, n := range []string{
		"op=attention/mode=baseline/B=2/T=7/C=12/NH=3",
		"op=attention/mode=identity/B=2/T=7/C=12/NH=3",
		"op=attention/mode=identity/B=1/T=5/C=8/NH=2",
		"op=attention_decode/mode=baseline/T=300/C=24/NH=2/spare=5",
		"op=attention_decode/mode=identity/T=1/C=8/NH=2/spare=3",
		"op=generate/mode=baseline/T=8/C=12/NH=3/V=19/L=2/prompt=3/tokens=20/keep=3",
		"op=generate/mode=identity/T=5/C=8/NH=2/V=11/L=1/prompt=7/tokens=9/keep=5",
		"op=matmul/N=13/C=9/OC=17",
		"op=gpt/mode=identity/B=2/T=7/C=12/NH=3/V=19/L=1",
		"op=attention/mode=baseline/B=1/T=300/C=768/NH=12",
		"op=attention/mode=identity/B=1/T=300/C=768/NH=12",
		"op=attention/mode=identity/B=2/T=130/C=128/NH=2",
		"op=layernorm/N=300/C=768",
		"op=layernorm/N=64/C=1536",
		"op=matmul/N=65/C=768/OC=2304",
		"op=matmul/N=33/C=3072/OC=768",
	} {
		require.True(t, seen[n], "missing case %s", n)
	}
}

func findCase(t *testing.T, name string) nntest.Case {
	for _, c := range nntest.Cases() {
		if c.Name() == name {
			return c
		}
	}
	t.Fatalf("no case %s", name)
	return nntest.Case{}
}

// widest is a backend that records the widest MatmulForward it was asked for.
type widest struct {
	*nn.CPU
	C *int
}

func (b widest) MatmulForward(out, in, w nn.View, N, C, OC int) {
	*b.C = max(*b.C, C)
	b.CPU.MatmulForward(out, in, w, N, C, OC)
}

func TestRunRunsLargeTierUnlessSkipped(t *testing.T) {
	for _, skip := range []bool{false, true} {
		t.Run(map[bool]string{false: "default", true: "SkipLarge"}[skip], func(t *testing.T) {
			var C int
			nntest.Run(t, func(t *testing.T) nn.Backend {
				cpu := nn.NewCPU(0)
				t.Cleanup(func() { cpu.Close() })
				return widest{cpu, &C}
			}, nntest.Options{SkipLarge: skip})
			if skip || testing.Short() {
				require.Less(t, C, 768, "no large case ran")
			} else {
				require.Equal(t, 3072, C, "the large matmuls ran")
			}
		})
	}
}
