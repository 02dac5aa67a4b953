package darwincheck_test

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kvgpt/kvgpt/internal/darwincheck"
)

// lint runs the type-check and the lint over patterns in the module at dir.
func lint(t *testing.T, dir string, tests bool, patterns ...string) *darwincheck.Result {
	t.Helper()
	res, err := darwincheck.Check(darwincheck.Config{Dir: dir, Patterns: patterns, Tests: tests, Lint: true})
	require.NoError(t, err)
	require.Empty(t, res.Errors, "the packages must type-check")
	require.NotNil(t, res.Lint)
	return res
}

// problemsAt returns the lint problems reported at line of the file path.
func problemsAt(res *darwincheck.Result, path string, line int) []string {
	at := fmt.Sprintf("%s:%d:", path, line)
	var ps []string
	for _, p := range res.Lint.Problems {
		if strings.HasPrefix(p, at) {
			ps = append(ps, p)
		}
	}
	return ps
}

// want is an expected problem in testdata: "// want(name) text" on the line of the problem.
type want struct {
	name, file, text string
	line             int
}

var (
	wantComment = regexp.MustCompile(`// want\(([^)]*)\) (.*)$`)
	callSite    = regexp.MustCompile(`objc\.Call\[[^]]*\]\(`)
)

// TestLintRules runs the lint over testdata/lint, a module whose package app uses a stand-in for
// darwinkit (testdata/lint/darwinkit, with methods written as darwinkit generates them): good.go
// must pass and each problem of bad.go, marked "// want(name) text" on its line, must be reported
// there, and nothing else.
func TestLintRules(t *testing.T) {
	dir, err := filepath.Abs(filepath.Join("testdata", "lint"))
	require.NoError(t, err)
	res := lint(t, dir, false, "./...")

	var wants []want
	calls := 0
	files, err := filepath.Glob(filepath.Join(dir, "app", "*.go"))
	require.NoError(t, err)
	for _, f := range files {
		data, err := os.ReadFile(f)
		require.NoError(t, err)
		for i, line := range strings.Split(string(data), "\n") {
			if m := wantComment.FindStringSubmatch(line); m != nil {
				wants = append(wants, want{name: m[1], file: f, line: i + 1, text: m[2]})
			}
			if c := strings.Index(line, "//"); c >= 0 {
				line = line[:c]
			}
			calls += len(callSite.FindAllString(line, -1))
		}
	}
	require.NotEmpty(t, wants)

	for _, w := range wants {
		t.Run(w.name+" is reported", func(t *testing.T) {
			ps := problemsAt(res, w.file, w.line)
			found := false
			for _, p := range ps {
				found = found || strings.Contains(p, w.text)
			}
			require.True(t, found, "want a problem at %s:%d containing %q, got:\n%s", w.file, w.line, w.text, strings.Join(ps, "\n"))
		})
	}
	t.Run("nothing else is reported", func(t *testing.T) {
		for _, p := range res.Lint.Problems {
			expected := false
			for _, w := range wants {
				expected = expected || strings.HasPrefix(p, fmt.Sprintf("%s:%d:", w.file, w.line)) && strings.Contains(p, w.text)
			}
			require.True(t, expected, "unexpected problem: %s", p)
		}
	})
	t.Run("every objc.Call is counted", func(t *testing.T) {
		require.Equal(t, calls, res.Lint.Calls)
	})
	t.Run("the lint can be turned off", func(t *testing.T) {
		res, err := darwincheck.Check(darwincheck.Config{Dir: dir})
		require.NoError(t, err)
		require.Nil(t, res.Lint)
		require.True(t, res.OK(), "without the lint the stand-in module type-checks:\n%s", strings.Join(res.Errors, "\n"))
	})
}

// mutation is a change to a copy of package metal and what the lint must report for it.
type mutation struct {
	name     string
	glob     string // the files to mutate
	old, new string
	at       string   // text on the line of the report; "" for the line of the change
	want     []string // in the report
}

// applyMutations applies the mutations to the copy of package metal in dir, appends a use of
// package objc to files that may no longer use it, and returns the file:line of each expected
// report.
func applyMutations(t *testing.T, dir string, ms []mutation) []string {
	t.Helper()
	pkg := filepath.Join(dir, "metal")
	sites := make([]string, len(ms))
	for i, m := range ms {
		file, line := mutate(t, pkg, m.glob, m.old, m.new)
		if m.at != "" {
			data, err := os.ReadFile(filepath.Join(pkg, file))
			require.NoError(t, err)
			j := strings.Index(string(data), m.at)
			require.GreaterOrEqual(t, j, 0, "%s: no %q in %s", m.name, m.at, file)
			line = 1 + strings.Count(string(data[:j]), "\n")
		}
		sites[i] = fmt.Sprintf("%s:%d:", filepath.Join(pkg, file), line)
	}
	for _, name := range []string{"encoder.go", "library.go", "mps.go"} {
		f, err := os.OpenFile(filepath.Join(pkg, name), os.O_APPEND|os.O_WRONLY, 0)
		require.NoError(t, err)
		_, err = f.WriteString("\nvar _ = objc.Sel\n")
		require.NoError(t, err)
		require.NoError(t, f.Close())
	}
	return sites
}

