// attention.metal — causal multi-head self-attention for small head sizes, both query modes.
//
// q, k, v arrive as (pointer, row stride): the baseline model binds column slices of one
// (B, T, 3C) QKV activation (stride 3C); the query-free model binds the (B, T, C) LN1 output itself
// as q (stride C) and slices of a (B, T, 2C) KV activation (stride 2C). Head h of row (b, t) is
// columns h·dh … (h+1)·dh−1 of that row.
//
// Forward:  S = Q·Kᵀ (per b, h; only s ≤ t), att = softmax_s≤t(scale·S), out = att·V.
// Backward: datt = dout·Vᵀ, dv += attᵀ·dout, dS = scale·att∘(datt − rowsum(att∘datt)),
//           dq += dS·K, dk += dSᵀ·Q.
// The four products are batched gemm_tile instances (matmul.metal) over threadgroup z = b·NH + h;
// the two row kernels handle the causal mask, the scale and the softmax.
//
// att and datt are (B, NH, T, T). Entries with s > t of att are written as 0; the products that
// read att or datt skip the tiles the causal mask makes zero.

// AttnRowParams is the constant block of the row kernels (Go: shaders.attnRowParams).
struct AttnRowParams {
    uint  T;       // sequence length; row r of att is (b, h, t = r % T)
    float scale;   // logit scale, e.g. 1/√dh
};

// attention_forward_scores: att[b,h,t,s] = q[b,t,h]·k[b,s,h] for s ≤ t (unscaled; tiles with
// every s > t are not written). M = N = T, K = dh; B = k stored transposed.
//   buffer(0) att (B, NH, T, T)   buffer(1) q (strided)   buffer(2) k (strided)   buffer(3) GemmParams
//   grid (⌈T/64⌉, ⌈T/64⌉, B·NH) × 128 threads
kernel void attention_forward_scores(device float*        att  [[buffer(0)]],
                                     device const float*  q    [[buffer(1)]],
                                     device const float*  k    [[buffer(2)]],
                                     constant GemmParams& p    [[buffer(3)]],
                                     uint3 tg   [[threadgroup_position_in_grid]],
                                     uint  tid  [[thread_index_in_threadgroup]],
                                     uint  sg   [[simdgroup_index_in_threadgroup]],
                                     uint  lane [[thread_index_in_simdgroup]])
{
    threadgroup float As[GEMM_TILE_A];
    threadgroup float Bs[GEMM_TILE_B];
    threadgroup float stage[GEMM_STAGE];
    gemm_tile<false, true, false>(att, q, k, p, As, Bs, stage, tg, tid, sg, lane);
}

// attention_forward_softmax: in place, att[r, s] = softmax_s≤t(scale·att[r, :]) for s ≤ t, 0 for
// s > t. One simdgroup per row.
//   buffer(0) att (B, NH, T, T)   buffer(1) AttnRowParams
//   grid (B·NH·T, 1, 1) × 32 threads
kernel void attention_forward_softmax(device float*           att  [[buffer(0)]],
                                      constant AttnRowParams& p    [[buffer(1)]],
                                      uint row  [[threadgroup_position_in_grid]],
                                      uint lane [[thread_index_in_simdgroup]])
{
    const uint t = row % p.T;
    device float* a = att + row * p.T;
    float mx = FLOAT_LOWEST;
    for (uint s = lane; s <= t; s += 32) {
        mx = max(mx, p.scale * a[s]);
    }
    mx = simd_max(mx);
    float sum = 0.0f;
    for (uint s = lane; s <= t; s += 32) {
        const float e = exp(p.scale * a[s] - mx);
        a[s] = e;
        sum += e;
    }
    const float inv = 1.0f / simd_sum(sum);
    for (uint s = lane; s < p.T; s += 32) {
        a[s] = s <= t ? a[s] * inv : 0.0f;
    }
}

// attention_forward_values: out[b,t,h] = Σ_s att[b,h,t,s]·v[b,s,h]. M = T, N = dh, K = T;
// att is lower triangular (GEMM_LOWER_A).
//   buffer(0) out (B, T, C)   buffer(1) att (B, NH, T, T)   buffer(2) v (strided)   buffer(3) GemmParams
//   grid (⌈dh/64⌉, ⌈T/64⌉, B·NH) × 128 threads
kernel void attention_forward_values(device float*        out  [[buffer(0)]],
                                     device const float*  att  [[buffer(1)]],
                                     device const float*  v    [[buffer(2)]],
                                     constant GemmParams& p    [[buffer(3)]],
                                     uint3 tg   [[threadgroup_position_in_grid]],
                                     uint  tid  [[thread_index_in_threadgroup]],
                                     uint  sg   [[simdgroup_index_in_threadgroup]],
                                     uint  lane [[thread_index_in_simdgroup]])
{
    threadgroup float As[GEMM_TILE_A];
    threadgroup float Bs[GEMM_TILE_B];
    threadgroup float stage[GEMM_STAGE];
    gemm_tile<false, false, false>(out, att, v, p, As, Bs, stage, tg, tid, sg, lane);
}

// attention_backward_datt: datt[b,h,t,s] = dout[b,t,h]·v[b,s,h] for s ≤ t (tiles with every
// s > t are not written). M = N = T, K = dh; B = v stored transposed.
//   buffer(0) datt (B, NH, T, T)   buffer(1) dout (B, T, C)   buffer(2) v (strided)   buffer(3) GemmParams
//   grid (⌈T/64⌉, ⌈T/64⌉, B·NH) × 128 threads
kernel void attention_backward_datt(device float*        datt [[buffer(0)]],
                                    device const float*  dout [[buffer(1)]],
                                    device const float*  v    [[buffer(2)]],
                                    constant GemmParams& p    [[buffer(3)]],
                                    uint3 tg   [[threadgroup_position_in_grid]],
                                    uint  tid  [[thread_index_in_threadgroup]],
                                    uint  sg   [[simdgroup_index_in_threadgroup]],
                                    uint  lane [[thread_index_in_simdgroup]])
{
    threadgroup float As[GEMM_TILE_A];
    threadgroup float Bs[GEMM_TILE_B];
    threadgroup float stage[GEMM_STAGE];
    gemm_tile<false, true, false>(datt, dout, v, p, As, Bs, stage, tg, tid, sg, lane);
}

