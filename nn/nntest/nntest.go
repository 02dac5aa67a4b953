// Package nntest is the conformance suite every nn.Backend runs, and kvgpt's float64 reference of
// every op (ref.go: Ref<Op>, which other packages' tests use too). The suite checks each op's
// forward pass against the reference and each backward pass against central finite differences
// of it, on shapes that are not round, with gradient buffers pre-filled so that a backward that
// overwrites instead of accumulating fails; then kvgpt's model itself (package gpt) on the
// backend, its loss and every parameter gradient against package theory's float64 transformer
// (gpt.go). A second tier, LargeCases, runs the ops at real model widths and long sequences, with
// backward passes checked against analytic float64 gradients and tolerances derived from float32
// rounding (see large.go).
//
// A backend's test runs both tiers with
//
//	func TestConformance(t *testing.T) {
//		nntest.Run(t, func(t *testing.T) nn.Backend { return myBackend(t) })
//	}
//
// and a command that checks a device (kvgpt selftest) walks Cases and prints each Result.
package nntest

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/kvgpt/kvgpt/nn"
)

// Options adjust the suite to a backend.
type Options struct {
	// TolScale multiplies every tolerance. 0 or 1 is right for an exact float32 backend (the CPU);
	// a GPU backend compiled with fast math may need 10 or more.
	TolScale float64
	// SkipLarge makes Run leave out the large-shape tier (LargeCases), as -short mode does. The
	// tier costs a few seconds of float64 reference per process (about 150 MB of it kept for
	// the next Run) and as many seconds as the backend takes for its ops at real model widths:
	// minutes on a shader harness that runs kernels on the CPU.
	SkipLarge bool
}

// Tolerance bounds the difference of a float32 result from its float64 reference: an element
// passes when |got − want| ≤ Abs + Rel·|want|.
type Tolerance struct {
	Abs, Rel float64
}

// Check is the comparison of one output (a forward result or a gradient) with its reference.
type Check struct {
	Name    string  // the output, e.g. "out" or "dwte"
	Len     int     // number of elements compared
	MaxDiff float64 // max |got − want| over the elements
	Score   float64 // max |got − want| / (Abs + Rel·|want|); the check passes when Score ≤ 1
	Where   string  // index of the element with the largest Score, e.g. "(1, 3, 5)"
	Got     float64 // the element at Where
	Want    float64 // its reference value
	Tol     Tolerance
	// PerElement reports that every element had a tolerance of its own, a bound on its float32
	// rounding error (the large-shape tier); Tol is then the worst element's, as Abs.
	PerElement bool
}

// Pass reports whether every element was within tolerance.
func (c Check) Pass() bool { return c.Score <= 1 }

// String reports the check for a test log: the largest difference and where it is.
func (c Check) String() string {
	verdict := "ok"
	if !c.Pass() {
		verdict = "FAIL"
	}
	if c.PerElement {
		return fmt.Sprintf("%s %s: max |got−want| %.3g, worst at %s: got %.9g want %.9g (%.2f of its rounding bound %g, %d elements)",
			verdict, c.Name, c.MaxDiff, c.Where, c.Got, c.Want, c.Score, c.Tol.Abs, c.Len)
	}
	return fmt.Sprintf("%s %s: max |got−want| %.3g, worst at %s: got %.9g want %.9g (%.2f of tolerance %g+%g·|want|, %d elements)",
		verdict, c.Name, c.MaxDiff, c.Where, c.Got, c.Want, c.Score, c.Tol.Abs, c.Tol.Rel, c.Len)
}

// Case is one op on one shape in one mode.
type Case struct {
	Op    string // e.g. "attention"
	Mode  string // e.g. "identity"; "" for ops without modes
	Shape string // e.g. "B=2/T=7/C=12/NH=3"
	run   func(e *env)
}

// Name is the sub-test name: op=attention/mode=identity/B=2/T=7/C=12/NH=3.
func (c Case) Name() string {
	parts := []string{"op=" + c.Op}
	if c.Mode != "" {
		parts = append(parts, "mode="+c.Mode)
	}
	return strings.Join(append(parts, c.Shape), "/")
}

// Result is the outcome of running a Case on a backend.
type Result struct {
	Case   Case
	Checks []Check
	Err    error // set when the backend panicked or reported an error from Sync
}

// Pass reports whether the case ran and every check passed.
func (r Result) Pass() bool {
	if r.Err != nil || len(r.Checks) == 0 {
		return false
	}
	for _, c := range r.Checks {
		if !c.Pass() {
			return false
		}
	}
	return true
}

// MaxDiff is the largest |got − want| over the checks.
func (r Result) MaxDiff() float64 {
	var m float64
	for _, c := range r.Checks {
		m = math.Max(m, c.MaxDiff)
	}
	return m
}

// Worst returns the check with the largest Score.
func (r Result) Worst() Check {
	var w Check
	for i, c := range r.Checks {
		if i == 0 || c.Score > w.Score {
			w = c
		}
	}
	return w
}