// requireReports checks that the lint reported exactly one problem per mutation, at its site.
func requireReports(t *testing.T, res *darwincheck.Result, ms []mutation, sites []string) {
	t.Helper()
	require.Len(t, res.Lint.Problems, len(ms), "one problem per mutation:\n%s", strings.Join(res.Lint.Problems, "\n"))
	for i, m := range ms {
		t.Run(m.name, func(t *testing.T) {
			var got string
			for _, p := range res.Lint.Problems {
				if strings.HasPrefix(p, sites[i]) {
					got = p
				}
			}
			require.NotEmpty(t, got, "want a problem at %s, got:\n%s", sites[i], strings.Join(res.Lint.Problems, "\n"))
			for _, w := range m.want {
				require.Contains(t, got, w)
			}
		})
	}
}

// TestLintDarwinkit runs the lint over package metal against the real darwinkit: the package is
// clean, and the darwinkit calls it made before it sent messages on raw handles, restored in a
// copy, are reported, as are wrong objc.Call messages injected into another copy.
func TestLintDarwinkit(t *testing.T) {
	root := moduleRoot(t)

	t.Run("package metal is clean", func(t *testing.T) {
		t.Parallel()
		res := lint(t, root, true, "./metal")
		require.Empty(t, res.Lint.Problems)
		require.Positive(t, res.Lint.Calls, "package metal sends messages with objc.Call")
		// The negative control that sends setBuffer:offset:atIndex: through darwinkit on purpose
		// is marked darwincheck:allow: it is reported as allowed, not as a problem.
		require.Len(t, res.Lint.Allowed, 1)
		require.Contains(t, res.Lint.Allowed[0], "encoder.go")
		require.Contains(t, res.Lint.Allowed[0], "SetBufferOffsetAtIndex_")
	})

	t.Run("the old darwinkit calls are reported", func(t *testing.T) {
		t.Parallel()
		wrap := []string{"objc.WrapAsProtocol", "send the message with objc.Call on raw handles"}
		ms := []mutation{
			{name: "SetComputePipelineState", glob: "encoder.go",
				old:  `objc.Call[objc.Void](enc, objc.Sel("setComputePipelineState:"), p.pso.Object)`,
				new:  `enc.SetComputePipelineState(p.pso)`,
				want: append([]string{"calls metal.ComputeCommandEncoderObject.SetComputePipelineState"}, wrap...)},
			{name: "SetBufferOffsetAtIndex_", glob: "encoder.go",
				old:  `objc.Call[objc.Void](enc, objc.Sel("setBuffer:offset:atIndex:"), buf.mtl.Object, uint(off), uint(a.Slot))`,
				new:  `enc.SetBufferOffsetAtIndex_(buf.mtl, uint(off), uint(a.Slot))`,
				want: append([]string{"calls metal.ComputeCommandEncoderObject.SetBufferOffsetAtIndex_"}, wrap...)},
			{name: "NewComputePipelineStateWithFunctionError", glob: "library.go",
				old: "metal.ComputePipelineStateObject{Object: objc.Call[objc.Object](dev, // owned (+1)\n" +
					"\t\tobjc.Sel(\"newComputePipelineStateWithFunction:error:\"), fn.Object, unsafe.Pointer(&nsErr))}",
				new:  `dev.NewComputePipelineStateWithFunctionError(fn, unsafe.Pointer(&nsErr))`,
				want: append([]string{"calls metal.DeviceObject.NewComputePipelineStateWithFunctionError"}, wrap...)},
			{name: "NewMatrixMultiplicationWith…", glob: "mps.go",
				old: "objc.Call[mps.MatrixMultiplication](mps.MatrixMultiplicationClass.Alloc(), // owned (+1)\n" +
					"\t\t\t\tobjc.Sel(\"initWithDevice:transposeLeft:transposeRight:resultRows:resultColumns:interiorColumns:alpha:beta:\"),\n" +
					"\t\t\t\tb.dev.Object, false, true, uint(N), uint(OC), uint(C), float64(1), float64(0))",
				new: `mps.NewMatrixMultiplicationWithDeviceTransposeLeftTransposeRightResultRowsResultColumnsInteriorColumnsAlphaBeta(b.dev, false, true, uint(N), uint(OC), uint(C), 1, 0)`,
				want: append([]string{"calls mps.NewMatrixMultiplicationWithDeviceTransposeLeft",
					" → mps.MatrixMultiplication.InitWithDeviceTransposeLeft"}, wrap...)},
			{name: "EncodeToCommandBufferLeftMatrixRightMatrixResultMatrix", glob: "mps.go",
				old: "objc.Call[objc.Void](k, objc.Sel(\"encodeToCommandBuffer:leftMatrix:rightMatrix:resultMatrix:\"),\n" +
					"\t\t\tb.s.commandBuffer().Object, left.Object, right.Object, result.Object)",
				new:  `k.EncodeToCommandBufferLeftMatrixRightMatrixResultMatrix(b.s.commandBuffer(), left, right, result)`,
				want: append([]string{"calls mps.MatrixMultiplication.EncodeToCommandBufferLeftMatrixRightMatrixResultMatrix"}, wrap...)},
			{name: "NewMatrixWithBufferOffsetDescriptor", glob: "mps.go",
				old: "objc.Call[mps.Matrix](mps.MatrixClass.Alloc(), objc.Sel(\"initWithBuffer:offset:descriptor:\"), // owned (+1)\n" +
					"\t\tbuf.mtl.Object, uint(off*4), desc.Object)",
				new:  `mps.NewMatrixWithBufferOffsetDescriptor(buf.mtl, uint(off*4), desc)`,
				want: append([]string{"calls mps.NewMatrixWithBufferOffsetDescriptor", " → mps.Matrix.InitWithBufferOffsetDescriptor → "}, wrap...)},
			{name: "SupportsFamily in available", glob: "backend.go",
				old: `supportsFamily(dev, gpuFamily)`, new: `dev.SupportsFamily(gpuFamily)`,
				want: []string{"calls metal.DeviceObject.SupportsFamily, which reaches objc.Call[bool]", "read BOOL results in a cgo shim"}},
			{name: "SupportsFamily in open", glob: "backend.go",
				old: `supportsFamily(dev, gpuFamily)`, new: `dev.SupportsFamily(gpuFamily)`,
				want: []string{"calls metal.DeviceObject.SupportsFamily, which reaches objc.Call[bool]"}},
		}
		dir := copyModule(t, root, "metal")
		sites := applyMutations(t, dir, ms)
		requireReports(t, lint(t, dir, true, "./metal"), ms, sites)
	})

	t.Run("wrong objc.Call messages are reported", func(t *testing.T) {
		t.Parallel()
		ms := []mutation{
			{name: "int where darwinkit passes uint", glob: "encoder.go",
				old: `buf.mtl.Object, uint(off), uint(a.Slot))`, new: `buf.mtl.Object, off, uint(a.Slot))`,
				want: []string{`argument 2 of "setBuffer:offset:atIndex:" has type int`,
					"metal.ComputeCommandEncoderObject.SetBufferOffsetAtIndex_ passes offset of type uint"}},
			{name: "misspelled selector", glob: "library.go",
				old: `"newComputePipelineStateWithFunction:error:"`, new: `"newComputePipelineStateWithFunktion:error:"`,
				want: []string{`selector "newComputePipelineStateWithFunktion:error:" is not a method of metal.DeviceObject in darwinkit v0.5.0`}},
			{name: "wrong argument count", glob: "mps.go",
				old: `uint(C), float64(1), float64(0))`, new: `uint(C), float64(1))`, at: `objc.Sel("initWithDevice:`,
				want: []string{"takes 8 argument(s), one per colon; the call passes 7"}},
			{name: "objc.Call[bool]", glob: "library.go",
				old: `if pso.IsNil() {`, new: `if pso.IsNil() || !objc.Call[bool](dev, objc.Sel("supportsFamily:"), gpuFamily) {`,
				want: []string{"objc.Call[bool]: libffi writes"}},
			{name: "plain objc.Object receiver", glob: "encoder.go",
				old: `objc.Call[objc.Void](enc, objc.Sel("setComputePipelineState:")`, new: `objc.Call[objc.Void](enc.Object, objc.Sel("setComputePipelineState:")`,
				want: []string{`the receiver of "setComputePipelineState:" is a plain objc.Object`}},
			{name: "object result where darwinkit reads none", glob: "mps.go",
				old: `objc.Call[objc.Void](k, objc.Sel("encodeToCommandBuffer:`, new: `objc.Call[objc.Object](k, objc.Sel("encodeToCommandBuffer:`,
				want: []string{`objc.Call[objc.Object] reads the result of "encodeToCommandBuffer:leftMatrix:rightMatrix:resultMatrix:" as an object`}},
		}
		dir := copyModule(t, root, "metal")
		sites := applyMutations(t, dir, ms)
		requireReports(t, lint(t, dir, true, "./metal"), ms, sites)
	})
}
