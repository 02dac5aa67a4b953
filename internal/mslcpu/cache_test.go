package mslcpu

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

const copySrc = `#include <metal_stdlib>
using namespace metal;
// nonce: %s
kernel void copy_%s(device const float* x [[buffer(0)]], device float* y [[buffer(1)]],
                   uint gid [[thread_position_in_grid]]) { y[gid] = x[gid] * 2.0f; }
`

func TestCacheOutsideSourceTree(t *testing.T) {
	NeedCompiler(t)
	p, err := BuildFile("testdata/kernels.metal", Options{})
	require.NoError(t, err)
	wd, err := os.Getwd()
	require.NoError(t, err)
	require.False(t, strings.HasPrefix(p.Path, wd), "build artefacts must not be written into the source tree: %s", p.Path)
	dir, err := CacheDir()
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(p.Path, dir), "%s not under %s", p.Path, dir)
	start := time.Now()
	p2, err := BuildFile("testdata/kernels.metal", Options{})
	require.NoError(t, err)
	require.Equal(t, p.Path, p2.Path)
	t.Logf("cached build: %v", time.Since(start))
	p3, err := BuildFile("testdata/kernels.metal", Options{Strict: true})
	require.NoError(t, err)
	require.NotEqual(t, p.Path, p3.Path, "options are part of the cache key")
	require.Equal(t, []string{"matmul_tiled", "softmax_rows", "matmul_simdgroup", "partial_simd_sum", "vec_ops", "matmul_simdgroup_tg"}, p.Kernels)
}

// TestCacheParallelProcesses builds one new source in three processes at once (the test binary
// re-run as helpers): all must succeed and run the same program. -short skips it: its source is
// new on every run, so nothing comes from the cache.
func TestCacheParallelProcesses(t *testing.T) {
	NeedCompiler(t)
	if testing.Short() {
		t.Skip("-short: no uncached builds")
	}
	if os.Getenv("MSLCPU_HELPER_NONCE") != "" {
		t.Skip("helper process")
	}
	nonce := fmt.Sprintf("n%d", time.Now().UnixNano())
	var wg sync.WaitGroup
	outs := make([]string, 3)
	errs := make([]error, 3)
	for i := range outs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := exec.Command(os.Args[0], "-test.run=^TestCacheHelper$", "-test.v")
			cmd.Env = append(os.Environ(), "MSLCPU_HELPER_NONCE="+nonce)
			b, err := cmd.CombinedOutput()
			outs[i], errs[i] = string(b), err
		}()
	}
	wg.Wait()
	var path string
	for i := range outs {
		require.NoError(t, errs[i], outs[i])
		_, after, ok := strings.Cut(outs[i], "program: ")
		require.True(t, ok, outs[i])
		p := strings.Fields(after)[0]
		if path == "" {
			path = p
		}
		require.Equal(t, path, p)
	}
	t.Cleanup(func() { os.Remove(path) })
	entries, err := filepath.Glob(filepath.Join(filepath.Dir(filepath.Dir(path)), "tmp-*"))
	require.NoError(t, err)
	for _, e := range entries {
		require.NotContains(t, e, nonce, "no temporary directory left behind")
	}
}

func TestCacheHelper(t *testing.T) {
	nonce := os.Getenv("MSLCPU_HELPER_NONCE")
	if nonce == "" {
		t.Skip("run by TestCacheParallelProcesses")
	}
	p, err := BuildSource("copy.metal", []byte(fmt.Sprintf(copySrc, nonce, nonce)), Options{})
	require.NoError(t, err)
	r, err := p.Start()
	require.NoError(t, err)
	defer r.Close()
	out, err := r.Run(Dispatch{Kernel: "copy_" + nonce, Grid: [3]uint32{3, 1, 1}, Threads: true, Threadgroup: [3]uint32{4, 1, 1},
		Buffers: map[int][]byte{0: F32([]float32{1, 2, 3}), 1: make([]byte, 12)}})
	require.NoError(t, err)
	require.Equal(t, []float32{2, 4, 6}, ToF32(out[1]))
	fmt.Printf("program: %s\n", p.Path)
}

// fakeTB records whether a test helper skipped or failed.
type fakeTB struct {
	testing.TB
	skipped, failed bool
	msg             string
}

func (f *fakeTB) Helper() {}
func (f *fakeTB) Skipf(format string, args ...any) {
	f.skipped, f.msg = true, fmt.Sprintf(format, args...)
	panic(f)
}
func (f *fakeTB) Fatalf(format string, args ...any) {
	f.failed, f.msg = true, fmt.Sprintf(format, args...)
	panic(f)
}