// attention_backward_dv: dv[b,s,h] += Σ_t att[b,h,t,s]·dout[b,t,h]. M = T (s), N = dh, K = T (t);
// A = att stored transposed, upper triangular in (s, t) (GEMM_UPPER_A).
//   buffer(0) dv (strided)   buffer(1) att (B, NH, T, T)   buffer(2) dout (B, T, C)   buffer(3) GemmParams
//   grid (⌈dh/64⌉, ⌈T/64⌉, B·NH) × 128 threads
kernel void attention_backward_dv(device float*        dv   [[buffer(0)]],
                                  device const float*  att  [[buffer(1)]],
                                  device const float*  dout [[buffer(2)]],
                                  constant GemmParams& p    [[buffer(3)]],
                                  uint3 tg   [[threadgroup_position_in_grid]],
                                  uint  tid  [[thread_index_in_threadgroup]],
                                  uint  sg   [[simdgroup_index_in_threadgroup]],
                                  uint  lane [[thread_index_in_simdgroup]])
{
    threadgroup float As[GEMM_TILE_A];
    threadgroup float Bs[GEMM_TILE_B];
    threadgroup float stage[GEMM_STAGE];
    gemm_tile<true, false, true>(dv, att, dout, p, As, Bs, stage, tg, tid, sg, lane);
}

// attention_backward_softmax: in place, datt[r, s] = scale·att[r, s]·(datt[r, s] − Σ_s' att[r, s']·datt[r, s'])
// for s ≤ t (the gradient of the unscaled scores), 0 for s > t. One simdgroup per row.
//   buffer(0) datt (B, NH, T, T)   buffer(1) att (B, NH, T, T)   buffer(2) AttnRowParams
//   grid (B·NH·T, 1, 1) × 32 threads
kernel void attention_backward_softmax(device float*           datt [[buffer(0)]],
                                       device const float*     att  [[buffer(1)]],
                                       constant AttnRowParams& p    [[buffer(2)]],
                                       uint row  [[threadgroup_position_in_grid]],
                                       uint lane [[thread_index_in_simdgroup]])
{
    const uint t = row % p.T;
    device float*       d = datt + row * p.T;
    device const float* a = att + row * p.T;
    float dot = 0.0f;
    for (uint s = lane; s <= t; s += 32) {
        dot += a[s] * d[s];
    }
    dot = simd_sum(dot);
    for (uint s = lane; s < p.T; s += 32) {
        d[s] = s <= t ? p.scale * a[s] * (d[s] - dot) : 0.0f;
    }
}

// attention_backward_dq: dq[b,t,h] += Σ_s dS[b,h,t,s]·k[b,s,h]. M = T, N = dh, K = T; dS is lower
// triangular (GEMM_LOWER_A). In the query-free model dq is the LN1 output gradient.
//   buffer(0) dq (strided)   buffer(1) datt (B, NH, T, T)   buffer(2) k (strided)   buffer(3) GemmParams
//   grid (⌈dh/64⌉, ⌈T/64⌉, B·NH) × 128 threads
kernel void attention_backward_dq(device float*        dq   [[buffer(0)]],
                                  device const float*  datt [[buffer(1)]],
                                  device const float*  k    [[buffer(2)]],
                                  constant GemmParams& p    [[buffer(3)]],
                                  uint3 tg   [[threadgroup_position_in_grid]],
                                  uint  tid  [[thread_index_in_threadgroup]],
                                  uint  sg   [[simdgroup_index_in_threadgroup]],
                                  uint  lane [[thread_index_in_simdgroup]])
{
    threadgroup float As[GEMM_TILE_A];
    threadgroup float Bs[GEMM_TILE_B];
    threadgroup float stage[GEMM_STAGE];
    gemm_tile<false, false, true>(dq, datt, k, p, As, Bs, stage, tg, tid, sg, lane);
}

// attention_backward_dk: dk[b,s,h] += Σ_t dS[b,h,t,s]·q[b,t,h]. M = T (s), N = dh, K = T (t);
// A = dS stored transposed, upper triangular in (s, t) (GEMM_UPPER_A).
//   buffer(0) dk (strided)   buffer(1) datt (B, NH, T, T)   buffer(2) q (strided)   buffer(3) GemmParams
//   grid (⌈dh/64⌉, ⌈T/64⌉, B·NH) × 128 threads
kernel void attention_backward_dk(device float*        dk   [[buffer(0)]],
                                  device const float*  datt [[buffer(1)]],
                                  device const float*  q    [[buffer(2)]],
                                  constant GemmParams& p    [[buffer(3)]],
                                  uint3 tg   [[threadgroup_position_in_grid]],
                                  uint  tid  [[thread_index_in_threadgroup]],
                                  uint  sg   [[simdgroup_index_in_threadgroup]],
                                  uint  lane [[thread_index_in_simdgroup]])
{
    threadgroup float As[GEMM_TILE_A];
    threadgroup float Bs[GEMM_TILE_B];
    threadgroup float stage[GEMM_STAGE];
    gemm_tile<true, false, true>(dk, datt, q, p, As, Bs, stage, tg, tid, sg, lane);
}
