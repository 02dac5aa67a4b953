package shaders_test

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode"

	"github.com/stretchr/testify/require"

	"github.com/kvgpt/kvgpt/internal/mslcpu"
	"github.com/kvgpt/kvgpt/nn"
	"github.com/kvgpt/kvgpt/shaders"
)

// TestKernelNames checks that shaders.Kernels names exactly the `kernel void` functions of the
// .metal files, so a backend that builds a pipeline per name builds them all.
func TestKernelNames(t *testing.T) {
	n, names, err := kernelCountFromSources()
	require.NoError(t, err)
	require.Equal(t, n, len(shaders.Kernels))
	want := append([]string(nil), shaders.Kernels...)
	sortStrings(want)
	require.Equal(t, names, want)
	var fromSource []string
	for _, m := range kernelRE.FindAllStringSubmatch(shaders.Source(), -1) {
		fromSource = append(fromSource, m[1])
	}
	sortStrings(fromSource)
	require.Equal(t, names, fromSource, "shaders.Source must hold every .metal file")
}

// TestStrictAddressSpaces builds the whole library with distinct device, threadgroup and
// constant address spaces (a pointer of one passed where another is expected does not compile,
// as with the Metal compiler) and runs a matmul and an attention step on that build. -short
// skips it: it builds the library a second time.
func TestStrictAddressSpaces(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: no strict-address-space build of the kernel library")
	}
	for _, order := range mslcpu.Orders {
		t.Run("order="+order.String(), func(t *testing.T) {
			b := newHarnessBackend(t, flavourStrict, order)
			runMatmulAndAttention(t, b)
		})
	}
}

// TestAddressSanitizer runs matmul and attention (both modes) on an AddressSanitizer build: every
// bound view is a heap block of exactly its size, so a read or write one element outside a view
// fails the dispatch with the sanitizer's report. -short skips it: it builds the library a
// third time.
func TestAddressSanitizer(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: no AddressSanitizer build of the kernel library")
	}
	for _, order := range mslcpu.Orders {
		t.Run("order="+order.String(), func(t *testing.T) {
			runMatmulAndAttention(t, newHarnessBackend(t, flavourASan, order))
		})
	}
}

func runMatmulAndAttention(t *testing.T, b nn.Backend) {
	t.Run("matmul/N=37/C=45/OC=50", func(t *testing.T) { testMatmul(t, b, 37, 45, 50) })
	for _, mode := range []string{"baseline", "identity"} {
		t.Run("attention/mode="+mode+"/B=2/T=37/C=48/NH=3", func(t *testing.T) {
			testAttention(t, b, mode, 2, 37, 48, 3)
		})
	}
}

// TestThreadgroupMemory checks every kernel against Metal's 32 KiB of threadgroup memory per
// threadgroup: the threadgroup arrays each kernel declares (sizes evaluated from the
// `constant constexpr` constants of the source) plus the largest dynamic length its dispatches
// requested in this test process.
func TestThreadgroupMemory(t *testing.T) {
	src := shaders.Source()
	consts := metalConstants(t, src)
	decls := kernelThreadgroupBytes(t, src, consts)
	require.Len(t, decls, len(shaders.Kernels))
	for _, k := range shaders.Kernels {
		static, ok := decls[k]
		require.True(t, ok, "kernel %s not found in shaders.Source", k)
		dynamic := 0
		kernelsMu.Lock()
		dynamic = kernelsDynTG[k]
		kernelsMu.Unlock()
		t.Logf("%-28s %6d bytes declared + %d dynamic", k, static, dynamic)
		require.LessOrEqual(t, static+dynamic, mslcpu.MaxThreadgroupMemory, "kernel %s", k)
	}
}

// TestThreadgroupMemoryCount checks the counting of TestThreadgroupMemory itself on a kernel that
// declares more than Metal allows.
func TestThreadgroupMemoryCount(t *testing.T) {
	src := "constant constexpr uint N = 3 * (1000 + 24);\n" +
		"kernel void big(device float* x [[buffer(0)]]) {\n    threadgroup float a[N][3];\n    threadgroup half b[8];\n}\n"
	got := kernelThreadgroupBytes(t, src, metalConstants(t, src))
	require.Equal(t, map[string]int{"big": 4*3*1024*3 + 2*8}, got)
	require.Greater(t, got["big"], mslcpu.MaxThreadgroupMemory)
}

var (
	constRE   = regexp.MustCompile(`constant\s+constexpr\s+(?:uint|int)\s+(\w+)\s*=\s*([^;]+);`)
	tgDeclRE  = regexp.MustCompile(`(?m)^\s*threadgroup\s+(float|uint|int|half)\s+(\w+)((?:\s*\[[^\]]+\])+)\s*;`)
	subscript = regexp.MustCompile(`\[([^\]]+)\]`)
)