func TestNeedCompilerSkipsOrFailsInCI(t *testing.T) {
	t.Setenv("MSLCPU_CXX", "/nonexistent/clang++-16")
	run := func() *fakeTB {
		f := &fakeTB{}
		func() {
			defer func() { recover() }()
			NeedCompiler(f)
		}()
		return f
	}
	t.Setenv("CI", "")
	f := run()
	require.True(t, f.skipped)
	require.Contains(t, f.msg, "apt-get install clang-16")
	t.Setenv("CI", "true")
	f = run()
	require.True(t, f.failed, "in CI a missing compiler is a failure")
	require.Contains(t, f.msg, "CI is set")
	_, err := BuildSource("x.metal", []byte("kernel void k(device float* y [[buffer(0)]]) {}\n"), Options{})
	require.ErrorContains(t, err, "no clang++ found")
}

// TestFiberSwitchAssemblesForOtherTargets assembles the arm64 (Linux, macOS) and x86-64 macOS
// variants of the context switch; only x86-64 Linux runs here.
func TestFiberSwitchAssemblesForOtherTargets(t *testing.T) {
	NeedCompiler(t)
	cxx, err := Compiler()
	require.NoError(t, err)
	dir, err := CacheDir()
	require.NoError(t, err)
	src, _, err := unpackRuntime(dir)
	require.NoError(t, err)
	tmp := t.TempDir()
	cpp := filepath.Join(tmp, "sw.cpp")
	require.NoError(t, os.WriteFile(cpp, []byte("#include \"mslcpu_switch.h\"\n#ifndef MSLCPU_HAVE_ASM_SWITCH\n#error no switch\n#endif\n"+
		"static void entry() {}\nvoid *prep(void *s) { return mslcpu_prepare_stack(s, 1 << 16, entry); }\n"+
		"void sw(void **a, void *b) { mslcpu_switch(a, b); }\n"), 0o644))
	for _, target := range []string{"aarch64-linux-gnu", "arm64-apple-macos", "x86_64-apple-macos"} {
		out, err := exec.Command(cxx, "--target="+target, "-ffreestanding", "-I", src, "-c", cpp, "-o", filepath.Join(tmp, target+".o")).CombinedOutput()
		require.NoError(t, err, "%s: %s", target, out)
	}
}

func TestHeadersFromBytes(t *testing.T) {
	NeedCompiler(t)
	src := []byte("#include <metal_stdlib>\n#include \"common/scale.h\"\nusing namespace metal;\n" +
		"kernel void scale(device float* y [[buffer(0)]], uint gid [[thread_position_in_grid]]) { y[gid] *= SCALE; }\n")
	var paths []string
	for _, scale := range []string{"3.0f", "-2.0f"} {
		p, err := BuildSource("embedded/scale.metal", src, Options{Headers: map[string][]byte{"common/scale.h": []byte("constant float SCALE = " + scale + ";\n")}})
		require.NoError(t, err)
		paths = append(paths, p.Path)
		r, err := p.Start()
		require.NoError(t, err)
		out, err := r.Run(Dispatch{Kernel: "scale", Grid: [3]uint32{2, 1, 1}, Threads: true, Threadgroup: [3]uint32{2, 1, 1},
			Buffers: map[int][]byte{0: F32([]float32{1, 2})}})
		r.Close()
		require.NoError(t, err)
		want := map[string][]float32{"3.0f": {3, 6}, "-2.0f": {-2, -4}}[scale]
		require.Equal(t, want, ToF32(out[0]))
	}
	require.NotEqual(t, paths[0], paths[1], "header content is part of the cache key")
	_, err := BuildSource("x.metal", src, Options{Headers: map[string][]byte{"../evil.h": nil}})
	require.ErrorContains(t, err, "bad header name")
}

func TestBuildSourcesSeveralUnits(t *testing.T) {
	NeedCompiler(t)
	unit := func(name, op string) Source {
		return Source{Name: name + ".metal", Code: []byte("#include <metal_stdlib>\nusing namespace metal;\n" +
			"static float f(float x) { return x " + op + " 1.0f; }\n" + // same helper name in both units
			"kernel void " + name + "(device float* y [[buffer(0)]], uint i [[thread_position_in_grid]]) {\n" +
			"    threadgroup float t[2]; t[i] = f(y[i]); threadgroup_barrier(mem_flags::mem_threadgroup); y[i] = t[1 - i];\n}\n")}
	}
	p, err := BuildSources([]Source{unit("plus", "+"), unit("minus", "-")}, Options{})
	require.NoError(t, err)
	require.Equal(t, []string{"plus", "minus"}, p.Kernels)
	r, err := p.Start()
	require.NoError(t, err)
	defer r.Close()
	for k, want := range map[string][]float32{"plus": {21, 11}, "minus": {19, 9}} {
		out, err := r.Run(Dispatch{Kernel: k, Grid: [3]uint32{1, 1, 1}, Threadgroup: [3]uint32{2, 1, 1},
			Buffers: map[int][]byte{0: F32([]float32{10, 20})}})
		require.NoError(t, err)
		require.Equal(t, want, ToF32(out[0]), k)
	}
	_, err = BuildSources([]Source{unit("plus", "+"), unit("plus", "-")}, Options{})
	require.ErrorContains(t, err, "kernel plus is defined in both plus.metal and plus.metal")
}
