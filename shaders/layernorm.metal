// layernorm.metal — LayerNorm with a weight and no bias, eps 1e-5, biased variance.
//
// Forward saves the mean and 1/σ of every row for the backward pass. The input gradient is a row
// kernel (one simdgroup per row); the weight gradient sums over rows in a fixed order, so it is
// deterministic: each thread of a (32, 8) threadgroup sums every 8th row of one column, and the
// eight partial sums are added in order.

// LayerNormParams is the constant block of the layernorm kernels (Go: shaders.layerNormParams).
struct LayerNormParams {
    uint N;   // rows
    uint C;   // columns
};

constant constexpr float LAYERNORM_EPS = 1e-5f;

// layernorm_forward: out = (in − mean)·rstd·w per row; saves mean and rstd.
//   buffer(0) out (N, C)   buffer(1) mean (N)   buffer(2) rstd (N)   buffer(3) in (N, C)
//   buffer(4) w (C)        buffer(5) LayerNormParams
//   grid (N, 1, 1) × 32 threads
kernel void layernorm_forward(device float*             out  [[buffer(0)]],
                              device float*             mean [[buffer(1)]],
                              device float*             rstd [[buffer(2)]],
                              device const float*       in   [[buffer(3)]],
                              device const float*       w    [[buffer(4)]],
                              constant LayerNormParams& p    [[buffer(5)]],
                              uint row  [[threadgroup_position_in_grid]],
                              uint lane [[thread_index_in_simdgroup]])
{
    device const float* x = in + row * p.C;
    device float*       y = out + row * p.C;
    float s = 0.0f;
    for (uint c = lane; c < p.C; c += 32) {
        s += x[c];
    }
    const float m = simd_sum(s) / float(p.C);
    float v = 0.0f;
    for (uint c = lane; c < p.C; c += 32) {
        const float d = x[c] - m;
        v += d * d;
    }
    const float rs = 1.0f / sqrt(simd_sum(v) / float(p.C) + LAYERNORM_EPS);
    for (uint c = lane; c < p.C; c += 32) {
        y[c] = (x[c] - m) * rs * w[c];
    }
    if (lane == 0) {
        mean[row] = m;
        rstd[row] = rs;
    }
}

// layernorm_backward: din += rstd·(g − mean(g) − x̂·mean(g·x̂)) per row, with g = dout·w and
// x̂ = (in − mean)·rstd.
//   buffer(0) din (N, C)   buffer(1) dout (N, C)   buffer(2) in (N, C)   buffer(3) w (C)
//   buffer(4) mean (N)     buffer(5) rstd (N)      buffer(6) LayerNormParams
//   grid (N, 1, 1) × 32 threads
kernel void layernorm_backward(device float*             din  [[buffer(0)]],
                               device const float*       dout [[buffer(1)]],
                               device const float*       in   [[buffer(2)]],
                               device const float*       w    [[buffer(3)]],
                               device const float*       mean [[buffer(4)]],
                               device const float*       rstd [[buffer(5)]],
                               constant LayerNormParams& p    [[buffer(6)]],
                               uint row  [[threadgroup_position_in_grid]],
                               uint lane [[thread_index_in_simdgroup]])
{
    device const float* x  = in + row * p.C;
    device const float* dy = dout + row * p.C;
    device float*       dx = din + row * p.C;
    const float m = mean[row], rs = rstd[row];
    float sg = 0.0f, sgx = 0.0f;
    for (uint c = lane; c < p.C; c += 32) {
        const float g = dy[c] * w[c];
        sg += g;
        sgx += g * (x[c] - m) * rs;
    }
    const float mg = simd_sum(sg) / float(p.C);
    const float mgx = simd_sum(sgx) / float(p.C);
    for (uint c = lane; c < p.C; c += 32) {
        const float g = dy[c] * w[c];
        const float xh = (x[c] - m) * rs;
        dx[c] += rs * (g - mg - xh * mgx);
    }
}

// layernorm_backward_dw: dw[c] += Σ_rows dout[r, c]·x̂[r, c], summed in a fixed order.
//   buffer(0) dw (C)   buffer(1) dout (N, C)   buffer(2) in (N, C)   buffer(3) mean (N)
//   buffer(4) rstd (N) buffer(5) LayerNormParams
//   grid (⌈C/32⌉, 1, 1) × (32, 8) threads
kernel void layernorm_backward_dw(device float*             dw   [[buffer(0)]],
                                  device const float*       dout [[buffer(1)]],
                                  device const float*       in   [[buffer(2)]],
                                  device const float*       mean [[buffer(3)]],
                                  device const float*       rstd [[buffer(4)]],
                                  constant LayerNormParams& p    [[buffer(5)]],
                                  uint2 tg  [[threadgroup_position_in_grid]],
                                  uint2 tid [[thread_position_in_threadgroup]])
{
    threadgroup float part[8][32];
    const uint c = tg.x * 32 + tid.x;
    float s = 0.0f;
    if (c < p.C) {
        for (uint r = tid.y; r < p.N; r += 8) {
            s += dout[r * p.C + c] * (in[r * p.C + c] - mean[r]) * rstd[r];
        }
    }
    part[tid.y][tid.x] = s;
    threadgroup_barrier(mem_flags::mem_threadgroup);
    if (tid.y == 0 && c < p.C) {
        float sum = 0.0f;
        for (uint i = 0; i < 8; ++i) {
            sum += part[i][tid.x];
        }
        dw[c] += sum;
    }
}
