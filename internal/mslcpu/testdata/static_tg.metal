#include <metal_stdlib>
using namespace metal;

// Kernels whose static threadgroup memory the harness counts (see TestStaticThreadgroupMemory).

#define N 7
constant constexpr uint M = 5;

// 10 floats (40 → 48 bytes) and 3 uint4 (48 bytes).
kernel void plain(device float* y [[buffer(0)]], uint tid [[thread_index_in_threadgroup]])
{
    threadgroup float a[10];
    threadgroup uint4 c[3];
    a[tid] = 1.0f;
    c[tid % 3] = uint4(tid);
    threadgroup_barrier(mem_flags::mem_threadgroup);
    y[tid] = a[tid] + float(c[tid % 3].x);
}

// A helper's threadgroup variable counts for every kernel that calls it.
float accumulate(float v, uint tid)
{
    threadgroup float s[33];
    s[tid] = v;
    threadgroup_barrier(mem_flags::mem_threadgroup);
    return s[0];
}

// Its own int (4 → 16 bytes) and the helper's 33 floats (132 → 144 bytes).
kernel void helper_user(device float* y [[buffer(0)]], uint tid [[thread_index_in_threadgroup]])
{
    threadgroup int flag;
    if (tid == 0) flag = 1;
    y[tid] = accumulate(float(tid), tid) + float(flag);
}

// A macro and a file-scope constant as the size: 35 floats (140 → 144 bytes).
kernel void with_constants(device float* y [[buffer(0)]], uint tid [[thread_index_in_threadgroup]])
{
    threadgroup float x[N * M];
    x[tid] = float(tid);
    threadgroup_barrier(mem_flags::mem_threadgroup);
    y[tid] = x[0];
}

kernel void none(device float* y [[buffer(0)]], uint tid [[thread_index_in_threadgroup]])
{
    y[tid] = float(tid);
}
