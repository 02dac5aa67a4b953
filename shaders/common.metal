// common.metal — what several kernel families share. shaders.Source puts this file first.
#include <metal_stdlib>
#include <metal_simdgroup_matrix>
using namespace metal;

// EltwiseParams is the constant block of the element-wise kernels (Go: shaders.eltwiseParams).
struct EltwiseParams {
    uint n;   // elements
};

// FLOAT_LOWEST (−FLT_MAX) starts a running maximum: finite, because Metal's default fast math
// may assume that no value is infinite.
constant constexpr float FLOAT_LOWEST = -3.40282347e+38f;

// ROW_THREADS is the threadgroup size of the row kernels that reduce over a whole threadgroup
// (cross-entropy, grad norm): 8 simdgroups.
constant constexpr uint ROW_THREADS = 256;

// row_sum returns the sum of v over the ROW_THREADS threads of the threadgroup, to every thread.
// The order of the additions is fixed (simdgroup sums, then simdgroups 0…7), so the result does
// not depend on scheduling. scratch holds 8 floats; all threads must call it.
static float row_sum(float v, threadgroup float* scratch, uint sg, uint lane)
{
    v = simd_sum(v);
    if (lane == 0) {
        scratch[sg] = v;
    }
    threadgroup_barrier(mem_flags::mem_threadgroup);
    float r = 0.0f;
    for (uint i = 0; i < ROW_THREADS / 32; ++i) {
        r += scratch[i];
    }
    threadgroup_barrier(mem_flags::mem_threadgroup);   // scratch is reused by the next call
    return r;
}

// row_max is row_sum with max.
static float row_max(float v, threadgroup float* scratch, uint sg, uint lane)
{
    v = simd_max(v);
    if (lane == 0) {
        scratch[sg] = v;
    }
    threadgroup_barrier(mem_flags::mem_threadgroup);
    float r = FLOAT_LOWEST;
    for (uint i = 0; i < ROW_THREADS / 32; ++i) {
        r = max(r, scratch[i]);
    }
    threadgroup_barrier(mem_flags::mem_threadgroup);
    return r;
}
