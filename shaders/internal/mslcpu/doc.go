// Package mslcpu runs Metal Shading Language compute kernels on the CPU, so that Linux CI can
// execute every .metal kernel of kvgpt and compare it with the CPU backend.
//
// A .metal source is rewritten by a small generator (threadgroup variable declarations become
// per-threadgroup storage; every kernel gets a wrapper that binds [[buffer(n)]],
// [[threadgroup(n)]] and the thread-position attributes), compiled with clang++ (>= 15) against a
// Metal compatibility header (csrc/msl_cpu.h) and linked with a fiber runtime into a runner
// executable. The runner executes the threads of a threadgroup as fibers on one OS thread,
// switching only at threadgroup_barrier and SIMD-group collectives, and runs threadgroups on a few
// OS threads. The Go side drives the runner as a subprocess over a pipe, so test binaries need no
// cgo and a crashing kernel cannot take `go test` down.
//
// # Use
//
//	prog, err := mslcpu.BuildFile("matmul.metal", mslcpu.Options{})   // or BuildSource(name, src, opts)
//	r, err := prog.Start()
//	defer r.Close()
//	out, err := r.Run(mslcpu.Dispatch{
//		Kernel:       "matmul_forward",
//		Grid:         [3]uint32{gx, gy, 1},   // threadgroups per grid
//		Threadgroup:  [3]uint32{16, 16, 1},   // threads per threadgroup
//		Buffers:      map[int][]byte{0: mslcpu.F32(a), 1: mslcpu.F32(b), 2: make([]byte, 4*m*n)},
//		TGMemLengths: map[int]int{0: 1024}, // [[threadgroup(0)]] bytes
//		Order:        mslcpu.Reverse,
//	})
//	c := mslcpu.ToF32(out[2])
//
// In tests, StartFile(t, path, opts) does the same and NeedCompiler(t) skips when clang++ is
// missing (and fails when $CI is set).
//
// Options.Strict builds with distinct address spaces (device/threadgroup/constant/thread pointer
// mix-ups are compile errors); Options.ASan builds with AddressSanitizer (out-of-bounds accesses
// fail Run with the report). Compiler errors name the .metal file and line.
//
// Build artefacts are cached by content hash under CacheDir (never in the source tree); parallel
// test processes share the cache safely (every artefact is renamed into place atomically).
package mslcpu
