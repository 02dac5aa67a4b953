#include <metal_stdlib>
using namespace metal;

// SIMD-group reductions and shuffles (see simd_test.go). One row of x per threadgroup; the
// threadgroup may end with a partial simdgroup.
//   out (rows, tg, 8): per thread: simd_sum, simd_max, simd_min, prefix exclusive sum,
//                      butterfly sum by simd_shuffle_xor, simd_shuffle_down(1), simd_broadcast(lane 5),
//                      threadgroup sum (simd_sum + threadgroup scratch)
kernel void simd_ops(device const float* x        [[buffer(0)]],
                     device float*       out      [[buffer(1)]],
                     threadgroup float*  scratch  [[threadgroup(0)]],
                     uint  row  [[threadgroup_position_in_grid]],
                     uint  tid  [[thread_index_in_threadgroup]],
                     uint  ntg  [[threads_per_threadgroup]],
                     uint  lane [[thread_index_in_simdgroup]],
                     uint  sg   [[simdgroup_index_in_threadgroup]],
                     uint  nsg  [[simdgroups_per_threadgroup]])
{
    const float v = x[row * ntg + tid];
    device float* o = out + (row * ntg + tid) * 8;
    o[0] = simd_sum(v);
    o[1] = simd_max(v);
    o[2] = simd_min(v);
    o[3] = simd_prefix_exclusive_sum(v);
    float b = v;
    for (ushort m = 1; m < 32; m <<= 1) b += simd_shuffle_xor(b, m);
    o[4] = b;
    o[5] = simd_shuffle_down(v, 1);
    o[6] = simd_broadcast(v, 5);
    float s = simd_sum(v);
    if (lane == 0) scratch[sg] = s;
    threadgroup_barrier(mem_flags::mem_threadgroup);
    float t = 0.0f;
    for (uint i = 0; i < nsg; i++) t += scratch[i];
    o[7] = t;
}
