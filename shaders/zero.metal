// zero.metal — clear a view. Uses EltwiseParams (common.metal).

// zero_forward: x = 0.
//   buffer(0) x (n)   buffer(1) EltwiseParams
//   grid (⌈n/256⌉ capped at 65535, 1, 1) × 256 threads; grid-stride loop
kernel void zero_forward(device float*           x [[buffer(0)]],
                         constant EltwiseParams& p [[buffer(1)]],
                         uint gid     [[thread_position_in_grid]],
                         uint threads [[threads_per_grid]])
{
    for (uint i = gid; i < p.n; i += threads) {
        x[i] = 0.0f;
    }
}
