// residual.metal — the residual connection out = a + b and its backward.
// Uses EltwiseParams (common.metal).

// residual_forward: out = a + b.
//   buffer(0) out (n)   buffer(1) a (n)   buffer(2) b (n)   buffer(3) EltwiseParams
//   grid (⌈n/256⌉ capped at 65535, 1, 1) × 256 threads; grid-stride loop
kernel void residual_forward(device float*           out [[buffer(0)]],
                             device const float*     a   [[buffer(1)]],
                             device const float*     b   [[buffer(2)]],
                             constant EltwiseParams& p   [[buffer(3)]],
                             uint gid     [[thread_position_in_grid]],
                             uint threads [[threads_per_grid]])
{
    for (uint i = gid; i < p.n; i += threads) {
        out[i] = a[i] + b[i];
    }
}

// residual_backward: da += dout, db += dout.
//   buffer(0) da (n)   buffer(1) db (n)   buffer(2) dout (n)   buffer(3) EltwiseParams
//   grid (⌈n/256⌉ capped at 65535, 1, 1) × 256 threads; grid-stride loop
kernel void residual_backward(device float*           da   [[buffer(0)]],
                              device float*           db   [[buffer(1)]],
                              device const float*     dout [[buffer(2)]],
                              constant EltwiseParams& p    [[buffer(3)]],
                              uint gid     [[thread_position_in_grid]],
                              uint threads [[threads_per_grid]])
{
    for (uint i = gid; i < p.n; i += threads) {
        const float d = dout[i];
        da[i] += d;
        db[i] += d;
    }
}
