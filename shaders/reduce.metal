// reduce.metal — the global gradient norm, deterministic in two passes.
//
// Pass 1 gives each of G threadgroups one contiguous chunk of the gradients and writes the chunk's
// sum of squares to partial[g]; pass 2 (one threadgroup) adds the G partial sums and takes the
// square root. G depends only on n, and every sum is formed in a fixed order (row_sum), so the
// norm is bit-for-bit the same on every run.

// GradNormParams is the constant block of the grad-norm kernels (Go: shaders.gradNormParams).
struct GradNormParams {
    uint n;       // gradient elements
    uint chunk;   // elements per threadgroup in pass 1
    uint groups;  // G, the number of partial sums
};

// gradnorm_forward_partial: partial[g] = Σ grads[i]² over i in [g·chunk, (g+1)·chunk) ∩ [0, n).
//   buffer(0) partial (G)   buffer(1) grads (n)   buffer(2) GradNormParams
//   grid (G, 1, 1) × 256 threads
kernel void gradnorm_forward_partial(device float*            partial [[buffer(0)]],
                                     device const float*      grads   [[buffer(1)]],
                                     constant GradNormParams& p       [[buffer(2)]],
                                     uint g    [[threadgroup_position_in_grid]],
                                     uint tid  [[thread_index_in_threadgroup]],
                                     uint sg   [[simdgroup_index_in_threadgroup]],
                                     uint lane [[thread_index_in_simdgroup]])
{
    threadgroup float scratch[ROW_THREADS / 32];
    const uint beg = g * p.chunk, end = min(p.n, beg + p.chunk);
    float s = 0.0f;
    for (uint i = beg + tid; i < end; i += ROW_THREADS) {
        const float x = grads[i];
        s += x * x;
    }
    s = row_sum(s, scratch, sg, lane);
    if (tid == 0) {
        partial[g] = s;
    }
}

// gradnorm_forward_final: out[0] = √(Σ_g partial[g]).
//   buffer(0) out (≥1)   buffer(1) partial (G)   buffer(2) GradNormParams
//   grid (1, 1, 1) × 256 threads
kernel void gradnorm_forward_final(device float*            out     [[buffer(0)]],
                                   device const float*      partial [[buffer(1)]],
                                   constant GradNormParams& p       [[buffer(2)]],
                                   uint tid  [[thread_index_in_threadgroup]],
                                   uint sg   [[simdgroup_index_in_threadgroup]],
                                   uint lane [[thread_index_in_simdgroup]])
{
    threadgroup float scratch[ROW_THREADS / 32];
    float s = 0.0f;
    for (uint i = tid; i < p.groups; i += ROW_THREADS) {
        s += partial[i];
    }
    s = row_sum(s, scratch, sg, lane);
    if (tid == 0) {
        out[0] = sqrt(s);
    }
}
