#include <metal_stdlib>
using namespace metal;

// Kernels that probe the harness's limits and failure reports (see limits_test.go).

// 8192 floats = exactly 32 KiB of declared threadgroup memory: allowed alone, too much with any
// dynamic threadgroup memory.
kernel void tg_exactly_32k(device float* y [[buffer(0)]],
                           uint tid [[thread_index_in_threadgroup]])
{
    threadgroup float big[8192];
    big[tid] = float(tid);
    threadgroup_barrier(mem_flags::mem_threadgroup);
    y[tid] = big[63 - tid];
}

kernel void tg_32k_plus_dynamic(device float* y [[buffer(0)]],
                                threadgroup float* extra [[threadgroup(0)]],
                                uint tid [[thread_index_in_threadgroup]])
{
    threadgroup float big[8192];
    big[tid] = float(tid);
    extra[0] = 1.0f;
    threadgroup_barrier(mem_flags::mem_threadgroup);
    y[tid] = big[63 - tid] + extra[0];
}

// Two declarations (and one declarator list) adding up to 32 KiB + 64 bytes.
kernel void tg_over_32k(device float* y [[buffer(0)]],
                        uint tid [[thread_index_in_threadgroup]])
{
    threadgroup float a[4096], b[4100];
    threadgroup uint4 c[16];
    a[tid] = 1.0f; b[tid] = 2.0f; c[tid % 16] = uint4(tid);
    threadgroup_barrier(mem_flags::mem_threadgroup);
    y[tid] = a[tid] + b[tid] + float(c[tid % 16].x);
}

// Reads threadgroup memory that no thread wrote: garbage on the GPU, NaN in the harness.
kernel void tg_uninitialised(device float* y [[buffer(0)]],
                             uint tid [[thread_index_in_threadgroup]])
{
    threadgroup float t[64];
    if (tid < 32) t[tid] = 1.0f;
    threadgroup_barrier(mem_flags::mem_threadgroup);
    y[tid] = t[tid];
}

// Off-by-one write past a threadgroup array (AddressSanitizer reports it).
kernel void tg_overflow(device float* y [[buffer(0)]],
                        uint tid [[thread_index_in_threadgroup]])
{
    threadgroup float t[32];
    t[tid + 1] = float(tid);  // OVERFLOW
    threadgroup_barrier(mem_flags::mem_threadgroup);
    y[tid] = t[tid];
}

// Threads of one threadgroup wait at two different barriers (undefined behaviour in Metal).
kernel void barrier_two_sites(device float* y [[buffer(0)]],
                              uint tid [[thread_index_in_threadgroup]])
{
    if (tid < 16) {
        y[tid] = 1.0f;
        threadgroup_barrier(mem_flags::mem_device);  // SITE1
    } else {
        y[tid] = 2.0f;
        threadgroup_barrier(mem_flags::mem_device);  // SITE2
    }
}

[[max_total_threads_per_threadgroup(64)]]
kernel void small_groups_only(device float* y [[buffer(0)]],
                              uint gid [[thread_position_in_grid]])
{
    y[gid] = float(gid);
}

// Writes through a null pointer: the runner dies with a fault report, go test carries on.
kernel void null_write(device float* y [[buffer(0)]],
                       constant uint& n [[buffer(1)]],
                       uint gid [[thread_position_in_grid]])
{
    device float* p = y;
    if (gid == n) p = (device float*)0;
    p[gid] = 1.0f;
}

// Never returns (the dispatch timeout kills the runner).
kernel void spin(device atomic_uint* y [[buffer(0)]])
{
    while (atomic_load_explicit(&y[0], memory_order_relaxed) == 0) {
        atomic_fetch_add_explicit(&y[1], 1u, memory_order_relaxed);
    }
}

// Copies x to y; buffer(1) may be left unbound to test the error.
kernel void copy(device const float* x [[buffer(0)]],
                 device float* y [[buffer(1)]],
                 constant uint4& shape [[buffer(2)]],
                 uint gid [[thread_position_in_grid]])
{
    if (gid < shape.x) y[gid] = x[gid];
}

// Writes two interleaved strided views: a[2i] = i and b[2i] = -i. Bound as two views of one
// allocation (b at a 4-byte offset), the writes interleave in that allocation.
kernel void strided_views(device float* a [[buffer(0)]],
                          device float* b [[buffer(1)]],
                          uint gid [[thread_position_in_grid]])
{
    a[2 * gid] = float(gid);
    b[2 * gid] = -float(gid);
}

// A local array larger than a simulated thread's 256 KiB stack.
kernel void deep_stack(device float* y [[buffer(0)]],
                       constant uint& n [[buffer(1)]],
                       uint gid [[thread_position_in_grid]])
{
    float big[100000];
    for (uint i = 0; i < n; i++) big[i] = float(i ^ gid);
    float s = 0.0f;
    for (uint i = 0; i < n; i++) s += big[(i * 7919u) % n];
    y[gid] = s;
}

// Thread-position attributes of a non-uniform (dispatchThreads) grid, 8 values per thread.
kernel void positions(device uint* out [[buffer(0)]],
                      uint2 gid   [[thread_position_in_grid]],
                      uint2 tpos  [[thread_position_in_threadgroup]],
                      uint2 tg    [[threadgroup_position_in_grid]],
                      uint2 ntg   [[threads_per_threadgroup]],
                      uint2 dntg  [[dispatch_threads_per_threadgroup]],
                      uint2 ngrid [[threads_per_grid]],
                      ushort idx  [[thread_index_in_threadgroup]],
                      uint2 ntgs  [[threadgroups_per_grid]])
{
    device uint* o = out + (gid.y * ngrid.x + gid.x) * 8;
    o[0] = tpos.x + 100 * tpos.y;  o[1] = tg.x + 100 * tg.y;   o[2] = ntg.x + 100 * ntg.y;
    o[3] = dntg.x + 100 * dntg.y;  o[4] = ngrid.x + 100 * ngrid.y;  o[5] = idx;
    o[6] = ntgs.x + 100 * ntgs.y;  o[7] = 1;
}