// metalConstants evaluates every `constant constexpr uint NAME = expr;` of src, in order.
func metalConstants(t *testing.T, src string) map[string]int {
	consts := map[string]int{}
	for _, m := range constRE.FindAllStringSubmatch(src, -1) {
		if strings.ContainsAny(m[2], ".e") && !strings.ContainsAny(m[2], "_") {
			continue // a float constant
		}
		v, err := evalExpr(m[2], consts)
		require.NoError(t, err, "constant %s = %s", m[1], m[2])
		consts[m[1]] = v
	}
	return consts
}

// kernelThreadgroupBytes returns, per kernel, the bytes of threadgroup arrays declared in its body.
func kernelThreadgroupBytes(t *testing.T, src string, consts map[string]int) map[string]int {
	out := map[string]int{}
	for _, loc := range kernelRE.FindAllStringSubmatchIndex(src, -1) {
		name := src[loc[2]:loc[3]]
		open := strings.Index(src[loc[1]:], "{")
		require.GreaterOrEqual(t, open, 0)
		body, depth := loc[1]+open, 0
		end := body
		for ; end < len(src); end++ {
			if src[end] == '{' {
				depth++
			} else if src[end] == '}' {
				depth--
				if depth == 0 {
					break
				}
			}
		}
		total := 0
		for _, d := range tgDeclRE.FindAllStringSubmatch(src[body:end], -1) {
			size := map[string]int{"float": 4, "uint": 4, "int": 4, "half": 2}[d[1]]
			for _, s := range subscript.FindAllStringSubmatch(d[3], -1) {
				v, err := evalExpr(s[1], consts)
				require.NoError(t, err, "kernel %s: threadgroup %s", name, d[2])
				size *= v
			}
			total += size
		}
		out[name] = total
	}
	return out
}

// evalExpr evaluates an integer expression of numbers, known names, + − * / and parentheses.
func evalExpr(s string, names map[string]int) (int, error) {
	p := &exprParser{s: s, names: names}
	v, err := p.sum()
	if err == nil && strings.TrimSpace(p.s[p.i:]) != "" {
		err = fmt.Errorf("unexpected %q", p.s[p.i:])
	}
	return v, err
}

type exprParser struct {
	s     string
	i     int
	names map[string]int
}

func (p *exprParser) peek() byte {
	for p.i < len(p.s) && p.s[p.i] == ' ' {
		p.i++
	}
	if p.i < len(p.s) {
		return p.s[p.i]
	}
	return 0
}

func (p *exprParser) sum() (int, error) {
	v, err := p.product()
	for err == nil && (p.peek() == '+' || p.peek() == '-') {
		op := p.s[p.i]
		p.i++
		var w int
		if w, err = p.product(); op == '+' {
			v += w
		} else {
			v -= w
		}
	}
	return v, err
}

func (p *exprParser) product() (int, error) {
	v, err := p.atom()
	for err == nil && (p.peek() == '*' || p.peek() == '/') {
		op := p.s[p.i]
		p.i++
		var w int
		if w, err = p.atom(); err == nil && op == '*' {
			v *= w
		} else if err == nil {
			if w == 0 {
				return 0, fmt.Errorf("division by zero in %q", p.s)
			}
			v /= w
		}
	}
	return v, err
}

func (p *exprParser) atom() (int, error) {
	c := p.peek()
	switch {
	case c == '(':
		p.i++
		v, err := p.sum()
		if err == nil && p.peek() != ')' {
			err = fmt.Errorf("missing ) in %q", p.s)
		}
		p.i++
		return v, err
	case c >= '0' && c <= '9':
		j := p.i
		for j < len(p.s) && (p.s[j] >= '0' && p.s[j] <= '9') {
			j++
		}
		v, err := strconv.Atoi(p.s[p.i:j])
		for j < len(p.s) && (p.s[j] == 'u' || p.s[j] == 'U') {
			j++
		}
		p.i = j
		return v, err
	case c == '_' || unicode.IsLetter(rune(c)):
		j := p.i
		for j < len(p.s) && (p.s[j] == '_' || unicode.IsLetter(rune(p.s[j])) || unicode.IsDigit(rune(p.s[j]))) {
			j++
		}
		name := p.s[p.i:j]
		p.i = j
		v, ok := p.names[name]
		if !ok {
			return 0, fmt.Errorf("unknown name %s in %q", name, p.s)
		}
		return v, nil
	}
	return 0, fmt.Errorf("cannot parse %q at %d", p.s, p.i)
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}
