package nntest

import (
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"strings"

	"github.com/kvgpt/kvgpt/nn"
)

// guard is the number of elements allocated on each side of every view the suite hands to a
// backend. They hold NaN, so an op that reads outside its view produces NaN, and they are
// checked afterwards, so an op that writes outside its view fails the "guards" check.
const guard = 5

// GuardCheck is the name of the check, made in every case, that no op wrote outside its views.
const GuardCheck = "guards (no writes outside views)"

// env is the state of one case: the backend, a random source seeded by the case name, the
// guarded buffers and the checks made so far.
type env struct {
	be       nn.Backend
	name     string // the case's name
	rng      *rand.Rand
	tolScale float64
	outer    []nn.View
	checks   []Check
}

func newEnv(be nn.Backend, name string, tolScale float64) *env {
	h := fnv.New64a()
	h.Write([]byte(name))
	return &env{be: be, name: name, rng: rand.New(rand.NewPCG(0x6b7667707421, h.Sum64())), tolScale: tolScale}
}

// alloc returns a view of n zeros with NaN guards on both sides.
func (e *env) alloc(n int) nn.View {
	outer := e.be.Alloc(n + 2*guard)
	fill := make([]float32, n+2*guard)
	for i := range fill {
		if i < guard || i >= guard+n {
			fill[i] = float32(math.NaN())
		}
	}
	e.be.Upload(outer, fill)
	e.outer = append(e.outer, outer)
	return outer.Slice(guard, n)
}

// upload returns a guarded view holding x (already float32 values, see randn).
func (e *env) upload(x []float64) nn.View {
	v := e.alloc(len(x))
	e.be.Upload(v, f32(x))
	return v
}

// uploadInt returns a view holding x inside a larger buffer whose other elements are −1.
func (e *env) uploadInt(x []int32) nn.IntView {
	outer := e.be.AllocInt(len(x) + 2*guard)
	fill := make([]int32, len(x)+2*guard)
	for i := range fill {
		fill[i] = -1
	}
	copy(fill[guard:], x)
	e.be.UploadInt(outer, fill)
	return outer.Slice(guard, len(x))
}

// download returns the elements of v as float64.
func (e *env) download(v nn.View) []float64 {
	buf := make([]float32, v.N)
	e.be.Download(buf, v)
	out := make([]float64, v.N)
	for i, x := range buf {
		out[i] = float64(x)
	}
	return out
}

// randn returns n normal samples of standard deviation std, rounded to float32 so that the
// reference sees exactly the values the backend gets.
func (e *env) randn(n int, std float64) []float64 {
	x := make([]float64, n)
	for i := range x {
		x[i] = float64(float32(e.rng.NormFloat64() * std))
	}
	return x
}

// uniform returns n samples uniform in [lo, hi), rounded to float32.
func (e *env) uniform(n int, lo, hi float64) []float64 {
	x := make([]float64, n)
	for i := range x {
		x[i] = float64(float32(lo + (hi-lo)*e.rng.Float64()))
	}
	return x
}

// tokens returns n token ids in [0, V) in which at least one id repeats (when n > 1), so that
// backward passes must add rows that share an id.
func (e *env) tokens(n, V int) []int32 {
	x := make([]int32, n)
	for i := range x {
		x[i] = int32(e.rng.IntN(V))
	}
	if n > 1 {
		x[n-1] = x[0]
	}
	return x
}

// Default tolerances: a float32 forward against float64, and a float32 backward against float64
// finite differences (accurate to ~1e-9).
var (
	tolForward  = Tolerance{Abs: 1e-5, Rel: 1e-4}
	tolBackward = Tolerance{Abs: 2e-5, Rel: 2e-4}
)

// check downloads v and compares it with want; dims (row-major, product len(want)) name the
// position of the worst element.
func (e *env) check(name string, v nn.View, want []float64, tol Tolerance, dims ...int) {
	e.compare(name, e.download(v), want, tol, dims...)
}

// compare records the comparison of got with want: element i passes when
// |got − want| ≤ Abs + Rel·|want| (times Options.TolScale).
func (e *env) compare(name string, got, want []float64, tol Tolerance, dims ...int) {
	tol.Abs *= e.tolScale
	tol.Rel *= e.tolScale
	c, _ := compareWith(name, got, want, func(i int) float64 { return tol.Abs + tol.Rel*math.Abs(want[i]) }, dims)
	c.Tol = tol
	e.checks = append(e.checks, c)
}

// checkBound downloads v and records its comparison with want: element i passes when
// |got − want| ≤ bound[i] (times Options.TolScale), a rounding-error bound of its own.
func (e *env) checkBound(name string, v nn.View, want, bound []float64, dims ...int) {
	c, worst := compareWith(name, e.download(v), want, func(i int) float64 { return e.tolScale * bound[i] }, dims)
	c.PerElement = true
	if worst >= 0 {
		c.Tol = Tolerance{Abs: e.tolScale * bound[worst]} // the worst element's
	}
	e.checks = append(e.checks, c)
}

// compareWith returns the comparison of got with want where element i may differ by tol(i), and
// the index of the element with the largest Score (−1 if none).
func compareWith(name string, got, want []float64, tol func(i int) float64, dims []int) (c Check, worst int) {
	c = Check{Name: name, Len: len(want), Score: -1}
	worst = -1
	if len(got) != len(want) {
		c.Score = math.Inf(1)
		c.Where = fmt.Sprintf("length %d, want %d", len(got), len(want))
		return c, worst
	}
	for i := range want {
		d := math.Abs(got[i] - want[i])
		s := d / tol(i)
		if math.IsNaN(d) {
			d, s = math.Inf(1), math.Inf(1)
		}
		c.MaxDiff = math.Max(c.MaxDiff, d)
		if s > c.Score {
			c.Score, c.Got, c.Want, c.Where, worst = s, got[i], want[i], where(i, dims), i
		}
	}
	c.Score = math.Max(c.Score, 0)
	return c, worst
}

// where formats flat index i as a multi-index of dims, "(1, 3, 5)", or as "[i]" without dims.
func where(i int, dims []int) string {
	if len(dims) == 0 {
		return fmt.Sprintf("[%d]", i)
	}
	idx := make([]string, len(dims))
	for d := len(dims) - 1; d >= 0; d-- {
		idx[d] = fmt.Sprint(i % dims[d])
		i /= dims[d]
	}
	return "(" + strings.Join(idx, ", ") + ")"
}

// checkGuards records whether every guard element of every buffer still holds NaN.
func (e *env) checkGuards() {
	c := Check{Name: GuardCheck, Where: "-"}
	for bi, outer := range e.outer {
		buf := make([]float32, outer.N)
		e.be.Download(buf, outer)
		for i, x := range buf {
			if i >= guard && i < outer.N-guard {
				continue
			}
			c.Len++
			if !math.IsNaN(float64(x)) {
				c.Score, c.MaxDiff = math.Inf(1), math.Inf(1)
				c.Where = fmt.Sprintf("buffer %d, element %d", bi, i-guard)
				c.Got, c.Want = float64(x), math.NaN()
			}
		}
	}
	e.checks = append(e.checks, c)
}

func f32(x []float64) []float32 {
	out := make([]float32, len(x))
	for i, v := range x {
		out[i] = float32(v)
	}
	return out
}