// Run runs the case on be. A panic in the backend becomes Result.Err.
func (c Case) Run(be nn.Backend, opts Options) (res Result) {
	res.Case = c
	scale := opts.TolScale
	if scale <= 0 {
		scale = 1
	}
	e := newEnv(be, c.Name(), scale)
	defer func() {
		if p := recover(); p != nil {
			res.Err = fmt.Errorf("panic: %v", p)
		}
		res.Checks = e.checks
	}()
	c.run(e)
	if err := be.Sync(); err != nil {
		res.Err = err
		return res
	}
	e.checkGuards()
	return res
}

// Cases lists every case of the suite, in a fixed order.
func Cases() []Case {
	var cs []Case
	for _, s := range shapes {
		cs = append(cs, embedCase(s), layerNormCase(s.B*s.T, s.C))
	}
	for _, m := range matmulShapes {
		cs = append(cs, matmulCase(m[0], m[1], m[2]))
	}
	for _, s := range shapes {
		cs = append(cs, matmulCase(s.B*s.T, s.C, 3*s.C), matmulCase(s.B*s.T, 4*s.C, s.C))
	}
	for _, s := range shapes {
		for _, mode := range modes {
			cs = append(cs, attentionCase(s, mode))
		}
	}
	for _, s := range decodeShapes {
		for _, mode := range modes {
			cs = append(cs, attentionDecodeCase(s, mode))
		}
	}
	for _, s := range shapes {
		cs = append(cs, geluCase(s.B*s.T*4*s.C), residualCase(s.B*s.T*s.C), crossEntropyCase(s.B*s.T, s.V))
	}
	for _, n := range []int{1, 37, 5003} {
		cs = append(cs, zeroCase(n), gradNormCase(n))
	}
	cs = append(cs, gradNormCase(300007))
	for _, n := range []int{1, 37, 5003} {
		for _, step := range []int{1, 7} {
			cs = append(cs, adamWCase(n, step))
		}
	}
	for _, s := range gptShapes {
		for _, mode := range modes {
			cs = append(cs, gptCase(s, mode))
		}
	}
	for _, s := range generateShapes {
		for _, mode := range modes {
			cs = append(cs, generateCase(s, mode))
		}
	}
	return cs
}

// Summary is what Run checked: how many cases of both tiers it ran and how many passed.
type Summary struct {
	Passed, Total int
}

// Run runs every case of Cases, then every case of LargeCases (unless opts.SkipLarge or -short),
// on the backend made by newBackend (called once), each as a sub-test named after the case (the
// large ones under "tier=large"), logs how many cases of each tier passed and returns the counts.
func Run(t *testing.T, newBackend func(t *testing.T) nn.Backend, opts ...Options) Summary {
	t.Helper()
	var o Options
	if len(opts) > 0 {
		o = opts[0]
	}
	be := newBackend(t)
	small := runTier(t, be, Cases(), o)
	var large tierResult
	largeLog := "large-shape tier skipped (-short)"
	if o.SkipLarge {
		largeLog = "large-shape tier skipped (Options.SkipLarge)"
	}
	if !o.SkipLarge && !testing.Short() {
		start := time.Now()
		t.Run("tier=large", func(t *testing.T) { large = runTier(t, be, LargeCases(), o) })
		largeLog = fmt.Sprintf("%d of %d large-shape cases passed in %.1fs", large.passed, large.cases,
			time.Since(start).Seconds())
	}
	t.Logf("nntest: %s: %d of %d op × shape × mode cases passed, %s (%d outputs and gradients checked, and the guard cells around every view)",
		be.Name(), small.passed, small.cases, largeLog, small.checks+large.checks)
	return Summary{Passed: small.passed + large.passed, Total: small.cases + large.cases}
}

// tierResult counts the outcome of runTier.
type tierResult struct {
	cases, passed int
	checks        int // outputs and gradients compared, not counting the guard checks
}

// runTier runs cases on be, each as a sub-test of t named after the case.
func runTier(t *testing.T, be nn.Backend, cases []Case, o Options) tierResult {
	t.Helper()
	res := tierResult{cases: len(cases)}
	for _, c := range cases {
		t.Run(c.Name(), func(t *testing.T) {
			r := c.Run(be, o)
			if r.Err != nil {
				t.Fatalf("%s: %v", c.Name(), r.Err)
			}
			if len(r.Checks) == 0 {
				t.Fatalf("%s: no output was checked", c.Name())
			}
			for _, ch := range r.Checks {
				if !ch.Pass() {
					t.Errorf("%s on %s: %s", c.Name(), be.Name(), ch)
				}
			}
			for _, ch := range r.Checks {
				if ch.Name != GuardCheck {
					res.checks++
				}
			}
			if r.Pass() {
				res.passed++
			}
		})
	}
	return res
}
