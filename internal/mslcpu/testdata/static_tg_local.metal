#include <metal_stdlib>
using namespace metal;

// A threadgroup array sized by a constant of the kernel's own body: its static count cannot be
// evaluated at file scope, so the unit is compiled without counts (see
// TestStaticThreadgroupMemory) and still runs.
kernel void local_size(device float* y [[buffer(0)]], uint tid [[thread_index_in_threadgroup]])
{
    constexpr uint L = 6;
    threadgroup float t[L];
    t[tid] = float(tid);
    threadgroup_barrier(mem_flags::mem_threadgroup);
    y[tid] = t[L - 1 - tid];
}
