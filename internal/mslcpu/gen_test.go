package mslcpu

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestTgDecl(t *testing.T) {
	cases := []struct {
		decl  string
		typ   string
		names []string
		dims  []string
		ok    bool
	}{
		{"float As[16][16]", "float", []string{"As"}, []string{"[ 16 ] [ 16 ]"}, true},
		{"float a[4096], b[BM * BK + 4]", "float", []string{"a", "b"}, []string{"[ 4096 ]", "[ BM * BK + 4 ]"}, true},
		{"atomic_uint counter", "atomic_uint", []string{"counter"}, []string{""}, true},
		{"vec<float, 4> t[(N)]", "vec < float , 4 >", []string{"t"}, []string{"[ ( N ) ]"}, true},
		{"metal::simdgroup_float8x8 m", "metal :: simdgroup_float8x8", []string{"m"}, []string{""}, true},
		{"float* p", "", nil, nil, false},                       // pointer into threadgroup memory
		{"float* p = base + 4", "", nil, nil, false},            // pointer with initializer
		{"float& r = t[0]", "", nil, nil, false},                // reference
		{"const float* const q", "", nil, nil, false},           // const pointer
		{"float t[4], *p", "", nil, nil, false},                 // mixed declarators: left alone
		{"float* f(threadgroup float* x)", "", nil, nil, false}, // function returning a pointer
	}
	for _, c := range cases {
		t.Run(c.decl, func(t *testing.T) {
			ts, err := lex(c.decl)
			require.NoError(t, err)
			typ, names, dims, ok := tgDecl(ts)
			require.Equal(t, c.ok, ok)
			if c.ok {
				require.Equal(t, c.typ, typ)
				require.Equal(t, c.names, names)
				require.Equal(t, c.dims, dims)
			}
		})
	}
}

func TestGenerateKernels(t *testing.T) {
	src := `#include <metal_stdlib>
using namespace metal;
/* a comment with kernel void fake(int x) in it */
[[max_total_threads_per_threadgroup(256)]]
kernel void first(device const float* x [[buffer(0)]],
                  constant uint& n      [[buffer(3)]],
                  threadgroup float* s  [[threadgroup(1)]],
                  uint2 gid [[thread_position_in_grid]],
                  ushort lane [[thread_index_in_simdgroup]])
{
    threadgroup float tile[32][33];
    threadgroup
        float spread[
            8];
    threadgroup float* p = tile[0];
    s[0] = x[gid.x] + tile[0][0] + spread[0] + p[0] + float(n + lane);
}
[[kernel]] void second(device float* y [[buffer(0)]]) { y[0] = 1.0f; }
`
	out, ks, err := generate("k.metal", src, true)
	require.NoError(t, err)
	require.Len(t, ks, 2)
	require.Equal(t, "first", ks[0].Name)
	require.Equal(t, "256", ks[0].MaxThreads)
	require.Equal(t, 5, ks[0].Line)
	require.Equal(t, []param{
		{Type: "device const float *", Name: "x", Attr: "buffer", AttrArg: "0", Line: 5, Loc: "k.metal:5"},
		{Type: "constant uint &", Name: "n", Attr: "buffer", AttrArg: "3", Line: 6, Loc: "k.metal:6"},
		{Type: "threadgroup float *", Name: "s", Attr: "threadgroup", AttrArg: "1", Line: 7, Loc: "k.metal:7"},
		{Type: "uint2", Name: "gid", Attr: "thread_position_in_grid", Line: 8, Loc: "k.metal:8"},
		{Type: "ushort", Name: "lane", Attr: "thread_index_in_simdgroup", Line: 9, Loc: "k.metal:9"},
	}, ks[0].Params)
	require.Equal(t, "second", ks[1].Name)

	// The rewritten source keeps every line where it was: #line 1 maps it to k.metal.
	body := out[strings.Index(out, "#line 1 \"k.metal\"\n")+len("#line 1 \"k.metal\"\n"):]
	body = body[:strings.Index(body, "// ---- bindings ----")]
	lines := strings.Split(body, "\n")
	require.Contains(t, lines[10], "mslcpu::tg_var(", "tile is runtime storage on its own line")
	require.Contains(t, lines[11], "mslcpu::tg_var(", "a declaration spread over lines stays on its first line")
	require.Contains(t, lines[14], "threadgroup float* p = tile[0];", "pointers keep `threadgroup` as a qualifier")
	require.Contains(t, lines[15], "s[0] = x[gid.x]")
	require.Contains(t, out, `{"first", mslcpu_wrap_first, 256, mslcpu::tg_padded(sizeof(float [ 32 ] [ 33 ])) + mslcpu::tg_padded(sizeof(float [ 8 ]))}`)
	require.Contains(t, out, `{"second", mslcpu_wrap_second, 0, 0}`)
	require.Contains(t, out, `mslcpu::need_buffer(b, 3, sizeof(constant uint ), "first", "n")`)
	require.Contains(t, out, `mslcpu::need_tgmem(b, 1, "first", "s")`)
}

func TestGenerateErrors(t *testing.T) {
	for _, c := range []struct{ src, want string }{
		{"template <typename T>\nkernel void k(device T* x [[buffer(0)]]) {}\n", "k.metal:2: templated kernels"},
		{"kernel void k(device float* x [[buffer(0)]],\n texture2d<float> t [[texture(0)]]) {}\n", "k.metal:2: kernel k: parameter t has the attribute [[texture]]"},
		{"kernel void k(device float* x) {}\n", "parameter x has no attribute"},
		{"kernel void k(float x [[buffer(0)]]) {}\n", "buffer parameter x must be a pointer or a reference"},
		{"/* open\nkernel void k() {}\n", "unterminated comment"},
		{"#line 1 \"a.metal\"\nkernel void a(device float* x [[buffer(0)]]) {}\n#line 40 \"b.metal\"\n\nkernel void b(float x [[buffer(0)]]) {}\n",
			"b.metal:41: kernel b: buffer parameter x"},
	} {
		_, _, err := generate("k.metal", c.src, true)
		require.ErrorContains(t, err, c.want)
	}
}
