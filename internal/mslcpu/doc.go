// Package mslcpu runs Metal Shading Language compute kernels on the CPU, so that Linux CI can
// execute every .metal kernel of kvgpt and compare it with the CPU backend.
//
// A .metal source is rewritten by a small generator (threadgroup variable declarations become
// per-threadgroup storage owned by the runtime; every kernel gets a wrapper that binds
// [[buffer(n)]], [[threadgroup(n)]] and the thread-position attributes), compiled with clang++
// (>= 15) against a Metal compatibility header (csrc/msl_cpu.h) and linked with a fiber runtime
// into a runner executable. The runner executes the threads of a threadgroup as fibers on one OS
// thread, switching only at threadgroup_barrier and SIMD-group collectives (a hand-written
// context switch for x86-64 and arm64), and runs threadgroups on a few OS threads. The Go side
// drives the runner as a subprocess over a pipe, so test binaries need no cgo and a crashing
// kernel cannot take `go test` down.
//
// # Use
//
//	prog, err := mslcpu.BuildFile("matmul.metal", mslcpu.Options{}) // or BuildSource / BuildSources
//	r, err := prog.Start()
//	defer r.Close()
//	out, err := r.Run(mslcpu.Dispatch{
//		Kernel:       "matmul_forward",
//		Grid:         [3]uint32{gx, gy, 1},  // threadgroups per grid (Threads: true for threads per grid)
//		Threadgroup:  [3]uint32{16, 16, 1},  // threads per threadgroup
//		Buffers:      map[int][]byte{0: mslcpu.F32(a), 1: mslcpu.F32(b), 2: make([]byte, 4*m*n)},
//		TGMemLengths: map[int]int{0: 1024}, // [[threadgroup(0)]] bytes, a multiple of 16
//		Order:        mslcpu.Reverse,
//	})
//	c := mslcpu.ToF32(out[2])
//
// Buffers are copied into the runner and back; Run returns every allocation of Buffers under its
// index. Several slots can view one allocation at byte offsets (Dispatch.Offsets and
// Dispatch.Alias), as with setBuffer:offset:atIndex: on one MTLBuffer. A Runner serialises its
// dispatches and restarts its process after a crash; Close it when done.
//
// In tests, StartFile(t, path, opts) builds, starts and registers Close; NeedCompiler(t) skips
// when no clang++ >= 15 is installed and fails instead when the environment variable CI is set.
// Run every kernel in both thread orders (Orders): see "Thread order" below.
//
// # Build modes
//
//   - Default: flat memory, -O1, line tables (crash and sanitizer reports name .metal lines).
//   - Options.Strict: device, threadgroup and constant are distinct clang address spaces, so
//     passing or assigning a pointer of one address space where another (or a thread pointer) is
//     expected is a compile error, as in the Metal compiler.
//   - Options.ASan: AddressSanitizer. Every buffer and every threadgroup allocation (declared or
//     dynamic) is an exact-size heap block, so a read or write past its end fails Run with the
//     sanitizer report (needs the libclang-rt-16-dev package; .ci/run installs it).
//   - Options.UContext: glibc swapcontext instead of the assembly switch (only to measure it).
//
// Options.Defines, IncludeDirs and Headers (include files given as bytes, for go:embed) feed the
// preprocessor. Compiler errors name the .metal file and line (the generated C++ keeps #line).
//
// # Build cache
//
// Programs are cached by a hash of everything that goes into them (sources, included files,
// runtime, compiler identity, flags) under CacheDir: $MSLCPU_CACHE, else
// os.UserCacheDir()/kvgpt-mslcpu, else a directory under os.TempDir() — never in the source tree.
// Every artefact is built in a private temporary directory and renamed into place, so parallel
// test processes share the cache safely; entries unused for 14 days are pruned. A cached program
// costs one stat; a fresh kernel file costs one clang run (about a second), plus one runtime
// compile per compiler and build mode.
//
// # Thread order and checks
//
// Between two synchronisation points the threads of a threadgroup run one after another, in
// thread_index_in_threadgroup order (Forward), the reverse (Reverse) or a per-threadgroup
// shuffle (Random, seeded by Dispatch.Seed); Order's zero value reads $MSLCPU_ORDER. A kernel
// that reads threadgroup memory written by another thread without a barrier in between sees the
// value missing in at least one of Forward and Reverse, so tests run both. Threadgroup memory
// (declared and dynamic) is filled with all-ones bytes (NaN as float) at the start of every
// threadgroup, as it holds garbage on the GPU.
//
// Run fails with a clear message when: threads of a threadgroup wait at different
// threadgroup_barrier calls, or some wait while others returned (undefined behaviour on the
// GPU); declared plus dynamic threadgroup memory exceeds 32 KiB (MaxThreadgroupMemory); a
// threadgroup has more than 1024 threads or more than the kernel's
// [[max_total_threads_per_threadgroup(n)]]; a dynamic threadgroup length is not a multiple of 16
// or a [[threadgroup(n)]] argument has none; a buffer argument is unbound, or a reference
// argument's buffer is smaller than the type; the kernel name is unknown. A fault in kernel code
// (a wild pointer, a fiber stack overflow) is reported with the kernel and GPU thread that ran; a
// dispatch that runs longer than Dispatch.Timeout (default 5 minutes) is killed.
//
// # What the harness models
//
//   - Kernels: `kernel void f(...)` and `[[kernel]] void f(...)` at file scope; parameters with
//     [[buffer(n)]] (pointer or reference, any address space), [[threadgroup(n)]] and the
//     attributes thread_position_in_grid, thread_position_in_threadgroup,
//     threadgroup_position_in_grid, threads_per_threadgroup, dispatch_threads_per_threadgroup,
//     threadgroups_per_grid, threads_per_grid, thread_index_in_threadgroup,
//     thread_index_in_simdgroup, simdgroup_index_in_threadgroup, threads_per_simdgroup,
//     thread_execution_width, simdgroups_per_threadgroup (scalar or vector, any integer type);
//     [[max_total_threads_per_threadgroup(n)]]; dispatchThreadgroups and dispatchThreads
//     (non-uniform edge threadgroups).
//   - Threadgroup variables declared in kernel bodies (scalars, arrays, structs, atomics),
//     possibly several per declaration; pointers and references into threadgroup memory.
//   - Types: bool, char, uchar, short, ushort, int, uint, long, ulong, half, float (and bfloat
//     where clang has __bf16); 2-, 3- and 4-component vectors of them with swizzles, MSL
//     constructors (float4(v.xy, 0, 1)) and vec<T, N>; int8_t … uint64_t, size_t.
//   - Math (float, half and vectors): exp, exp2, exp10, log, log2, log10, pow, powr, sqrt, rsqrt,
//     sin, cos, tan, asin, acos, atan, atan2, sinh, cosh, tanh, asinh, acosh, atanh, sinpi,
//     cospi, sincos, floor, ceil, round, rint, trunc, fract, fabs, abs, fmod, fma, fmin, fmax,
//     min, max, clamp, mix, saturate, sign, step, smoothstep, copysign, fdim, nextafter, divide,
//     ldexp, frexp, modf, isnan, isinf, isfinite, signbit; dot, length, length_squared,
//     distance, normalize, cross; any, all, select; popcount, clz, ctz, mulhi, reverse_bits,
//     rotate; as_type; the fast:: and precise:: namespaces; numeric_limits; MAXFLOAT, INFINITY,
//     NAN, HUGE_VALF, FLT_*, M_*_F constants.
//   - Synchronisation: threadgroup_barrier (every mem_flags value acts as a full barrier among
//     the threadgroup's threads) and simdgroup_barrier.
//   - SIMD-group functions with 32 lanes (SIMDWidth) and active-lane semantics (lanes that
//     returned or wait elsewhere do not take part): simd_sum, simd_product, simd_min, simd_max,
//     simd_and, simd_or, simd_xor, simd_prefix_exclusive_sum, simd_prefix_inclusive_sum,
//     simd_prefix_exclusive_product, simd_shuffle, simd_shuffle_xor, simd_shuffle_up,
//     simd_shuffle_down, simd_shuffle_rotate_up, simd_shuffle_rotate_down, simd_broadcast,
//     simd_broadcast_first, simd_any, simd_all, simd_is_first. Reductions combine lanes in
//     lane order.
//   - simdgroup_matrix<T, 8, 8> (simdgroup_float8x8, simdgroup_half8x8):
//     make_filled_simdgroup_matrix, the diagonal constructor, simdgroup_load and simdgroup_store
//     (elements_per_row, origin as (column, row), transpose) from device or threadgroup memory,
//     simdgroup_multiply, simdgroup_multiply_accumulate (accumulated in float, in k order).
//   - Atomics (memory_order_relaxed): atomic_int, atomic_uint, atomic_bool, atomic_float,
//     atomic<T>; atomic_load/store/exchange/compare_exchange_weak/fetch_add/fetch_sub/
//     fetch_and/fetch_or/fetch_xor/fetch_min/fetch_max _explicit, in device and threadgroup
//     memory. Device atomics are real atomics (threadgroups run on several OS threads).
//
// Kernel code sees only MSL: no C or C++ library name is declared, and std, double, printf and
// malloc are poisoned, so code the Metal compiler would reject (erf, std::max, double) does not
// compile here either.
//
// # What it does not model
//
//   - Textures, samplers, imageblocks, raster order groups, argument buffers, indirect command
//     buffers, visible functions, function constants ([[function_constant]]), stage_in,
//     ray tracing, mesh and object functions: compile errors or a generator error.
//   - Templated kernels and [[host_name]] instantiations (a generator error: write one kernel per
//     variant); quadgroup functions and [[thread_index_in_quadgroup]]; packed_* vector types;
//     matrix types such as float4x4; simdgroup_matrix::thread_elements() and the per-lane
//     fragment layout; simdgroup_async_copy.
//   - Lock-step execution inside a SIMD group: lanes run one after another between collectives,
//     so code that relies on implicit SIMD lock-step (lanes reading each other's threadgroup
//     stores without a barrier or collective) is reported as a race in some order.
//   - Floating point: Metal compiles with fast math by default (results may differ by a few ulp,
//     FMA contraction, flushed denormals); here expressions are evaluated as written in IEEE
//     float (no contraction), unsuffixed literals like 0.5 are double (write 0.5f), and half
//     functions compute in float and round. Compare with tolerances.
//   - The memory model between threadgroups: they run concurrently on OS threads, so kernels that
//     communicate across threadgroups through device memory (other than atomics) are not
//     modelled. Barrier mem_flags are not distinguished.
//   - Device limits other than the ones checked above: the per-pipeline thread limit that Metal
//     derives from register use (maxTotalThreadsPerThreadgroup may be below 1024), buffer
//     offset alignment (256 bytes for constant buffers on macOS), setBytes' 4 KiB limit, and any
//     performance characteristic.
//   - Each simulated GPU thread has a 256 KiB stack (1 MiB under ASan).
package mslcpu
